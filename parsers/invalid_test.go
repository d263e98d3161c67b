package parsers

import (
	"fmt"
	"strings"
	"testing"
)

// invalidFormats are, for every format, a response whose input count is
// the placeholder %s (output is 2), and the member Result.Invalid names.
var invalidFormats = []struct {
	name, member string
	ep           Endpoint
	ct, body     string
}{
	{"openai body", "prompt_tokens", chatEP, "application/json",
		`{"id":"c","model":"m","usage":{"prompt_tokens":%s,"completion_tokens":2}}`},
	{"openai stream", "prompt_tokens", chatEP, "text/event-stream",
		sseBody(`data: {"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":%s,"completion_tokens":2}}`, "data: [DONE]")},
	{"responses stream", "input_tokens", respEP, "text/event-stream",
		sseBody(respEvent("response.completed", `{"type":"response.completed","response":{"id":"r","model":"m","usage":{"input_tokens":%s,"output_tokens":2}}}`))},
	{"anthropic stream", "input_tokens", msgEP, "text/event-stream",
		anthStream(anthStart(`{"input_tokens":%s,"output_tokens":1}`),
			anthEvent("message_delta", `{"type":"message_delta","usage":{"output_tokens":2}}`),
			anthEvent("message_stop", `{"type":"message_stop"}`))},
	{"gemini body", "promptTokenCount", genEP, "application/json",
		`{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":%s,"candidatesTokenCount":2}}`},
	{"ollama stream", "prompt_eval_count", ollamaChatEP, "application/x-ndjson",
		ndjson(`{"model":"m","done":true,"prompt_eval_count":%s,"eval_count":2}`)},
}

// TestMeterImplausibleCounts guards that a count no real call can have is
// never read as zero with the usage taken for complete: the Result says
// why it is invalid and keeps the provider's usage object in Raw. Counts
// the SDKs read as whole numbers (1.0, 1e1) are read as such.
func TestMeterImplausibleCounts(t *testing.T) {
	t.Parallel()
	values := []struct {
		value   string
		input   int64
		problem string
	}{
		{"-5", 0, "negative"},
		{"1.5", 0, "not a whole number"},
		{"10000000001", 0, "above 10^10"},
		{"9223372036854775807", 0, "above 10^10"},
		{"1e400", 0, "beyond the float range (an SDK reads it as infinity)"},
		{`"7"`, 0, "not a number"},
		{`[7]`, 0, "not a number"},
		{"1.0", 1, ""},
		{"1e1", 10, ""},
	}
	for _, f := range invalidFormats {
		for _, v := range values {
			body := fmt.Sprintf(f.body, v.value)
			for how, pieces := range splitsOf([]byte(body)) {
				t.Run(f.name+"/"+v.value+"/"+how, func(t *testing.T) {
					r := feed(meterCase{ep: f.ep, ct: f.ct}, pieces, true)
					want := ""
					if v.problem != "" {
						want = f.member + ": " + v.problem
					}
					if r.Invalid != want || !r.Seen || r.InputTokens != v.input || r.OutputTokens != 2 || !r.Terminal {
						t.Errorf("got %s, want invalid %q", resultString(r), want)
					}
					if !strings.Contains(string(r.Raw), v.value) {
						t.Errorf("raw %s does not keep %s", r.Raw, v.value)
					}
				})
			}
		}
	}
}

// TestMeterInvalidThenValid guards that, like every count, the last value
// sent wins: a later valid count replaces an invalid one, and a later
// invalid one spoils a valid one.
func TestMeterInvalidThenValid(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{
		{
			name: "anthropic: message_delta corrects message_start",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(anthStart(`{"input_tokens":-1,"output_tokens":1}`),
				anthEvent("message_delta", `{"type":"message_delta","usage":{"input_tokens":12,"output_tokens":2}}`),
				anthEvent("message_stop", `{"type":"message_stop"}`)),
			want: Result{Usage: usage(12, 0, 0, 2, 0), Model: anthModel, ResponseID: anthID, Terminal: true},
		},
		{
			name: "openai: continuous usage, the last chunk invalid",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(`data: {"id":"c","usage":{"prompt_tokens":10,"completion_tokens":1}}`,
				`data: {"id":"c","usage":{"prompt_tokens":10,"completion_tokens":2.5}}`, "data: [DONE]"),
			want: Result{Usage: usage(10, 0, 0, 0, 0), ResponseID: "c", Terminal: true, Invalid: "completion_tokens: not a whole number"},
		},
		{
			name: "openai: usage that is not valid JSON",
			ep:   chatEP, ct: "application/json",
			body: `{"usage":{"prompt_tokens":00,"completion_tokens":2}}`,
			want: Result{Usage: usage(0, 0, 0, 2, 0), Terminal: true, Invalid: "usage: not valid JSON"},
		},
	})
}

// nested is a JSON value nested n arrays deep.
func nested(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

// TestMeterUsageTooDeep guards usage nested past fastjson's depth limit:
// it is reported unreadable, not lost silently, for every format; a deep
// document that holds no usage is not.
func TestMeterUsageTooDeep(t *testing.T) {
	t.Parallel()
	const why = "usage: unreadable, JSON nested deeper than 300 levels"
	deep := nested(1000)
	runMeterCases(t, []meterCase{
		{
			name: "openai body",
			ep:   chatEP, ct: "application/json",
			body: `{"id":"c","usage":{"prompt_tokens":5,"completion_tokens":2,"x":` + deep + `}}`,
			want: Result{ResponseID: "c", Terminal: true, Invalid: why},
		},
		{
			name: "openai stream",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(`data: {"choices":[],"usage":{"prompt_tokens":5,"x":`+deep+`}}`, "data: [DONE]"),
			want: Result{Terminal: true, Invalid: why},
		},
		{
			name: "openai stream: a deep chunk without usage",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(`data: {"choices":[{"delta":{"tool_calls":`+deep+`}}],"usage":null}`, "data: [DONE]"),
			want: Result{Terminal: true},
		},
		{
			name: "responses stream",
			ep:   respEP, ct: "text/event-stream",
			body: sseBody(respEvent("response.completed", `{"type":"response.completed","response":{"usage":{"input_tokens":5,"x":`+deep+`}}}`)),
			want: Result{Invalid: why},
		},
		{
			name: "anthropic stream",
			ep:   msgEP, ct: "text/event-stream",
			body: anthStream(anthStart(`{"input_tokens":5,"output_tokens":1}`),
				anthEvent("message_delta", `{"type":"message_delta","usage":{"output_tokens":2,"x":`+deep+`}}`),
				anthEvent("message_stop", `{"type":"message_stop"}`)),
			want: Result{Usage: usage(5, 0, 0, 1, 0), Model: anthModel, ResponseID: anthID, Terminal: true, Invalid: why},
		},
		{
			name: "gemini streamed array",
			ep:   genSSEEP, ct: "application/json",
			body: `[{"usageMetadata":{"promptTokenCount":5,"x":` + deep + `}}]`,
			want: Result{Model: "gemini-2.5-flash", Terminal: true, Invalid: why},
		},
		{
			name: "ollama stream",
			ep:   ollamaChatEP, ct: "application/x-ndjson",
			body: ndjson(`{"model":"m","done":true,"prompt_eval_count":5,"x":` + deep + `}`),
			want: Result{Invalid: why},
		},
	})
}
