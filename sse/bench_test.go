package sse

import (
	"bytes"
	"fmt"
	"testing"
)

// openAIStream is a realistic Chat Completions stream with include_usage:
// n content chunks, a finish chunk, the usage chunk and [DONE].
func openAIStream(n int) []byte {
	var b bytes.Buffer
	const head = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306",`
	fmt.Fprintf(&b, "data: %s\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n", head)
	for i := range n {
		fmt.Fprintf(&b, "data: %s\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token%d\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n", head, i)
	}
	fmt.Fprintf(&b, "data: %s\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n", head)
	fmt.Fprintf(&b, "data: %s\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":%d,\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n", head, n, n+19)
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// anthropicStream is a realistic Messages stream with n text deltas.
func anthropicStream(n int) []byte {
	var b bytes.Buffer
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":2048,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},\"output_tokens\":2,\"service_tier\":\"standard\"}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	b.WriteString("event: ping\ndata: {\"type\": \"ping\"}\n\n")
	for i := range n {
		fmt.Fprintf(&b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" word%d and some more text\"}}\n\n", i)
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	fmt.Fprintf(&b, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n", n)
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return b.Bytes()
}

// benchScanner writes stream in network-sized chunks, per iteration, and
// reports bytes/s and events per op.
func benchScanner(b *testing.B, stream []byte, chunk int, opts Options) {
	events := 0
	s := NewScanner(func(e *Event) { events++ }, opts)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	b.ResetTimer()
	for b.Loop() {
		for p := stream; len(p) > 0; {
			n := min(chunk, len(p))
			s.Write(p[:n])
			p = p[n:]
		}
		s.Close()
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

func BenchmarkScannerOpenAI(b *testing.B) {
	stream := openAIStream(500)
	b.Run("chunk=4KiB", func(b *testing.B) { benchScanner(b, stream, 4096, Options{}) })
	b.Run("chunk=event", func(b *testing.B) { benchScanner(b, stream, 260, Options{}) })
	b.Run("chunk=4KiB/raw", func(b *testing.B) { benchScanner(b, stream, 4096, Options{KeepRaw: true}) })
}

func BenchmarkScannerAnthropic(b *testing.B) {
	stream := anthropicStream(500)
	b.Run("chunk=4KiB", func(b *testing.B) { benchScanner(b, stream, 4096, Options{}) })
	b.Run("chunk=event", func(b *testing.B) { benchScanner(b, stream, 140, Options{}) })
}

// TestScannerZeroAllocs guards the steady-state promise: once buffers have
// grown, scanning a whole stream allocates nothing.
func TestScannerZeroAllocs(t *testing.T) {
	for name, stream := range map[string][]byte{"openai": openAIStream(50), "anthropic": anthropicStream(50)} {
		s := NewScanner(func(e *Event) {}, Options{KeepRaw: true})
		feed := func() {
			for p := stream; len(p) > 0; {
				n := min(97, len(p))
				s.Write(p[:n])
				p = p[n:]
			}
			s.Close()
		}
		feed()
		if n := testing.AllocsPerRun(20, feed); n != 0 {
			t.Errorf("%s: %v allocs per stream, want 0", name, n)
		}
	}
}
