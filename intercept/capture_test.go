package intercept

import (
	"bytes"
	"errors"
	"io"
	"mime"
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

// mediaType reads what mime.ParseMediaType reads.
func TestMediaType(t *testing.T) {
	for _, ct := range []string{"application/json", "text/event-stream", "Application/JSON", "application/json; charset=utf-8",
		"text/event-stream;charset=utf-8", " text/plain ", "", "bad/;;", "application/x-www-form-urlencoded"} {
		mt, err := mediaType(ct)
		wantMT, _, wantErr := mime.ParseMediaType(ct)
		if mt != wantMT || (err == nil) != (wantErr == nil) {
			t.Errorf("%q: %q, %v; want %q, %v", ct, mt, err, wantMT, wantErr)
		}
	}
}
