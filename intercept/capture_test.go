package intercept

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// readBody reads what io.ReadAll of the capped body reads, whatever the
// declared length says.
func TestReadBody(t *testing.T) {
	const limit = 1 << 10
	body := strings.Repeat("abcdefgh", 300) // 2,400 bytes: past the limit
	for _, tt := range []struct {
		name    string
		n       int   // bytes the client sends
		length  int64 // Content-Length as the server saw it
		oneRead bool
	}{
		{"unknown length", 700, -1, false},
		{"zero declared", 0, 0, false},
		{"exact", 700, 700, false},
		{"exact, one byte per read", 700, 700, true},
		{"at the limit", limit, limit, false},
		{"past the limit, unknown length", len(body), -1, false},
		{"shorter than declared", 300, 700, false},
		{"longer than declared", 900, 700, false},
		{"longer than declared, one byte per read", 900, 700, true},
		{"longer than declared, past the limit", len(body), 700, false},
		{"past the limit, one byte per read", len(body), limit, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(body[:tt.n])
			if tt.oneRead {
				r = iotest.OneByteReader(r)
			}
			got, err := readBody(r, tt.length, limit)
			want, _ := io.ReadAll(io.LimitReader(strings.NewReader(body[:tt.n]), limit+1))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(want))
			}
		})
	}
	broken := errors.New("cut")
	got, err := readBody(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(broken)), 10, limit)
	if !errors.Is(err, broken) || string(got) != "abc" {
		t.Errorf("cut body: %q, %v", got, err)
	}
}

// go test -run '^$' -bench BenchmarkReadBody -benchmem ./intercept
func BenchmarkReadBody(b *testing.B) {
	body := bytes.Repeat([]byte(`{"role":"user","content":"a long conversation"},`), 5000) // ~240 KB
	for _, known := range []bool{true, false} {
		name, length := "known-length", int64(len(body))
		if !known {
			name, length = "unknown-length", -1
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				readBody(bytes.NewReader(body), length, DefaultMaxRequestBody)
			}
		})
	}
}

// TestContentTypeDecisions guards what the proxy decides from a
// Content-Type: which request bodies are read as JSON, and which answers
// are streams (whose injected usage event it strips). Both read the media
// type the meter frames a body by (parsers.MediaType), so that a value
// the proxy takes for a stream is metered as one.
func TestContentTypeDecisions(t *testing.T) {
	for _, tt := range []struct {
		ct           string
		json, stream bool
	}{
		{"application/json", true, false},
		{"Application/JSON", true, false},
		{"application/json; charset=utf-8", true, false},
		{" text/plain ", true, false},
		{"application/x-www-form-urlencoded", true, false},
		{"text/event-stream", false, true},
		{"text/event-stream;charset=utf-8", false, true},
		{"TEXT/EVENT-STREAM; charset=UTF-8", false, true},
		// A parameter that does not parse: neither read as JSON nor
		// taken for a stream, by the proxy or by the meter.
		{"application/json; charset", false, false},
		{"text/event-stream; charset", false, false},
		{"bad/;;", false, false},
		{"application/vnd.amazon.eventstream", false, false},
	} {
		req := httptest.NewRequest("POST", "/", nil)
		req.Header.Set("Content-Type", tt.ct)
		if got := isJSONRequest(req); got != tt.json {
			t.Errorf("%q: isJSONRequest %v, want %v", tt.ct, got, tt.json)
		}
		if got := isEventStream(tt.ct); got != tt.stream {
			t.Errorf("%q: isEventStream %v, want %v", tt.ct, got, tt.stream)
		}
	}
}
