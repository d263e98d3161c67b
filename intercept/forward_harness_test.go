package intercept

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/valohai/conduit/certs"
	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/parsers"
)

// The host names the forward tests use. The fake provider answers for all
// of them (Conduit's test dialer sends every one to it), with a certificate
// from testPKI's root, which stands in for a public CA.
const (
	hostOpenAI    = "api.openai.com"
	hostAnthropic = "api.anthropic.com"
	hostGemini    = "generativelanguage.googleapis.com"
	hostOther     = "telemetry.example.com" // never intercepted
	// The cloud platforms' hosts, intercepted by default.
	hostBedrock = "bedrock-runtime.us-east-1.amazonaws.com"
	hostVertex  = "us-east5-aiplatform.googleapis.com"
	hostAzure   = "acme.openai.azure.com"
)

var fakeHosts = []string{hostOpenAI, hostAnthropic, hostGemini, hostOther, hostBedrock, hostVertex, hostAzure}

// providerHost maps the harness's provider keys to their real hosts.
var providerHost = map[string]string{"openai": hostOpenAI, "anthropic": hostAnthropic, "gemini": hostGemini}

// testPKI is a stand-in public root and the fake provider's certificate.
type testPKI struct {
	root     *x509.Certificate
	rootPEM  []byte
	server   tls.Certificate
	rootPool *x509.CertPool
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Public Root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "fake provider"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     fakeHosts,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		root:     root,
		rootPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}),
		server:   tls.Certificate{Certificate: [][]byte{leafDER, rootDER}, PrivateKey: leafKey},
		rootPool: x509.NewCertPool(),
	}
	p.rootPool.AddCert(root)
	return p
}

// fwdHarness is a fake provider served over HTTPS under real host names,
// behind a Conduit with forward mode on, all on loopback.
type fwdHarness struct {
	pki       *testPKI
	fake      *fakeprovider.Server
	fakeAddr  string
	ca        *certs.Authority
	proxy     *Server
	proxyURL  string // http://127.0.0.1:port
	proxyAddr string
	recordSink
	logs *syncBuffer

	mu    sync.Mutex
	mints map[string]int // Leaf calls per host
	dials map[string]int // outbound dials per address asked for
}

type fwdConfig struct {
	fake     fakeprovider.Options
	upstream http.Handler // replaces the fake
	// caHosts are the hosts the Conduit CA may sign for (default: the three
	// LLM hosts and hostOther, so a test can show it is never used for
	// hostOther). noCA: no CA at all.
	caHosts []string
	noCA    bool
	forward func(*Forward)
	options func(*Options)
	server  func(*Server) // adjusts the Server before it serves
}

func newFwdHarness(t testing.TB, fc fwdConfig) *fwdHarness {
	t.Helper()
	h := &fwdHarness{
		pki:        newTestPKI(t),
		recordSink: newRecordSink(),
		logs:       &syncBuffer{},
		mints:      map[string]int{},
		dials:      map[string]int{},
	}
	upstream := fc.upstream
	if upstream == nil {
		h.fake = fakeprovider.New(fc.fake)
		upstream = h.fake
	}
	fs := httptest.NewUnstartedServer(upstream)
	fs.TLS = &tls.Config{Certificates: []tls.Certificate{h.pki.server}}
	fs.StartTLS()
	t.Cleanup(fs.Close)
	if h.fake != nil {
		t.Cleanup(h.fake.Close)
	}
	h.fakeAddr = fs.Listener.Addr().String()

	if !fc.noCA {
		hosts := fc.caHosts
		if hosts == nil {
			hosts = fakeHosts
		}
		ca, err := certs.Init(filepath.Join(t.TempDir(), "ca"), hosts, false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		h.ca = ca
	}

	ps := httptest.NewUnstartedServer(nil)
	h.proxyAddr = ps.Listener.Addr().String()
	h.proxyURL = "http://" + h.proxyAddr
	providers := []Provider{
		{Key: "openai", Upstream: mustURL(t, "https://"+hostOpenAI), API: parsers.OpenAI, InjectStreamUsage: true},
		{Key: "anthropic", Upstream: mustURL(t, "https://"+hostAnthropic), API: parsers.Anthropic},
		{Key: "gemini", Upstream: mustURL(t, "https://"+hostGemini), API: parsers.Gemini},
	}
	fw := &Forward{
		Hosts:        DefaultHosts(providers),
		TunnelOthers: true,
		// The fake answers for hostOther on loopback, where a blind
		// tunnel does not go by default.
		AllowPrivateTunnels: true,
		ListenAddrs:         []string{h.proxyAddr},
	}
	if h.ca != nil {
		fw.CA = h.ca
	}
	if fc.forward != nil {
		fc.forward(fw)
	}
	opts := Options{
		Providers: providers,
		Forward:   fw,
		Upstream: Upstream{
			RootCAs: h.pki.rootPool,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				h.mu.Lock()
				h.dials[addr]++
				h.mu.Unlock()
				host, _, _ := net.SplitHostPort(addr)
				for _, fh := range fakeHosts {
					if host == fh {
						addr = h.fakeAddr
					}
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
		Record: h.put(t),
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if fc.options != nil {
		fc.options(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if leaf := srv.mitm.leaf; leaf != nil {
		srv.mitm.leaf = func(host string) (*tls.Certificate, error) {
			h.mu.Lock()
			h.mints[host]++
			h.mu.Unlock()
			return leaf(host)
		}
	}
	if fc.server != nil {
		fc.server(srv)
	}
	h.proxy = srv
	ps.Config.Handler = srv
	ps.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ps.Close()
		srv.CloseIdleConnections()
	})
	return h
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (h *fwdHarness) mintsFor(host string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mints[host]
}

// roots returns a pool with Conduit's CA (when there is one) and the test
// public root: what a client told to trust Conduit's CA on top of the
// system store trusts.
func (h *fwdHarness) roots() *x509.CertPool {
	pool := h.pki.rootPool.Clone()
	if h.ca != nil {
		pool.AddCert(h.ca.Certificate())
	}
	return pool
}

// client is a Go client configured the way HTTPS_PROXY configures one
// (ProxyFromEnvironment's rules, via httpproxy), trusting roots.
func (h *fwdHarness) client(roots *x509.CertPool) *http.Client {
	pf := (&httpproxy.Config{HTTPSProxy: h.proxyURL, HTTPProxy: h.proxyURL}).ProxyFunc()
	return &http.Client{Transport: &http.Transport{
		Proxy:              func(r *http.Request) (*url.URL, error) { return pf(r.URL) },
		TLSClientConfig:    &tls.Config{RootCAs: roots},
		DisableCompression: true,
	}}
}

// bundle writes Conduit's CA and the test root to one PEM file, as
// `conduit env` points SSL_CERT_FILE at a bundle of system roots plus the
// CA.
func (h *fwdHarness) bundle(t testing.TB) string {
	t.Helper()
	caPEM, err := os.ReadFile(h.ca.CertPath())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(p, append(append([]byte{}, h.pki.rootPEM...), caPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
