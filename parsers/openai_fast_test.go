package parsers

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestOpenAIChunkChangesNothing guards each reason the chunk shortcut must
// give way to a full parse, and that ordinary content deltas take it.
func TestOpenAIChunkChangesNothing(t *testing.T) {
	t.Parallel()
	const id, model = "chatcmpl-1", "gpt-4o-mini"
	delta := `"choices":[{"index":0,"delta":{"content":"Hi: \"there\""},"finish_reason":null}]`
	tests := []struct {
		name      string
		heldModel string
		heldID    string
		chunk     string
		want      bool
	}{
		{"content delta, id and model held", model, id, `{"id":"chatcmpl-1","model":"gpt-4o-mini",` + delta + `,"usage":null}`, true},
		{"first chunk: model not held yet", "", "", `{"id":"chatcmpl-1","model":"gpt-4o-mini",` + delta + `}`, false},
		{"model changes", "gpt-4o", id, `{"id":"chatcmpl-1","model":"gpt-4o-mini",` + delta + `}`, false},
		{"id changes", model, "chatcmpl-0", `{"id":"chatcmpl-1","model":"gpt-4o-mini",` + delta + `}`, false},
		{"no id or model", model, id, `{` + delta + `}`, true},
		{"empty model is ignored anyway", model, id, `{"model":"",` + delta + `}`, true},
		{"non-string model is ignored anyway", model, id, `{"model":null,"id":7,` + delta + `}`, true},
		{"usage object", model, id, `{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":9}}`, false},
		{"usage null with spaces", model, id, `{ "id" : "chatcmpl-1" , "usage" : null }`, true},
		{"usage object after spaces", model, id, `{"usage" :  {"prompt_tokens":9}}`, false},
		{"error object", model, id, `{"error":{"message":"boom"}}`, false},
		{"error null", model, id, `{"error":null,` + delta + `}`, true},
		{"groq usage", model, id, `{"x_groq":{"usage":{"prompt_tokens":3}}}`, false},
		{"ollama embed count", model, id, `{"prompt_eval_count":4}`, false},
		{"key spelled with a unicode escape", model, id, `{"us\u0061ge":{"prompt_tokens":9}}`, false},
		{"model with an escape", `a"b`, id, `{"model":"a\"b"}`, false},
		{"a second id (tool call)", model, id, `{"id":"chatcmpl-1","choices":[{"delta":{"tool_calls":[{"id":"call_1"}]}}]}`, false},
		{"member names inside a string", model, id, `{"choices":[{"delta":{"content":"\"usage\": {\"error\": 1}, \"model\":\"x\""}}]}`, true},
		{"longer key ending in a member name", model, id, `{"prior_usage":{"a":1},"myid":"x"}`, true},
		{"not an object", model, id, `"usage": {`, false},
		{"nothing", model, id, ``, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMeter(chatEP, "text/event-stream", Request{})
			m.model, m.respID = []byte(tc.heldModel), []byte(tc.heldID)
			if got := m.f.(*openAIFormat).chunkChangesNothing(m, []byte(tc.chunk)); got != tc.want {
				t.Errorf("chunkChangesNothing(%s) = %v, want %v", tc.chunk, got, tc.want)
			}
		})
	}
}

// checkFastPath meters body with and without the chunk shortcut, whole
// and cut at random, and fails if any Result differs.
func checkFastPath(t *testing.T, body []byte, seed uint64) {
	t.Helper()
	checkShortcut(t, chatEP, "text/event-stream", func(m *Meter, on bool) { m.f.(*openAIFormat).parseEveryChunk = on }, body, rand.NewPCG(seed, 7))
}

// checkShortcut meters body at ep with a format's chunk shortcut on and
// off (parseAll turns parsing every chunk on), whole and cut at random
// (src), and fails if any Result differs.
func checkShortcut(t *testing.T, ep Endpoint, contentType string, parseAll func(*Meter, bool), body []byte, src rand.Source) {
	t.Helper()
	run := func(all bool, pieces [][]byte) Result {
		m := newTestMeter(ep, contentType, Request{})
		parseAll(m, all)
		for _, p := range pieces {
			m.Write(p)
		}
		return m.Finish(true)
	}
	want := run(true, [][]byte{body})
	for name, pieces := range map[string][][]byte{
		"whole":  {body},
		"random": splitRandom(body, rand.New(src)),
	} {
		got := run(false, pieces)
		if resultString(got) != resultString(want) || !bytes.Equal(got.Raw, want.Raw) {
			t.Fatalf("%s: shortcut\n got %s raw %s\nparse %s raw %s", name, resultString(got), got.Raw, resultString(want), want.Raw)
		}
	}
}

// TestOpenAIFastPathSameResult runs realistic and adversarial streams
// through both paths.
func TestOpenAIFastPathSameResult(t *testing.T) {
	t.Parallel()
	for i, body := range fastPathSeeds {
		checkFastPath(t, []byte(body), uint64(i))
	}
}

var fastPathSeeds = []string{
	sseBody(
		chunk(`"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null`),
		chunk(`"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null`),
		chunk(`"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}`),
		"data: [DONE]"),
	sseBody(
		`data: {"id":"a","model":"m1","choices":[]}`,
		`data: {"id":"a","model":"m2","choices":[]}`,
		`data: {"id":"b","model":"m2","usage":{"prompt_tokens":1}}`,
		`data: {"id":"a","model":"m1","usage":null,"usage":{"prompt_tokens":2}}`),
	sseBody(
		`data: {"id":"a","model":"m"}`,
		`data: {"id":"a","model":"m","choices":[{"delta":{"model":"other"}}]}`,
		`data: {"choices":[{"delta":{"model":"m"}}],"model":"n"}`,
		`data: {"model":"m","id":"a","error":{"message":"late"}}`),
	sseBody(
		`data: {"id":"a","model":"m"}`,
		`data: {"model":"m","mo\u0064el":"x"}`,
		`data: {"model":"m","x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4}}}`,
		`data: {"model":"m",  "model":"z"}`,
		`data: {"model":"m"} trailing`,
		`data: {"model":"m","choices":[1,,2],"usage":{"prompt_tokens":5}}`,
		`data: {"model":"q","choices":[1,,2]}`),
	sseBody(
		`data: {"id":"a","model":"m"}`,
		"event: error\ndata: {\"model\":\"m\",\"message\":\"x\"}",
		`data: {"id":"a","model":"m","prompt_eval_count":12}`),
	// Chunks repeating the last one's first bytes (chunkMemo): the same
	// up to a changed model, a usage or an x_groq after the repeated part,
	// and the repeated chunk again after an error event changed the model.
	sseBody(
		`data: {"id":"a","object":"c","model":"m1","choices":[{"delta":{"content":"x"}}],"usage":null}`,
		`data: {"id":"a","object":"c","model":"m1","choices":[{"delta":{"content":"y"}}],"usage":null}`,
		`data: {"id":"a","object":"c","model":"m2","choices":[{"delta":{"content":"y"}}],"usage":null}`,
		`data: {"id":"a","object":"c","model":"m2","choices":[{"delta":{"content":"z"}}],"usage":{"prompt_tokens":4}}`,
		`data: {"id":"a","object":"c","model":"m2","choices":[{"delta":{"content":"z"}}],"x_groq":{"usage":{"completion_tokens":4}}}`,
		"event: error\ndata: {\"model\":\"m3\",\"error\":{\"message\":\"x\"}}",
		`data: {"id":"a","object":"c","model":"m2","choices":[{"delta":{"content":"z"}}],"usage":null}`,
		`data: {"id":"a","object":"c","model":"m2","choices":[{"delta":{"content":"z\u0022"}}],"usage":null}`,
		`data: {"id":"a","object":"c","model":"m2","choices":[{"delta":{"content":"z"}}],"usage":null,"id":"b"}`),
}

// FuzzOpenAIFastPath checks that the chunk shortcut never changes a
// Result: whatever the body, metering with it equals parsing every chunk.
func FuzzOpenAIFastPath(f *testing.F) {
	for i, s := range fastPathSeeds {
		f.Add([]byte(s), uint64(i))
	}
	f.Fuzz(func(t *testing.T, body []byte, seed uint64) { checkFastPath(t, body, seed) })
}

// TestMeterResultOutlivesParser guards the parser pool: a Result stays
// intact after its meter's parser has gone on to parse other bodies.
func TestMeterResultOutlivesParser(t *testing.T) {
	t.Parallel()
	body := func(model string, in int) []byte {
		return []byte(`{"id":"r-` + model + `","model":"` + model + `","usage":{"prompt_tokens":` + string(rune('0'+in)) + `,"completion_tokens":1}}`)
	}
	first := newTestMeter(chatEP, "application/json", Request{})
	first.Write(body("first", 3))
	r := first.Finish(true)
	want := resultString(r) + string(r.Raw)
	for i := range 50 { // later meters take the pooled parser
		m := newTestMeter(chatEP, "application/json", Request{})
		m.Write(body("later", i%7))
		m.Finish(true)
	}
	if got := resultString(r) + string(r.Raw); got != want {
		t.Errorf("result changed after its parser was reused:\n got %s\nwant %s", got, want)
	}
	if first.parser != nil {
		t.Error("Finish kept the parser")
	}
}
