package parsers

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

var msgEP = Endpoint{API: Anthropic, Kind: Messages}

// anthEvent builds an Anthropic stream event (event name = data.type).
func anthEvent(typ, data string) string { return "event: " + typ + "\ndata: " + data }

func anthStart(usage string) string {
	return anthEvent("message_start", `{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":`+usage+`}}`)
}

var anthBody = []string{
	anthEvent("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
	anthEvent("ping", `{"type": "ping"}`),
	anthEvent("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`),
	anthEvent("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}`),
	anthEvent("content_block_stop", `{"type":"content_block_stop","index":0}`),
}

func anthStream(start string, tail ...string) string {
	events := append([]string{start}, anthBody...)
	return sseBody(append(events, tail...)...)
}

const anthID, anthModel = "msg_01XFDUDYJgAACzvnptvVoYEL", "claude-sonnet-4-5-20250929"

func TestMeterAnthropic(t *testing.T) {
	t.Parallel()
	stop := anthEvent("message_stop", `{"type":"message_stop"}`)
	runMeterCases(t, []meterCase{
		{
			name: "non-streaming with both cache tiers",
			ep:   msgEP, ct: "application/json",
			body: `{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-opus-4-6","content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","stop_sequence":null,` +
				`"usage":{"input_tokens":50,"cache_creation_input_tokens":3000,"cache_read_input_tokens":10000,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":500,"service_tier":"standard","server_tool_use":{"web_search_requests":0}}}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 13050, CachedInputTokens: 10000, CacheWriteTokens: 3000,
				CacheWrite5mTokens: 1000, CacheWrite1hTokens: 2000, OutputTokens: 500},
				Model: "claude-opus-4-6", ResponseID: "msg_013Zva2CMHLNnXjNJJKqJ2EF", Terminal: true},
			raw: `{"input_tokens":50,"cache_creation_input_tokens":3000,"cache_read_input_tokens":10000,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":500,"service_tier":"standard","server_tool_use":{"web_search_requests":0}}`,
		},
		{
			name: "basic stream",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(anthStart(`{"input_tokens":25,"output_tokens":1}`),
				anthEvent("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`),
				stop),
			want: Result{Usage: usage(25, 0, 0, 15, 0), Model: anthModel, ResponseID: anthID, Terminal: true},
			raw:  `{"input_tokens":25,"output_tokens":15}`,
		},
		{
			name: "cache tiers from message_start, several cumulative message_delta",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(
				anthStart(`{"input_tokens":2679,"cache_creation_input_tokens":1200,"cache_read_input_tokens":8000,"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":1000},"output_tokens":3,"service_tier":"standard"}`),
				anthEvent("message_delta", `{"type":"message_delta","delta":{"stop_reason":"pause_turn","stop_sequence":null},"usage":{"input_tokens":10682,"cache_creation_input_tokens":1200,"cache_read_input_tokens":8000,"output_tokens":510,"server_tool_use":{"web_search_requests":1}}}`),
				anthEvent("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":null,"output_tokens":600,"server_tool_use":{"web_search_requests":2}}}`),
				stop),
			want: Result{Usage: Usage{Seen: true, InputTokens: 10682 + 1200 + 8000, CachedInputTokens: 8000, CacheWriteTokens: 1200,
				CacheWrite5mTokens: 200, CacheWrite1hTokens: 1000, OutputTokens: 600},
				Model: anthModel, ResponseID: anthID, Terminal: true},
			raw: `{"input_tokens":10682,"cache_creation_input_tokens":1200,"cache_read_input_tokens":8000,"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":1000},"output_tokens":600,"service_tier":"standard","server_tool_use":{"web_search_requests":2}}`,
		},
		{
			name: "thinking tokens",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(anthStart(`{"input_tokens":40,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}`),
				anthEvent("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":900,"output_tokens_details":{"thinking_tokens":700}}}`),
				stop),
			want: Result{Usage: usage(40, 0, 0, 900, 700), Model: anthModel, ResponseID: anthID, Terminal: true},
		},
		{
			name: "error event after a 200 keeps usage",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(anthStart(`{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":4096,"output_tokens":1}`),
				anthEvent("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`)),
			want: Result{Usage: usage(4108, 4096, 0, 1, 0), Model: anthModel, ResponseID: anthID,
				Failed: true, ErrorType: "overloaded_error", ErrorMessage: "Overloaded"},
		},
		{
			name: "stream cut after message_start",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(anthStart(`{"input_tokens":12,"output_tokens":1}`)) + "event: content_block_delta\ndata: {\"type\":\"content_bl",
			want: Result{Usage: usage(12, 0, 0, 1, 0), Model: anthModel, ResponseID: anthID},
		},
		{
			name: "compatible server: deltas carry only output_tokens, no event lines",
			ep:   msgEP, ct: "text/event-stream",
			body: sseBody(
				`data: {"type":"message_start","message":{"id":"msg_x","model":"glm-4.6","usage":{"input_tokens":30,"output_tokens":0}}}`,
				`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`,
				`data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":8}}`,
				`data: {"type":"message_stop"}`),
			want: Result{Usage: usage(30, 0, 0, 8, 0), Model: "glm-4.6", ResponseID: "msg_x", Terminal: true},
		},
		{
			name: "error body",
			ep:   msgEP, ct: "application/json",
			req:  Request{Model: "claude-opus-4-6"},
			body: `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`,
			want: Result{Model: "claude-opus-4-6", Terminal: true, Failed: true, ErrorType: "rate_limit_error",
				ErrorMessage: "Number of request tokens has exceeded your per-minute rate limit"},
		},
		{
			name: "cache creation without the tier split",
			ep:   msgEP, ct: "application/json",
			body: `{"id":"m","type":"message","model":"claude-3-5-haiku-20241022","usage":{"input_tokens":3,"cache_creation_input_tokens":2051,"cache_read_input_tokens":0,"output_tokens":20}}`,
			want: Result{Usage: usage(2054, 0, 2051, 20, 0), Model: "claude-3-5-haiku-20241022", ResponseID: "m", Terminal: true},
		},
	})
}

// TestMeterAnthropicMergedRawBounded guards that many distinct usage keys
// cannot grow the merged raw object without limit.
func TestMeterAnthropicMergedRawBounded(t *testing.T) {
	t.Parallel()
	m := newTestMeter(msgEP, "text/event-stream", Request{})
	m.Write([]byte(anthStart(`{"input_tokens":1,"output_tokens":1}`) + "\n\n"))
	for i := range 500 {
		m.Write(fmt.Appendf(nil, "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":%d,\"k%d\":1}}\n\n", i, i))
	}
	r := m.Finish(true)
	var obj map[string]any
	if err := json.Unmarshal(r.Raw, &obj); err != nil {
		t.Fatalf("raw %s: %v", r.Raw, err)
	}
	if len(obj) > maxMergedMembers || r.OutputTokens != 499 {
		t.Errorf("%d members, output %d", len(obj), r.OutputTokens)
	}
}

// TestMeterAnthropicIterations guards usage.iterations: the call's counts
// are the sums over every iteration (the top-level counts cover only the
// message iterations), each iteration kept with its type and model, in
// bodies and in streams, the latest list winning.
func TestMeterAnthropicIterations(t *testing.T) {
	t.Parallel()
	stop := anthEvent("message_stop", `{"type":"message_stop"}`)
	// The compaction documentation's own example: the top level says
	// 45000/1234, the iterations 180000/3500 and 23000/1000.
	compaction := `"usage":{"input_tokens":45000,"output_tokens":1234,"iterations":[` +
		`{"type":"compaction","input_tokens":180000,"output_tokens":3500},` +
		`{"type":"message","input_tokens":23000,"output_tokens":1000}]}`
	advisor := `[{"type":"message","input_tokens":100,"cache_read_input_tokens":2000,"cache_creation_input_tokens":0,"output_tokens":40},` +
		`{"type":"advisor_message","model":"claude-opus-4-6","input_tokens":300,"cache_read_input_tokens":0,"cache_creation_input_tokens":500,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":500},"output_tokens":80},` +
		`{"type":"message","input_tokens":150,"cache_read_input_tokens":2100,"cache_creation_input_tokens":10,"output_tokens":200}]`
	advisorIters := []Iteration{
		{Type: "message", Model: anthModel, InputTokens: 2100, CachedInputTokens: 2000, OutputTokens: 40},
		{Type: "advisor_message", Model: "claude-opus-4-6", InputTokens: 800, CacheWriteTokens: 500, CacheWrite1hTokens: 500, OutputTokens: 80},
		{Type: "message", Model: anthModel, InputTokens: 2260, CachedInputTokens: 2100, CacheWriteTokens: 10, OutputTokens: 200},
	}
	advisorUsage := Usage{Seen: true, InputTokens: 2100 + 800 + 2260, CachedInputTokens: 4100, CacheWriteTokens: 510,
		CacheWrite1hTokens: 500, OutputTokens: 320, Iterations: advisorIters}
	runMeterCases(t, []meterCase{
		{
			name: "body with a compaction iteration",
			ep:   msgEP, ct: "application/json",
			body: `{"id":"msg_1","type":"message","model":"claude-opus-4-6","content":[{"type":"compaction","content":"summary"}],"stop_reason":"compaction",` + compaction + `}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 203000, OutputTokens: 4500, Iterations: []Iteration{
				{Type: "compaction", Model: "claude-opus-4-6", InputTokens: 180000, OutputTokens: 3500},
				{Type: "message", Model: "claude-opus-4-6", InputTokens: 23000, OutputTokens: 1000},
			}}, Model: "claude-opus-4-6", ResponseID: "msg_1", Terminal: true},
			raw: compaction[len(`"usage":`):],
		},
		{
			name: "stream: the advisor's iterations on message_delta, priced at their model",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(anthStart(`{"input_tokens":100,"cache_read_input_tokens":2000,"cache_creation_input_tokens":0,"output_tokens":1}`),
				anthEvent("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":250,"cache_read_input_tokens":4100,"cache_creation_input_tokens":10,"output_tokens":240,"iterations":`+advisor+`}}`),
				stop),
			want: Result{Usage: advisorUsage, Model: anthModel, ResponseID: anthID, Terminal: true},
		},
		{
			name: "stream: a later list replaces the one on message_start; a null list changes nothing",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(anthStart(`{"input_tokens":5,"output_tokens":1,"iterations":[{"type":"compaction","input_tokens":999,"output_tokens":9}]}`),
				anthEvent("message_delta", `{"type":"message_delta","usage":{"output_tokens":240,"iterations":`+advisor+`}}`),
				anthEvent("message_delta", `{"type":"message_delta","usage":{"output_tokens":240,"iterations":null}}`),
				stop),
			want: Result{Usage: advisorUsage, Model: anthModel, ResponseID: anthID, Terminal: true},
		},
		{
			name: "no iterations: the top-level counts",
			ep:   msgEP, ct: "application/json",
			body: `{"id":"m","type":"message","model":"claude-opus-4-6","usage":{"input_tokens":45000,"output_tokens":1234}}`,
			want: Result{Usage: usage(45000, 0, 0, 1234, 0), Model: "claude-opus-4-6", ResponseID: "m", Terminal: true},
		},
		{
			name: "an invalid count in an iteration",
			ep:   msgEP, ct: "application/json",
			body: `{"id":"m","type":"message","model":"c","usage":{"input_tokens":5,"output_tokens":1,"iterations":[{"type":"compaction","input_tokens":-180000,"output_tokens":3500},{"type":"message","input_tokens":5,"output_tokens":1}]}}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 5, OutputTokens: 3501, Iterations: []Iteration{
				{Type: "compaction", Model: "c", OutputTokens: 3500},
				{Type: "message", Model: "c", InputTokens: 5, OutputTokens: 1},
			}}, Model: "c", ResponseID: "m", Terminal: true, Invalid: "iterations[].input_tokens: negative"},
		},
		{
			name: "iterations that are not a list of objects",
			ep:   msgEP, ct: "application/json",
			body: `{"id":"m","type":"message","model":"c","usage":{"input_tokens":5,"output_tokens":1,"iterations":[{"type":"message","input_tokens":5},7]}}`,
			want: Result{Usage: usage(5, 0, 0, 1, 0), Model: "c", ResponseID: "m", Terminal: true, Invalid: "iterations: an entry is not an object"},
		},
	})
}

// TestMeterAnthropicTooManyIterations guards the bound on the list kept.
func TestMeterAnthropicTooManyIterations(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`{"type":"message","model":"c","usage":{"input_tokens":1,"output_tokens":1,"iterations":[`)
	for i := range maxIterations + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"message","input_tokens":1,"output_tokens":1}`)
	}
	b.WriteString(`]}}`)
	m := newTestMeter(msgEP, "application/json", Request{})
	m.Write([]byte(b.String()))
	r := m.Finish(true)
	if r.Invalid != "iterations: too many entries" || r.Iterations != nil || r.InputTokens != 1 {
		t.Errorf("got %s", resultString(r))
	}
}

// TestMeterAnthropicFallbackModel guards that the model that answered is
// the one recorded when a server-side fallback serves the response: the
// stream's fallback block and fallback_message iteration name it after
// message_start named the requested one.
func TestMeterAnthropicFallbackModel(t *testing.T) {
	t.Parallel()
	iters := `[{"type":"message","model":"claude-opus-5","input_tokens":20,"output_tokens":0},{"type":"fallback_message","model":"claude-sonnet-5","input_tokens":20,"output_tokens":30}]`
	want := Usage{Seen: true, InputTokens: 40, OutputTokens: 30, Iterations: []Iteration{
		{Type: "message", Model: "claude-opus-5", InputTokens: 20},
		{Type: "fallback_message", Model: "claude-sonnet-5", InputTokens: 20, OutputTokens: 30},
	}}
	start := anthEvent("message_start", `{"type":"message_start","message":{"id":"msg_f","model":"claude-opus-5","usage":{"input_tokens":20,"output_tokens":1}}}`)
	block := anthEvent("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"fallback","from":{"model":"claude-opus-5"},"to":{"model":"claude-sonnet-5"}}}`)
	runMeterCases(t, []meterCase{
		{
			name: "stream: the fallback block names the model",
			ep:   msgEP, ct: "text/event-stream",
			body: sseBody(start, block, anthEvent("message_delta", `{"type":"message_delta","usage":{"output_tokens":30}}`), anthEvent("message_stop", `{"type":"message_stop"}`)),
			want: Result{Usage: usage(20, 0, 0, 30, 0), Model: "claude-sonnet-5", ResponseID: "msg_f", Terminal: true},
		},
		{
			name: "stream: the fallback_message iteration names it",
			ep:   msgEP, ct: "text/event-stream",
			body: sseBody(start, anthEvent("message_delta", `{"type":"message_delta","usage":{"output_tokens":30,"iterations":`+iters+`}}`), anthEvent("message_stop", `{"type":"message_stop"}`)),
			want: Result{Usage: want, Model: "claude-sonnet-5", ResponseID: "msg_f", Terminal: true},
		},
		{
			name: "body: the fallback_message iteration names it",
			ep:   msgEP, ct: "application/json",
			body: `{"id":"msg_f","type":"message","model":"claude-opus-5","usage":{"input_tokens":20,"output_tokens":30,"iterations":` + iters + `}}`,
			want: Result{Usage: want, Model: "claude-sonnet-5", ResponseID: "msg_f", Terminal: true},
		},
		{
			name: "a text block that mentions a fallback changes nothing",
			ep:   msgEP, ct: "text/event-stream",
			body: sseBody(start, anthEvent("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"\"fallback\""}}`), anthEvent("message_stop", `{"type":"message_stop"}`)),
			want: Result{Usage: usage(20, 0, 0, 1, 0), Model: "claude-opus-5", ResponseID: "msg_f", Terminal: true},
		},
	})
}
