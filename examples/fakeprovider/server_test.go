package fakeprovider

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRequestsRecorded guards that Requests reports what reached the fake:
// method, path, query, Host, headers and body.
func TestRequestsRecorded(t *testing.T) {
	t.Parallel()
	s, ts := fake(t, Options{})
	body := `{"model":"m","messages":[]}`
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/openai/v1/chat/completions?x=1&key=secret", strings.NewReader(body))
	req.Host = "api.openai.com"
	req.Header = hdr("Authorization", "Bearer sk-1", "X-Custom", "yes")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := s.Requests()
	if len(got) != 1 {
		t.Fatalf("%d requests recorded", len(got))
	}
	r := got[0]
	if r.Method != "POST" || r.Path != "/openai/v1/chat/completions" || r.RawQuery != "x=1&key=secret" || r.Host != "api.openai.com" || r.Proto != "HTTP/1.1" {
		t.Errorf("seen: %+v", r)
	}
	if r.Header.Get("X-Custom") != "yes" || r.Header.Get("Authorization") != "Bearer sk-1" {
		t.Errorf("headers: %v", r.Header)
	}
	if string(r.Body) != body || r.BodyLen != int64(len(body)) || r.BodySHA256 != sha256.Sum256([]byte(body)) {
		t.Errorf("body: %q len %d", r.Body, r.BodyLen)
	}
	// The copy is the caller's.
	got[0].Header.Set("X-Custom", "changed")
	if s.Requests()[0].Header.Get("X-Custom") != "yes" {
		t.Error("Requests returned shared headers")
	}
}

// TestRequestsBounded guards the ring: only the latest KeepRequests, oldest
// first; bodies capped at RecordBodyBytes with the full length and hash
// kept; a negative KeepRequests records nothing; Reset forgets.
func TestRequestsBounded(t *testing.T) {
	t.Parallel()
	s, ts := fake(t, Options{KeepRequests: 3, RecordBodyBytes: 4})
	for i := range 7 {
		post(t, ts.URL+"/api/chat", "ollama", nil, fmt.Sprintf(`{"model":"m%d"}`, i))
	}
	got := s.Requests()
	if len(got) != 3 {
		t.Fatalf("%d kept, want 3", len(got))
	}
	for i, r := range got {
		full := fmt.Sprintf(`{"model":"m%d"}`, i+4)
		if string(r.Body) != full[:4] || r.BodyLen != int64(len(full)) || r.BodySHA256 != sha256.Sum256([]byte(full)) {
			t.Errorf("request %d: body %q len %d, want the first 4 bytes of %q", i, r.Body, r.BodyLen, full)
		}
	}
	s.Reset()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d after Reset", n)
	}
	post(t, ts.URL+"/api/chat", "ollama", nil, `{"model":"after"}`)
	if got := s.Requests(); len(got) != 1 || !bytes.HasPrefix([]byte(`{"model":"after"}`), got[0].Body) {
		t.Errorf("after Reset: %+v", got)
	}

	none, ts2 := fake(t, Options{KeepRequests: -1})
	post(t, ts2.URL+"/api/chat", "ollama", nil, `{}`)
	if n := len(none.Requests()); n != 0 {
		t.Errorf("KeepRequests -1 kept %d", n)
	}
}

// TestRequestsConcurrent guards that recording is safe under concurrent
// requests (run with -race).
func TestRequestsConcurrent(t *testing.T) {
	t.Parallel()
	s, ts := fake(t, Options{KeepRequests: 10})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			_, _, err := do(t, nil, http.MethodPost, ts.URL+"/api/generate", nil, fmt.Sprintf(`{"prompt":"%d"}`, i))
			if err != nil {
				t.Error(err)
			}
			_ = s.Requests()
		})
	}
	wg.Wait()
	if n := len(s.Requests()); n != 10 {
		t.Errorf("%d kept, want 10", n)
	}
}

// TestDeterministic guards that equal requests get byte-identical
// responses (ids, times, request-id headers) and different bodies get
// different ids.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		path, provider, body string
		hasID                bool // Ollama responses carry no id
	}{
		{"/v1/chat/completions", "openai", strings.Replace(chatBody, "%s", `,"stream":true`, 1), true},
		{"/v1/responses", "openai", `{"input":"x"}`, true},
		{"/v1/messages", "anthropic", messagesReq(2, `,"stream":true`), true},
		{"/v1beta/models/g:streamGenerateContent", "gemini", geminiBody, true},
		{"/api/chat", "ollama", `{"messages":[]}`, false},
		{"/v1/embeddings", "openai", `{"input":"x","encoding_format":"base64"}`, true},
	}
	for _, tt := range tests {
		r1, a := post(t, ts.URL+tt.path, tt.provider, nil, tt.body)
		r2, b := post(t, ts.URL+tt.path, tt.provider, nil, tt.body)
		if !bytes.Equal(a, b) || r1.Header.Get("X-Request-Id") != r2.Header.Get("X-Request-Id") || r1.Header.Get("Request-Id") != r2.Header.Get("Request-Id") {
			t.Errorf("%s: two equal requests differ", tt.path)
		}
		_, c := post(t, ts.URL+tt.path, tt.provider, nil, strings.Replace(tt.body, "{", `{"user":"other",`, 1))
		if tt.hasID && bytes.Equal(a, c) {
			t.Errorf("%s: a different body gave the same bytes", tt.path)
		}
	}
	// Options.Clock decides the reported time.
	_, ts2 := fake(t, Options{Clock: func() time.Time { return time.Unix(1700000000, 0) }})
	_, body := post(t, ts2.URL+"/v1/chat/completions", "openai", nil, `{}`)
	if num(decode(t, string(body)), "created") != 1700000000 {
		t.Errorf("Clock ignored: %s", body)
	}
}

// TestErrorShapes guards the errors each provider answers with: unknown
// path (404), no credential (401), a body that is not a JSON object (400),
// an oversized body (413).
func TestErrorShapes(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{MaxBodyBytes: 64})
	openAI := func(typ string) func(map[string]any) bool {
		return func(m map[string]any) bool { return str(m, "error", "type") == typ && str(m, "error", "message") != "" }
	}
	anthropic := func(typ string) func(map[string]any) bool {
		return func(m map[string]any) bool { return str(m, "type") == "error" && str(m, "error", "type") == typ }
	}
	gemini := func(status string) func(map[string]any) bool {
		return func(m map[string]any) bool { return str(m, "error", "status") == status && num(m, "error", "code") > 0 }
	}
	ollama := func(m map[string]any) bool { return str(m, "error") != "" }
	big := `{"input":"` + strings.Repeat("x", 100) + `"}`
	tests := []struct {
		name, method, path string
		header             http.Header
		body               string
		status             int
		check              func(map[string]any) bool
	}{
		{"openai unknown path", "POST", "/v1/nothing", creds["openai"], `{}`, 404, openAI("invalid_request_error")},
		{"openai wrong method", "GET", "/v1/chat/completions", creds["openai"], ``, 404, openAI("invalid_request_error")},
		{"anthropic unknown path", "POST", "/v1/nothing", creds["anthropic"], `{}`, 404, anthropic("not_found_error")},
		{"gemini unknown path", "POST", "/v1beta/models/g:explode", creds["gemini"], `{}`, 404, gemini("NOT_FOUND")},
		{"ollama unknown path", "POST", "/api/explode", nil, `{}`, 404, ollama},
		{"openai no key", "POST", "/v1/chat/completions", nil, `{}`, 401, openAI("invalid_request_error")},
		{"anthropic no key", "POST", "/v1/messages", hdr("Anthropic-Version", "2023-06-01"), `{}`, 401, anthropic("authentication_error")},
		{"gemini no key", "POST", "/v1beta/models/g:generateContent", nil, `{}`, 401, gemini("UNAUTHENTICATED")},
		{"models no key", "GET", "/v1/models", nil, ``, 401, openAI("invalid_request_error")},
		{"openai bad json", "POST", "/v1/chat/completions", creds["openai"], `{"model":`, 400, openAI("invalid_request_error")},
		{"openai array body", "POST", "/v1/embeddings", creds["openai"], `["x"]`, 400, openAI("invalid_request_error")},
		{"openai trailing data", "POST", "/v1/embeddings", creds["openai"], `{} {}`, 400, openAI("invalid_request_error")},
		{"anthropic bad json", "POST", "/v1/messages", creds["anthropic"], `nope`, 400, anthropic("invalid_request_error")},
		{"gemini bad json", "POST", "/v1beta/models/g:generateContent", creds["gemini"], `{`, 400, gemini("INVALID_ARGUMENT")},
		{"ollama bad json", "POST", "/api/chat", nil, `{`, 400, ollama},
		{"openai too large", "POST", "/v1/embeddings", creds["openai"], big, 413, openAI("invalid_request_error")},
		{"anthropic too large", "POST", "/v1/messages", creds["anthropic"], big, 413, anthropic("request_too_large")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := do(t, nil, tt.method, ts.URL+tt.path, tt.header, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !tt.check(decode(t, string(body))) {
				t.Fatalf("error body (%s): %s", resp.Header.Get("Content-Type"), body)
			}
		})
	}
}

// TestCredentials guards that any one credential form is enough.
func TestCredentials(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		name, query string
		header      http.Header
	}{
		{"bearer", "", hdr("Authorization", "Bearer x")},
		{"x-api-key", "", hdr("X-Api-Key", "x")},
		{"azure api-key", "", hdr("Api-Key", "x")},
		{"x-goog-api-key", "", hdr("X-Goog-Api-Key", "x")},
		{"key query", "?key=x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := do(t, nil, "POST", ts.URL+"/v1/chat/completions"+tt.query, tt.header, `{}`)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d %v: %s", resp.StatusCode, err, body)
			}
		})
	}
}

// TestValidate guards Options.Validate.
func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"full", Options{Events: 5, Delay: time.Millisecond, Status: 429, Style: "Groq", Cost: "1e-3"}, true},
		{"negative events", Options{Events: -1}, false},
		{"negative delay", Options{Delay: -1}, false},
		{"status 200", Options{Status: 200}, false},
		{"style", Options{Style: "azure"}, false},
		{"cost", Options{Cost: "NaN"}, false},
		{"websocket", Options{WSDeflate: DeflateNoContextTakeover, WSFragment: 3, WSStatus: 426}, true},
		{"ws deflate", Options{WSDeflate: "maybe"}, false},
		{"ws status", Options{WSStatus: 101}, false},
		{"ws fragment", Options{WSFragment: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.opts.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}
