package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
)

// call is one request of the demo's traffic.
type call struct {
	provider string // the fake it goes to: one of fakeAPIs
	forward  bool   // through HTTPS_PROXY (true) or the provider's base URL
	path     string // after the base URL (base-URL mode) or the host (forward)
	model    string // the model asked for
	stream   bool
	words    int    // prompt words (input tokens are about this many)
	max      int    // output tokens asked for (the fake generates exactly this many)
	client   string // User-Agent: the dashboard's client column
	tags     string // X-Conduit-Tag, comma-separated
	knobs    map[string]string
	outcome  string // what the ledger should record
}

// Demo clients. They name themselves honestly: these are not the real SDKs.
const (
	uaAgent    = "demo-agent/1.4 (python)"
	uaNotebook = "demo-notebook/0.9 (node)"
	uaBatch    = "demo-batch/2.0 (go)"
	uaCLI      = "demo-cli/0.3 (via HTTPS_PROXY)"
)

// mix is the demo's traffic: every API format, streamed and not, both ways
// in, a few providers' extras (cache reads and writes, reasoning tokens,
// resolved snapshot names), a model without a price, an error status, and
// a stream cut short.
var mix = []call{
	{provider: "openai", path: "/v1/chat/completions", model: "gpt-4o-mini", words: 1200, max: 180, client: uaAgent, tags: "team:search",
		knobs: map[string]string{fakeprovider.HeaderModel: "gpt-4o-mini-2024-07-18"}, outcome: ledger.OutcomeComplete},
	{provider: "openai", path: "/v1/chat/completions", model: "gpt-4o-mini", stream: true, words: 2400, max: 320, client: uaAgent, tags: "team:search",
		knobs: map[string]string{fakeprovider.HeaderCachedTokens: "1024"}, outcome: ledger.OutcomeComplete},
	{provider: "anthropic", path: "/v1/messages", model: "claude-sonnet-4-5", stream: true, words: 3000, max: 640, client: uaNotebook, tags: "team:research",
		knobs: map[string]string{fakeprovider.HeaderCacheWrite5m: "12000"}, outcome: ledger.OutcomeComplete},
	{provider: "anthropic", path: "/v1/messages", model: "claude-sonnet-4-5", stream: true, words: 1800, max: 420, client: uaNotebook, tags: "team:research",
		knobs: map[string]string{fakeprovider.HeaderCachedTokens: "12000"}, outcome: ledger.OutcomeComplete},
	{provider: "openai", path: "/v1/responses", model: "o4-mini", stream: true, words: 900, max: 700, client: uaAgent,
		knobs: map[string]string{fakeprovider.HeaderReasoningTokens: "512"}, outcome: ledger.OutcomeComplete},
	{provider: "gemini", path: "/v1beta/models/gemini-2.5-flash:generateContent", model: "gemini-2.5-flash", words: 5000, max: 260, client: uaBatch, tags: "batch:nightly",
		outcome: ledger.OutcomeComplete},
	{provider: "openai", forward: true, path: "/v1/responses", model: "gpt-5", stream: true, words: 4000, max: 900, client: uaCLI,
		knobs: map[string]string{fakeprovider.HeaderReasoningTokens: "300", fakeprovider.HeaderCachedTokens: "2048"}, outcome: ledger.OutcomeComplete},
	{provider: "anthropic", forward: true, path: "/v1/messages", model: "claude-haiku-4-5", stream: true, words: 600, max: 150, client: uaCLI,
		outcome: ledger.OutcomeComplete},
	{provider: "ollama", path: "/api/chat", model: "llama3.2", stream: true, words: 300, max: 200, client: uaNotebook,
		outcome: ledger.OutcomeComplete},
	{provider: "openai", path: "/v1/completions", model: "gpt-3.5-turbo-instruct", words: 200, max: 60, client: uaBatch, tags: "batch:nightly",
		outcome: ledger.OutcomeComplete},
	{provider: "openai", path: "/v1/chat/completions", model: "gpt-4.1", words: 800, max: 100, client: uaAgent,
		knobs: map[string]string{fakeprovider.HeaderStatus: "429"}, outcome: ledger.OutcomeUpstreamError},
	{provider: "gemini", forward: true, path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", model: "gemini-2.5-pro", stream: true, words: 7000, max: 500, client: uaCLI,
		outcome: ledger.OutcomeComplete},
	{provider: "openai", forward: true, path: "/v1/chat/completions", model: "gpt-4.1", stream: true, words: 1500, max: 240, client: uaCLI,
		outcome: ledger.OutcomeComplete},
	{provider: "anthropic", path: "/v1/messages", model: "claude-opus-4-1", stream: true, words: 2200, max: 400, client: uaNotebook, tags: "team:research",
		knobs: map[string]string{fakeprovider.HeaderAbortAfter: "120"}, outcome: ledger.OutcomeIncomplete},
	{provider: "ollama", forward: true, path: "/api/generate", model: "qwen2.5-coder", words: 150, max: 90, client: uaCLI,
		outcome: ledger.OutcomeComplete},
	{provider: "openai", path: "/v1/responses", model: "gpt-4.1-mini", words: 650, max: 120, client: uaBatch, tags: "batch:nightly",
		outcome: ledger.OutcomeComplete},
}

// target is where the traffic goes: the proxy, the fakes behind it, and the
// Conduit CA that forward-mode clients trust.
type target struct {
	proxy  string            // http://127.0.0.1:port
	fakes  map[string]string // provider key → the fake's base URL
	caPath string            // Conduit's CA certificate (PEM)
	paced  bool              // stream with small delays between events, as real providers do
}

// clients builds the two HTTP clients: one calling base URLs directly, one
// sending everything through the proxy as HTTPS_PROXY would, trusting only
// Conduit's CA (so a call it failed to intercept could not succeed).
func (t target) clients() (direct, proxied *http.Client, err error) {
	pem, err := os.ReadFile(t.caPath)
	if err != nil {
		return nil, nil, fmt.Errorf("read Conduit's CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("read Conduit's CA %s: no certificate in it", t.caPath)
	}
	proxyURL, err := url.Parse(t.proxy)
	if err != nil {
		return nil, nil, fmt.Errorf("proxy address %q: %w", t.proxy, err)
	}
	direct = &http.Client{Timeout: time.Minute}
	proxied = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		// Set explicitly: http.ProxyFromEnvironment never proxies loopback
		// addresses, and the fakes are on loopback.
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	return direct, proxied, nil
}

// send makes one call and reads its whole response, as a client would.
// A call answered with an error status is not an error here: the demo
// sends some on purpose.
func (t target) send(ctx context.Context, direct, proxied *http.Client, c call) error {
	req, err := t.request(ctx, c)
	if err != nil {
		return err
	}
	client := direct
	if c.forward {
		client = proxied
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", req.URL, err)
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err != nil && c.outcome != ledger.OutcomeIncomplete {
		return fmt.Errorf("%s: read the response: %w", req.URL, err)
	}
	return nil
}

// request builds c's request: to the proxy's route for c.provider in
// base-URL mode, to the fake itself in forward mode (the proxied client
// then goes through the proxy).
func (t target) request(ctx context.Context, c call) (*http.Request, error) {
	u := t.proxy + "/" + c.provider + c.path
	if c.forward {
		u = t.fakes[c.provider] + c.path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(c.body()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.client)
	// Any credential will do for the fake; Conduit passes it on and never
	// records it.
	switch c.provider {
	case "openai":
		req.Header.Set("Authorization", "Bearer sk-demo-not-a-real-key")
	case "anthropic":
		req.Header.Set("x-api-key", "sk-ant-demo-not-a-real-key")
		req.Header.Set("anthropic-version", "2023-06-01")
	case "gemini":
		req.Header.Set("x-goog-api-key", "demo-not-a-real-key")
	}
	if c.tags != "" {
		req.Header.Set("X-Conduit-Tag", c.tags)
	}
	for k, v := range c.knobs {
		req.Header.Set(k, v)
	}
	if t.paced && c.stream {
		req.Header.Set(fakeprovider.HeaderDelay, "1ms")
		req.Header.Set(fakeprovider.HeaderFirstByteDelay, "250ms")
	}
	return req, nil
}

// body is the call's JSON request body in its provider's format.
func (c call) body() string {
	text := prompt(c.words)
	msgs := []map[string]string{{"role": "user", "content": text}}
	var b map[string]any
	switch {
	case c.provider == "gemini":
		b = map[string]any{
			"contents":         []any{map[string]any{"role": "user", "parts": []any{map[string]string{"text": text}}}},
			"generationConfig": map[string]int{"maxOutputTokens": c.max},
		}
	case c.provider == "ollama" && strings.HasSuffix(c.path, "/generate"):
		b = map[string]any{"model": c.model, "prompt": text, "stream": c.stream, "options": map[string]int{"num_predict": c.max}}
	case c.provider == "ollama":
		b = map[string]any{"model": c.model, "messages": msgs, "stream": c.stream, "options": map[string]int{"num_predict": c.max}}
	case strings.HasSuffix(c.path, "/responses"):
		b = map[string]any{"model": c.model, "input": text, "max_output_tokens": c.max, "stream": c.stream}
	case strings.HasSuffix(c.path, "/completions") && !strings.HasSuffix(c.path, "/chat/completions"):
		b = map[string]any{"model": c.model, "prompt": text, "max_tokens": c.max, "stream": c.stream}
	default: // chat completions, messages
		b = map[string]any{"model": c.model, "messages": msgs, "max_tokens": c.max, "stream": c.stream}
	}
	out, err := json.Marshal(b)
	if err != nil {
		panic(err) // maps of strings and numbers always encode
	}
	return string(out)
}

// prompt is n words of filler text.
func prompt(n int) string {
	words := strings.Fields("summarise the quarterly report and list the three largest risks with one line each")
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[i%len(words)])
	}
	return b.String()
}
