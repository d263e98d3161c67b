package parsers

import (
	"fmt"
	"strings"
	"testing"
)

var respEP = Endpoint{API: OpenAI, Kind: Responses}

const respHead = `"id":"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654","object":"response","created_at":1741290958,"model":"gpt-5-2025-08-07"`

// respEvent builds a Responses stream event.
func respEvent(typ, data string) string {
	return "event: " + typ + "\ndata: " + data
}

// respStream is a realistic stream up to (not including) its terminal event.
func respStream() []string {
	return []string{
		respEvent("response.created", `{"type":"response.created","sequence_number":0,"response":{`+respHead+`,"status":"in_progress","error":null,"output":[],"usage":null}}`),
		respEvent("response.in_progress", `{"type":"response.in_progress","sequence_number":1,"response":{`+respHead+`,"status":"in_progress","output":[],"usage":null}}`),
		respEvent("response.output_item.added", `{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}`),
		respEvent("response.output_item.done", `{"type":"response.output_item.done","sequence_number":3,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}`),
		respEvent("response.output_item.added", `{"type":"response.output_item.added","sequence_number":4,"output_index":1,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}}`),
		respEvent("response.content_part.added", `{"type":"response.content_part.added","sequence_number":5,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}`),
		respEvent("response.output_text.delta", `{"type":"response.output_text.delta","sequence_number":6,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hi","logprobs":[]}`),
		respEvent("response.output_text.delta", `{"type":"response.output_text.delta","sequence_number":7,"item_id":"msg_1","output_index":1,"content_index":0,"delta":" there!","logprobs":[]}`),
		respEvent("response.output_text.done", `{"type":"response.output_text.done","sequence_number":8,"item_id":"msg_1","output_index":1,"content_index":0,"text":"Hi there!","logprobs":[]}`),
	}
}

const respUsage = `"usage":{"input_tokens":2048,"input_tokens_details":{"cached_tokens":1536},"output_tokens":420,"output_tokens_details":{"reasoning_tokens":384},"total_tokens":2468}`

func TestMeterResponses(t *testing.T) {
	t.Parallel()
	want := Result{Usage: usage(2048, 1536, 0, 420, 384), Model: "gpt-5-2025-08-07",
		ResponseID: "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654", Terminal: true}
	bigText := strings.Repeat("All work and no play makes a long answer. \"usage\":{\"input_tokens\":1} ", 24000) // ~1.7 MiB
	completed := func(text string) string {
		return respEvent("response.completed", fmt.Sprintf(`{"type":"response.completed","sequence_number":9,"response":{`+respHead+`,"status":"completed","error":null,"incomplete_details":null,"output":[{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":%q,"annotations":[]}]}],"parallel_tool_calls":true,%s,"user":null,"metadata":{}}}`, text, respUsage))
	}
	runMeterCases(t, []meterCase{
		{
			name: "non-streaming",
			ep:   respEP, ct: "application/json",
			body: `{` + respHead + `,"status":"completed","error":null,"output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi there!","annotations":[]}]}],` + respUsage + `}`,
			want: want,
			raw:  `{"input_tokens":2048,"input_tokens_details":{"cached_tokens":1536},"output_tokens":420,"output_tokens_details":{"reasoning_tokens":384},"total_tokens":2468}`,
		},
		{
			name: "stream to response.completed",
			ep:   respEP, ct: "text/event-stream; charset=utf-8",
			body: sseBody(append(respStream(), completed("Hi there!"))...),
			want: want,
		},
		{
			name: "terminal event over 1 MiB, under the event cap",
			ep:   respEP, ct: "text/event-stream",
			body: sseBody(append(respStream(), completed(bigText))...),
			want: want,
		},
		{
			name: "terminal event over the event cap: usage from its tail",
			ep:   respEP, ct: "text/event-stream",
			eventCap: 1 << 20, tailCap: 4096,
			body: sseBody(append(respStream(), completed(bigText))...),
			want: want,
		},
		{
			name: "response.incomplete has usage",
			ep:   respEP, ct: "text/event-stream",
			body: sseBody(append(respStream(),
				respEvent("response.incomplete", `{"type":"response.incomplete","sequence_number":9,"response":{`+respHead+`,"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},`+respUsage+`}}`))...),
			want: want,
		},
		{
			name: "response.failed with null usage",
			ep:   respEP, ct: "text/event-stream",
			body: sseBody(append(respStream(),
				respEvent("response.failed", `{"type":"response.failed","sequence_number":9,"response":{`+respHead+`,"status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"usage":null}}`))...),
			want: Result{Model: "gpt-5-2025-08-07", ResponseID: "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654",
				Terminal: true, Failed: true, ErrorType: "server_error", ErrorMessage: "The model failed to generate a response."},
		},
		{
			name: "error event",
			ep:   respEP, ct: "text/event-stream",
			body: sseBody(append(respStream()[:2],
				respEvent("error", `{"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached","param":null,"sequence_number":2}`))...),
			want: Result{Model: "gpt-5-2025-08-07", ResponseID: "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654",
				Failed: true, ErrorType: "rate_limit_exceeded", ErrorMessage: "Rate limit reached"},
		},
		{
			name: "stream cut before the terminal event",
			ep:   respEP, ct: "text/event-stream",
			req:  Request{Model: "gpt-5", Stream: true},
			body: sseBody(respStream()...),
			want: Result{Model: "gpt-5-2025-08-07", ResponseID: "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654"},
		},
	})
}

// TestMeterResponsesDetails guards the input and output details beyond
// cache reads and reasoning: cache writes, and the audio and image shares.
func TestMeterResponsesDetails(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{
		{
			name: "cache writes",
			ep:   respEP, ct: "application/json",
			body: `{"id":"r","model":"gpt-5","status":"completed","usage":{"input_tokens":3000,"input_tokens_details":{"cached_tokens":1000,"cache_write_tokens":1500},"output_tokens":10,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":3010}}`,
			want: Result{Usage: usage(3000, 1000, 1500, 10, 0), Model: "gpt-5", ResponseID: "r", Terminal: true},
		},
		{
			name: "audio and image shares",
			ep:   respEP, ct: "application/json",
			body: `{"id":"r","model":"gpt-realtime","usage":{"input_tokens":900,"input_tokens_details":{"cached_tokens":0,"text_tokens":100,"audio_tokens":500,"image_tokens":300},"output_tokens":700,"output_tokens_details":{"text_tokens":100,"audio_tokens":600,"image_tokens":0}}}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 900, OutputTokens: 700,
				AudioInputTokens: 500, ImageInputTokens: 300, AudioOutputTokens: 600}, Model: "gpt-realtime", ResponseID: "r", Terminal: true},
		},
		{
			name: "shares above their totals are bounded",
			ep:   respEP, ct: "application/json",
			body: `{"usage":{"input_tokens":100,"input_tokens_details":{"cache_write_tokens":500,"audio_tokens":80,"image_tokens":80},"output_tokens":10,"output_tokens_details":{"audio_tokens":8,"image_tokens":8}}}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 100, CacheWriteTokens: 100, OutputTokens: 10,
				AudioInputTokens: 80, ImageInputTokens: 20, AudioOutputTokens: 8, ImageOutputTokens: 2}, Terminal: true},
		},
		{
			name: "stream: the last model named wins",
			ep:   respEP, ct: "text/event-stream",
			body: sseBody(
				respEvent("response.created", `{"type":"response.created","response":{"id":"r","model":"gpt-5","usage":null}}`),
				respEvent("response.completed", `{"type":"response.completed","response":{"id":"r","model":"gpt-5-mini-2025-08-07",`+respUsage+`}}`)),
			want: Result{Usage: usage(2048, 1536, 0, 420, 384), Model: "gpt-5-mini-2025-08-07", ResponseID: "r", Terminal: true},
		},
	})
}
