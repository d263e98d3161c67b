package fakeprovider

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// benchStream measures the fake serving one chat stream of events × size
// bytes of text, so the benchmarks of Conduit know the fake's own share.
func benchStream(b *testing.B, events, size int) {
	s := New(Options{KeepRequests: -1})
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set(HeaderEvents, strconv.Itoa(events))
		req.Header.Set(HeaderEventBytes, strconv.Itoa(size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		m, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		n = m
	}
	b.SetBytes(n)
}

func BenchmarkSmallCall(b *testing.B)       { benchStream(b, 8, 0) }
func BenchmarkStream1000x10KB(b *testing.B) { benchStream(b, 1000, 10_000) }
