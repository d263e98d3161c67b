package fakeprovider

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate is an Options.Sleep that reports each requested delay on asked and
// waits for a release, so a test sees exactly where the fake pauses.
type gate struct {
	asked   chan time.Duration
	release chan struct{}
}

func newGate() *gate {
	return &gate{asked: make(chan time.Duration), release: make(chan struct{})}
}

func (g *gate) sleep(ctx context.Context, d time.Duration) error {
	select {
	case g.asked <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readEvent reads one LF-framed SSE event (up to its blank line).
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (so far %q)", err, b.String())
		}
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

// rawClient never asks for or decodes compression, so tests see the wire.
// Its timeout only turns a broken fake into a failure instead of a hang.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 20 * time.Second}

// recv takes one value from ch, failing the test if none comes within a
// generous bound (a hang guard, not a timing assertion).
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("nothing arrived within 20s: the fake is stuck")
		panic("unreachable")
	}
}

// TestDelayBetweenEvents guards that each event is flushed before the
// delay that precedes the next one: the client reads event k while the fake
// is still paused before event k+1, whatever the encoding and chunking.
func TestDelayBetweenEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra http.Header
	}{
		{"plain", nil},
		{"gzip", hdr(HeaderGzip, "1")},
		{"1-byte chunks", hdr(HeaderChunk, "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			_, ts := fake(t, Options{Sleep: g.sleep})
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(strings.Replace(chatBody, "%s", `,"stream":true`, 1)))
			req.Header = hdr("Authorization", "Bearer k", HeaderDelay, "5ms", HeaderEvents, "2", "Accept-Encoding", "identity")
			for k, v := range tt.extra {
				req.Header[k] = v
			}
			resp, err := rawClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body io.Reader = resp.Body
			if tt.extra.Get(HeaderGzip) != "" {
				if resp.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding = %q", resp.Header.Get("Content-Encoding"))
				}
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			r := bufio.NewReader(body)
			// role, 2 words, finish, [DONE]: four pauses between five events.
			for i := range 5 {
				ev := readEvent(t, r)
				if i == 4 {
					if ev != "data: [DONE]\n" {
						t.Fatalf("last event %q", ev)
					}
					break
				}
				if d := recv(t, g.asked); d != 5*time.Millisecond {
					t.Fatalf("pause %d asked %v, want 5ms", i, d)
				}
				g.release <- struct{}{}
			}
			if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
				t.Fatalf("after [DONE]: %q, %v", rest, err)
			}
			select {
			case d := <-g.asked:
				t.Fatalf("unexpected extra pause %v", d)
			default:
			}
		})
	}
}

// TestDelayBetweenPieces guards that a non-streaming body cut into pieces
// pauses between the pieces.
func TestDelayBetweenPieces(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var pauses []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		pauses = append(pauses, d)
		return nil
	}
	_, ts := fake(t, Options{Sleep: sleep})
	_, body := post(t, ts.URL+"/v1/chat/completions", "openai", hdr(HeaderChunk, "100", HeaderDelay, "2ms"), strings.Replace(chatBody, "%s", "", 1))
	mu.Lock()
	defer mu.Unlock()
	want := (len(body)+99)/100 - 1
	if len(pauses) != want {
		t.Fatalf("%d pauses for a %d-byte body in 100-byte pieces, want %d", len(pauses), len(body), want)
	}
	for _, d := range pauses {
		if d != 2*time.Millisecond {
			t.Fatalf("pause %v, want 2ms", d)
		}
	}
}

// TestFirstByteDelay guards that the first-byte delay comes before the
// status line.
func TestFirstByteDelay(t *testing.T) {
	t.Parallel()
	g := newGate()
	_, ts := fake(t, Options{Sleep: g.sleep})
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/messages", strings.NewReader(messagesReq(2, "")))
		req.Header = hdr("X-Api-Key", "k", HeaderFirstByteDelay, "7ms")
		resp, err := rawClient.Do(req)
		if err == nil {
			resp.Body.Close()
			done <- result{resp.StatusCode, nil}
			return
		}
		done <- result{0, err}
	}()
	if d := recv(t, g.asked); d != 7*time.Millisecond {
		t.Fatalf("first pause %v, want 7ms", d)
	}
	select {
	case r := <-done:
		t.Fatalf("response headers arrived during the first-byte delay: %+v", r)
	default:
	}
	g.release <- struct{}{}
	if r := recv(t, done); r.err != nil || r.status != 200 {
		t.Fatalf("after the delay: %+v", r)
	}
}

// rawPost sends a request over a bare TCP connection and returns the raw
// response bytes, framing included.
func rawPost(t *testing.T, addr, path string, header http.Header, body string) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n", path, addr, len(body))
	if err := header.Write(&req); err != nil {
		t.Fatal(err)
	}
	req.WriteString("\r\n" + body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dechunk decodes a chunked body, returning the data and the chunk sizes.
func dechunk(t *testing.T, b []byte) ([]byte, []int) {
	t.Helper()
	var data []byte
	var sizes []int
	for {
		line, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			t.Fatalf("chunk size line missing in %q", b)
		}
		n, err := strconv.ParseInt(string(line), 16, 64)
		if err != nil {
			t.Fatalf("chunk size %q: %v", line, err)
		}
		if n == 0 {
			return data, sizes
		}
		sizes = append(sizes, int(n))
		data = append(data, rest[:n]...)
		b = rest[n+2:]
	}
}

// TestChunkedWrites guards X-Fake-Chunk: the wire carries the body in
// pieces of exactly N bytes (each its own HTTP chunk, so each was flushed
// on its own), and the bytes are those of the unchunked response.
func TestChunkedWrites(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	addr := ts.Listener.Addr().String()
	tests := []struct {
		name, path, provider, body string
	}{
		{"chat stream", "/v1/chat/completions", "openai", strings.Replace(chatBody, "%s", `,"stream":true,"stream_options":{"include_usage":true}`, 1)},
		{"messages stream", "/v1/messages", "anthropic", messagesReq(3, `,"stream":true`)},
		{"responses stream", "/v1/responses", "openai", `{"model":"m","input":"x","stream":true}`},
		{"gemini sse", "/v1beta/models/g:streamGenerateContent?alt=sse", "gemini", geminiBody},
		{"gemini array", "/v1beta/models/g:streamGenerateContent", "gemini", geminiBody},
		{"ollama", "/api/chat", "ollama", `{"model":"l","messages":[]}`},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 3, 7} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, n), func(t *testing.T) {
				_, plain := post(t, ts.URL+tt.path, tt.provider, nil, tt.body)
				h := creds[tt.provider].Clone()
				h.Set(HeaderChunk, strconv.Itoa(n))
				raw := rawPost(t, addr, tt.path, h, tt.body)
				head, chunked, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
				if !ok || !bytes.Contains(head, []byte("Transfer-Encoding: chunked")) {
					t.Fatalf("not a chunked response: %q", head)
				}
				data, sizes := dechunk(t, chunked)
				if !bytes.Equal(data, plain) {
					t.Fatalf("chunked body differs from the plain one:\n%q\n%q", data, plain)
				}
				for i, s := range sizes {
					if s > n {
						t.Fatalf("chunk %d has %d bytes, more than %d", i, s, n)
					}
				}
				if n == 1 && len(sizes) != len(plain) {
					t.Fatalf("%d chunks for %d bytes with 1-byte pieces", len(sizes), len(plain))
				}
			})
		}
	}
}

// TestChunkedWholeBody guards X-Fake-Chunk on a non-streaming body (sent
// with Content-Length): same bytes.
func TestChunkedWholeBody(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	body := messagesReq(5, "")
	_, plain := post(t, ts.URL+"/v1/messages", "anthropic", nil, body)
	resp, pieces := post(t, ts.URL+"/v1/messages", "anthropic", hdr(HeaderChunk, "1"), body)
	if !bytes.Equal(plain, pieces) || resp.ContentLength != int64(len(plain)) {
		t.Fatalf("1-byte pieces changed the body (Content-Length %d):\n%s\n%s", resp.ContentLength, plain, pieces)
	}
}

// TestGzip guards X-Fake-Gzip: Content-Encoding gzip even when the client
// asked for identity, and the decoded bytes are the plain response.
func TestGzip(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		name, path, provider, body string
	}{
		{"chat object", "/v1/chat/completions", "openai", strings.Replace(chatBody, "%s", "", 1)},
		{"chat stream", "/v1/chat/completions", "openai", strings.Replace(chatBody, "%s", `,"stream":true`, 1)},
		{"messages stream", "/v1/messages", "anthropic", messagesReq(3, `,"stream":true`)},
		{"gemini array", "/v1beta/models/g:streamGenerateContent", "gemini", geminiBody},
		{"ollama", "/api/generate", "ollama", `{"model":"l","prompt":"p"}`},
		{"error", "/v1/nowhere", "openai", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := creds[tt.provider].Clone()
			h.Set("Accept-Encoding", "identity")
			_, plain, err := do(t, rawClient, http.MethodPost, ts.URL+tt.path, h, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			h.Set(HeaderGzip, "1")
			resp, zipped, err := do(t, rawClient, http.MethodPost, ts.URL+tt.path, h, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Content-Encoding = %q", resp.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(zipped))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("gunzip: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("gunzipped body differs:\n%q\n%q", got, plain)
			}
		})
	}
}

// TestAbort guards X-Fake-Abort-After: the connection is cut after N
// content events (or N body bytes), and the client sees a truncated
// response with a read error.
func TestAbort(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		name, path, provider, body, after, sep string
		wantEvents                             int // complete events (or bytes) received
	}{
		{"chat after 2", "/v1/chat/completions", "openai", strings.Replace(chatBody, "%s", `,"stream":true`, 1), "2", "\n\n", 1 + 2},
		{"messages after 0", "/v1/messages", "anthropic", messagesReq(3, `,"stream":true`), "0", "\n\n", 3},
		{"messages past the end", "/v1/messages", "anthropic", messagesReq(3, `,"stream":true`), "99", "\n\n", 3 + 3},
		{"responses after 1", "/v1/responses", "openai", `{"model":"m","input":"x","stream":true}`, "1", "\n\n", 4 + 1},
		{"gemini sse after 1", "/v1beta/models/g:streamGenerateContent?alt=sse", "gemini", geminiBody, "1", "\r\n\r\n", 1},
		{"ollama after 2", "/api/chat", "ollama", `{"model":"l","messages":[]}`, "2", "\n", 2},
		{"object after 10 bytes", "/v1/chat/completions", "openai", strings.Replace(chatBody, "%s", "", 1), "10", "", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := creds[tt.provider].Clone()
			h.Set(HeaderAbortAfter, tt.after)
			resp, got, err := do(t, nil, http.MethodPost, ts.URL+tt.path, h, tt.body)
			if err == nil {
				t.Fatalf("body read without error: %q", got)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if tt.sep == "" {
				if len(got) != tt.wantEvents {
					t.Fatalf("got %d bytes, want %d", len(got), tt.wantEvents)
				}
				return
			}
			if n := strings.Count(string(got), tt.sep); n != tt.wantEvents || !strings.HasSuffix(string(got), tt.sep) {
				t.Fatalf("got %d complete events, want %d: %q", n, tt.wantEvents, got)
			}
		})
	}
}

// TestErrorEvent guards X-Fake-Error-Event: after N content events the
// stream carries the provider's error event and ends, status still 200.
func TestErrorEvent(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	sse := func(t *testing.T, body []byte, eol string) (string, map[string]any, int) {
		evs := splitSSE(t, body, eol)
		last := evs[len(evs)-1]
		return last.name, decode(t, last.data), len(evs)
	}
	tests := []struct {
		name, path, provider, body string
		check                      func(t *testing.T, body []byte)
	}{
		{"chat", "/v1/chat/completions", "openai", strings.Replace(chatBody, "%s", `,"stream":true`, 1), func(t *testing.T, b []byte) {
			name, d, n := sse(t, b, "\n")
			if name != "" || str(d, "error", "type") != "server_error" || n != 1+1+1 {
				t.Errorf("last of %d events: %q %v", n, name, d)
			}
		}},
		{"responses", "/v1/responses", "openai", `{"model":"m","input":"x","stream":true}`, func(t *testing.T, b []byte) {
			name, d, n := sse(t, b, "\n")
			if name != "error" || str(d, "type") != "error" || str(d, "code") != "server_error" || num(d, "sequence_number") != n-1 {
				t.Errorf("last of %d events: %q %v", n, name, d)
			}
		}},
		{"messages", "/v1/messages", "anthropic", messagesReq(3, `,"stream":true`), func(t *testing.T, b []byte) {
			name, d, n := sse(t, b, "\n")
			if name != "error" || str(d, "type") != "error" || str(d, "error", "type") != "overloaded_error" || n != 3+1+1 {
				t.Errorf("last of %d events: %q %v", n, name, d)
			}
		}},
		{"gemini sse", "/v1beta/models/g:streamGenerateContent?alt=sse", "gemini", geminiBody, func(t *testing.T, b []byte) {
			_, d, n := sse(t, b, "\r\n")
			if num(d, "error", "code") != 500 || str(d, "error", "status") != "INTERNAL" || n != 2 {
				t.Errorf("last of %d events: %v", n, d)
			}
		}},
		{"gemini array", "/v1beta/models/g:streamGenerateContent", "gemini", geminiBody, func(t *testing.T, b []byte) {
			var arr []map[string]any
			if err := json.Unmarshal(b, &arr); err != nil || len(arr) != 2 || at(arr[1], "error", "code") == nil {
				t.Errorf("array %v (%v): %s", arr, err, b)
			}
		}},
		{"ollama", "/api/chat", "ollama", `{"model":"l","messages":[]}`, func(t *testing.T, b []byte) {
			lines := ndjson(t, b)
			if len(lines) != 2 || str(lines[1], "error") == "" {
				t.Errorf("lines: %v", lines)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, ts.URL+tt.path, tt.provider, hdr(HeaderErrorEvent, "1"), tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			tt.check(t, body)
		})
	}
}

// TestStatusKnob guards X-Fake-Status: that status with the provider's
// error body.
func TestStatusKnob(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		name, path, provider, body, status string
		check                              func(m map[string]any) bool
	}{
		{"openai 429", "/v1/chat/completions", "openai", `{}`, "429", func(m map[string]any) bool {
			return str(m, "error", "code") == "rate_limit_exceeded" && str(m, "error", "message") != ""
		}},
		{"openai 500", "/v1/responses", "openai", `{}`, "500", func(m map[string]any) bool { return str(m, "error", "type") == "server_error" }},
		{"anthropic 529", "/v1/messages", "anthropic", `{}`, "529", func(m map[string]any) bool {
			return str(m, "type") == "error" && str(m, "error", "type") == "overloaded_error" && strings.HasPrefix(str(m, "request_id"), "req_")
		}},
		{"anthropic 429", "/v1/messages", "anthropic", `{}`, "429", func(m map[string]any) bool { return str(m, "error", "type") == "rate_limit_error" }},
		{"gemini 429", "/v1beta/models/g:generateContent", "gemini", `{}`, "429", func(m map[string]any) bool {
			return num(m, "error", "code") == 429 && str(m, "error", "status") == "RESOURCE_EXHAUSTED"
		}},
		{"ollama 500", "/api/chat", "ollama", `{}`, "500", func(m map[string]any) bool { return str(m, "error") != "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, ts.URL+tt.path, tt.provider, hdr(HeaderStatus, tt.status), tt.body)
			if strconv.Itoa(resp.StatusCode) != tt.status {
				t.Fatalf("status %d, want %s", resp.StatusCode, tt.status)
			}
			if !tt.check(decode(t, string(body))) {
				t.Fatalf("error body: %s", body)
			}
		})
	}
}

// TestHang guards X-Fake-Hang: no answer until Close (or the client
// leaves); then the connection is cut.
func TestHang(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	arrived := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader("{}"))
		req.Header = hdr("Authorization", "Bearer k", HeaderHang, "1")
		resp, err := rawClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	recv(t, arrived)
	select {
	case err := <-errc:
		t.Fatalf("hung request returned before Close: %v", err)
	default:
	}
	s.Close()
	if err := recv(t, errc); err == nil {
		t.Fatal("hung request got a response after Close, want a cut connection")
	}

	// A hang also ends when the client gives up.
	_, ts2 := fake(t, Options{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts2.URL+"/api/chat", strings.NewReader("{}"))
	if _, err := rawClient.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled hang: %v", err)
	}
}

// TestBadKnobs guards that a malformed knob is a 400 naming the header.
func TestBadKnobs(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct{ header, value string }{
		{HeaderEvents, "many"},
		{HeaderEvents, "-1"},
		{HeaderDelay, "5"},
		{HeaderDelay, "-5ms"},
		{HeaderGzip, "yes please"},
		{HeaderStatus, "200"},
		{HeaderStatus, "700"},
		{HeaderStyle, "mistral"},
		{HeaderCost, "cheap"},
		{HeaderCost, `"1"`},
		{HeaderChunk, "1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.header+"="+tt.value, func(t *testing.T) {
			resp, body := post(t, ts.URL+"/v1/chat/completions", "openai", hdr(tt.header, tt.value), `{}`)
			if resp.StatusCode != 400 || !strings.Contains(str(decode(t, string(body)), "error", "message"), tt.header) {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
}

// TestEventBytes guards X-Fake-Event-Bytes: every content text is exactly
// B bytes and still one word-token.
func TestEventBytes(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	for _, size := range []int{1, 2, 5, 1000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			_, body := post(t, ts.URL+"/v1/messages", "anthropic", hdr(HeaderEventBytes, strconv.Itoa(size), HeaderEvents, "4"), messagesReq(1, `,"stream":true`))
			var words int
			for _, ev := range splitSSE(t, body, "\n") {
				if ev.name != "content_block_delta" {
					continue
				}
				text := str(decode(t, ev.data), "delta", "text")
				if len(text) != size {
					t.Errorf("delta text has %d bytes, want %d", len(text), size)
				}
				words++
			}
			if words != 4 {
				t.Errorf("%d deltas, want 4", words)
			}
			_, body = post(t, ts.URL+"/v1/messages", "anthropic", hdr(HeaderEventBytes, strconv.Itoa(size), HeaderEvents, "4"), messagesReq(1, ""))
			m := decode(t, string(body))
			if text := str(m, "content", 0, "text"); len(text) != 4*size || (size > 1 && len(strings.Fields(text)) != 4) {
				t.Errorf("whole text %d bytes, %d words", len(text), len(strings.Fields(text)))
			}
			if num(m, "usage", "output_tokens") != 4 {
				t.Errorf("output_tokens %d, want 4", num(m, "usage", "output_tokens"))
			}
		})
	}
}

// TestEventsPrecedence guards which knob decides the output size: header,
// then the request's max tokens, then Options.Events, then DefaultEvents.
func TestEventsPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		header  string
		maxToks string
		want    int
	}{
		{"default", Options{}, "", "", DefaultEvents},
		{"options", Options{Events: 5}, "", "", 5},
		{"max_tokens over options", Options{Events: 5}, "", `,"max_tokens":2`, 2},
		{"header over max_tokens", Options{Events: 5}, "7", `,"max_tokens":2`, 7},
		{"header zero", Options{}, "0", `,"max_tokens":2`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := fake(t, tt.opts)
			h := http.Header{}
			if tt.header != "" {
				h.Set(HeaderEvents, tt.header)
			}
			_, body := post(t, ts.URL+"/v1/chat/completions", "openai", h, `{"model":"m","messages":[]`+tt.maxToks+`}`)
			m := decode(t, string(body))
			if got := num(m, "usage", "completion_tokens"); got != tt.want {
				t.Errorf("completion_tokens = %d, want %d", got, tt.want)
			}
			if got := len(strings.Fields(str(m, "choices", 0, "message", "content"))); got != tt.want {
				t.Errorf("%d words, want %d", got, tt.want)
			}
		})
	}
}

// TestOptionsDefaults guards that Options act as knob defaults and headers
// override them.
func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{Model: "served-model", CachedTokens: 3, Gzip: true, Status: 503})
	resp, _, err := do(t, rawClient, http.MethodPost, ts.URL+"/v1/chat/completions", creds["openai"], `{"model":"m","messages":[]}`)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("defaults not applied: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Encoding"), err)
	}
	h := creds["openai"].Clone()
	h.Set(HeaderGzip, "0")
	h.Set(HeaderModel, "header-model")
	h.Set(HeaderCachedTokens, "0")
	// A header cannot unset a default status (only 4xx/5xx are valid), so
	// use a server without one.
	_, ts2 := fake(t, Options{Model: "served-model", CachedTokens: 3, Gzip: true})
	resp, body, err := do(t, rawClient, http.MethodPost, ts2.URL+"/v1/chat/completions", h, `{"model":"m","messages":[]}`)
	if err != nil || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("header did not turn gzip off: %q %v", resp.Header.Get("Content-Encoding"), err)
	}
	m := decode(t, string(body))
	if str(m, "model") != "header-model" || num(m, "usage", "prompt_tokens_details", "cached_tokens") != 0 {
		t.Fatalf("headers did not override: %s", body)
	}
	_, body, _ = do(t, rawClient, http.MethodPost, ts2.URL+"/v1/chat/completions", hdr("Authorization", "k", "Accept-Encoding", "identity", HeaderGzip, "0"), `{"model":"m","messages":[]}`)
	if m := decode(t, string(body)); str(m, "model") != "served-model" || num(m, "usage", "prompt_tokens_details", "cached_tokens") != 3 {
		t.Fatalf("option defaults not used: %s", body)
	}
}
