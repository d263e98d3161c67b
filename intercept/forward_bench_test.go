package intercept

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/valohai/conduit/internal/cputime"

	"github.com/valohai/conduit/examples/fakeprovider"
)

// BenchmarkModes compares one call made straight to the provider, through
// base-URL mode and through forward mode (decrypted), with TLS to the
// provider and keep-alive everywhere (and forward mode without keep-alive,
// once by a client that resumes TLS sessions): a small JSON call (latency)
// and a ~1 MB event stream (throughput).
//
//	go test -run '^$' -bench BenchmarkModes -benchtime 2s ./intercept
func BenchmarkModes(b *testing.B) {
	h := newFwdHarness(b, fwdConfig{options: func(o *Options) { o.Record = func(Call) {} }})
	direct := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.pki.rootPool}, DisableCompression: true}}
	base := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	forward := h.client(h.roots())
	// A new CONNECT and TLS handshake per call (the leaf is cached after
	// the first): the cost a client without keep-alive pays.
	forwardNew := h.client(h.roots())
	forwardNew.Transport.(*http.Transport).DisableKeepAlives = true
	// The same, by a client that keeps TLS sessions and resumes them.
	forwardResumed := h.client(h.roots())
	forwardResumed.Transport.(*http.Transport).DisableKeepAlives = true
	forwardResumed.Transport.(*http.Transport).TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	payloads := []struct {
		name   string
		path   string
		body   string
		header http.Header
	}{
		{"small-json", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"say hi"}]}`, nil},
		{"stream-1MB", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hi"}]}`,
			hdr(fakeprovider.HeaderEvents, "2000", fakeprovider.HeaderEventBytes, "500")},
	}
	modes := []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"direct", direct, "https://" + h.fakeAddr},
		{"base-url", base, h.proxyURL + "/openai"},
		{"forward", forward, "https://" + hostOpenAI},
		{"forward-new-conn", forwardNew, "https://" + hostOpenAI},
		{"forward-new-conn-resumed", forwardResumed, "https://" + hostOpenAI},
	}
	for _, p := range payloads {
		for _, m := range modes {
			b.Run(p.name+"/"+m.name, func(b *testing.B) {
				call := func() int64 {
					req, _ := http.NewRequest("POST", m.url+p.path, strings.NewReader(p.body))
					req.Header.Set("Authorization", auth)
					req.Header.Set("Content-Type", "application/json")
					for k, v := range p.header {
						req.Header[k] = v
					}
					resp, err := m.client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 {
						b.Fatalf("status %d, %v", resp.StatusCode, err)
					}
					return n
				}
				b.SetBytes(call()) // also warms the connection up
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cputime.Process()
				for b.Loop() {
					call()
				}
				// The process's CPU time (client, Conduit and provider
				// together) per call: less swayed than ns/op by other
				// processes on a shared machine.
				b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
