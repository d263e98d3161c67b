package certs_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/valohai/conduit/certs"
)

// The proxy side: load the CA once, check that it covers the hosts to
// intercept, and serve each intercepted CONNECT with a minted leaf.
func Example() {
	dir, err := os.MkdirTemp("", "conduit-ca")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	caDir := filepath.Join(dir, "conduit")
	hosts := []string{"api.openai.com", "api.anthropic.com", "*.example.com"}

	// `conduit ca init` does this once; the proxy only loads.
	if _, err := certs.Init(caDir, hosts, false, time.Now()); err != nil {
		log.Fatal(err)
	}
	ca, err := certs.Load(caDir)
	if errors.Is(err, certs.ErrNoCA) {
		log.Print("forward mode will tunnel everything: ", err)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	if err := ca.Covers(append(hosts, "generativelanguage.googleapis.com")); err != nil {
		var nce *certs.NotCoveredError
		if errors.As(err, &nce) {
			fmt.Println("not intercepted:", nce.Hosts)
		}
	}

	// Per intercepted CONNECT (goproxy's ConnectAction.TLSConfig):
	tlsConfigFor := func(host string) (*tls.Config, error) {
		leaf, err := ca.Leaf(host)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{*leaf}, MinVersion: tls.VersionTLS12}, nil
	}
	cfg, err := tlsConfigFor("api.openai.com:443")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Certificates[0].Leaf.DNSNames)
	_, err = tlsConfigFor("evil.com:443")
	fmt.Println(err != nil)
	// Output:
	// not intercepted: [generativelanguage.googleapis.com]
	// [api.openai.com]
	// true
}
