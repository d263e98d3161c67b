package intercept

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/valohai/conduit/examples/fakeprovider"
)

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGuardHostAllowList guards against DNS rebinding: an origin-form
// request — a call, /metrics, /health — whose Host is not a name or
// address Conduit answers to is refused with 403 (in the provider's error
// shape when the path names one) and never reaches the provider; Conduit's
// own names, the address the request came in on, and AllowedHosts pass;
// forward-mode requests, whose Host is their target, are not affected.
func TestGuardHostAllowList(t *testing.T) {
	h := newHarness(t, harnessConfig{options: func(o *Options) {
		o.AllowedHosts = []string{"conduit.internal"}
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) })
	}})
	addr := strings.TrimPrefix(h.proxyURL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	for _, tt := range []struct {
		name, host, path string
		status           int
		shape            string // in the body
	}{
		{"rebound name, call", "evil.example:" + port, "/anthropic/v1/messages", 403, `"type":"error"`},
		{"rebound name, metrics", "evil.example", "/metrics", 403, "Host"},
		{"rebound name, health", "evil.example:" + port, "/health", 403, "Host"},
		{"public address", "93.184.216.34:" + port, "/metrics", 403, "Host"},
		{"localhost", "localhost:" + port, "/metrics", 200, "metrics"},
		{"LOCALHOST.", "LOCALHOST.:" + port, "/metrics", 200, "metrics"},
		{"loopback", addr, "/metrics", 200, "metrics"},
		{"loopback v6", "[::1]:" + port, "/metrics", 200, "metrics"},
		{"allowed name", "Conduit.Internal:" + port, "/metrics", 200, "metrics"},
		{"allowed name, no port", "conduit.internal", "/health", 200, "OK"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"model":"claude","max_tokens":5,"messages":[]}`
			req, _ := http.NewRequest("POST", h.proxyURL+tt.path, strings.NewReader(body))
			if tt.path != "/anthropic/v1/messages" {
				req, _ = http.NewRequest("GET", h.proxyURL+tt.path, nil)
			}
			req.Host = tt.host
			resp, err := rawClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b := readAll(t, resp)
			if resp.StatusCode != tt.status || !strings.Contains(b, tt.shape) {
				t.Errorf("Host %s %s: %d %q, want %d with %q", tt.host, tt.path, resp.StatusCode, b, tt.status, tt.shape)
			}
		})
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d refused requests reached the provider", n)
	}
	h.noRecord(t)
	// Forward mode: the Host of an absolute-form request is its target.
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
	resp, b := doVia(t, client, "GET", h.proxyURL+"/health", nil, "")
	if resp.StatusCode != 200 || string(b) != "OK" {
		t.Errorf("absolute-form /health: %d %q", resp.StatusCode, b)
	}
}

// TestGuardBrowserCrossSite guards against web pages calling Conduit: a
// request with an Origin that is not allowed, or that a browser marks
// Sec-Fetch-Site cross-site or same-site, is refused with 403 saying why —
// including the text/plain POST a page sends without a preflight; an
// allowed origin passes with CORS headers; SDK clients, which send
// neither header, are not affected.
func TestGuardBrowserCrossSite(t *testing.T) {
	h := newHarness(t, harnessConfig{options: func(o *Options) { o.AllowedOrigins = []string{"https://app.example.com"} }})
	url := h.proxyURL + "/openai/v1/chat/completions"
	for _, tt := range []struct {
		name   string
		header http.Header
		status int
		want   string
	}{
		{"simple cross-site POST", hdr("Origin", "https://evil.example", "Content-Type", "text/plain"), 403, "https://evil.example"},
		{"null origin", hdr("Origin", "null"), 403, "allowed_origins"},
		{"fetch metadata, cross-site", hdr("Sec-Fetch-Site", "cross-site"), 403, "cross-site"},
		{"fetch metadata, same-site", hdr("Sec-Fetch-Site", "same-site", "Origin", "http://localhost:3000"), 403, "allowed_origins"},
		{"allowed origin", hdr("Origin", "https://APP.example.com", "Sec-Fetch-Site", "cross-site", "Authorization", auth, "Content-Type", "application/json"), 200, ""},
		{"SDK client", hdr("Authorization", auth, "Content-Type", "application/json"), 200, ""},
		{"fetch metadata, none", hdr("Sec-Fetch-Site", "none", "Authorization", auth, "Content-Type", "application/json"), 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "POST", url, tt.header, calls[0].body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, tt.status, tt.want)
			}
			if tt.status == 403 {
				if !strings.Contains(string(body), `"error"`) || !strings.Contains(string(body), "browser") {
					t.Errorf("refusal is not a clear JSON error: %s", body)
				}
				return
			}
			h.record(t)
			origin := tt.header.Get("Origin")
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
			}
		})
	}
	h.noRecord(t)
}

// TestGuardCORSPreflight guards preflights: refused with 403 for an origin
// that is not allowed, answered 204 with the Access-Control-Allow-* headers
// for one that is, and never sent upstream.
func TestGuardCORSPreflight(t *testing.T) {
	h := newHarness(t, harnessConfig{options: func(o *Options) { o.AllowedOrigins = []string{"https://app.example.com"} }})
	url := h.proxyURL + "/openai/v1/chat/completions"
	pre := func(origin string) (*http.Response, []byte) {
		return do(t, "OPTIONS", url, hdr("Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type"), "")
	}
	resp, body := pre("https://evil.example")
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(string(body), "https://evil.example") {
		t.Errorf("preflight from another origin: %d %q %q", resp.StatusCode, resp.Header, body)
	}
	resp, _ = pre("https://app.example.com")
	want := map[string]string{
		"Access-Control-Allow-Origin":  "https://app.example.com",
		"Access-Control-Allow-Methods": "POST",
		"Access-Control-Allow-Headers": "authorization, content-type",
		"Vary":                         "Origin",
	}
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("allowed preflight: %d", resp.StatusCode)
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("allowed preflight: %s %q, want %q", k, got, v)
		}
	}
	if resp.Header.Get("Access-Control-Max-Age") == "" {
		t.Error("allowed preflight: no Access-Control-Max-Age")
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d preflights reached the provider", n)
	}
	h.noRecord(t)
}

// TestGuardCORSUpstreamHeaders: the answer to an allowed origin carries
// Conduit's Access-Control-Allow-Origin, one value, whatever the provider
// sends (a provider's "*" or its own origin replaced it, and a second value
// makes browsers refuse the answer), and the provider's Vary is kept
// beside Conduit's.
func TestGuardCORSUpstreamHeaders(t *testing.T) {
	fake := fakeprovider.New(fakeprovider.Options{})
	t.Cleanup(fake.Close)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://provider.example")
		w.Header().Set("Vary", "Accept-Encoding")
		fake.ServeHTTP(w, r)
	})
	h := newHarness(t, harnessConfig{upstream: upstream, options: func(o *Options) { o.AllowedOrigins = []string{"https://app.example.com"} }})
	resp, _ := do(t, "POST", h.proxyURL+"/openai/v1/chat/completions",
		hdr("Origin", "https://app.example.com", "Authorization", "Bearer sk-test", "Content-Type", "application/json"),
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "https://app.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q, want Conduit's one value", got)
	}
	if got := strings.Join(resp.Header.Values("Vary"), ","); !strings.Contains(got, "Origin") || !strings.Contains(got, "Accept-Encoding") {
		t.Errorf("Vary %q, want Origin and the provider's Accept-Encoding", got)
	}
}
