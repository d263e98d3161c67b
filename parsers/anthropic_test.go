package parsers

import (
	"encoding/json"
	"fmt"
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
	m := NewMeter(msgEP, "text/event-stream", Request{})
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
