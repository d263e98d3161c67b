package parsers

import (
	"bytes"
	"fmt"
	"testing"
)

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
		stream func(int) []byte
	}{
		"openai":    {chatEP, openAIBenchStream},
		"anthropic": {msgEP, anthropicBenchStream},
	} {
		allocs := func(n int) float64 {
			s := tc.stream(n)
			return testing.AllocsPerRun(5, func() {
				m := NewMeter(tc.ep, "text/event-stream", Request{})
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
