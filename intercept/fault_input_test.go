package intercept

// The fault-injection suite, part 2: bad input from the provider or the
// client. Each case must end in a clear error or an untouched pass-through —
// the client gets what a direct call gets — never a crash, and never memory
// that grows with the input: with CONDUIT_TEST_MEMORY=1 the Go heap is
// sampled while the case runs and its growth is held to a bound far below
// the input size, on inputs of 100 MiB.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/valohai/conduit/ledger"
)

// memoryEnv turns the heap checks on. They are off in a plain go test:
// the heap is the whole test process's, so it also counts whatever other
// tests allocate meanwhile, and sampling it stops the world every few
// milliseconds, which under the race detector costs seconds. Without them
// the large inputs shrink to a few times the caps they cross, which is all
// the pass-through and recording checks need:
//
//	CONDUIT_TEST_MEMORY=1 go test -run 'TestFault(Malformed|Compression|BadFraming|BadRequests)' ./intercept
const memoryEnv = "CONDUIT_TEST_MEMORY"

var checkMemory = os.Getenv(memoryEnv) != ""

// parallelUnlessMemory lets a test run beside the package's others unless
// the heap checks are on: the heap they sample is the whole process's.
func parallelUnlessMemory(t *testing.T) {
	if !checkMemory {
		t.Parallel()
	}
}

// bigInput is the size of the cases' large inputs: past the SSE scanner's
// event cap and the JSON meter's head either way.
func bigInput() int {
	if checkMemory {
		return 100 * mib
	}
	return 40 * mib
}

// memProbe samples the Go heap in use while a case runs. A nil *memProbe
// (memoryEnv unset) measures nothing.
type memProbe struct {
	base      uint64
	gcPercent int // to restore
	peak      atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
}

// startMemProbe starts sampling, when memoryEnv is set. Until growth is
// called the collector runs after every 10% of growth (not Go's default
// 100%), so a sample is close to the live heap rather than to the garbage a
// collection has yet to free.
func startMemProbe() *memProbe {
	if !checkMemory {
		return nil
	}
	old := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p := &memProbe{base: ms.HeapInuse, gcPercent: old, stop: make(chan struct{}), done: make(chan struct{})}
	p.peak.Store(ms.HeapInuse)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > p.peak.Load() {
				p.peak.Store(ms.HeapInuse)
			}
		}
	}()
	return p
}

// growth stops the probe and returns the peak heap growth.
func (p *memProbe) growth() heapGrowth {
	if p == nil {
		return heapGrowth{}
	}
	close(p.stop)
	<-p.done
	debug.SetGCPercent(p.gcPercent)
	g := heapGrowth{measured: true}
	if peak := p.peak.Load(); peak > p.base {
		g.bytes = peak - p.base
	}
	return g
}

// heapGrowth is what a memProbe saw.
type heapGrowth struct {
	bytes    uint64
	measured bool
}

// over reports whether the heap was measured growing past bound bytes.
func (g heapGrowth) over(bound uint64) bool { return g.measured && g.bytes > bound }

func (g heapGrowth) String() string {
	if !g.measured {
		return "not measured (" + memoryEnv + " unset)"
	}
	return fmt.Sprintf("+%.1f MiB", float64(g.bytes)/mib)
}

const mib = 1 << 20

// generator writes a response body piece by piece, so that a case's input
// never sits whole in the test's own memory.
type generator func(w io.Writer) error

func repeatBytes(w io.Writer, b byte, n int) error {
	chunk := bytes.Repeat([]byte{b}, 64<<10)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func literal(s string) generator {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func concat(gs ...generator) generator {
	return func(w io.Writer) error {
		for _, g := range gs {
			if err := g(w); err != nil {
				return err
			}
		}
		return nil
	}
}

func repeated(b byte, n int) generator {
	return func(w io.Writer) error { return repeatBytes(w, b, n) }
}

// digest is what a body looked like to its reader: size and hash.
type digest struct {
	n   int64
	sum [32]byte
}

func digestOf(g generator) digest {
	h := sha256.New()
	cw := &countWriter{w: h}
	g(cw)
	var d digest
	d.n = cw.n
	copy(d.sum[:], h.Sum(nil))
	return d
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// readDigest reads a body to its end without keeping it.
func readDigest(r io.Reader) (digest, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var d digest
	d.n = n
	copy(d.sum[:], h.Sum(nil))
	return d, err
}

// serveGenerated is a provider answering every request with contentType
// and the generated body, flushed every 64 KiB.
func serveGenerated(contentType, contentEncoding string, g generator) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		if contentEncoding != "" {
			w.Header().Set("Content-Encoding", contentEncoding)
		}
		g(w)
	}
}

// TestFaultMalformedResponses guards the meters against hostile response
// bodies: each passes to the client byte for byte (also through the event
// filter of an injected OpenAI stream), the call is recorded, no count is
// negative, and the heap grows by far less than the body.
func TestFaultMalformedResponses(t *testing.T) {
	parallelUnlessMemory(t)
	nested := func(open, mid, closing string, depth int) generator {
		return concat(literal(strings.Repeat(open, depth)), literal(mid), literal(strings.Repeat(closing, depth)))
	}
	tests := []struct {
		name        string
		contentType string
		body        generator
		maxGrowth   uint64 // heap growth allowed, bytes
		big         bool   // run only through the filtered route, and one plain route when memory is checked (time)
	}{
		{name: "SSE without blank lines", contentType: "text/event-stream",
			body: func(w io.Writer) error {
				for i := range 20000 {
					if _, err := fmt.Fprintf(w, "data: {\"choices\":[],\"n\":%d}\n", i); err != nil {
						return err
					}
				}
				return nil
			}, maxGrowth: 48 * mib},
		{name: "SSE huge line", contentType: "text/event-stream",
			body:      concat(literal("data: "), repeated('a', bigInput()), literal("\n\ndata: {\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n")),
			maxGrowth: 64 * mib, big: true},
		{name: "SSE huge line, no newline at all", contentType: "text/event-stream",
			body: concat(literal("data: "), repeated('b', bigInput())), maxGrowth: 64 * mib, big: true},
		{name: "SSE NUL bytes", contentType: "text/event-stream",
			body: literal("data: {\"a\":\"\x00\x00\"}\n\n\x00\x00\x00\nevent: \x00\ndata: \x00{\"usage\":\x00}\n\ndata: [DONE]\n\n"), maxGrowth: 16 * mib},
		{name: "SSE invalid UTF-8", contentType: "text/event-stream",
			body: literal("\xef\xbb\xbfdata: \xff\xfe\xc3\x28\n\nevent: \xff\xfe\ndata: {\"usage\":{\"prompt_tokens\":\"\xff\"}}\n\n:\xc0\xaf\n\n"), maxGrowth: 16 * mib},
		{name: "SSE CR-only and mixed line ends", contentType: "text/event-stream",
			body: literal("data: {\"x\":1}\r\rdata: {\"y\"\r\n:2}\n\r\n\r\r\n\n"), maxGrowth: 16 * mib},
		{name: "SSE event over the cap, many lines", contentType: "text/event-stream",
			body: func(w io.Writer) error {
				line := "data: " + strings.Repeat("x", 1018) + "\n"
				for range 20 * 1024 { // 20 MiB in 1 KiB lines, one event
					if _, err := io.WriteString(w, line); err != nil {
						return err
					}
				}
				_, err := io.WriteString(w, "data: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n")
				return err
			}, maxGrowth: 64 * mib, big: true},
		{name: "SSE JSON nested 10,000 deep", contentType: "text/event-stream",
			body: concat(literal("data: "), nested("[", "", "]", 10000), literal("\n\ndata: "), nested(`{"usage":`, "1", "}", 10000), literal("\n\n")), maxGrowth: 16 * mib},
		{name: "JSON truncated", contentType: "application/json",
			body: literal(`{"id":"chatcmpl-1","model":"m","usage":{"prompt_tokens":1`), maxGrowth: 16 * mib},
		{name: "JSON malformed", contentType: "application/json",
			body: literal(`{"usage": {prompt_tokens: 5, "completion_tokens": }}}}]]`), maxGrowth: 16 * mib},
		{name: "JSON arrays nested 10,000 deep", contentType: "application/json",
			body: nested("[", "", "]", 10000), maxGrowth: 16 * mib},
		{name: "JSON objects nested 10,000 deep", contentType: "application/json",
			body: nested(`{"usage":`, `{"prompt_tokens":1}`, "}", 10000), maxGrowth: 16 * mib},
		{name: "JSON hostile counts", contentType: "application/json",
			body: literal(`{"model":"m","usage":{"prompt_tokens":1e400,"completion_tokens":-5,"total_tokens":"x","prompt_tokens_details":{"cached_tokens":-1e30},"completion_tokens_details":{"reasoning_tokens":9223372036854775808}}}`), maxGrowth: 16 * mib},
		{name: "JSON huge string", contentType: "application/json",
			// A JSON body keeps a 32 MiB head by design; growing it to the cap
			// peaks at about 2.5 times that.
			body: concat(literal(`{"model":"m","choices":[{"text":"`), repeated('c', bigInput()), literal(`"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)), maxGrowth: 96 * mib, big: true},
		{name: "NDJSON garbage lines", contentType: "application/x-ndjson",
			body: literal("{\n}\n\x00\n{\"done\":true,\"prompt_eval_count\":-3,\"eval_count\":\"x\"}\n[[[[\n"), maxGrowth: 16 * mib},
		{name: "binary garbage", contentType: "application/octet-stream",
			body: func(w io.Writer) error {
				b := make([]byte, 256)
				for i := range b {
					b[i] = byte(i)
				}
				for range 4096 {
					if _, err := w.Write(b); err != nil {
						return err
					}
				}
				return nil
			}, maxGrowth: 16 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{upstream: serveGenerated(tt.contentType, "", tt.body)})
			want := digestOf(tt.body)
			routes := []string{"openai", "plain", "anthropic", "gemini", "ollama"}
			switch {
			case tt.big && checkMemory:
				routes = []string{"openai", "anthropic"}
			case tt.big:
				routes = []string{"openai"}
			}
			for _, route := range routes {
				path := map[string]string{"openai": "/v1/chat/completions", "plain": "/v1/chat/completions", "anthropic": "/v1/messages",
					"gemini": "/v1beta/models/g:streamGenerateContent?alt=sse", "ollama": "/api/chat"}[route]
				probe := startMemProbe()
				resp := send(t, rawClient, "POST", h.proxyURL+"/"+route+path, hdr("Authorization", auth, "Content-Type", "application/json"),
					`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
				got, err := readDigest(resp.Body)
				resp.Body.Close()
				r := h.record(t)
				grew := probe.growth()
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("%s: status %d, read error %v", route, resp.StatusCode, err)
				}
				if got != want {
					t.Errorf("%s: client got %d bytes, not the %d the provider sent (or different ones)", route, got.n, want.n)
				}
				if r.InputTokens < 0 || r.OutputTokens < 0 || r.CachedInputTokens < 0 || r.ReasoningTokens < 0 {
					t.Errorf("%s: negative count recorded: %+v", route, r)
				}
				if grew.over(tt.maxGrowth) {
					t.Errorf("%s: heap grew %d MiB reading a %d MiB body (bound %d MiB)", route, grew.bytes/mib, want.n/mib, tt.maxGrowth/mib)
				}
				t.Logf("%s: %d bytes passed, heap %s, outcome %s, usage %v", route, got.n, grew, r.Outcome, r.HasUsage)
			}
		})
	}
}

// gzipBomb returns a gzip stream that expands to n MiB of zero bytes: one
// compressed MiB, repeated as gzip members (a valid multi-member stream),
// so that making it costs next to nothing.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if err := repeatBytes(zw, 0, mib); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return bytes.Repeat(member.Bytes(), n)
}

// zstdBomb is gzipBomb in zstd frames, a coding Go's transport does not
// decode: it reaches the meter's own decoder.
func zstdBomb(t *testing.T, n int) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(make([]byte, mib), nil)
	enc.Close()
	return bytes.Repeat(frame, n)
}

// TestFaultCompressionBombs guards compressed bodies built to exhaust
// memory, and corrupt ones. Gzip is decoded by Conduit's transport (it asked
// for it), so the client gets the expanded bytes as a direct Go client
// would, streamed; other codings pass to the client as sent while only the
// meter's copy is decoded, capped. A corrupt gzip body is a cut, as for a
// direct client whose decoder fails.
func TestFaultCompressionBombs(t *testing.T) {
	parallelUnlessMemory(t)
	expanded := 16 // MiB: enough to see the bytes stream through
	if checkMemory {
		expanded = 64 // and past the 32 MiB the heap may grow
	}
	gz := gzipBomb(t, expanded)
	zs := zstdBomb(t, expanded)
	corruptGz := append([]byte{}, gz[:len(gz)/2]...)
	for i := 20; i < len(corruptGz); i += 97 {
		corruptGz[i] ^= 0xff
	}
	var brBuf bytes.Buffer
	bw := brotli.NewWriter(&brBuf)
	io.WriteString(bw, `{"model":"m","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
	bw.Close()
	br := brBuf.Bytes()
	tests := []struct {
		name     string
		encoding string
		body     []byte
		want     generator // what the client must get; nil: a cut
	}{
		{name: "gzip bomb", encoding: "gzip", body: gz, want: repeated(0, expanded*mib)},
		{name: "zstd bomb", encoding: "zstd", body: zs, want: literal(string(zs))},
		{name: "brotli, passed as sent", encoding: "br", body: br, want: literal(string(br))},
		{name: "corrupt gzip", encoding: "gzip", body: corruptGz},
		{name: "corrupt brotli", encoding: "br", body: []byte("\x8b\x00\x80not brotli at all"), want: literal("\x8b\x00\x80not brotli at all")},
		{name: "unknown coding", encoding: "x-custom, gzip", body: gz, want: literal(string(gz))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{upstream: serveGenerated("application/json", tt.encoding, literal(string(tt.body)))})
			for _, route := range []string{"plain"} {
				probe := startMemProbe()
				resp := send(t, rawClient, "POST", h.proxyURL+"/"+route+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
				got, err := readDigest(resp.Body)
				resp.Body.Close()
				r := h.record(t)
				grew := probe.growth()
				if tt.want == nil {
					if err == nil {
						t.Errorf("%s: a corrupt body ended cleanly for the client", route)
					}
					if r.Outcome != ledger.OutcomeIncomplete || r.Error == "" {
						t.Errorf("%s: record %q %q, want incomplete with the decoding error", route, r.Outcome, r.Error)
					}
				} else {
					if err != nil || got != digestOf(tt.want) {
						t.Errorf("%s: client got %d bytes (err %v), want %d", route, got.n, err, digestOf(tt.want).n)
					}
					if ce := resp.Header.Get("Content-Encoding"); tt.encoding != "gzip" && ce != tt.encoding {
						t.Errorf("%s: Content-Encoding %q reached the client, want %q untouched", route, ce, tt.encoding)
					}
				}
				if grew.over(32 * mib) {
					t.Errorf("%s: heap grew %d MiB on a %d MiB bomb", route, grew.bytes/mib, expanded)
				}
				t.Logf("%s: client got %d bytes, heap %s, outcome %s", route, got.n, grew, r.Outcome)
			}
		})
	}
}

// rawResponse is a provider that writes exactly the given bytes as its
// response, then closes the connection.
func rawResponse(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		io.WriteString(conn, raw)
		conn.Close()
	}
}

// TestFaultBadFraming guards responses whose framing lies: a
// Content-Length longer than the body is a cut, for the client as for a
// direct call; a shorter one ends the body where it says, as for a direct
// call; response headers past Go's 10 MB limit are a clear 502.
func TestFaultBadFraming(t *testing.T) {
	parallelUnlessMemory(t)
	body := `{"id":"x","model":"m","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`
	tests := []struct {
		name   string
		raw    string
		status int
		cut    bool
	}{
		{name: "Content-Length too long", raw: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + body, status: 200, cut: true},
		{name: "Content-Length too short", raw: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n" + body, status: 200},
		{name: "two different Content-Lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n" + body, status: 502},
		{name: "chunked with a bad chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + body, status: 200, cut: true},
		{name: "huge headers", raw: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", 11<<20) + "\r\nContent-Length: 2\r\n\r\n{}", status: 502},
		{name: "not HTTP at all", raw: "SSH-2.0-OpenSSH_9.6\r\n", status: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{upstream: rawResponse(tt.raw)})
			direct, derr := readAllErrStatus(t, h.fakeURL+"/v1/chat/completions")
			probe := startMemProbe()
			resp := send(t, rawClient, "POST", h.proxyURL+"/plain/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
			got, err := readAllErr(resp)
			grew := probe.growth()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %q", resp.StatusCode, tt.status, got)
			}
			if tt.cut != (err != nil) {
				t.Errorf("client read error %v, want a cut: %v", err, tt.cut)
			}
			if tt.status == 200 && (string(got) != string(direct) || (derr != nil) != (err != nil)) {
				t.Errorf("client got %q (%v), a direct call %q (%v)", got, err, direct, derr)
			}
			if tt.status == 502 && !strings.Contains(string(got), typeUpstreamUnreachable) {
				t.Errorf("502 without Conduit's error body: %q", got)
			}
			if r := h.record(t); (tt.status == 502) != (r.Outcome == ledger.OutcomeUpstreamError) {
				t.Errorf("record %q %q", r.Outcome, r.Error)
			}
			if grew.over(48 * mib) {
				t.Errorf("heap grew %d MiB", grew.bytes/mib)
			}
		})
	}
}

// readAllErrStatus makes the direct call of TestFaultBadFraming; a response
// that is not HTTP counts as an error with no bytes.
func readAllErrStatus(t *testing.T, url string) ([]byte, error) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(calls[0].body))
	resp, err := rawClient.Do(req)
	if err != nil {
		return nil, err
	}
	return readAllErr(resp)
}

// TestFaultBadRequests guards hostile requests from the client: headers
// past the listener's limit get 431 and never reach the provider; a body
// that is not JSON, or JSON nested 10,000 deep, on a metered endpoint is
// forwarded byte for byte (Conduit only reads it).
func TestFaultBadRequests(t *testing.T) {
	parallelUnlessMemory(t)
	deep := `{"model":"m","stream":true,"messages":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	deepObj := strings.Repeat(`{"stream":`, 10000) + "true" + strings.Repeat("}", 10000)
	tests := []struct {
		name    string
		header  http.Header
		body    string
		status  int  // when the provider never sees it; else a direct call's
		reaches bool // the provider sees it
	}{
		{name: "huge header", header: hdr("X-Big", strings.Repeat("x", 2<<20)), body: calls[0].body, status: 431},
		{name: "many headers", header: manyHeaders(5000), body: calls[0].body, reaches: true},
		{name: "body not JSON", header: hdr("Content-Type", "application/json"), body: "\x00\xff{{{not json", reaches: true},
		{name: "body truncated JSON", header: hdr("Content-Type", "application/json"), body: `{"model":"m","stream":tr`, reaches: true},
		{name: "body nested 10,000 deep", header: hdr("Content-Type", "application/json"), body: deep, reaches: true},
		{name: "body objects nested 10,000 deep", header: hdr("Content-Type", "application/json"), body: deepObj, reaches: true},
	}
	h := newHarness(t, harnessConfig{})
	for _, tt := range tests {
		// "openai" reads the body to add stream_options; "plain" only
		// inspects it.
		for _, route := range []string{"plain", "openai"} {
			t.Run(tt.name+"/"+route, func(t *testing.T) {
				header := hdr("Authorization", auth)
				for k, v := range tt.header {
					header[k] = v
				}
				want := tt.status
				if tt.reaches {
					dresp, _ := do(t, "POST", h.fakeURL+"/v1/chat/completions", header, tt.body)
					want = dresp.StatusCode
				}
				before := len(h.fake.Requests())
				probe := startMemProbe()
				resp, body := do(t, "POST", h.proxyURL+"/"+route+"/v1/chat/completions", header, tt.body)
				grew := probe.growth()
				if resp.StatusCode != want {
					t.Errorf("status %d, a direct call's %d: %.200s", resp.StatusCode, want, body)
				}
				seen := h.fake.Requests()
				if got := len(seen) > before; got != tt.reaches {
					t.Fatalf("reached the provider: %v, want %v", got, tt.reaches)
				}
				if tt.reaches {
					if route == "plain" && string(seen[len(seen)-1].Body) != tt.body {
						t.Errorf("the provider got %.200q, not the body as sent", seen[len(seen)-1].Body)
					}
					h.record(t)
				}
				h.noRecord(t)
				if grew.over(32 * mib) {
					t.Errorf("heap grew %d MiB", grew.bytes/mib)
				}
			})
		}
	}
}

func manyHeaders(n int) http.Header {
	h := http.Header{}
	for i := range n {
		h.Set("X-H-"+strconv.Itoa(i), "v")
	}
	return h
}
