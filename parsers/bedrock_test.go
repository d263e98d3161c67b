package parsers

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	awsstream "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

var (
	invokeEP       = Endpoint{API: Bedrock, Kind: Invoke, Model: "us.anthropic.claude-haiku-4-5-20251001-v1:0"}
	invokeStreamEP = Endpoint{API: Bedrock, Kind: Invoke, Model: "us.anthropic.claude-haiku-4-5-20251001-v1:0", Stream: true}
	llamaEP        = Endpoint{API: Bedrock, Kind: Invoke, Model: "meta.llama3-8b-instruct-v1:0"}
	converseEP     = Endpoint{API: Bedrock, Kind: Converse, Model: "amazon.nova-pro-v1:0"}
	converseStrEP  = Endpoint{API: Bedrock, Kind: Converse, Model: "amazon.nova-pro-v1:0", Stream: true}
)

const eventStreamCT = "application/vnd.amazon.eventstream"

// esMessage encodes one event-stream message with the AWS SDK's encoder.
func esMessage(headers awsstream.Headers, payload string) string {
	var b bytes.Buffer
	if err := awsstream.NewEncoder().Encode(&b, awsstream.Message{Headers: headers, Payload: []byte(payload)}); err != nil {
		panic(err)
	}
	return b.String()
}

// esEvent is an event message named eventType.
func esEvent(eventType, payload string) string {
	return esMessage(awsstream.Headers{
		{Name: ":event-type", Value: awsstream.StringValue(eventType)},
		{Name: ":content-type", Value: awsstream.StringValue("application/json")},
		{Name: ":message-type", Value: awsstream.StringValue("event")},
	}, payload)
}

// esException is an exception message.
func esException(exceptionType, payload string) string {
	return esMessage(awsstream.Headers{
		{Name: ":exception-type", Value: awsstream.StringValue(exceptionType)},
		{Name: ":content-type", Value: awsstream.StringValue("application/json")},
		{Name: ":message-type", Value: awsstream.StringValue("exception")},
	}, payload)
}

// esChunk is an InvokeModelWithResponseStream chunk carrying event.
func esChunk(event string) string {
	return esEvent("chunk", `{"bytes":"`+base64.StdEncoding.EncodeToString([]byte(event))+`","p":"abcdefghijklmnop"}`)
}

// bedrockAnthropicStream is Claude's stream as Bedrock relays it: no
// pings, the invocation metrics on message_stop.
func bedrockAnthropicStream(stop bool) string {
	s := esChunk(`{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"stop_reason":null,"usage":{"input_tokens":24,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}`) +
		esChunk(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) +
		esChunk(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`) +
		esChunk(`{"type":"content_block_stop","index":0}`) +
		esChunk(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":12}}`)
	if stop {
		s += esChunk(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":24,"outputTokenCount":12,"invocationLatency":500,"firstByteLatency":200,"cacheReadInputTokenCount":2000,"cacheWriteInputTokenCount":100}}`)
	}
	return s
}

func TestMeterBedrockInvoke(t *testing.T) {
	t.Parallel()
	anthropicWant := Result{Usage: usage(2124, 2000, 100, 12, 0), Model: invokeEP.Model, ResponseID: "msg_bdrk_01", Terminal: true}
	runMeterCases(t, []meterCase{
		{
			name: "anthropic body",
			ep:   invokeEP, ct: "application/json",
			header: http.Header{"X-Amzn-Bedrock-Input-Token-Count": {"24"}, "X-Amzn-Bedrock-Output-Token-Count": {"12"}},
			body:   `{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":24,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":12}}`,
			want:   anthropicWant,
			raw:    `{"input_tokens":24,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":12}`,
		},
		{
			name: "llama body: usage from the headers",
			ep:   llamaEP, ct: "application/json",
			header: http.Header{"X-Amzn-Bedrock-Input-Token-Count": {"31"}, "X-Amzn-Bedrock-Output-Token-Count": {"7"},
				"X-Amzn-Bedrock-Invocation-Latency": {"300"}},
			body: `{"generation":"Hi there","prompt_token_count":31,"generation_token_count":7,"stop_reason":"stop"}`,
			want: Result{Usage: usage(31, 0, 0, 7, 0), Model: "meta.llama3-8b-instruct-v1:0", Terminal: true},
			raw:  `{"x-amzn-bedrock-input-token-count":"31","x-amzn-bedrock-output-token-count":"7"}`,
		},
		{
			name: "header counts with cache: input adds them",
			ep:   llamaEP, ct: "application/json",
			header: http.Header{"X-Amzn-Bedrock-Input-Token-Count": {"5"}, "X-Amzn-Bedrock-Output-Token-Count": {"7"},
				"X-Amzn-Bedrock-Cache-Read-Input-Token-Count": {"40"}, "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": {"3"}},
			body: `{"outputs":[{"text":"x"}]}`,
			want: Result{Usage: usage(48, 40, 3, 7, 0), Model: "meta.llama3-8b-instruct-v1:0", Terminal: true},
		},
		{
			name: "a bad header count",
			ep:   llamaEP, ct: "application/json",
			header: http.Header{"X-Amzn-Bedrock-Input-Token-Count": {"lots"}, "X-Amzn-Bedrock-Output-Token-Count": {"7"}},
			body:   `{}`,
			want: Result{Usage: usage(0, 0, 0, 7, 0), Model: "meta.llama3-8b-instruct-v1:0", Terminal: true,
				Invalid: "X-Amzn-Bedrock-Input-Token-Count: not a number"},
		},
		{
			name: "request error",
			ep:   invokeEP, ct: "application/json",
			header: http.Header{"X-Amzn-Errortype": {"ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"}},
			body:   `{"message":"Malformed input request: #: required key [anthropic_version] not found"}`,
			want: Result{Model: invokeEP.Model, Terminal: true, Failed: true, ErrorType: "ValidationException",
				ErrorMessage: "Malformed input request: #: required key [anthropic_version] not found"},
		},
		{
			name: "anthropic stream",
			ep:   invokeStreamEP, ct: eventStreamCT,
			body: bedrockAnthropicStream(true),
			want: anthropicWant,
		},
		{
			name: "stream without a content type",
			ep:   invokeStreamEP,
			body: bedrockAnthropicStream(true),
			want: anthropicWant,
		},
		{
			name: "anthropic stream cut before message_stop",
			ep:   invokeStreamEP, ct: eventStreamCT,
			body: bedrockAnthropicStream(false),
			want: Result{Usage: usage(2124, 2000, 100, 12, 0), Model: invokeEP.Model, ResponseID: "msg_bdrk_01"},
		},
		{
			name: "exception mid-stream keeps what arrived",
			ep:   invokeStreamEP, ct: eventStreamCT,
			body: bedrockAnthropicStream(false)[:len(esChunk(`{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"stop_reason":null,"usage":{"input_tokens":24,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}`))] +
				esException("modelStreamErrorException", `{"message":"The model encountered an error while streaming. Try your request again.","originalStatusCode":529}`),
			want: Result{Usage: usage(2124, 2000, 100, 1, 0), Model: invokeEP.Model, ResponseID: "msg_bdrk_01",
				Failed: true, ErrorType: "modelStreamErrorException", ErrorMessage: "The model encountered an error while streaming. Try your request again."},
		},
		{
			name: "llama stream: usage from the invocation metrics",
			ep:   Endpoint{API: Bedrock, Kind: Invoke, Model: "meta.llama3-8b-instruct-v1:0", Stream: true}, ct: eventStreamCT,
			body: esChunk(`{"generation":"Hi","prompt_token_count":31,"generation_token_count":1,"stop_reason":null}`) +
				esChunk(`{"generation":" there","prompt_token_count":null,"generation_token_count":2,"stop_reason":"stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":31,"outputTokenCount":2,"invocationLatency":90,"firstByteLatency":40}}`),
			want: Result{Usage: usage(31, 0, 0, 2, 0), Model: "meta.llama3-8b-instruct-v1:0", Terminal: true},
			raw:  `{"inputTokenCount":31,"outputTokenCount":2,"invocationLatency":90,"firstByteLatency":40}`,
		},
		{
			name: "an oversize chunk is skipped",
			ep:   invokeStreamEP, ct: eventStreamCT, eventCap: 600,
			body: bedrockAnthropicStream(false) + esChunk(`{"type":"content_block_delta","delta":{"text":"`+string(bytes.Repeat([]byte("x"), 800))+`"}}`) +
				esChunk(`{"type":"message_stop"}`),
			want: anthropicWant,
		},
		{
			name: "a corrupt message stops the reading, not the meter",
			ep:   invokeStreamEP, ct: eventStreamCT,
			body: bedrockAnthropicStream(false) + "\x00\x00\x00\x20\x00\x00\x00\x00garbage-garbage-garbage!",
			want: Result{Usage: usage(2124, 2000, 100, 12, 0), Model: invokeEP.Model, ResponseID: "msg_bdrk_01"},
		},
	})
}

func TestMeterBedrockConverse(t *testing.T) {
	t.Parallel()
	const usageJSON = `{"inputTokens":12,"outputTokens":30,"totalTokens":1542,"cacheReadInputTokens":1000,"cacheWriteInputTokens":500,"cacheDetails":[{"inputTokens":400,"ttl":"1h"},{"inputTokens":100,"ttl":"5m"}]}`
	cached := Usage{Seen: true, InputTokens: 1512, CachedInputTokens: 1000, CacheWriteTokens: 500, CacheWrite5mTokens: 100,
		CacheWrite1hTokens: 400, OutputTokens: 30}
	stream := esEvent("messageStart", `{"role":"assistant","p":"abc"}`) +
		esEvent("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdef"}`) +
		esEvent("contentBlockStop", `{"contentBlockIndex":0,"p":"ab"}`) +
		esEvent("messageStop", `{"stopReason":"end_turn","p":"abcd"}`)
	metadata := esEvent("metadata", `{"usage":`+usageJSON+`,"metrics":{"latencyMs":411},"p":"abcdefg"}`)
	runMeterCases(t, []meterCase{
		{
			name: "body",
			ep:   converseEP, ct: "application/json",
			body: `{"output":{"message":{"role":"assistant","content":[{"text":"Hello"}]}},"stopReason":"end_turn","usage":` + usageJSON + `,"metrics":{"latencyMs":411}}`,
			want: Result{Usage: cached, Model: "amazon.nova-pro-v1:0", Terminal: true},
			raw:  usageJSON,
		},
		{
			name: "body without cache",
			ep:   converseEP, ct: "application/json",
			body: `{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"max_tokens","usage":{"inputTokens":9,"outputTokens":1,"totalTokens":10}}`,
			want: Result{Usage: usage(9, 0, 0, 1, 0), Model: "amazon.nova-pro-v1:0", Terminal: true},
		},
		{
			name: "cache writes only in cacheDetails",
			ep:   converseEP, ct: "application/json",
			body: `{"output":{},"usage":{"inputTokens":1,"outputTokens":1,"cacheDetails":[{"inputTokens":7,"ttl":"5m"}]}}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 8, CacheWriteTokens: 7, CacheWrite5mTokens: 7, OutputTokens: 1},
				Model: "amazon.nova-pro-v1:0", Terminal: true},
		},
		{
			name: "stream",
			ep:   converseStrEP, ct: eventStreamCT,
			body: stream + metadata,
			want: Result{Usage: cached, Model: "amazon.nova-pro-v1:0", Terminal: true},
		},
		{
			name: "stream cut before metadata",
			ep:   converseStrEP, ct: eventStreamCT,
			body: stream,
			want: Result{Model: "amazon.nova-pro-v1:0", Terminal: true},
		},
		{
			name: "throttled mid-stream",
			ep:   converseStrEP, ct: eventStreamCT,
			body: esEvent("messageStart", `{"role":"assistant"}`) + esException("throttlingException", `{"message":"Too many tokens, please wait before trying again."}`),
			want: Result{Model: "amazon.nova-pro-v1:0", Failed: true, ErrorType: "throttlingException",
				ErrorMessage: "Too many tokens, please wait before trying again."},
		},
		{
			name: "request error",
			ep:   converseEP, ct: "application/json",
			header: http.Header{"X-Amzn-Errortype": {"ThrottlingException"}},
			body:   `{"message":"Too many requests, please wait before trying again."}`,
			want: Result{Model: "amazon.nova-pro-v1:0", Terminal: true, Failed: true, ErrorType: "ThrottlingException",
				ErrorMessage: "Too many requests, please wait before trying again."},
		},
		{
			name: "negative count",
			ep:   converseEP, ct: "application/json",
			body: `{"usage":{"inputTokens":-1,"outputTokens":2}}`,
			want: Result{Usage: usage(0, 0, 0, 2, 0), Model: "amazon.nova-pro-v1:0", Terminal: true, Invalid: "inputTokens: negative"},
		},
	})
}

// TestBedrockBilledModel guards the model a Bedrock call is recorded and
// priced under: the path's id (an inference profile is billed apart from
// the model it runs: global costs less than regional), the id inside a
// foundation-model or inference-profile ARN, and the response's model
// when the path's ARN names none.
func TestBedrockBilledModel(t *testing.T) {
	body := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}`
	const arn = "arn:aws:bedrock:us-east-1:123456789012:"
	tests := []struct {
		id, want string
	}{
		{"global.anthropic.claude-haiku-4-5-20251001-v1:0", "global.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{"anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"},
		{arn + "inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0", "eu.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"},
		{arn + "application-inference-profile/a1b2c3", "claude-haiku-4-5-20251001"},
		{arn + "provisioned-model/xyz", "claude-haiku-4-5-20251001"},
	}
	for _, tt := range tests {
		m := NewMeter(Endpoint{API: Bedrock, Kind: Invoke, Model: tt.id}, "application/json", Request{})
		m.Write([]byte(body))
		if got := m.Finish(true).Model; got != tt.want {
			t.Errorf("invoke on %s: model %q, want %q", tt.id, got, tt.want)
		}
	}
	m := NewMeter(Endpoint{API: Bedrock, Kind: Converse, Model: arn + "application-inference-profile/a1b2c3"}, "application/json", Request{})
	m.Write([]byte(`{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}`))
	if got := m.Finish(true).Model; got != arn+"application-inference-profile/a1b2c3" {
		t.Errorf("converse on an application profile: model %q, want the ARN (nothing else names it)", got)
	}
}

// TestBedrockChunkDropped guards each reason the chunk shortcut must give
// way to a full read, and that Bedrock's content chunks take it.
func TestBedrockChunkDropped(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	delta := b64(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`)
	tests := []struct {
		name, payload string
		want          bool
	}{
		{"content delta", `{"bytes":"` + delta + `","p":"abcdefghij"}`, true},
		{"block stop", `{"bytes":"` + b64(`{"type":"content_block_stop","index":0}`) + `"}`, true},
		{"ping", `{"bytes":"` + b64(`{"type":"ping"}`) + `"}`, true},
		{"delta with spaces: decoded", `{"bytes":"` + b64(`{ "type" : "content_block_delta" }`) + `"}`, true},
		{"delta with spaces, type past the peek", `{"bytes":"` + b64(`{           "type"       :        "content_block_delta"}`) + `"}`, false},
		{"spaces around the members", " {\t\"p\" : \"x\" ,\n\"bytes\" : \"" + delta + "\" } \r\n", true},
		{"message delta", `{"bytes":"` + b64(`{"type":"message_delta","usage":{"output_tokens":3}}`) + `"}`, false},
		{"message start", `{"bytes":"` + b64(`{"type":"message_start","message":{}}`) + `"}`, false},
		{"type not first", `{"bytes":"` + b64(`{"index":0,"type":"content_block_delta"}`) + `"}`, false},
		{"a longer type", `{"bytes":"` + b64(`{"type":"content_block_deltas"}`) + `"}`, false},
		{"type with an escape", `{"bytes":"` + b64(`{"type":"content_block_delt\u0061"}`) + `"}`, false},
		{"the last bytes member counts", `{"bytes":"` + delta + `","bytes":"` + b64(`{"type":"message_stop"}`) + `"}`, false},
		{"the last bytes member counts, skipped", `{"bytes":"` + b64(`{"type":"message_stop"}`) + `","bytes":"` + delta + `"}`, true},
		{"escaped slash in the base64", `{"bytes":"` + delta[:8] + `\/` + delta[8:] + `"}`, false},
		{"line break in the base64", `{"bytes":"` + delta[:8] + `\n` + delta[8:] + `"}`, false},
		{"a nested member", `{"bytes":"` + delta + `","x":{"usage":{}}}`, false},
		{"a number member", `{"n":1,"bytes":"` + delta + `"}`, false},
		{"bytes not a string", `{"bytes":7}`, false},
		{"no bytes", `{"p":"` + delta + `"}`, false},
		{"trailing bytes", `{"bytes":"` + delta + `"} [[[`, false},
		{"two objects", `{"bytes":"` + delta + `"}{}`, false},
		{"unclosed", `{"bytes":"` + delta + `"`, false},
		{"missing colon", `{"bytes" "` + delta + `"}`, false},
		{"missing comma", `{"bytes":"` + delta + `" "p":"x"}`, false},
		{"trailing comma", `{"bytes":"` + delta + `",}`, false},
		{"empty object", `{}`, false},
		{"empty bytes", `{"bytes":""}`, false},
		{"short base64", `{"bytes":"eyJ0"}`, false},
		{"not base64 (peek)", `{"bytes":"!!!!` + delta + `"}`, false},
		{"not an object", `"` + delta + `"`, false},
		{"nothing", ``, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMeter(invokeStreamEP, eventStreamCT, Request{})
			if got := m.f.(*invokeFormat).chunkDropped([]byte(tc.payload)); got != tc.want {
				t.Errorf("chunkDropped(%s) = %v, want %v", tc.payload, got, tc.want)
			}
		})
	}
}

// bedrockShortcutStream builds an InvokeModelWithResponseStream from a
// script, one chunk a line; the first byte says how the rest is wrapped:
// 'r' as the chunk's payload itself, else base64 in "bytes": 'p' with
// padding members around it, 'n' with a \n escape and 's' with \/ escapes
// in the base64, 'u' unpadded, 'w' with spaces around the member, and
// anything else plainly.
func bedrockShortcutStream(script []byte) []byte {
	var out []byte
	for line := range bytes.SplitSeq(script, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		rest := line[1:]
		enc := base64.StdEncoding.EncodeToString(rest)
		var payload string
		switch line[0] {
		case 'r':
			payload = string(rest)
		case 'p':
			payload = `{"p":"abc","bytes":"` + enc + `","p":"abcdefghijklmnop"}`
		case 'n':
			at := len(enc) / 3
			payload = `{"bytes":"` + enc[:at] + `\n` + enc[at:] + `"}`
		case 's':
			payload = `{"bytes":"` + strings.ReplaceAll(enc, "/", `\/`) + `"}`
		case 'u':
			payload = `{"bytes":"` + base64.RawStdEncoding.EncodeToString(rest) + `"}`
		case 'w':
			payload = "{ \"bytes\" :\t\"" + enc + "\" }\n"
		default:
			payload = `{"bytes":"` + enc + `"}`
		}
		out = append(out, esEvent("chunk", payload)...)
	}
	return out
}

// checkBedrockShortcut meters a script's stream with and without the
// chunk shortcut, whole and cut at random, and fails if any Result
// differs.
func checkBedrockShortcut(t *testing.T, script []byte, seed uint64) {
	t.Helper()
	checkShortcut(t, invokeStreamEP, eventStreamCT, func(m *Meter, on bool) { m.f.(*invokeFormat).parseEveryChunk = on }, bedrockShortcutStream(script), rand.NewPCG(seed, 9))
}

var bedrockShortcutSeeds = []string{
	"b" + `{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":24,"output_tokens":1}}}` + "\n" +
		"p" + `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n" +
		"p" + `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}` + "\n" +
		"b" + `{"type":"content_block_stop","index":0}` + "\n" +
		"b" + `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12}}` + "\n" +
		"b" + `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":24,"outputTokenCount":12}}`,
	// Skipped types that carry usage anyway: dropped by both paths.
	"b" + `{"type":"content_block_delta","usage":{"output_tokens":5}}` + "\n" +
		"w" + `{"type":"ping","amazon-bedrock-invocationMetrics":{"inputTokenCount":1}}` + "\n" +
		"b" + `{"type":"content_block_stop","type":"message_delta","usage":{"output_tokens":7}}`,
	// Wrappings the shortcut must leave to the full read.
	"n" + `{"type":"message_delta","usage":{"output_tokens":3}}` + "\n" +
		"s" + `{"type":"message_delta","usage":{"output_tokens":4},"x":"?>?>?>"}` + "\n" +
		"u" + `{"type":"message_delta","usage":{"output_tokens":5}}` + "\n" +
		"n" + `{"type":"content_block_delta","usage":{"output_tokens":6}}`,
	"r" + `{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(`{"type":"content_block_delta"}`)) + `","bytes":"` +
		base64.StdEncoding.EncodeToString([]byte(`{"type":"message_delta","usage":{"output_tokens":8}}`)) + `"}` + "\n" +
		"r" + `{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(`{"type":"message_delta","usage":{"output_tokens":9}}`)) + `"} [[[` + "\n" +
		"r" + `{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(`{"type":"content_block_delta"}`)) + `","usage":{"input_tokens":1}}` + "\n" +
		"r" + `{"bytes":"!!!!` + base64.StdEncoding.EncodeToString([]byte(`{"type":"message_delta","usage":{"output_tokens":10}}`)) + `"}`,
	// A payload nested past fastjson's depth, in a member or after the
	// object: the unreadable-usage note.
	"r" + `{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(`{"type":"ping"}`)) + `","usage":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `}`,
	"r" + `{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(`{"type":"ping"}`)) + `"} {"usage":` + strings.Repeat("[", 400),
}

// TestBedrockShortcutSameResult runs realistic and adversarial streams
// through both paths.
func TestBedrockShortcutSameResult(t *testing.T) {
	t.Parallel()
	for i, s := range bedrockShortcutSeeds {
		checkBedrockShortcut(t, []byte(s), uint64(i))
	}
}

// FuzzBedrockChunkShortcut checks that the chunk shortcut never changes a
// Result: whatever the chunks, metering with it equals reading each in
// full.
func FuzzBedrockChunkShortcut(f *testing.F) {
	for i, s := range bedrockShortcutSeeds {
		f.Add([]byte(s), uint64(i))
	}
	f.Fuzz(func(t *testing.T, script []byte, seed uint64) { checkBedrockShortcut(t, script, seed) })
}
