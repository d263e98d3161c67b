//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/elazarl/goproxy"
)

// serveBareMITM is the forward-mode baseline: goproxy's own MITM, which
// decrypts every CONNECT and forwards each request with its transport,
// recording nothing. It is what Conduit's forward mode is built around
// (goproxy accepts the CONNECTs; Conduit serves the decrypted connection
// itself), so the ratio of the two is what Conduit's own serving,
// metering and recording cost. It is set up as a fast MITM is: an ECDSA
// P-256 CA (leaf signatures and handshakes far cheaper than RSA), leaves
// minted once per host and cached, and the upstream transport pooled and
// verified as Conduit's (HTTP/1.1, as goproxy's own transport speaks;
// 512 idle connections, 256 per host; -ca-file roots). It writes its CA's
// certificate to -ca-out, then prints "listening on http://host:port" and
// serves until SIGTERM.
func serveBareMITM(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve-bare-mitm", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	caFile := fs.String("ca-file", "", "PEM roots for TLS upstreams")
	caOut := fs.String("ca-out", "", "write the MITM CA's certificate (PEM) here, for clients to trust")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *caOut == "" {
		return errors.New("no -ca-out")
	}
	ca, err := newBenchCA(*caOut)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		MaxIdleConns: 512,
		// The same pool as Conduit's upstream transport: Go's default of 2
		// idle connections per host would churn connections under 16
		// clients and make the baseline look worse than it is.
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass bodies as sent, as Conduit does
	}
	if *caFile != "" {
		pool, err := caPool(*caFile)
		if err != nil {
			return err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	proxy := goproxy.NewProxyHttpServer()
	proxy.Tr = tr
	proxy.Logger = log.New(os.Stderr, "goproxy: ", log.LstdFlags|log.Lmicroseconds)
	proxy.CertStore = &leafStore{leaves: make(map[string]*tls.Certificate)}
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(ca)}
	proxy.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return mitm, host
	})

	// The decrypted connections are hijacked: the shutdown does not wait
	// for them, and the process exit ends them.
	return serveUntilSignal(*listen, proxy, stdout)
}

// newBenchCA makes a throwaway ECDSA P-256 CA, valid for a day, and writes
// its certificate to certPath.
func newBenchCA(certPath string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "conduit-bench bare MITM CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("write CA certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// leafStore is goproxy's CertStorage: one leaf per host, minted on the
// first CONNECT to it. The benchmark calls one host, so it is unbounded.
type leafStore struct {
	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

func (s *leafStore) Fetch(host string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.leaves[host]; c != nil {
		return c, nil
	}
	c, err := gen()
	if err != nil {
		return nil, err
	}
	s.leaves[host] = c
	return c, nil
}
