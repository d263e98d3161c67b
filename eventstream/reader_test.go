package eventstream

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	awsstream "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// msg is a copied Message for comparisons.
type msg struct {
	MessageType, EventType, ExceptionType, ContentType, ErrorCode, ErrorMessage string
	Payload                                                                     string
	Size                                                                        int64
	Oversize                                                                    bool
}

func copyMsg(m *Message) msg {
	return msg{m.MessageType, m.EventType, m.ExceptionType, m.ContentType, m.ErrorCode, m.ErrorMessage,
		string(m.Payload), m.Size, m.Oversize}
}

func run(opts Options, pieces [][]byte) ([]msg, *Reader) {
	var out []msg
	r := NewReader(func(m *Message) { out = append(out, copyMsg(m)) }, opts)
	for _, p := range pieces {
		orig := bytes.Clone(p)
		if n, err := r.Write(p); n != len(p) || err != nil {
			panic(fmt.Sprintf("Write returned %d, %v", n, err))
		}
		if !bytes.Equal(orig, p) {
			panic("Write modified its input")
		}
	}
	return out, r
}

func splitEvery(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return append(out, b)
}

func splitRandom(b []byte, r *rand.Rand) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 1 + r.IntN(len(b))
		if r.IntN(2) == 0 && n > 16 {
			n = 1 + r.IntN(16)
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out
}

func splits(b []byte) map[string][][]byte {
	m := map[string][][]byte{"whole": {b}, "1-byte": splitEvery(b, 1), "3-byte": splitEvery(b, 3)}
	for seed := uint64(1); seed <= 3; seed++ {
		m[fmt.Sprintf("random-%d", seed)] = splitRandom(b, rand.New(rand.NewPCG(seed, 4)))
	}
	return m
}

// encode is the AWS SDK's own encoder: an independent writer of the format.
func encode(headers awsstream.Headers, payload []byte) []byte {
	var b bytes.Buffer
	if err := awsstream.NewEncoder().Encode(&b, awsstream.Message{Headers: headers, Payload: payload}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func event(typ string, payload string) []byte {
	return encode(awsstream.Headers{
		{Name: ":event-type", Value: awsstream.StringValue(typ)},
		{Name: ":content-type", Value: awsstream.StringValue("application/json")},
		{Name: ":message-type", Value: awsstream.StringValue("event")},
	}, []byte(payload))
}

func wantEvent(typ, payload string) msg {
	return msg{MessageType: "event", EventType: typ, ContentType: "application/json", Payload: payload,
		Size: int64(len(event(typ, payload)))}
}

// chunk is an InvokeModelWithResponseStream chunk carrying an Anthropic event.
func chunk(anthropicEvent string) []byte {
	return event("chunk", `{"bytes":"`+base64.StdEncoding.EncodeToString([]byte(anthropicEvent))+`","p":"abcdefghij"}`)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// corrupt returns b with byte i flipped.
func corrupt(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}

// withLengths is a message whose prelude says total and headers (with a
// valid prelude CRC) followed by rest.
func withLengths(total, headers uint32, rest []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, total)
	b = binary.BigEndian.AppendUint32(b, headers)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return append(b, rest...)
}

func TestReader(t *testing.T) {
	t.Parallel()
	exception := encode(awsstream.Headers{
		{Name: ":exception-type", Value: awsstream.StringValue("modelStreamErrorException")},
		{Name: ":content-type", Value: awsstream.StringValue("application/json")},
		{Name: ":message-type", Value: awsstream.StringValue("exception")},
	}, []byte(`{"message":"The model encountered an error while streaming."}`))
	errMsg := encode(awsstream.Headers{
		{Name: ":message-type", Value: awsstream.StringValue("error")},
		{Name: ":error-code", Value: awsstream.StringValue("InternalFailure")},
		{Name: ":error-message", Value: awsstream.StringValue("An internal error occurred")},
	}, nil)
	typed := encode(awsstream.Headers{
		{Name: ":event-type", Value: awsstream.StringValue("metadata")},
		{Name: "flag", Value: awsstream.BoolValue(true)},
		{Name: "n", Value: awsstream.Int32Value(-7)},
		{Name: "when", Value: awsstream.TimestampValue(time.UnixMilli(1700000000000))},
		{Name: "raw", Value: awsstream.BytesValue([]byte{1, 2, 3})},
		{Name: "id", Value: awsstream.UUIDValue{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{Name: ":message-type", Value: awsstream.Int8Value(1)}, // not a string: ignored
	}, []byte(`{"usage":{}}`))
	big := chunk(strings.Repeat("x", 3000))
	start := chunk(`{"type":"message_start","message":{"usage":{"input_tokens":5}}}`)
	tests := []struct {
		name    string
		opts    Options
		in      []byte
		want    []msg
		wantErr bool
		pending bool // bytes of a message are left at the end
	}{
		{
			name: "events",
			in:   cat(event("messageStart", `{"role":"assistant"}`), event("contentBlockDelta", `{"delta":{"text":"Hi"}}`)),
			want: []msg{wantEvent("messageStart", `{"role":"assistant"}`), wantEvent("contentBlockDelta", `{"delta":{"text":"Hi"}}`)},
		},
		{
			name: "empty payload, no headers",
			in:   cat(encode(nil, nil), event("messageStop", "")),
			want: []msg{{Size: 16}, wantEvent("messageStop", "")},
		},
		{
			name: "exception and error messages",
			in:   cat(exception, errMsg),
			want: []msg{
				{MessageType: "exception", ExceptionType: "modelStreamErrorException", ContentType: "application/json",
					Payload: `{"message":"The model encountered an error while streaming."}`, Size: int64(len(exception))},
				{MessageType: "error", ErrorCode: "InternalFailure", ErrorMessage: "An internal error occurred", Size: int64(len(errMsg))},
			},
		},
		{
			name: "headers of every type",
			in:   typed,
			want: []msg{{EventType: "metadata", Payload: `{"usage":{}}`, Size: int64(len(typed))}},
		},
		{
			name: "oversize message skipped",
			opts: Options{MaxMessageSize: 1000},
			in:   cat(start, big, start),
			want: []msg{decoded(start), {Size: int64(len(big)), Oversize: true}, decoded(start)},
		},
		{
			name:    "bad prelude CRC",
			in:      cat(start, corrupt(start, 9)),
			want:    []msg{decoded(start)},
			wantErr: true,
		},
		{
			name:    "bad message CRC",
			in:      cat(corrupt(start, len(start)-1), start),
			wantErr: true,
		},
		{
			name:    "bad payload byte",
			in:      corrupt(start, 40),
			wantErr: true,
		},
		{
			name:    "bad CRC of an oversize message",
			opts:    Options{MaxMessageSize: 1000},
			in:      cat(corrupt(big, 500), start),
			wantErr: true,
		},
		{
			name:    "total below the minimum",
			in:      withLengths(15, 0, []byte{0, 0, 0}),
			wantErr: true,
		},
		{
			name:    "headers longer than the message",
			in:      withLengths(20, 5, make([]byte, 8)),
			wantErr: true,
		},
		{
			name:    "unknown header value type",
			in:      withLengths(20, 4, []byte{1, 'a', 42, 0, 0, 0, 0, 0}),
			wantErr: true,
		},
		{
			name:    "cut mid-message",
			in:      cat(start, start[:30]),
			want:    []msg{decoded(start)},
			pending: true,
		},
	}
	for _, tt := range tests {
		for how, pieces := range splits(tt.in) {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				got, r := run(tt.opts, pieces)
				if !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
					t.Errorf("messages:\n got %+v\nwant %+v", got, tt.want)
				}
				if (r.Err() != nil) != tt.wantErr || (r.Err() != nil && !errors.Is(r.Err(), ErrFormat)) {
					t.Errorf("error %v, want error %v", r.Err(), tt.wantErr)
				}
				if !tt.wantErr && (r.Pending() != 0) != tt.pending {
					t.Errorf("pending %d", r.Pending())
				}
			})
		}
	}
}

// decoded is what the reader reports for an encoded event message.
func decoded(b []byte) msg {
	m, err := awsstream.NewDecoder().Decode(bytes.NewReader(b), nil)
	if err != nil {
		panic(err)
	}
	return msg{MessageType: "event", EventType: m.Headers.Get(":event-type").String(), ContentType: "application/json",
		Payload: string(m.Payload), Size: int64(len(b))}
}

// TestReaderSplitAtEveryByte cuts a Bedrock-like stream in two at every
// byte: the messages never change.
func TestReaderSplitAtEveryByte(t *testing.T) {
	t.Parallel()
	in := cat(chunk(`{"type":"message_start","message":{"model":"claude","usage":{"input_tokens":12,"output_tokens":1}}}`),
		chunk(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`),
		event("metadata", `{"usage":{"inputTokens":3}}`),
		chunk(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":5}}`))
	for _, opts := range []Options{{}, {MaxMessageSize: 200}} {
		want, r := run(opts, [][]byte{in})
		if r.Err() != nil || len(want) != 4 {
			t.Fatalf("whole: %v, %v", want, r.Err())
		}
		for i := range in {
			got, r := run(opts, [][]byte{in[:i], in[i:]})
			if !reflect.DeepEqual(got, want) || r.Err() != nil {
				t.Fatalf("max %d, cut at %d: %v %v\nwant %v", opts.MaxMessageSize, i, got, r.Err(), want)
			}
		}
	}
}

// TestReaderBounded guards that a 64 MB message is skipped without being
// held, and that what the reader keeps returns to small after a big one.
func TestReaderBounded(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	in := cat(event("chunk", string(payload)), event("chunk", "{}"))
	var got []msg
	r := NewReader(func(m *Message) {
		got = append(got, msg{Size: m.Size, Oversize: m.Oversize, Payload: string(m.Payload)})
	}, Options{})
	for _, p := range splitEvery(in, 64<<10) {
		r.Write(p)
		if n := r.Retained(); n > 2*retainLimit {
			t.Fatalf("retains %d bytes", n)
		}
	}
	if r.Err() != nil || len(got) != 2 || !got[0].Oversize || got[0].Size != int64(len(in)-len(event("chunk", "{}"))) || got[1].Payload != "{}" {
		t.Fatalf("%v, %v", got, r.Err())
	}
	// A message under the cap but over the retain limit is held, then let go.
	r.Write(event("chunk", string(payload[:4<<20])))
	if len(got) != 3 || got[2].Size < 4<<20 || r.Retained() > 2*retainLimit {
		t.Fatalf("%d messages, retains %d", len(got), r.Retained())
	}
}

// TestReaderDoesNotRetain guards that Write never keeps the caller's slice.
func TestReaderDoesNotRetain(t *testing.T) {
	t.Parallel()
	in := event("chunk", `{"bytes":"e30="}`)
	var got []msg
	r := NewReader(func(m *Message) { got = append(got, copyMsg(m)) }, Options{})
	buf := bytes.Clone(in[:len(in)-10])
	r.Write(buf)
	for i := range buf {
		buf[i] = 0
	}
	r.Write(in[len(in)-10:])
	if len(got) != 1 || got[0].Payload != `{"bytes":"e30="}` {
		t.Errorf("%v, %v", got, r.Err())
	}
}

// FuzzReader checks that any input, cut anywhere, gives the same messages
// and error as whole, never panics, and keeps the reader's buffers within
// their bound (with a small cap, so that skipping runs).
func FuzzReader(f *testing.F) {
	f.Add(cat(event("messageStart", `{"role":"assistant"}`), chunk(`{"type":"message_stop"}`)), uint64(1), false)
	f.Add(withLengths(20, 4, []byte{1, 'a', 7, 0, 1, 'b', 0, 0}), uint64(2), true)
	f.Add(cat(encode(nil, nil), chunk(strings.Repeat("y", 300))), uint64(3), true)
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, small bool) {
		opts := Options{}
		if small {
			opts.MaxMessageSize = 64
		}
		whole, wr := run(opts, [][]byte{in})
		var split []msg
		r := NewReader(func(m *Message) { split = append(split, copyMsg(m)) }, opts)
		for _, p := range splitRandom(in, rand.New(rand.NewPCG(seed, 1))) {
			r.Write(p)
			if n := r.Retained(); small && n > 2*64+preludeLen+64 {
				t.Fatalf("retains %d bytes with a 64-byte cap", n)
			}
		}
		if !reflect.DeepEqual(split, whole) || fmt.Sprint(r.Err()) != fmt.Sprint(wr.Err()) {
			t.Fatalf("split %v %v\nwhole %v %v", split, r.Err(), whole, wr.Err())
		}
		bytewise, br := run(opts, splitEvery(in, 1))
		if !reflect.DeepEqual(bytewise, whole) || fmt.Sprint(br.Err()) != fmt.Sprint(wr.Err()) {
			t.Fatalf("1-byte %v %v\nwhole %v %v", bytewise, br.Err(), whole, wr.Err())
		}
		for _, m := range whole {
			if m.Size < minLen || (m.Oversize && m.Payload != "") {
				t.Fatalf("message %+v", m)
			}
		}
	})
}

// BenchmarkReader reads a Bedrock InvokeModelWithResponseStream of 500
// chunks in 4 KiB writes.
func BenchmarkReader(b *testing.B) {
	var parts [][]byte
	for i := range 500 {
		parts = append(parts, chunk(fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word%d"}}`, i)))
	}
	in := cat(parts...)
	n := 0
	r := NewReader(func(*Message) { n++ }, Options{})
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		for p := in; len(p) > 0; {
			k := min(4096, len(p))
			r.Write(p[:k])
			p = p[k:]
		}
	}
	if r.Err() != nil || n != 500*b.N {
		b.Fatalf("%d messages, %v", n, r.Err())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() { r.Write(in) }))/500, "allocs/msg")
}
