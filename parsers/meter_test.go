package parsers

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// newTestMeter is NewMeter for tests: a panic is a bug the test must see,
// not a meter quietly stopped.
func newTestMeter(e Endpoint, contentType string, req Request) *Meter {
	m := NewMeter(e, contentType, req)
	m.keepPanics = true
	return m
}

// meterCase is one table row: a response body in, a Result out.
type meterCase struct {
	name string
	ep   Endpoint
	ct   string // response Content-Type
	req  Request
	body string
	want Result
	// raw, when set, is compared with Result.Raw as JSON (semantically);
	// when empty, Raw is not compared.
	raw string
	// headCap, tailCap and eventCap, when set, shrink the meter's limits.
	headCap, tailCap, eventCap int
	// header, when set, is given to the meter as the response's headers.
	header http.Header
}

// feed runs a meter over body cut into pieces and returns its Result.
func feed(c meterCase, pieces [][]byte, eof bool) Result {
	m := newTestMeter(c.ep, c.ct, c.req)
	if c.headCap > 0 {
		m.headCap = c.headCap
	}
	m.tailCap = cmp.Or(c.tailCap, m.tailCap)
	m.eventCap = c.eventCap
	if c.header != nil {
		m.ResponseHeader(c.header)
	}
	for _, p := range pieces {
		if n, err := m.Write(p); n != len(p) || err != nil {
			panic(fmt.Sprintf("Write returned %d, %v", n, err))
		}
	}
	return m.Finish(eof)
}

// bytewiseEdge is how much of a big body's head and tail splitsOf feeds 1
// byte at a time.
const bytewiseEdge = 64 << 10

func splitEvery(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return append(out, b)
}

func splitRandom(b []byte, r *rand.Rand) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 1 + r.IntN(len(b))
		if r.IntN(2) == 0 && n > 16 {
			n = 1 + r.IntN(16)
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out
}

// splitsOf returns the ways every body is fed: whole, 1-byte pieces and
// random cuts. A body over 2*bytewiseEdge goes 1 byte at a time through
// its first and last bytewiseEdge only, its middle in one piece: the
// middle of the bodies that big is one event's text, which the 1-byte
// pieces only lengthen (1.7 MiB of one-byte writes took seconds under
// -race), while every event boundary and the usage lie in the edges.
func splitsOf(b []byte) map[string][][]byte {
	var bytewise [][]byte
	if len(b) > 2*bytewiseEdge {
		head, mid, tail := b[:bytewiseEdge], b[bytewiseEdge:len(b)-bytewiseEdge], b[len(b)-bytewiseEdge:]
		bytewise = append(append(splitEvery(head, 1), mid), splitEvery(tail, 1)...)
	} else {
		bytewise = splitEvery(b, 1)
	}
	m := map[string][][]byte{"whole": {b}, "1-byte": bytewise}
	for seed := uint64(1); seed <= 3; seed++ {
		m[fmt.Sprintf("random-%d", seed)] = splitRandom(b, rand.New(rand.NewPCG(seed, 42)))
	}
	return m
}

// resultString prints a Result readably for failures.
func resultString(r Result) string {
	cost := "nil"
	if r.ProviderCostUSD != nil {
		cost = fmt.Sprint(*r.ProviderCostUSD)
	}
	return fmt.Sprintf("seen=%v in=%d cached=%d cw=%d(5m=%d 1h=%d) out=%d reason=%d audio=%d/%d image=%d/%d iterations=%v cost=%s model=%q id=%q terminal=%v failed=%v err=%q/%q invalid=%q",
		r.Seen, r.InputTokens, r.CachedInputTokens, r.CacheWriteTokens, r.CacheWrite5mTokens, r.CacheWrite1hTokens,
		r.OutputTokens, r.ReasoningTokens, r.AudioInputTokens, r.AudioOutputTokens, r.ImageInputTokens, r.ImageOutputTokens,
		r.Iterations, cost, r.Model, r.ResponseID, r.Terminal, r.Failed, r.ErrorType, r.ErrorMessage, r.Invalid)
}

// sameJSON reports whether a and b hold equal JSON values.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// runMeterCases checks each case under every split.
func runMeterCases(t *testing.T, cases []meterCase) {
	t.Helper()
	for _, c := range cases {
		for how, pieces := range splitsOf([]byte(c.body)) {
			t.Run(c.name+"/"+how, func(t *testing.T) {
				got := feed(c, pieces, true)
				raw := got.Raw
				got.Raw = nil
				if resultString(got) != resultString(c.want) {
					t.Errorf("\n got %s\nwant %s", resultString(got), resultString(c.want))
				}
				if c.raw != "" && !sameJSON(raw, []byte(c.raw)) {
					t.Errorf("raw usage\n got %s\nwant %s", raw, c.raw)
				}
			})
		}
	}
}

// sseBody joins events into an SSE body: each string is one event's lines.
func sseBody(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e)
		b.WriteString("\n\n")
	}
	return b.String()
}

// usage builds an expected Result's Usage quickly.
func usage(in, cached, cw, out, reason int64) Usage {
	return Usage{Seen: true, InputTokens: in, CachedInputTokens: cached, CacheWriteTokens: cw,
		OutputTokens: out, ReasoningTokens: reason}
}

func ptr(f float64) *float64 { return &f }

// TestMeterNotMetered guards that count_tokens and unknown endpoints give
// no usage, whatever the body says, and take Terminal from eof.
func TestMeterNotMetered(t *testing.T) {
	t.Parallel()
	body := []byte(`{"input_tokens":42,"usage":{"input_tokens":42}}`)
	for _, e := range []Endpoint{
		{API: Anthropic, Kind: CountTokens, Model: "m"},
		{API: OpenAI, Kind: Other},
	} {
		for _, eof := range []bool{true, false} {
			m := newTestMeter(e, "application/json", Request{Model: "claude-x"})
			m.Write(body)
			got := m.Finish(eof)
			want := Result{Model: "claude-x", Terminal: eof}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%v eof=%v: got %s", e.Kind, eof, resultString(got))
			}
		}
	}
}

// TestMeterFinishIdempotent guards that Finish can be called twice and that
// writes after it are ignored.
func TestMeterFinishIdempotent(t *testing.T) {
	t.Parallel()
	m := newTestMeter(Endpoint{API: OpenAI, Kind: ChatCompletions}, "text/event-stream", Request{})
	m.Write([]byte("data: {\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"))
	first := m.Finish(false)
	m.Write([]byte("data: {\"usage\":{\"prompt_tokens\":99}}\n\ndata: [DONE]\n\n"))
	second := m.Finish(true)
	if !reflect.DeepEqual(first, second) || first.InputTokens != 3 || first.Terminal {
		t.Errorf("first %s\nsecond %s", resultString(first), resultString(second))
	}
}

// TestMeterModelFallback guards the model order: response, request, path.
func TestMeterModelFallback(t *testing.T) {
	t.Parallel()
	e := Endpoint{API: Gemini, Kind: GenerateContent, Model: "gemini-path"}
	tests := []struct {
		name, body, reqModel, want string
	}{
		{"response wins", `{"modelVersion":"gemini-2.5-flash-001"}`, "req", "gemini-2.5-flash-001"},
		{"request next", `{}`, "req", "req"},
		{"path last", `{}`, "", "gemini-path"},
		{"empty response model ignored", `{"modelVersion":""}`, "", "gemini-path"},
	}
	for _, tt := range tests {
		m := newTestMeter(e, "application/json", Request{Model: tt.reqModel})
		m.Write([]byte(tt.body))
		if got := m.Finish(true).Model; got != tt.want {
			t.Errorf("%s: model %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestMeterRawIsCopy guards that Result.Raw does not alias meter buffers.
func TestMeterRawIsCopy(t *testing.T) {
	t.Parallel()
	m := newTestMeter(Endpoint{API: OpenAI, Kind: ChatCompletions}, "application/json", Request{})
	in := []byte(`{"usage":{"prompt_tokens":1,"completion_tokens":2}}`)
	m.Write(in)
	r := m.Finish(true)
	for i := range in {
		in[i] = 'x'
	}
	m.f.(*openAIFormat).raw.b[0] = 'x'
	if string(r.Raw) != `{"prompt_tokens":1,"completion_tokens":2}` {
		t.Errorf("raw %s", r.Raw)
	}
}

// TestTokenCount guards how numbers are read: never GetInt's silent zero,
// and a problem for whatever no real call can report.
func TestTokenCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		present bool
		problem problem
	}{
		{`{"n":12}`, 12, true, noProblem},
		{`{"n":0}`, 0, true, noProblem},
		{`{"n":-0}`, 0, true, noProblem},
		{`{"n":12.0}`, 12, true, noProblem},
		{`{"n":1e3}`, 1000, true, noProblem},
		{`{"n":10000000000}`, 1e10, true, noProblem},
		{`{"n":null}`, 0, false, noProblem},
		{`{}`, 0, false, noProblem},
		{`{"n":12.5}`, 0, true, fractional},
		{`{"n":-3}`, 0, true, negative},
		{`{"n":-3.0}`, 0, true, negative},
		{`{"n":"12"}`, 0, true, notANumber},
		{`{"n":true}`, 0, true, notANumber},
		{`{"n":{}}`, 0, true, notANumber},
		{`{"n":NaN}`, 0, true, notANumber},
		{`{"n":10000000001}`, 0, true, tooLarge},
		{`{"n":99999999999999999999}`, 0, true, tooLarge},
		{`{"n":1e300}`, 0, true, tooLarge},
		{`{"n":1e400}`, 0, true, notFinite},
		{`{"n":-1e400}`, 0, true, notFinite},
		{`{"n":1,"n":7}`, 7, true, noProblem},
	}
	var p fastjson.Parser
	for _, tt := range tests {
		v, err := p.Parse(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		n, present, why := tokenCount(get(v, "n"))
		if n != tt.want || present != tt.present || why != tt.problem {
			t.Errorf("%s: got %d,%v,%q want %d,%v,%q", tt.in, n, present, why, tt.want, tt.present, tt.problem)
		}
	}
}

// TestMeterInvariants guards the clamps: reasoning never exceeds output,
// cache reads and writes never exceed input.
func TestMeterInvariants(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{
		{
			name: "reasoning above output clamped",
			ep:   Endpoint{API: OpenAI, Kind: ChatCompletions},
			ct:   "application/json",
			body: `{"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":50},"completion_tokens_details":{"reasoning_tokens":9}}}`,
			want: Result{Usage: usage(10, 10, 0, 5, 5), Terminal: true},
		},
	})
}

// TestMeterSniffsFraming guards the framing chosen for a missing or odd
// content type: JSON when the body starts with { or [, else SSE.
func TestMeterSniffsFraming(t *testing.T) {
	t.Parallel()
	e := Endpoint{API: OpenAI, Kind: ChatCompletions}
	runMeterCases(t, []meterCase{
		{name: "json", ep: e, body: " \n{\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1}}",
			want: Result{Usage: usage(2, 0, 0, 1, 0), Terminal: true}},
		{name: "sse", ep: e, ct: "text/plain", body: sseBody(`data: {"usage":{"prompt_tokens":2,"completion_tokens":1}}`, "data: [DONE]"),
			want: Result{Usage: usage(2, 0, 0, 1, 0), Terminal: true}},
		{name: "not json at all", ep: e, ct: "text/html", body: "<html><body>Bad gateway</body></html>",
			want: Result{}},
	})
}

// TestCommonContentTypes guards the shortcut past mime.ParseMediaType:
// each value it knows has the media type the full parse gives it.
func TestCommonContentTypes(t *testing.T) {
	t.Parallel()
	for _, c := range commonContentTypes {
		if got := parseMediaType(c.value); got != c.mediaType {
			t.Errorf("%q: shortcut gives %q, mime.ParseMediaType %q", c.value, c.mediaType, got)
		}
	}
}

// TestMeterOversizeJSONBody guards the capped head and tail of a JSON body:
// a body past the head cap still gives its trailing usage, and its leading
// model and id.
func TestMeterOversizeJSONBody(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("lorem ipsum \\\"usage\\\":{\\\"input_tokens\\\":1} ", 2000)
	runMeterCases(t, []meterCase{
		{
			name:    "anthropic message past the head cap",
			ep:      Endpoint{API: Anthropic, Kind: Messages},
			ct:      "application/json",
			headCap: 4096, tailCap: 1024,
			body: `{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-4-6","content":[{"type":"text","text":"` + big +
				`"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7}}`,
			want: Result{Usage: usage(15, 5, 0, 7, 0), Model: "claude-opus-4-6", ResponseID: "msg_1", Terminal: true},
			raw:  `{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7}`,
		},
		{
			name:    "cut body keeps a whole usage object",
			ep:      Endpoint{API: OpenAI, Kind: ChatCompletions},
			ct:      "application/json",
			headCap: 4096, tailCap: 1024,
			body: `{"id":"c1","model":"gpt-4o","usage":{"prompt_tokens":3,"completion_tokens":4},"choices":[{"text":"` + big,
			want: Result{Usage: usage(3, 0, 0, 4, 0), Model: "gpt-4o", ResponseID: "c1"},
		},
	})
}

// TestMeterBoundedMemory guards that a huge body grows no buffer past the
// caps.
func TestMeterBoundedMemory(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"application/json", "text/event-stream", "application/x-ndjson"} {
		m := newTestMeter(Endpoint{API: OpenAI, Kind: Responses}, ct, Request{})
		m.headCap, m.tailCap = 1<<16, 1<<10
		switch ct {
		case "text/event-stream":
			m.Write([]byte("event: response.completed\ndata: "))
		default:
			m.Write([]byte(`{"output":"`))
		}
		chunk := bytes.Repeat([]byte("abcdefgh"), 512)
		for range 4096 { // 16 MiB
			m.Write(chunk)
		}
		if c := cap(m.js.head) + cap(m.js.tail) + cap(m.lines.buf); c > 3<<16 {
			t.Errorf("%s: buffers hold %d bytes", ct, c)
		}
		m.Finish(false)
	}
}

// panicFormat is a format with a bug: every document panics.
type panicFormat struct{}

func (panicFormat) event(*Meter, []byte, []byte, bool)   { panic("bug") }
func (panicFormat) object(*Meter, *fastjson.Value)       { panic("bug") }
func (panicFormat) usageKey() string                     { return "usage" }
func (panicFormat) readUsage(*Meter, *fastjson.Value)    {}
func (panicFormat) fill(*Result) (seen, inputKnown bool) { return false, false }

// TestMeterGuard guards that a bug in a format stops the meter, not the
// proxying (Write and Finish return normally, later writes are ignored),
// and that tests' meters let the panic through instead.
func TestMeterGuard(t *testing.T) {
	t.Parallel()
	body := []byte(`{"usage":{"prompt_tokens":1}}`)
	m := &Meter{f: panicFormat{}, frame: frameJSON, headCap: DefaultHeadSize, tailCap: DefaultTailSize}
	if n, err := m.Write(body); n != len(body) || err != nil || !m.broken {
		t.Fatalf("Write = %d, %v; broken %v", n, err, m.broken)
	}
	m.Write(body)
	if r := m.Finish(true); r.Seen || r.Invalid != "" {
		t.Errorf("stopped meter's result %s", resultString(r))
	}

	m = &Meter{f: panicFormat{}, frame: frameJSON, headCap: DefaultHeadSize, tailCap: DefaultTailSize, keepPanics: true}
	defer func() {
		if recover() == nil {
			t.Error("keepPanics: the panic was swallowed")
		}
	}()
	m.Write(body)
}
