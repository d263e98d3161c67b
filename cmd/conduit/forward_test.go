package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/certs"
	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// tlsFake serves the fake provider over HTTPS on 127.0.0.1 with a
// certificate from a throwaway root, whose PEM file it returns: the root
// stands for a corporate CA that [upstream] ca_file adds.
func tlsFake(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Corporate Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}, root, &leafKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	fake := fakeprovider.New(fakeprovider.Options{})
	ts := httptest.NewUnstartedServer(fake)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	t.Cleanup(fake.Close)
	rootFile := filepath.Join(t.TempDir(), "corp-root.pem")
	writeFile(t, rootFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})))
	return ts, rootFile
}

// newCA creates a Conduit CA covering hosts in a fresh directory.
func newCA(t *testing.T, hosts ...string) *certs.Authority {
	t.Helper()
	ca, err := certs.Init(filepath.Join(t.TempDir(), "ca"), hosts, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestProxyForwardMode guards `conduit proxy` in forward mode end to end:
// the CA is loaded from [mitm] ca_dir, [upstream] ca_file lets Conduit
// verify the provider, a decrypted HTTPS call and a plain-http call to a
// configured local server land in the ledger as forward calls, the hosts
// the CA does not cover are named in a warning, and a plain-http host needs
// no certificate.
func TestProxyForwardMode(t *testing.T) {
	upstream, rootFile := tlsFake(t)
	ollama := fakeprovider.New(fakeprovider.Options{})
	plain := httptest.NewServer(ollama)
	defer plain.Close()
	defer ollama.Close()
	ca := newCA(t, "127.0.0.1")
	dir := t.TempDir()
	path := filepath.Join(dir, "conduit.toml")
	writeFile(t, path, `listen = "127.0.0.1:0"
[providers.local]
upstream = "`+upstream.URL+`"
api = "openai"
[providers.ollama]
upstream = "`+plain.URL+`"
api = "ollama"
[mitm]
ca_dir = "`+ca.Dir()+`"
[upstream]
ca_file = "`+rootFile+`"
`)
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: make(chan struct{}, 1), w: logs}, nil))
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveProxy(ctx, logger, cfg, ready) }()
	addr := <-ready

	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	proxyURL, _ := url.Parse("http://" + addr)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}}
	post := func(u, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", u, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
	post(upstream.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	post(plain.URL+"/api/chat", `{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}`)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serveProxy: %v", err)
	}

	db, err := ledger.OpenReadOnly(cfg.Ledger.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.Page(context.Background(), ledger.Filter{}, ledger.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range page.Rows {
		if r.Mode != ledger.ModeForward || !r.HasUsage || r.Outcome != ledger.OutcomeComplete {
			t.Errorf("row %+v", r)
		}
		got = append(got, r.Provider)
	}
	slices.Sort(got)
	if strings.Join(got, ",") != "local,ollama" {
		t.Errorf("providers recorded %v, want local and ollama", got)
	}
	out := logs.String()
	plainHost := strings.TrimPrefix(plain.URL, "http://")
	if !strings.Contains(out, "does not cover") || !strings.Contains(out, "api.anthropic.com") || !strings.Contains(out, "conduit ca init --force") {
		t.Errorf("no warning naming the uncovered well-known hosts:\n%s", out)
	}
	if strings.Contains(out, "hosts="+plainHost) || strings.Contains(out, ", "+plainHost) {
		t.Errorf("a plain-http host was reported as needing the CA:\n%s", out)
	}
}

// TestForwardOptionsCA guards how the proxy treats the CA directory: no CA
// yet means tunnel-only (never a CA created on the fly); a CA key others
// can read stops the proxy with the reason.
func TestForwardOptionsCA(t *testing.T) {
	providers := []intercept.Provider{{Key: "openai", Upstream: &url.URL{Scheme: "https", Host: "api.openai.com"}, API: parsers.OpenAI}}
	empty := t.TempDir()
	cfg := &config.Config{MITM: config.MITM{CADir: empty, TunnelOthers: true}}
	fw, err := forwardOptions(slog.New(slog.DiscardHandler), cfg, providers, "127.0.0.1:8080")
	if err != nil || fw.CA != nil || !slices.Contains(fw.Hosts, "api.openai.com") || !fw.TunnelOthers || fw.ListenAddrs[0] != "127.0.0.1:8080" {
		t.Fatalf("no CA: %+v %v", fw, err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("the proxy wrote into the CA directory: %v", entries)
	}
	ca := newCA(t, "api.openai.com")
	if err := os.Chmod(ca.KeyPath(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.MITM.CADir = ca.Dir()
	if _, err := forwardOptions(slog.New(slog.DiscardHandler), cfg, providers, "127.0.0.1:8080"); !errors.Is(err, certs.ErrInsecureKey) {
		t.Errorf("insecure key: %v", err)
	}
}

// TestMitmHosts guards the host list and which hosts need no certificate.
func TestMitmHosts(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	providers := []intercept.Provider{
		{Key: "openai", Upstream: u("https://api.openai.com")},
		{Key: "ollama", Upstream: u("http://127.0.0.1:11434")},
		{Key: "vllm", Upstream: u("http://gpu-box:8000")},
		{Key: "both", Upstream: u("https://gpu-box:8000")},
	}
	hosts, plain := mitmHosts(&config.Config{}, providers)
	if !slices.Contains(hosts, "127.0.0.1:11434") || !slices.Contains(hosts, "api.anthropic.com") {
		t.Errorf("hosts %v", hosts)
	}
	if strings.Join(plain, ",") != "127.0.0.1:11434" {
		t.Errorf("plain-only %v, want only the http-only host", plain)
	}
	caHosts := mitmCAHosts(&config.Config{}, providers)
	if len(caHosts) != len(hosts)-1 || slices.Contains(caHosts, "127.0.0.1:11434") || !slices.Contains(caHosts, "gpu-box:8000") {
		t.Errorf("CA hosts %v", caHosts)
	}
	hosts, plain = mitmHosts(&config.Config{MITM: config.MITM{Hosts: []string{"x.example.com"}}}, providers)
	if strings.Join(hosts, ",") != "x.example.com" || plain != nil {
		t.Errorf("[mitm] hosts: %v %v", hosts, plain)
	}
}

// TestCAForPlatformHosts guards the default CA for the cloud platforms:
// made for the default host list, it signs for a Bedrock and a Vertex AI
// region's host and any Azure resource's, and for nothing else of those
// clouds (its constraints name hosts, not amazonaws.com or googleapis.com).
func TestCAForPlatformHosts(t *testing.T) {
	ca := newCA(t, mitmCAHosts(&config.Config{}, nil)...)
	for _, host := range []string{"bedrock-runtime.us-west-2.amazonaws.com", "bedrock-runtime-fips.us-east-1.amazonaws.com",
		"us-east5-aiplatform.googleapis.com", "aiplatform.googleapis.com", "acme.openai.azure.com", "acme.cognitiveservices.azure.com",
		"acme.services.ai.azure.com"} {
		if _, err := ca.Leaf(host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	for _, host := range []string{"s3.amazonaws.com", "bedrock.us-east-1.amazonaws.com", "storage.googleapis.com", "login.microsoftonline.com"} {
		if _, err := ca.Leaf(host); err == nil {
			t.Errorf("the default CA signs for %s", host)
		}
	}
}

// TestHostSummary guards the uncovered-hosts warning's list: all names
// when few, the first six and a count when many.
func TestHostSummary(t *testing.T) {
	tests := []struct {
		hosts []string
		want  string
	}{
		{nil, ""},
		{[]string{"a", "b"}, "a, b"},
		{[]string{"a", "b", "c", "d", "e", "f"}, "a, b, c, d, e, f"},
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h"}, "a, b, c, d, e, f and 2 more"},
	}
	for _, tt := range tests {
		if got := hostSummary(tt.hosts); got != tt.want {
			t.Errorf("hostSummary(%q) = %q, want %q", tt.hosts, got, tt.want)
		}
	}
}

// TestUpstreamOptions guards [upstream] ca_file: a file without a
// certificate is an error naming the key; a good one adds to the roots.
func TestUpstreamOptions(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	writeFile(t, bad, "not a certificate")
	if _, err := upstreamOptions(&config.Config{Path: "c.toml", Upstream: config.Upstream{CAFile: bad}}); err == nil || !strings.Contains(err.Error(), "[upstream] ca_file") {
		t.Errorf("bad ca_file: %v", err)
	}
	if _, err := upstreamOptions(&config.Config{Path: "c.toml", Upstream: config.Upstream{CAFile: bad + ".missing"}}); err == nil || !strings.Contains(err.Error(), "[upstream] ca_file") {
		t.Errorf("missing ca_file: %v", err)
	}
	_, rootFile := tlsFake(t)
	proxy, _ := url.Parse("http://corp:3128")
	up, err := upstreamOptions(&config.Config{Upstream: config.Upstream{CAFile: rootFile, Proxy: proxy, NoProxy: "x"}})
	if err != nil || up.RootCAs == nil || up.Proxy != proxy || up.NoProxy != "x" {
		t.Fatalf("%+v %v", up, err)
	}
}
