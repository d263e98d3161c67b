package intercept

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

const auth = "Bearer sk-test-secret"

// call is one request made both directly to the fake and through Conduit.
type testCall struct {
	name     string
	provider string // Conduit route
	path     string
	body     string
	header   http.Header
	endpoint string // the record's Endpoint
	stream   bool
}

var calls = []testCall{
	{name: "openai chat", provider: "openai", path: "/v1/chat/completions", endpoint: "chat_completions",
		body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"say hi to me"}]}`},
	{name: "openai chat stream with usage", provider: "openai", path: "/v1/chat/completions", endpoint: "chat_completions", stream: true,
		body: `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hi"}]}`},
	{name: "openai completions", provider: "openai", path: "/v1/completions", endpoint: "completions",
		body: `{"model":"gpt-3.5-turbo-instruct","prompt":"once upon a time"}`},
	{name: "openai responses stream", provider: "openai", path: "/v1/responses", endpoint: "responses", stream: true,
		body:   `{"model":"o4-mini","stream":true,"input":"what is two plus two"}`,
		header: hdr(fakeprovider.HeaderReasoningTokens, "5", fakeprovider.HeaderCachedTokens, "4")},
	{name: "openai responses", provider: "openai", path: "/v1/responses", endpoint: "responses",
		body: `{"model":"o4-mini","input":"what is two plus two"}`},
	{name: "openai embeddings", provider: "openai", path: "/v1/embeddings", endpoint: "embeddings",
		body: `{"model":"text-embedding-3-small","input":"embed these words"}`},
	{name: "anthropic messages stream", provider: "anthropic", path: "/v1/messages", endpoint: "messages", stream: true,
		body:   `{"model":"claude-sonnet-4-5","max_tokens":12,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`,
		header: hdr(fakeprovider.HeaderCachedTokens, "100", fakeprovider.HeaderCacheWrite5m, "20", fakeprovider.HeaderCacheWrite1h, "7")},
	{name: "anthropic messages", provider: "anthropic", path: "/v1/messages", endpoint: "messages",
		body: `{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"hello there"}]}`},
	{name: "gemini sse", provider: "gemini", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", endpoint: "generate_content", stream: true,
		body: `{"contents":[{"parts":[{"text":"write a haiku"}]}]}`, header: hdr(fakeprovider.HeaderReasoningTokens, "3")},
	{name: "gemini json array stream", provider: "gemini", path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", endpoint: "generate_content", stream: true,
		body: `{"contents":[{"parts":[{"text":"write a haiku"}]}]}`},
	{name: "gemini", provider: "gemini", path: "/v1beta/models/gemini-2.5-pro:generateContent", endpoint: "generate_content",
		body: `{"contents":[{"parts":[{"text":"write a haiku"}]}]}`},
	{name: "ollama chat", provider: "ollama", path: "/api/chat", endpoint: "ollama_chat", stream: true,
		body: `{"model":"llama3.2","messages":[{"role":"user","content":"why is the sky blue"}]}`},
}

// TestBaseURLForwardsBytesUnchanged guards the core promise: through Conduit a
// client gets exactly the bytes a direct call gets — whole, cut into 1-byte
// writes, or with delays — and every call is recorded with the usage the
// provider reported.
func TestBaseURLForwardsBytesUnchanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	for _, split := range []string{"whole", "1-byte"} {
		for _, c := range calls {
			t.Run(split+"/"+c.name, func(t *testing.T) {
				header := hdr("Authorization", auth, "Content-Type", "application/json")
				for k, v := range c.header {
					header[k] = v
				}
				if split == "1-byte" {
					header.Set(fakeprovider.HeaderChunk, "1")
				}
				dresp, direct := do(t, "POST", h.fakeURL+c.path, header, c.body)
				presp, proxied := do(t, "POST", h.proxyURL+"/"+c.provider+c.path, header, c.body)
				if dresp.StatusCode != 200 || presp.StatusCode != 200 {
					t.Fatalf("status direct %d, proxied %d: %s", dresp.StatusCode, presp.StatusCode, proxied)
				}
				if !bytes.Equal(direct, proxied) {
					t.Fatalf("bodies differ\ndirect:  %q\nproxied: %q", direct, proxied)
				}
				if a, b := dresp.Header.Get("Content-Type"), presp.Header.Get("Content-Type"); a != b {
					t.Errorf("content-type %q vs %q", a, b)
				}
				r := h.record(t)
				want, err := fakeprovider.ExpectedUsage(c.path, header, []byte(c.body), fakeprovider.Options{})
				if err != nil {
					t.Fatal(err)
				}
				checkRecord(t, r, c, want)
			})
		}
	}
}

func checkRecord(t *testing.T, r Call, c testCall, want fakeprovider.Usage) {
	t.Helper()
	if r.Outcome != ledger.OutcomeComplete || r.Status != 200 {
		t.Errorf("outcome %q status %d error %q, want complete 200", r.Outcome, r.Status, r.Error)
	}
	if r.Provider != c.provider || r.Mode != ledger.ModeBaseURL || r.Method != "POST" || r.Endpoint != c.endpoint || r.Stream != c.stream {
		t.Errorf("record %+v does not describe the call %+v", r, c)
	}
	if !r.HasUsage {
		t.Fatalf("no usage recorded: %+v", r)
	}
	got := fakeprovider.Usage{
		InputTokens: int(r.InputTokens), CachedInputTokens: int(r.CachedInputTokens),
		CacheWrite5mTokens: int(r.CacheWrite5mTokens), CacheWrite1hTokens: int(r.CacheWrite1hTokens),
		OutputTokens: int(r.OutputTokens), ReasoningTokens: int(r.ReasoningTokens),
	}
	if got != want {
		t.Errorf("usage %+v, want %+v", got, want)
	}
	if r.Model == "" || r.ID == "" || r.StartedAt.IsZero() || r.FinishedAt.Before(r.StartedAt) || r.Duration <= 0 {
		t.Errorf("record lacks model, id or times: %+v", r)
	}
	if len(r.UsageRaw) == 0 || !json.Valid(r.UsageRaw) {
		t.Errorf("raw usage %q", r.UsageRaw)
	}
}

// TestInjectedStreamUsageIsHidden guards the stream_options injection: an
// OpenAI chat stream that did not ask for usage is recorded with usage, and
// the client receives the stream minus the one usage-only event Conduit
// caused — event for event what the provider sent for the request Conduit made.
func TestInjectedStreamUsageIsHidden(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/v1/chat/completions", "/v1/completions"} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t, harnessConfig{})
			body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"count to three"}],"prompt":"count"}`
			header := hdr("Authorization", auth, "Content-Type", "application/json", fakeprovider.HeaderChunk, "3")
			_, proxied := do(t, "POST", h.proxyURL+"/openai"+path, header, body)
			seen := h.fake.Requests()
			upstreamBody := seen[len(seen)-1].Body
			if !bytes.Contains(upstreamBody, []byte(`"stream_options":{"include_usage":true}`)) {
				t.Fatalf("upstream body lacks injected include_usage: %s", upstreamBody)
			}
			if seen[len(seen)-1].Header.Get("Content-Length") != "" && seen[len(seen)-1].BodyLen != int64(len(upstreamBody)) {
				t.Errorf("content-length not fixed")
			}
			_, direct := do(t, "POST", h.fakeURL+path, header, string(upstreamBody))
			want := dropUsageOnlyEvent(t, direct)
			if !bytes.Equal(want, proxied) {
				t.Fatalf("client stream differs\nwant:    %q\nproxied: %q", want, proxied)
			}
			if bytes.Contains(proxied, []byte(`"choices":[]`)) {
				t.Fatal("usage-only event reached the client")
			}
			r := h.record(t)
			if !r.HasUsage || r.OutputTokens == 0 || r.Outcome != ledger.OutcomeComplete {
				t.Fatalf("record %+v", r)
			}
		})
	}
}

func dropUsageOnlyEvent(t *testing.T, stream []byte) []byte {
	t.Helper()
	events := bytes.SplitAfter(stream, []byte("\n\n"))
	var out []byte
	dropped := 0
	for _, ev := range events {
		if bytes.Contains(ev, []byte(`"choices":[]`)) {
			dropped++
			continue
		}
		out = append(out, ev...)
	}
	if dropped != 1 {
		t.Fatalf("direct stream has %d usage-only events", dropped)
	}
	return out
}

// TestClientAskedForUsageUntouched guards that a request already asking for
// usage (or turning it off) is forwarded byte for byte.
func TestClientAskedForUsageUntouched(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	for _, body := range []string{
		`{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[]}`,
		`{"model":"m","stream":false,"messages":[]}`,
	} {
		do(t, "POST", h.proxyURL+"/openai/v1/chat/completions", hdr("Authorization", auth), body)
		seen := h.fake.Requests()
		if got := string(seen[len(seen)-1].Body); got != body {
			t.Errorf("upstream got %s, want %s", got, body)
		}
		h.record(t)
	}
	// stream_usage = "off"
	body := `{"model":"m","stream":true,"messages":[]}`
	do(t, "POST", h.proxyURL+"/plain/v1/chat/completions", hdr("Authorization", auth), body)
	seen := h.fake.Requests()
	if got := string(seen[len(seen)-1].Body); got != body {
		t.Errorf("stream_usage off: upstream got %s", got)
	}
	if r := h.record(t); r.HasUsage || r.Outcome != ledger.OutcomeNoUsage {
		t.Errorf("stream without usage recorded as %q with usage %v", r.Outcome, r.HasUsage)
	}
}

// gate is a fakeprovider Sleep that waits for the test's go-ahead, so a test
// can observe each event before the next is written.
type gate struct {
	waiting chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{waiting: make(chan struct{}, 16), release: make(chan struct{})} }

func (g *gate) sleep(ctx context.Context, _ time.Duration) error {
	g.waiting <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestStreamEventsNotBuffered guards flushing: the first event reaches the
// client while the provider is still holding back the second.
func TestStreamEventsNotBuffered(t *testing.T) {
	t.Parallel()
	for _, c := range []testCall{calls[1], calls[3], calls[6], calls[8], calls[9], calls[11]} {
		t.Run(c.name, func(t *testing.T) {
			g := newGate()
			h := newHarness(t, harnessConfig{fake: fakeprovider.Options{Sleep: g.sleep, Delay: time.Millisecond}})
			req, _ := http.NewRequest("POST", h.proxyURL+"/"+c.provider+c.path, strings.NewReader(c.body))
			req.Header = hdr("Authorization", auth, "Content-Type", "application/json")
			resp, err := rawClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			<-g.waiting // the fake wrote its first event and waits
			buf := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatalf("first event did not arrive while the second was held: %v", err)
			}
			close(g.release)
			io.Copy(io.Discard, resp.Body)
			h.record(t)
		})
	}
}

// TestUpstreamHeaders guards what reaches the provider: Host set to the
// upstream, the path under the upstream's base path, the query kept,
// hop-by-hop headers, Accept-Encoding and the tag header removed.
func TestUpstreamHeaders(t *testing.T) {
	t.Parallel()
	fake := fakeprovider.New(fakeprovider.Options{})
	fs := httptest.NewServer(fake)
	defer fs.Close()
	u, _ := url.Parse(fs.URL + "/base")
	srv, err := New(Options{Providers: []Provider{{Key: "p", Upstream: u, API: parsers.OpenAI}}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(srv)
	defer ps.Close()
	header := hdr("Authorization", auth, "Connection", "X-Hop", "X-Hop", "1", "Keep-Alive", "timeout=5",
		"Accept-Encoding", "br", "X-Conduit-Tag", "exp-1, nightly", "X-Vh-Run", "r1", "User-Agent", "my-agent/1.0")
	resp, _ := do(t, "POST", ps.URL+"/p/v1/chat/completions?foo=bar&key=zzz", header, `{"model":"m","messages":[]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	seen := fake.Requests()[0]
	if seen.Path != "/base/v1/chat/completions" || seen.RawQuery != "foo=bar&key=zzz" {
		t.Errorf("path %q query %q", seen.Path, seen.RawQuery)
	}
	if seen.Host != u.Host {
		t.Errorf("Host %q, want %q", seen.Host, u.Host)
	}
	for _, name := range []string{"X-Hop", "Keep-Alive", "X-Conduit-Tag"} {
		if v := seen.Header.Get(name); v != "" {
			t.Errorf("%s forwarded: %q", name, v)
		}
	}
	if ae := seen.Header.Get("Accept-Encoding"); ae != "gzip" {
		t.Errorf("Accept-Encoding upstream %q, want Go's own gzip", ae)
	}
	if seen.Header.Get("Authorization") != auth || seen.Header.Get("X-Vh-Run") != "r1" || seen.Header.Get("User-Agent") != "my-agent/1.0" {
		t.Errorf("end-to-end headers not forwarded: %v", seen.Header)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestRecordFields guards the record's request-side fields: tags, x-vh
// headers, client, request id, and a path whose key= query value is redacted.
func TestRecordFields(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	header := hdr("x-api-key", "sk-ant-secret", "X-Conduit-Tag", "exp-1, nightly,", "X-Vh-Run-Id", "r1", "x-vh-project", "p",
		"User-Agent", "Anthropic/Python 0.40.0", "Content-Type", "application/json")
	do(t, "POST", h.proxyURL+"/anthropic/v1/messages?beta=true&key=sk-q-secret", header, calls[7].body)
	r := h.record(t)
	if strings.Join(r.Tags, "|") != "exp-1|nightly" {
		t.Errorf("tags %q", r.Tags)
	}
	if r.VHHeaders["x-vh-run-id"] != "r1" || r.VHHeaders["x-vh-project"] != "p" || len(r.VHHeaders) != 2 {
		t.Errorf("vh headers %v", r.VHHeaders)
	}
	if r.Client != "Anthropic/Python 0.40.0" || r.RequestID == "" || r.ResponseID == "" {
		t.Errorf("client %q request id %q response id %q", r.Client, r.RequestID, r.ResponseID)
	}
	if r.Path != "/v1/messages?beta=true&key=REDACTED" || strings.Contains(r.Error, "secret") {
		t.Errorf("path %q", r.Path)
	}
	if strings.Contains(h.logs.String(), "secret") {
		t.Errorf("a secret reached the log:\n%s", h.logs)
	}
}

// TestRecordKind guards which requests count as calls: a metered endpoint
// is a call even when the upstream refuses it; any other request to the
// provider (a model list, a token count, HEAD /) is recorded as other.
func TestRecordKind(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	json := hdr("Authorization", auth, "Content-Type", "application/json")
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		kind, endpoint           string
	}{
		{"chat completion", "POST", "/openai/v1/chat/completions", calls[0].body, json, ledger.KindCall, "chat_completions"},
		{"failed chat completion", "POST", "/openai/v1/chat/completions", calls[0].body,
			hdr("Authorization", auth, fakeprovider.HeaderStatus, "429"), ledger.KindCall, "chat_completions"},
		{"model list", "GET", "/openai/v1/models", "", hdr("Authorization", auth), ledger.KindOther, ""},
		{"token count", "POST", "/anthropic/v1/messages/count_tokens", calls[7].body, json, ledger.KindOther, "count_tokens"},
		{"HEAD /", "HEAD", "/openai/", "", nil, ledger.KindOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			do(t, tt.method, h.proxyURL+tt.path, tt.header, tt.body)
			r := h.record(t)
			if r.Kind != tt.kind || r.Endpoint != tt.endpoint {
				t.Errorf("kind %q endpoint %q, want %q %q", r.Kind, r.Endpoint, tt.kind, tt.endpoint)
			}
			if tt.header.Get(fakeprovider.HeaderStatus) == "429" && r.Status != 429 {
				t.Errorf("status %d, want the upstream's 429", r.Status)
			}
		})
	}
}

// TestGzipUpstreamReachesClientDecoded guards compression: an upstream that
// gzips is decoded by Conduit's transport; the client gets identity bytes
// equal to the decoded body, and the usage is read.
func TestGzipUpstreamReachesClientDecoded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	header := hdr("Authorization", auth, fakeprovider.HeaderGzip, "1", "Accept-Encoding", "gzip, br")
	c := calls[6]
	dresp, direct := do(t, "POST", h.fakeURL+c.path, header, c.body)
	if dresp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal("fake did not gzip")
	}
	zr, err := gzip.NewReader(bytes.NewReader(direct))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	presp, proxied := do(t, "POST", h.proxyURL+"/anthropic"+c.path, header, c.body)
	if ce := presp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("client got Content-Encoding %q", ce)
	}
	if !bytes.Equal(plain, proxied) {
		t.Fatalf("proxied %q\nwant %q", proxied, plain)
	}
	if r := h.record(t); !r.HasUsage || r.Outcome != ledger.OutcomeComplete {
		t.Fatalf("record %+v", r)
	}
}

// TestErrors guards Conduit's own error responses: JSON in the provider's
// shape with the right status.
func TestErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{options: func(o *Options) {
		o.MaxRequestBody = 1 << 10
		dead, _ := url.Parse("http://127.0.0.1:1")
		o.Providers = append(o.Providers, Provider{Key: "dead", Upstream: dead, API: parsers.Anthropic})
		o.Timeouts.ResponseHeader = 300 * time.Millisecond
	}})
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2<<10) + `"}]}`
	tests := []struct {
		name, path, body string
		header           http.Header
		status           int
		check            func(t *testing.T, body map[string]any)
		recorded         string // outcome, "" for none
	}{
		{name: "unknown provider", path: "/nope/v1/chat/completions", status: 404, check: func(t *testing.T, b map[string]any) {
			e := b["error"].(map[string]any)
			if e["type"] != "conduit_unknown_provider" || !strings.Contains(e["message"].(string), `"nope"`) {
				t.Errorf("error %v", e)
			}
			if kp, _ := e["known_providers"].([]any); len(kp) != 6 {
				t.Errorf("known_providers %v", e["known_providers"])
			}
		}},
		{name: "root", path: "/", status: 404},
		{name: "dot segments", path: "/openai/v1/../../admin", status: 400},
		{name: "encoded dot segments", path: "/openai/v1/%2e%2e/%2E%2E/admin", status: 400},
		{name: "unreachable", path: "/dead/v1/messages", body: `{"model":"claude"}`, status: 502, recorded: ledger.OutcomeUpstreamError,
			check: func(t *testing.T, b map[string]any) {
				e := b["error"].(map[string]any)
				if b["type"] != "error" || e["type"] != "conduit_upstream_unreachable" || !strings.Contains(e["message"].(string), `"dead"`) {
					t.Errorf("anthropic-shaped error expected: %v", b)
				}
			}},
		{name: "timeout", path: "/openai/v1/chat/completions", body: `{"model":"m"}`, header: hdr(fakeprovider.HeaderHang, "1"), status: 504, recorded: ledger.OutcomeUpstreamError,
			check: func(t *testing.T, b map[string]any) {
				if e := b["error"].(map[string]any); e["type"] != "conduit_upstream_timeout" {
					t.Errorf("error %v", e)
				}
			}},
		{name: "too large (metered)", path: "/openai/v1/chat/completions", body: big, status: 413, recorded: ledger.OutcomeUpstreamError},
		{name: "too large (streamed through)", path: "/openai/v1/files", body: big, header: hdr("Content-Type", "application/octet-stream"), status: 413, recorded: ledger.OutcomeUpstreamError},
		{name: "provider error passes through", path: "/openai/v1/chat/completions", body: `{"model":"m"}`, header: hdr(fakeprovider.HeaderStatus, "429"), status: 429, recorded: ledger.OutcomeUpstreamError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := hdr("Authorization", auth)
			for k, v := range tt.header {
				header[k] = v
			}
			resp, body := do(t, "POST", h.proxyURL+tt.path, header, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("body is not JSON: %q", body)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
			if tt.recorded != "" {
				if r := h.record(t); r.Outcome != tt.recorded || r.Status != tt.status {
					t.Errorf("record outcome %q status %d, want %q %d", r.Outcome, r.Status, tt.recorded, tt.status)
				}
			}
			h.noRecord(t)
		})
	}
}

// TestHealth guards GET /health.
func TestHealth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	resp, body := do(t, "GET", h.proxyURL+"/health", nil, "")
	if resp.StatusCode != 200 || string(body) != "OK" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	h.noRecord(t)
}

// TestUpstreamCutMidStream guards a provider dying mid-stream: the client
// sees the cut (not a clean end), and the record is incomplete with the usage
// that did arrive (Anthropic's input tokens from message_start).
func TestUpstreamCutMidStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	c := calls[6]
	req, _ := http.NewRequest("POST", h.proxyURL+"/anthropic"+c.path, strings.NewReader(c.body))
	req.Header = hdr("x-api-key", "k", fakeprovider.HeaderAbortAfter, "2")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("client read a clean end after a cut stream: %q", got)
	}
	r := h.record(t)
	if r.Outcome != ledger.OutcomeIncomplete || !r.HasUsage || r.InputTokens == 0 {
		t.Fatalf("record %+v", r)
	}
}

// TestClientLeavesMidStream guards abandoned streams: when the client goes
// away, Conduit reads on, so the provider's final usage is still recorded.
func TestClientLeavesMidStream(t *testing.T) {
	t.Parallel()
	left := make(chan struct{}, 1)
	g := newGate()
	h := newHarness(t, harnessConfig{fake: fakeprovider.Options{Sleep: g.sleep, Delay: time.Millisecond},
		options: func(o *Options) { o.onClientLeft = func() { left <- struct{}{} } }})
	c := calls[6]
	req, _ := http.NewRequest("POST", h.proxyURL+"/anthropic"+c.path, strings.NewReader(c.body))
	req.Header = hdr("x-api-key", "k", fakeprovider.HeaderEvents, "4")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-g.waiting
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // the client leaves
	<-left
	// Let the fake finish the stream: Conduit is still reading it.
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case g.release <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	r := h.record(t)
	if r.Outcome != ledger.OutcomeClientCancelled || !r.HasUsage || r.OutputTokens != 4 {
		t.Fatalf("record %+v, want client_cancelled with the final 4 output tokens", r)
	}
}

// TestCurl guards a real command-line client: curl through Conduit gets the
// same bytes as curl straight to the provider.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed: the Go-client tests cover the same path")
	}
	h := newHarness(t, harnessConfig{})
	for _, c := range []testCall{calls[1], calls[6], calls[8]} {
		run := func(url string) []byte {
			out, err := exec.Command(curl, "-sS", "-N", "--fail-with-body", "-H", "Authorization: "+auth,
				"-H", "Content-Type: application/json", "--data-binary", c.body, url).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("curl %s: %v: %s", url, err, ee.Stderr)
				}
				t.Fatal(err)
			}
			return out
		}
		direct := run(h.fakeURL + c.path)
		proxied := run(h.proxyURL + "/" + c.provider + c.path)
		if !bytes.Equal(direct, proxied) {
			t.Errorf("%s: curl bodies differ\n%q\n%q", c.name, direct, proxied)
		}
		h.record(t)
	}
}

// TestEarlyResponseWhileRequestStreams guards full duplex: a provider that
// starts answering before it has read the whole request body (an upload
// with progress, an early error) still gets the rest of the body, and the
// client gets the whole answer.
func TestEarlyResponseWhileRequestStreams(t *testing.T) {
	t.Parallel()
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		first := make([]byte, 1)
		io.ReadFull(r.Body, first)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "started\n")
		http.NewResponseController(w).Flush()
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "read %d more bytes, err=%v\n", n, err)
	})
	h := newHarness(t, harnessConfig{upstream: upstream})
	const size = 4 << 20
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", h.proxyURL+"/openai/v1/files", pr)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("started\nread %d more bytes, err=<nil>\n", size-1)
	if err != nil || string(body) != want {
		t.Fatalf("got %q (%v), want %q", body, err, want)
	}
	h.record(t)
}

// TestRecordUsageDetail guards what the record keeps of the usage beyond
// the main counts: audio and image splits and Anthropic's iterations go
// to Detail; usage no real call can have is recorded as invalid_usage with
// no counts (so it is neither priced nor summed) and the raw usage kept.
func TestRecordUsageDetail(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{}
	h := newHarness(t, harnessConfig{upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, bodies[r.URL.Path])
	})})
	tests := []struct {
		name, route, path, body string
		outcome                 string
		hasUsage                bool
		in, out                 int64
		detail                  *ledger.UsageDetail
		raw, errorHas           string
	}{
		{name: "audio splits", route: "plain", path: "/v1/chat/completions",
			body:    `{"id":"c1","model":"gpt-4o-audio-preview","usage":{"prompt_tokens":120,"completion_tokens":300,"prompt_tokens_details":{"audio_tokens":100},"completion_tokens_details":{"audio_tokens":250}}}`,
			outcome: ledger.OutcomeComplete, hasUsage: true, in: 120, out: 300,
			detail: &ledger.UsageDetail{AudioInputTokens: 100, AudioOutputTokens: 250}},
		{name: "anthropic iterations", route: "anthropic", path: "/v1/messages",
			body: `{"id":"msg_1","type":"message","model":"claude-opus-4-6","usage":{"input_tokens":45000,"output_tokens":1234,"iterations":[` +
				`{"type":"compaction","input_tokens":180000,"output_tokens":3500},{"type":"advisor_message","model":"claude-haiku-4-5","input_tokens":10,"cache_read_input_tokens":90,"output_tokens":5}]}}`,
			outcome: ledger.OutcomeComplete, hasUsage: true, in: 180100, out: 3505,
			detail: &ledger.UsageDetail{Iterations: []ledger.Iteration{
				{Type: "compaction", Model: "claude-opus-4-6", InputTokens: 180000, OutputTokens: 3500},
				{Type: "advisor_message", Model: "claude-haiku-4-5", InputTokens: 100, CachedInputTokens: 90, OutputTokens: 5},
			}}},
		{name: "no detail", route: "plain", path: "/v1/chat/completions",
			body:    `{"id":"c2","model":"m","usage":{"prompt_tokens":3,"completion_tokens":4}}`,
			outcome: ledger.OutcomeComplete, hasUsage: true, in: 3, out: 4},
		{name: "invalid usage", route: "plain", path: "/v1/chat/completions",
			body:    `{"id":"c3","model":"m","usage":{"prompt_tokens":-5,"completion_tokens":9223372036854775807}}`,
			outcome: ledger.OutcomeInvalidUsage, raw: `{"prompt_tokens":-5,"completion_tokens":9223372036854775807}`,
			errorHas: "prompt_tokens: negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodies[tt.path] = tt.body
			do(t, "POST", h.proxyURL+"/"+tt.route+tt.path, hdr("Authorization", auth, "Content-Type", "application/json"), `{"model":"m"}`)
			r := h.record(t)
			if r.Outcome != tt.outcome || r.HasUsage != tt.hasUsage || r.InputTokens != tt.in || r.OutputTokens != tt.out {
				t.Errorf("outcome %q usage %v in %d out %d, want %q %v %d %d", r.Outcome, r.HasUsage, r.InputTokens, r.OutputTokens,
					tt.outcome, tt.hasUsage, tt.in, tt.out)
			}
			if got, _ := json.Marshal(r.Detail); !bytes.Equal(got, mustJSON(t, tt.detail)) {
				t.Errorf("detail %s, want %s", got, mustJSON(t, tt.detail))
			}
			if tt.raw != "" && string(r.UsageRaw) != tt.raw {
				t.Errorf("raw usage %s, want %s", r.UsageRaw, tt.raw)
			}
			if !strings.Contains(r.Error, tt.errorHas) {
				t.Errorf("error %q does not say %q", r.Error, tt.errorHas)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecordCapsFields guards the record's size at creation: a request
// path of 100 KiB is recorded cut to its cap, and the record says so, so
// nothing downstream (the ledger's queue, telemetry, the log) holds more.
func TestRecordCapsFields(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	long := "/v1/chat/completions?pad=" + strings.Repeat("p", 100<<10)
	do(t, "POST", h.proxyURL+"/openai"+long, hdr("Authorization", auth, "Content-Type", "application/json"), calls[0].body)
	r := h.record(t)
	if len(r.Path) > ledger.MaxPathBytes || !strings.HasPrefix(r.Path, "/v1/chat/completions?pad=ppp") ||
		!slices.Contains(r.Truncated, "path") {
		t.Errorf("path of %d bytes recorded as %d bytes, truncated %v", len(long), len(r.Path), r.Truncated)
	}
	if strings.Contains(h.logs.String(), strings.Repeat("p", ledger.MaxPathBytes+1)) {
		t.Error("the log line holds the whole path")
	}
}

// TestLogLineEscapes guards the proxy's log against terminal escapes from
// the wire: a model name carrying OSC 52 (set the clipboard), a screen
// clear and a bidi override is written quoted and escaped, with no control
// byte in the log.
func TestLogLineEscapes(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	body := `{"model":"m\u001b]52;c;ZXZpbA==\u0007\u001b[2J\u202e","messages":[{"role":"user","content":"hi"}]}`
	do(t, "POST", h.proxyURL+"/openai/v1/chat/completions", hdr("Authorization", auth, "Content-Type", "application/json"), body)
	r := h.record(t)
	if !strings.Contains(r.Model, "\x1b]52") {
		t.Fatalf("the record does not keep the model as received: %q", r.Model)
	}
	logs := h.logs.String()
	if strings.ContainsAny(logs, "\x1b\x07\u202e") {
		t.Errorf("control characters reach the log: %q", logs)
	}
	if !strings.Contains(logs, `model="m\x1b]52;c;ZXZpbA==\a\x1b[2J\u202e"`) {
		t.Errorf("the model is not logged escaped:\n%s", logs)
	}
}
