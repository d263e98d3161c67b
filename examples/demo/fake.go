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
	"slices"
	"sync"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
)

// fakeAPIs are the provider keys of the demo, in the order the config
// lists them.
var fakeAPIs = []string{"openai", "anthropic", "gemini", "ollama"}

// cloudHosts are the real API hosts the fake answers for: the demo's
// config names them as the providers' upstreams, exactly as `conduit init`
// writes it, and forward-mode calls go to them by name.
var cloudHosts = map[string]string{
	"openai":    "api.openai.com",
	"anthropic": "api.anthropic.com",
	"gemini":    "generativelanguage.googleapis.com",
}

// fakes is the fake provider standing in for the real APIs, all on
// loopback. The cloud APIs are one HTTPS server whose certificate names
// their real hosts (signed by a throwaway root Conduit trusts through
// [upstream] ca_file); Conduit reaches it through [upstream] proxy, a
// CONNECT proxy here that sends those hosts — and only those — to it, the
// way a corporate proxy chains. Ollama is plain HTTP on its own port, as
// the real one.
type fakes struct {
	fake     *fakeprovider.Server
	cloud    *http.Server
	ollama   *http.Server
	connect  *connectProxy
	urls     map[string]string // provider key → upstream base URL (real host names for the cloud APIs)
	cloudURL string            // https://127.0.0.1:port, where the cloud hosts really are
	proxyURL string            // http://127.0.0.1:port of the CONNECT proxy
}

// startFakes serves the fake on free loopback ports and writes the root
// that signed its certificate to rootPath. Close stops them.
func startFakes(rootPath string) (f *fakes, err error) {
	hosts := make([]string, 0, len(cloudHosts))
	for _, h := range cloudHosts {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	cert, err := fakeCertificate(rootPath, hosts, time.Now())
	if err != nil {
		return nil, err
	}
	f = &fakes{
		// No one reads the fake's request log here: keep none.
		fake: fakeprovider.New(fakeprovider.Options{KeepRequests: -1}),
		urls: map[string]string{},
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	cloudLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return f, fmt.Errorf("listen for the fake cloud APIs: %w", err)
	}
	f.cloud = f.server()
	f.cloud.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	f.cloudURL = "https://" + cloudLn.Addr().String()
	go serve(f.cloud, tls.NewListener(cloudLn, f.cloud.TLSConfig), "cloud APIs")
	for key, host := range cloudHosts {
		f.urls[key] = "https://" + host
	}

	ollamaLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return f, fmt.Errorf("listen for the fake Ollama: %w", err)
	}
	f.ollama = f.server()
	f.urls["ollama"] = "http://" + ollamaLn.Addr().String()
	go serve(f.ollama, ollamaLn, "Ollama")

	if f.connect, err = startConnectProxy(hosts, cloudLn.Addr().String()); err != nil {
		return f, err
	}
	f.proxyURL = "http://" + f.connect.addr
	return f, nil
}

func (f *fakes) server() *http.Server {
	return &http.Server{
		Handler:           f.fake,
		ReadHeaderTimeout: 10 * time.Second,
		// The fake cuts connections on purpose (the demo's incomplete
		// calls); keep net/http's note of each off the terminal.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

func serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "demo: fake %s: %v\n", name, err)
	}
}

// Close stops every fake server and tunnel, cutting calls in flight.
func (f *fakes) Close() {
	f.fake.Close()
	for _, s := range []*http.Server{f.cloud, f.ollama} {
		if s != nil {
			s.Close()
		}
	}
	if f.connect != nil {
		f.connect.Close()
	}
}

// connectProxy is a minimal HTTP CONNECT proxy: a CONNECT to one of hosts
// (port 443) is tunnelled to target, anything else is refused. It tracks
// its tunnels so that Close ends them (http.Server forgets hijacked
// connections).
type connectProxy struct {
	addr   string
	hosts  []string
	target string
	srv    *http.Server

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startConnectProxy(hosts []string, target string) (*connectProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the demo's upstream proxy: %w", err)
	}
	p := &connectProxy{addr: ln.Addr().String(), hosts: hosts, target: target, conns: map[net.Conn]struct{}{}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go serve(p.srv, ln, "upstream proxy")
	return p, nil
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if r.Method != http.MethodConnect || err != nil || port != "443" || !slices.Contains(p.hosts, host) {
		http.Error(w, "the demo's upstream proxy only tunnels to the fake's API hosts", http.StatusForbidden)
		return
	}
	upstream, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	client, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	if !p.track(client, upstream) {
		client.Close()
		upstream.Close()
		return
	}
	defer p.untrack(client, upstream)
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(upstream, buf) // buf holds anything the client sent early
		if tc, ok := upstream.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, upstream)
		done <- struct{}{}
	}()
	<-done
	<-done
}

// track registers a tunnel's connections; false once the proxy is closed.
func (p *connectProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *connectProxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Close stops the proxy and ends its tunnels.
func (p *connectProxy) Close() {
	p.srv.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// fakeCertificate makes a throwaway root and a leaf for hosts signed by
// it, and writes the root (not its key) as PEM to rootPath. The root stands
// for the public CAs the real providers' certificates chain to: Conduit
// trusts it through [upstream] ca_file, exactly as a corporate root.
func fakeCertificate(rootPath string, hosts []string, now time.Time) (tls.Certificate, error) {
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
		DNSNames:     hosts,
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
