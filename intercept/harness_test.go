package intercept

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/parsers"
)

// harness is a fake provider behind a Conduit, both on loopback sockets.
type harness struct {
	fake     *fakeprovider.Server
	fakeURL  string
	proxy    *Server
	proxyURL string
	recordSink
	logs *syncBuffer
}

type harnessConfig struct {
	fake    fakeprovider.Options
	options func(*Options)
	// upstream replaces the fake with another handler.
	upstream http.Handler
}

func newHarness(t *testing.T, hc harnessConfig) *harness {
	t.Helper()
	h := &harness{recordSink: newRecordSink(), logs: &syncBuffer{}}
	var upstream http.Handler
	if hc.upstream != nil {
		upstream = hc.upstream
	} else {
		h.fake = fakeprovider.New(hc.fake)
		upstream = h.fake
	}
	fs := httptest.NewServer(upstream)
	t.Cleanup(fs.Close)
	if h.fake != nil {
		t.Cleanup(h.fake.Close) // runs first: releases hung requests
	}
	h.fakeURL = fs.URL
	u, _ := url.Parse(fs.URL)
	opts := Options{
		Providers: []Provider{
			{Key: "openai", Upstream: u, API: parsers.OpenAI, InjectStreamUsage: true},
			{Key: "plain", Upstream: u, API: parsers.OpenAI},
			{Key: "anthropic", Upstream: u, API: parsers.Anthropic},
			{Key: "gemini", Upstream: u, API: parsers.Gemini},
			{Key: "ollama", Upstream: u, API: parsers.Ollama},
		},
		Record: h.put(t),
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if hc.options != nil {
		hc.options(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.proxy = srv
	ps := httptest.NewServer(srv)
	t.Cleanup(ps.Close)
	t.Cleanup(srv.CloseIdleConnections)
	h.proxyURL = ps.URL
	return h
}

// recordSink collects the records a test Conduit hands on.
type recordSink struct{ records chan Call }

func newRecordSink() recordSink { return recordSink{records: make(chan Call, 1024)} }

// put is the Options.Record of a test Conduit: it never blocks, and fails
// the test rather than drop a record silently.
func (s recordSink) put(t testing.TB) func(Call) {
	return func(r Call) {
		select {
		case s.records <- r:
		default:
			t.Errorf("record channel full; dropped %s", r.ID)
		}
	}
}

// record waits for the next call's record.
func (s recordSink) record(t *testing.T) Call {
	t.Helper()
	select {
	case r := <-s.records:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no record within 10 s")
		return Call{}
	}
}

// noRecord asserts no further record arrived.
func (s recordSink) noRecord(t *testing.T) {
	t.Helper()
	select {
	case r := <-s.records:
		t.Fatalf("unexpected record %+v", r)
	default:
	}
}

// rawClient sends no Accept-Encoding of its own and never decodes, so tests
// see bytes exactly as served.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true, Proxy: nil}}

func do(t *testing.T, method, url string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = http.NoBody
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, b
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
