package parsers

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/internal/cputime"
	"github.com/valohai/conduit/wsframe"
)

// reportCPU reports the process's CPU time per op since cpu0: on a shared
// machine other processes sway it less than ns/op.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
}

// openAIBenchStream is a realistic Chat Completions stream with n content
// chunks and include_usage.
func openAIBenchStream(n int) []byte {
	var b bytes.Buffer
	b.WriteString(chunk(`"service_tier":"default","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null`) + "\n\n")
	for i := range n {
		b.WriteString(chunk(fmt.Sprintf(`"service_tier":"default","choices":[{"index":0,"delta":{"content":" token%d"},"logprobs":null,"finish_reason":null}],"usage":null`, i)) + "\n\n")
	}
	b.WriteString(chunk(`"service_tier":"default","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null`) + "\n\n")
	b.WriteString(chunk(fmt.Sprintf(`"service_tier":"default","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`, n, n+19)) + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// anthropicBenchStream is a realistic Messages stream with n text deltas.
func anthropicBenchStream(n int) []byte {
	var b bytes.Buffer
	b.WriteString(anthStart(`{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":2,"service_tier":"standard"}`) + "\n\n")
	b.WriteString(anthBody[0] + "\n\n" + anthBody[1] + "\n\n")
	for i := range n {
		b.WriteString(anthEvent("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word%d and some more text"}}`, i)) + "\n\n")
	}
	b.WriteString(anthBody[4] + "\n\n")
	b.WriteString(anthEvent("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, n)) + "\n\n")
	b.WriteString(anthEvent("message_stop", `{"type":"message_stop"}`) + "\n\n")
	return b.Bytes()
}

// benchMeter meters stream (of events events) in 4 KiB writes per op and
// reports the cost per event.
func benchMeter(b *testing.B, ep Endpoint, stream []byte, events int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	cpu0 := cputime.Process()
	for b.Loop() {
		m := NewMeter(ep, "text/event-stream", Request{})
		for p := stream; len(p) > 0; {
			n := min(4096, len(p))
			m.Write(p[:n])
			p = p[n:]
		}
		if r := m.Finish(true); !r.Seen {
			b.Fatal("no usage")
		}
	}
	reportCPU(b, cpu0)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}

const benchEvents = 500

func BenchmarkMeterOpenAIChat(b *testing.B) {
	benchMeter(b, chatEP, openAIBenchStream(benchEvents), benchEvents+4)
}

func BenchmarkMeterAnthropic(b *testing.B) {
	benchMeter(b, msgEP, anthropicBenchStream(benchEvents), benchEvents+6)
}

// TestMeterSteadyStateAllocs guards that a meter allocates nothing per
// event once warm: metering a stream ten times longer costs no more
// allocations.
func TestMeterSteadyStateAllocs(t *testing.T) {
	for name, tc := range map[string]struct {
		ep     Endpoint
		ct     string
		stream func(int) []byte
	}{
		"openai":    {chatEP, "text/event-stream", openAIBenchStream},
		"anthropic": {msgEP, "text/event-stream", anthropicBenchStream},
		"bedrock":   {invokeStreamEP, eventStreamCT, bedrockBenchStream},
	} {
		allocs := func(n int) float64 {
			s := tc.stream(n)
			return testing.AllocsPerRun(5, func() {
				m := NewMeter(tc.ep, tc.ct, Request{})
				for p := s; len(p) > 0; {
					k := min(1000, len(p))
					m.Write(p[:k])
					p = p[k:]
				}
				m.Finish(true)
			})
		}
		// A few allocations of slack: pooled parsers may be dropped by a GC
		// between runs. Per-event allocations would add hundreds here.
		short, long := allocs(50), allocs(500)
		if long > short+5 {
			t.Errorf("%s: %v allocs for 50 events, %v for 500: allocations grow with events", name, short, long)
		}
	}
}

// benchMessages meters a connection's messages per op (client messages
// first in each pair) and reports the cost per message.
func benchMessages(b *testing.B, ep Endpoint, msgs []step, wantResults int) {
	frames := make([]*wsframe.Message, len(msgs))
	size := 0
	for i, m := range msgs {
		frames[i] = &wsframe.Message{Opcode: wsframe.OpText, Data: []byte(m.data), Size: int64(len(m.data))}
		size += len(m.data)
	}
	results := 0
	b.ReportAllocs()
	b.SetBytes(int64(size))
	cpu0 := cputime.Process()
	for b.Loop() {
		mm := NewMessageMeter(ep, func(MessageResult) { results++ })
		for i, m := range msgs {
			if m.client {
				mm.ClientMessage(frames[i], t0)
			} else {
				mm.ServerMessage(frames[i], t0)
			}
		}
		mm.Finish(t0)
	}
	reportCPU(b, cpu0)
	if results != wantResults*b.N {
		b.Fatalf("%d results, want %d", results, wantResults*b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/msg")
	b.ReportMetric(testing.AllocsPerRun(3, func() {
		mm := NewMessageMeter(ep, nil)
		for i, m := range msgs {
			if m.client {
				mm.ClientMessage(frames[i], t0)
			} else {
				mm.ServerMessage(frames[i], t0)
			}
		}
		mm.Finish(t0)
	})/float64(len(msgs)), "allocs/msg")
}

// BenchmarkMessageMeter meters 10 responses per connection, each of 200
// deltas, on each WebSocket API.
func BenchmarkMessageMeter(b *testing.B) {
	const responses, deltas = 10, 200
	var resp, rt, live []step
	for r := range responses {
		resp = append(resp, c(0, `{"type":"response.create","model":"gpt-5.5","input":[{"role":"user","content":"hello"}]}`),
			s(0, fmt.Sprintf(`{"type":"response.created","sequence_number":0,"response":{"id":"resp_%d","model":"gpt-5.5","status":"in_progress","usage":null}}`, r)))
		rt = append(rt, c(0, `{"type":"response.create","event_id":"c1"}`),
			s(0, fmt.Sprintf(`{"type":"response.created","event_id":"e","response":{"object":"realtime.response","id":"resp_%d","status":"in_progress","usage":null}}`, r)))
		live = append(live, c(0, `{"realtimeInput":{"text":"hello"}}`))
		for i := range deltas {
			resp = append(resp, s(0, fmt.Sprintf(`{"type":"response.output_text.delta","sequence_number":%d,"item_id":"msg_1","output_index":0,"content_index":0,"delta":" token%d","logprobs":[]}`, i, i)))
			rt = append(rt, s(0, fmt.Sprintf(`{"type":"response.output_audio_transcript.delta","event_id":"e%d","response_id":"resp_%d","item_id":"item_1","output_index":0,"content_index":0,"delta":" word%d"}`, i, r, i)))
			live = append(live, s(0, fmt.Sprintf(`{"serverContent":{"modelTurn":{"parts":[{"text":" word%d"}]}}}`, i)))
		}
		resp = append(resp, s(0, fmt.Sprintf(`{"type":"response.completed","sequence_number":999,"response":{"id":"resp_%d","model":"gpt-5.5","status":"completed","output":[],"usage":{"input_tokens":2048,"input_tokens_details":{"cached_tokens":1536},"output_tokens":200,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":2248}}}`, r)))
		rt = append(rt, s(0, fmt.Sprintf(`{"type":"response.done","event_id":"e","response":{"object":"realtime.response","id":"resp_%d","status":"completed","usage":{"total_tokens":1346,"input_tokens":1186,"output_tokens":160,"input_token_details":{"text_tokens":186,"audio_tokens":1000,"cached_tokens":64},"output_token_details":{"text_tokens":40,"audio_tokens":120}}}}`, r)))
		live = append(live, s(0, `{"serverContent":{"turnComplete":true},"usageMetadata":{"promptTokenCount":120,"responseTokenCount":200,"totalTokenCount":320}}`))
	}
	b.Run("responses", func(b *testing.B) { benchMessages(b, respWSEP, resp, responses) })
	b.Run("realtime", func(b *testing.B) { benchMessages(b, realtimeEP, rt, responses) })
	b.Run("live", func(b *testing.B) { benchMessages(b, liveEP, live, responses) })
}

// bedrockBenchStream is an InvokeModelWithResponseStream of n text deltas
// (event stream, base64 Anthropic events).
func bedrockBenchStream(n int) []byte {
	var sb strings.Builder
	sb.WriteString(esChunk(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"usage":{"input_tokens":24,"output_tokens":1}}}`))
	for i := range n {
		sb.WriteString(esChunk(fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word%d"}}`, i)))
	}
	sb.WriteString(esChunk(fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":%d}}`, n)))
	sb.WriteString(esChunk(fmt.Sprintf(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":24,"outputTokenCount":%d}}`, n)))
	return []byte(sb.String())
}

// BenchmarkMeterBedrockStream meters an InvokeModelWithResponseStream of
// 500 chunks (event stream, base64 Anthropic events) in 4 KiB writes.
func BenchmarkMeterBedrockStream(b *testing.B) {
	stream := bedrockBenchStream(benchEvents)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	cpu0 := cputime.Process()
	for b.Loop() {
		m := NewMeter(invokeStreamEP, eventStreamCT, Request{})
		for p := stream; len(p) > 0; {
			n := min(4096, len(p))
			m.Write(p[:n])
			p = p[n:]
		}
		if r := m.Finish(true); r.OutputTokens != 500 {
			b.Fatal(resultString(r))
		}
	}
	reportCPU(b, cpu0)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(benchEvents+3)), "ns/event")
}

// BenchmarkBodyMeter meters one non-streamed response body per op, as it
// usually arrives: in a single write. The stream benchmarks spread a
// call's fixed cost (the meter, the content type, the usage object kept,
// the result) over hundreds of events; here it is the whole cost, read
// per op: its MB/s is not a throughput, and its name keeps it out of
// make bench's meter row (BenchmarkMeter…, streams' GB/s).
func BenchmarkBodyMeter(b *testing.B) {
	for _, bc := range []struct {
		name string
		ep   Endpoint
		ct   string
		body string
	}{
		{"openai", chatEP, "application/json", `{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"The image shows a wooden boardwalk path running through a lush green field or meadow.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1117,"completion_tokens":46,"total_tokens":1163,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_fc9f1d7035"}`},
		{"anthropic", msgEP, "application/json", `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hello! How can I help you today?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":503,"service_tier":"standard"}}`},
		{"ollama-ndjson", ollamaChatEP, "application/x-ndjson", `{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"The"},"done":false}
{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":" sky"},"done":false}
{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":" is blue."},"done":false}
{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":26,"prompt_eval_duration":383809000,"eval_count":298,"eval_duration":4799921000}
`},
		{"openai-charset", chatEP, "application/json; charset=utf-8", `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			cpu0 := cputime.Process()
			for b.Loop() {
				m := NewMeter(bc.ep, bc.ct, Request{})
				m.Write(body)
				if r := m.Finish(true); !r.Seen || len(r.Raw) == 0 {
					b.Fatal(resultString(r))
				}
			}
			reportCPU(b, cpu0)
		})
	}
}
