package wsframe

import (
	"fmt"
	"testing"
)

// responsesEvents is n Responses stream events as a WebSocket server sends
// them: mostly small deltas, ending in a larger completed event.
func responsesEvents(n int) []string {
	out := make([]string, 0, n+1)
	for i := range n {
		out = append(out, fmt.Sprintf(`{"type":"response.output_text.delta","sequence_number":%d,"item_id":"msg_0a1b2c3d4e5f","output_index":0,"content_index":0,"delta":" token%d","logprobs":[]}`, i, i))
	}
	return append(out, `{"type":"response.completed","response":{"id":"resp_1","model":"gpt-5","output":[{"type":"message","content":[{"type":"output_text","text":"`+prose(4000)+`"}]}],"usage":{"input_tokens":19,"output_tokens":500}}}`)
}

// benchReader writes stream in chunk-byte pieces per op and reports the
// throughput (of message bytes, decompressed) and the cost per message.
// One reader reads every op's stream, as one connection would read many
// (a compressed stream can be read again: its first message refers to no
// earlier one).
func benchReader(b *testing.B, dir Direction, opts Options, stream []byte, messages, chunk int) {
	got, size := 0, int64(0)
	r := NewReader(dir, func(m *Message) { got++; size += m.Size }, opts)
	r.Write(stream)
	b.ReportAllocs()
	b.SetBytes(size)
	got = 0
	for b.Loop() {
		for p := stream; len(p) > 0; {
			n := min(chunk, len(p))
			r.Write(p[:n])
			p = p[n:]
		}
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
	}
	if got != messages*b.N {
		b.Fatalf("%d messages, want %d", got, messages*b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*messages), "ns/msg")
}

func BenchmarkReader(b *testing.B) {
	events := responsesEvents(500)
	for _, tc := range []struct {
		name string
		dir  Direction
		opts Options
		w    *wire
		z    bool
	}{
		{"server/plain", FromServer, Options{}, newWire(FromServer, false), false},
		{"client/masked", FromClient, Options{}, newWire(FromClient, false), false},
		{"server/deflate-takeover", FromServer, Options{Deflate: deflateBoth}, newWire(FromServer, true), true},
		{"server/deflate-no-takeover", FromServer, Options{Deflate: deflateNoContext}, newWire(FromServer, false), true},
	} {
		for _, e := range events {
			if tc.z {
				tc.w.ztext(e, 0, false)
			} else {
				tc.w.text(e)
			}
		}
		for _, chunk := range []int{4096, 1 << 20} {
			b.Run(fmt.Sprintf("%s/chunk=%d", tc.name, chunk), func(b *testing.B) {
				benchReader(b, tc.dir, tc.opts, tc.w.b, len(events), chunk)
			})
		}
	}
}

// BenchmarkReaderLargeMessage reads one 8 MiB compressed message in 16 KiB
// writes, so it streams through the inflater's coroutine.
func BenchmarkReaderLargeMessage(b *testing.B) {
	w := newWire(FromServer, false).ztext(prose(8<<20), 16<<10, false)
	benchReader(b, FromServer, Options{Deflate: deflateNoContext}, w.b, 1, 16<<10)
}

// TestReaderZeroAllocs guards the steady state: once its buffers have
// grown, a reader allocates nothing per message, plain, masked or
// compressed.
func TestReaderZeroAllocs(t *testing.T) {
	events := responsesEvents(50)
	for _, tc := range []struct {
		name string
		dir  Direction
		opts Options
		w    *wire
		z    bool
	}{
		{"server", FromServer, Options{}, newWire(FromServer, false), false},
		{"client", FromClient, Options{}, newWire(FromClient, false), false},
		{"deflate-takeover", FromServer, Options{Deflate: deflateBoth}, newWire(FromServer, true), true},
		{"deflate-no-takeover", FromClient, Options{Deflate: deflateNoContext}, newWire(FromClient, false), true},
	} {
		for _, e := range events {
			if tc.z {
				tc.w.ztext(e, 100, false)
			} else {
				tc.w.frame(false, 0, OpText, []byte(e[:10])).frame(true, 0, OpPing, nil).frame(true, 0, OpContinuation, []byte(e[10:]))
			}
		}
		r := NewReader(tc.dir, nil, tc.opts)
		feed := func() {
			for p := tc.w.b; len(p) > 0; {
				n := min(997, len(p))
				r.Write(p[:n])
				p = p[n:]
			}
		}
		feed()
		if n := testing.AllocsPerRun(10, feed); n != 0 || r.Err() != nil {
			t.Errorf("%s: %v allocs per stream of %d messages, %v", tc.name, n, len(events), r.Err())
		}
	}
}
