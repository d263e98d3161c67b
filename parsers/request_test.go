package parsers

import (
	"bytes"
	"testing"
)

func TestInspectRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ep   Endpoint
		body string
		want Request
	}{
		{"chat stream with usage", chatEP, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			Request{Model: "gpt-4o", Stream: true, IncludeUsage: true}},
		{"chat stream without usage", chatEP, `{"model":"gpt-4o","stream":true,"messages":[]}`, Request{Model: "gpt-4o", Stream: true}},
		{"include_usage false", chatEP, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}}`, Request{Model: "gpt-4o", Stream: true}},
		{"not streaming", chatEP, `{"model":"gpt-4o","stream":false}`, Request{Model: "gpt-4o"}},
		{"stream as string is not true", chatEP, `{"model":"gpt-4o","stream":"true"}`, Request{Model: "gpt-4o"}},
		{"model not a string", chatEP, `{"model":42}`, Request{}},
		{"escaped model", msgEP, `{"model":"claude-opus-4-6\u0021","stream":true}`, Request{Model: "claude-opus-4-6!", Stream: true}},
		{"not json", chatEP, `model=gpt-4o`, Request{}},
		{"json array", chatEP, `[1,2]`, Request{}},
		{"empty", chatEP, ``, Request{}},
		{"ollama streams by default", ollamaChatEP, `{"model":"llama3.2","messages":[]}`, Request{Model: "llama3.2", Stream: true}},
		{"ollama stream false", ollamaChatEP, `{"model":"llama3.2","stream":false}`, Request{Model: "llama3.2"}},
		{"gemini streams by path", genSSEEP, `{"contents":[]}`, Request{Stream: true}},
		{"gemini path stream, bad body", genSSEEP, `garbage`, Request{Stream: true}},
	}
	for _, tt := range tests {
		if got := InspectRequest(tt.ep, []byte(tt.body)); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestInjectStreamUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ep   Endpoint
		in   string
		want string // "" means ok=false, body untouched
	}{
		{"added at the end", chatEP,
			`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"caf\u00e9 \"hi\""}],"temperature":1.50}`,
			`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"caf\u00e9 \"hi\""}],"temperature":1.50,"stream_options":{"include_usage":true}}`},
		{"whitespace kept", complEP,
			"{\n  \"model\": \"gpt-3.5-turbo-instruct\",\n  \"stream\": true,\n  \"max_tokens\": 1e2\n}\n",
			"{\n  \"model\": \"gpt-3.5-turbo-instruct\",\n  \"stream\": true,\n  \"max_tokens\": 1e2\n,\"stream_options\":{\"include_usage\":true}}\n"},
		{"merged into stream_options", chatEP,
			`{"stream":true,"stream_options":{"continuous_usage_stats":true},"model":"m"}`,
			`{"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true},"model":"m"}`},
		{"merged into empty stream_options", chatEP,
			`{"stream":true,"stream_options":{ },"model":"m"}`,
			`{"stream":true,"stream_options":{"include_usage":true },"model":"m"}`},
		{"null stream_options replaced", chatEP,
			`{"stream":true,"stream_options":null}`,
			`{"stream":true,"stream_options":{"include_usage":true}}`},
		{"null include_usage set", chatEP,
			`{"stream":true,"stream_options":{"include_usage":null,"x":1}}`,
			`{"stream":true,"stream_options":{"include_usage":true,"x":1}}`},
		{"escaped key still found", chatEP,
			`{"stream":true,"stream\u005foptions":{"x":1}}`,
			`{"stream":true,"stream\u005foptions":{"include_usage":true,"x":1}}`},
		{"include_usage true: client decided", chatEP, `{"stream":true,"stream_options":{"include_usage":true}}`, ""},
		{"include_usage false: client decided", chatEP, `{"stream":true,"stream_options":{"include_usage":false}}`, ""},
		{"not streaming", chatEP, `{"model":"gpt-4o"}`, ""},
		{"stream false", chatEP, `{"model":"gpt-4o","stream":false}`, ""},
		{"stream_options not an object", chatEP, `{"stream":true,"stream_options":"x"}`, ""},
		{"not json", chatEP, `{"stream":true,`, ""},
		{"not an object", chatEP, `[{"stream":true}]`, ""},
		{"responses endpoint", respEP, `{"stream":true}`, ""},
		{"messages endpoint", msgEP, `{"stream":true}`, ""},
	}
	for _, tt := range tests {
		in := []byte(tt.in)
		orig := bytes.Clone(in)
		out, ok := InjectStreamUsage(tt.ep, in)
		if !bytes.Equal(in, orig) {
			t.Errorf("%s: input modified", tt.name)
		}
		if tt.want == "" {
			if ok || !bytes.Equal(out, in) {
				t.Errorf("%s: got %q, %v; want untouched", tt.name, out, ok)
			}
			continue
		}
		if !ok || string(out) != tt.want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", tt.name, out, ok, tt.want)
		}
		if r := InspectRequest(tt.ep, out); !r.IncludeUsage || !r.Stream {
			t.Errorf("%s: rewritten body reads as %+v", tt.name, r)
		}
	}
}

func TestIsUsageOnlyChunk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want bool
	}{
		{"chat usage chunk", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`, true},
		{"legacy usage chunk", `{"id":"c","object":"text_completion","model":"m","choices":[],"usage":{"prompt_tokens":1}}`, true},
		{"content chunk with null usage", `{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}`, false},
		{"content chunk carrying usage", `{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":1}}`, false},
		{"Azure filter chunk", `{"choices":[],"object":"","prompt_filter_results":[],"usage":null}`, false},
		{"empty choices, null usage", `{"object":"chat.completion.chunk","choices":[],"usage":null}`, false},
		{"no object field", `{"choices":[],"usage":{"prompt_tokens":1}}`, false},
		{"choices missing", `{"object":"chat.completion.chunk","usage":{"prompt_tokens":1}}`, false},
		{"done marker", `[DONE]`, false},
		{"not json", `{"usage":`, false},
	}
	for _, tt := range tests {
		if got := IsUsageOnlyChunk([]byte(tt.data)); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}

// TestInjectThenStrip is the round trip the proxy does: inject usage into
// a request the client sent without it, then drop the usage-only event from
// the stream the client sees. The meter still reads that event.
func TestInjectThenStrip(t *testing.T) {
	t.Parallel()
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
	out, ok := InjectStreamUsage(chatEP, body)
	if !ok {
		t.Fatal("not injected")
	}
	req := InspectRequest(chatEP, out)
	stream := sseBody(
		chunk(`"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null`),
		chunk(`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null`),
		chunk(`"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}`),
		"data: [DONE]",
	)
	m := NewMeter(chatEP, "text/event-stream", req)
	m.Write([]byte(stream))
	r := m.Finish(true)
	if r.InputTokens != 9 || r.OutputTokens != 2 || !r.Terminal {
		t.Errorf("meter: %s", resultString(r))
	}
	dropped := 0
	for _, ev := range bytes.Split([]byte(stream), []byte("\n\n")) {
		if IsUsageOnlyChunk(bytes.TrimPrefix(ev, []byte("data: "))) {
			dropped++
		}
	}
	if dropped != 1 {
		t.Errorf("dropped %d events, want exactly the usage-only one", dropped)
	}
}
