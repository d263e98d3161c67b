package intercept

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/valohai/conduit/parsers"
)

// TestUpstreamSpeaksHTTP1 guards the upstream protocol: a provider that
// offers HTTP/2 is still called over HTTP/1.1, one pooled connection per
// concurrent call, whichever mode the call came by.
func TestUpstreamSpeaksHTTP1(t *testing.T) {
	var mu sync.Mutex
	var protos []string
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos = append(protos, r.Proto)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","model":"gpt-4o-mini","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	if got := up.TLS.NextProtos; len(got) == 0 || got[0] != "h2" {
		t.Fatalf("the test upstream offers %v, want h2 first", got)
	}
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())
	u, _ := url.Parse(up.URL)
	srv, err := New(Options{
		Providers: []Provider{{Key: "openai", Upstream: u, API: parsers.OpenAI}},
		Upstream:  Upstream{RootCAs: roots},
		Record:    func(Call) {},
		Logger:    discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(srv)
	t.Cleanup(ps.Close)
	t.Cleanup(srv.CloseIdleConnections)
	for range 3 {
		resp, err := http.Post(ps.URL+"/openai/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-4o-mini","messages":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %s", resp.Status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, p := range protos {
		if p != "HTTP/1.1" {
			t.Errorf("call %d reached the upstream over %s, want HTTP/1.1", i, p)
		}
	}
	if len(protos) != 3 {
		t.Errorf("upstream saw %d calls, want 3", len(protos))
	}
}
