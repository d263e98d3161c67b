package intercept

import (
	"maps"
	"net/http"
	"reflect"
	"slices"
	"testing"
)

// outboundHeadersByClone is outboundHeaders as it was written first, the
// reference the one-pass copy must agree with.
func outboundHeadersByClone(in http.Header) http.Header {
	h := in.Clone()
	if h == nil {
		h = http.Header{}
	}
	removeHopHeaders(h)
	if !sigV4Signs(in, "Accept-Encoding") {
		h.Del("Accept-Encoding")
	}
	h.Del(tagHeader)
	h.Del(projectHeader)
	h.Del(budgetHeader)
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""}
	}
	return h
}

func sdkHeaders() http.Header {
	return http.Header{
		"Authorization":    {"Bearer sk-test"},
		"Content-Type":     {"application/json"},
		"Accept":           {"application/json"},
		"Accept-Encoding":  {"gzip, deflate"},
		"User-Agent":       {"OpenAI/Python 1.54.0"},
		"X-Stainless-Os":   {"Linux"},
		"X-Stainless-Arch": {"x64"},
		"Content-Length":   {"90"},
	}
}

func TestOutboundHeadersAsByClone(t *testing.T) {
	with := func(extra http.Header) http.Header {
		h := sdkHeaders()
		maps.Copy(h, extra)
		return h
	}
	cases := map[string]http.Header{
		"nil":   nil,
		"empty": {},
		"sdk":   sdkHeaders(),
		"no user agent": func() http.Header {
			h := sdkHeaders()
			delete(h, "User-Agent")
			return h
		}(),
		"empty user agent": with(http.Header{"User-Agent": {""}}),
		"hop by hop": with(http.Header{
			"Connection": {"keep-alive, X-Secret-Hop", " upgrade ,, te"}, "Keep-Alive": {"timeout=5"},
			"X-Secret-Hop": {"1"}, "Proxy-Connection": {"keep-alive"}, "Proxy-Authorization": {"Basic eDp5"},
			"Te": {"trailers"}, "Trailer": {"X"}, "Transfer-Encoding": {"chunked"}, "Upgrade": {"websocket"},
		}),
		"conduit's own": with(http.Header{tagHeader: {"a,b"}, projectHeader: {"p"}, budgetHeader: {"override"}}),
		"sigv4 signs accept-encoding": with(http.Header{
			"Authorization": {"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=accept-encoding;host;x-amz-date, Signature=abc"},
		}),
		"sigv4 without accept-encoding": with(http.Header{
			"Authorization": {"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"},
		}),
		"nil and empty values":    with(http.Header{"X-Nil": nil, "X-Empty": {}, "X-Two": {"1", "2"}}),
		"not canonical":           with(http.Header{"connection": {"close"}, "x_under": {"1"}}),
		"connection names itself": {"Connection": {"Connection, Authorization"}, "Authorization": {"k"}},
	}
	for name, in := range cases {
		got, want := outboundHeaders(in), outboundHeadersByClone(in)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, want)
		}
		// A copy: the client's request keeps its own headers.
		for k, vv := range got {
			if len(vv) > 0 && len(in[k]) > 0 && &vv[0] == &in[k][0] {
				t.Errorf("%s: %s shares the client's values", name, k)
			}
		}
	}
	in := sdkHeaders()
	orig := in.Clone()
	outboundHeaders(in)["Authorization"][0] = "changed"
	if !reflect.DeepEqual(in, orig) {
		t.Errorf("client's headers changed: %v", in)
	}
	if got := slices.Sorted(maps.Keys(outboundHeaders(sdkHeaders()))); slices.Contains(got, "Accept-Encoding") {
		t.Errorf("Accept-Encoding forwarded: %v", got)
	}
}

// go test -run '^$' -bench BenchmarkOutboundHeaders -benchmem ./intercept
func BenchmarkOutboundHeaders(b *testing.B) {
	in := sdkHeaders()
	b.ReportAllocs()
	for b.Loop() {
		outboundHeaders(in)
	}
}
