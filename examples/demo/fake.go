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
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
)

// fakeAPIs are the provider keys of the demo, each served by the fake on its
// own port (forward mode picks the API format by host, so every format gets
// a host of its own), in the order the config lists them.
var fakeAPIs = []string{"openai", "anthropic", "gemini", "ollama"}

// fakes is the fake provider listening once per API: HTTPS for the cloud
// APIs (so forward mode has TLS to decrypt and re-encrypt), plain HTTP for
// Ollama, as the real ones.
type fakes struct {
	fake    *fakeprovider.Server
	servers []*http.Server
	urls    map[string]string // provider key → base URL, e.g. https://127.0.0.1:40123
	rootPEM string            // file trusted by Conduit ([upstream] ca_file)
}

// startFakes serves the fake provider on free loopback ports and writes the
// root that signed its certificate to rootPath. Close stops them.
func startFakes(rootPath string) (*fakes, error) {
	cert, err := fakeCertificate(rootPath, time.Now())
	if err != nil {
		return nil, err
	}
	f := &fakes{
		// No one reads the fake's request log here: keep none.
		fake:    fakeprovider.New(fakeprovider.Options{KeepRequests: -1}),
		urls:    map[string]string{},
		rootPEM: rootPath,
	}
	for _, key := range fakeAPIs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("listen for the fake %s: %w", key, err)
		}
		srv := &http.Server{
			Handler:           f.fake,
			ReadHeaderTimeout: 10 * time.Second,
			// The fake cuts connections on purpose (the demo's incomplete
			// calls); keep net/http's note of each off the terminal.
			ErrorLog: log.New(io.Discard, "", 0),
		}
		scheme := "https"
		if key == "ollama" {
			scheme = "http"
		} else {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
		f.servers = append(f.servers, srv)
		f.urls[key] = scheme + "://" + ln.Addr().String()
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintf(os.Stderr, "demo: fake %s: %v\n", key, err)
			}
		}()
	}
	return f, nil
}

// Close stops every fake server, cutting calls in flight.
func (f *fakes) Close() {
	f.fake.Close()
	for _, s := range f.servers {
		s.Close()
	}
}

// fakeCertificate makes a throwaway root and a leaf for 127.0.0.1 signed by
// it, and writes the root (not its key) as PEM to rootPath. The root stands
// for the public CAs the real providers' certificates chain to: Conduit
// trusts it through [upstream] ca_file, exactly as a corporate root.
func fakeCertificate(rootPath string, now time.Time) (tls.Certificate, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate the fake's root key: %w", err)
	}
	root := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "Conduit demo: fake provider root"},
		// Backdated a little so a skewed clock still accepts it.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create the fake's root: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate the fake's key: %w", err)
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "fake provider"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create the fake's certificate: %w", err)
	}
	if err := os.WriteFile(rootPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write the fake's root %s: %w", rootPath, err)
	}
	return tls.Certificate{Certificate: [][]byte{leafDER, rootDER}, PrivateKey: leafKey}, nil
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}
