package fakeprovider

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fake starts a Server behind an httptest server and returns both.
func fake(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close) // runs first: releases hung handlers
	return s, ts
}

// testClient bounds every request so a broken fake fails a test instead of
// hanging it (a hang guard, not a timing assertion).
var testClient = &http.Client{Timeout: 20 * time.Second}

// creds are credential headers per provider; Ollama needs none.
var creds = map[string]http.Header{
	"openai":    {"Authorization": {"Bearer sk-test"}},
	"anthropic": {"X-Api-Key": {"sk-ant-test"}, "Anthropic-Version": {"2023-06-01"}},
	"gemini":    {"X-Goog-Api-Key": {"AIza-test"}},
	"ollama":    {},
}

// do sends a request and returns the response with its body read. A body
// read error (a cut connection) is returned, not fatal.
func do(t *testing.T, client *http.Client, method, url string, header http.Header, body string) (*http.Response, []byte, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if client == nil {
		client = testClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// post sends a POST with the provider's credentials plus extra headers and
// fails the test on a cut body.
func post(t *testing.T, url, provider string, extra http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	h := http.Header{}
	for k, v := range creds[provider] {
		h[k] = v
	}
	for k, v := range extra {
		h[k] = v
	}
	resp, b, err := do(t, nil, http.MethodPost, url, h, body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", url, err)
	}
	return resp, b
}

// hdr builds a header from key/value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// event is one parsed SSE event.
type event struct {
	name string // the event: line, "" when absent
	data string
}

// splitSSE splits an event stream on blank lines with the given line
// ending, checking every line is a known field and the stream ends on a
// blank line.
func splitSSE(t *testing.T, body []byte, eol string) []event {
	t.Helper()
	s := string(body)
	sep := eol + eol
	if !strings.HasSuffix(s, sep) {
		t.Fatalf("stream does not end with a blank line (%q): %q", sep, tail(s))
	}
	if eol == "\r\n" && strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") {
		t.Fatalf("CRLF stream has a bare LF: %q", s)
	}
	var evs []event
	for _, block := range strings.Split(strings.TrimSuffix(s, sep), sep) {
		var ev event
		for _, line := range strings.Split(block, eol) {
			name, value, ok := strings.Cut(line, ": ")
			switch {
			case !ok:
				t.Fatalf("line without a field: %q", line)
			case name == "event":
				ev.name = value
			case name == "data":
				ev.data = value
			default:
				t.Fatalf("unexpected field %q in %q", name, block)
			}
		}
		evs = append(evs, ev)
	}
	return evs
}

func tail(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}

// decode unmarshals JSON into a generic map, failing the test otherwise.
func decode(t *testing.T, data string) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return m
}

// at walks a decoded JSON value by keys and array indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// num is the integer at path, -1 when missing or not a number.
func num(v any, path ...any) int {
	n, ok := at(v, path...).(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -1
	}
	return int(i)
}

// str is the string at path.
func str(v any, path ...any) string {
	s, _ := at(v, path...).(string)
	return s
}

// has reports whether the object at path has key.
func has(v any, key string, path ...any) bool {
	m, ok := at(v, path...).(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[key]
	return ok
}

// ndjson splits NDJSON lines, checking each is one JSON object.
func ndjson(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	if !bytes.HasSuffix(body, []byte("\n")) {
		t.Fatalf("NDJSON does not end with a newline: %q", tail(string(body)))
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		out = append(out, decode(t, line))
	}
	return out
}
