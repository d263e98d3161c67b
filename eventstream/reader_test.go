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

// rawMsg is a message of the given header block and payload, its lengths
// and CRCs right whatever the block holds.
func rawMsg(headers, payload []byte) []byte {
	b := withLengths(uint32(16+len(headers)+len(payload)), uint32(len(headers)), cat(headers, payload))
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
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
	dup := encode(awsstream.Headers{
		{Name: ":event-type", Value: awsstream.StringValue("first")},
		{Name: ":content-type", Value: awsstream.StringValue("text/plain")},
		{Name: ":event-type", Value: awsstream.StringValue("second")}, // the last counts
		{Name: ":content-type", Value: awsstream.Int16Value(3)},       // the last is no string: ""
		{Name: "", Value: awsstream.BoolValue(false)},                 // an empty name is a name
	}, []byte("x"))
	fixedTypes := rawMsg(cat(
		[]byte{1, 'a', 0, 1, 'b', 1},
		[]byte{1, 'c', 2, 9}, []byte{1, 'd', 3, 9, 9}, []byte{1, 'e', 4, 9, 9, 9, 9},
		[]byte{1, 'f', 5}, make([]byte, 8), []byte{1, 'g', 8}, make([]byte, 8),
		[]byte{1, 'h', 9}, make([]byte, 16),
		[]byte{1, 'i', 6, 0, 0}, []byte{1, 'j', 7, 0, 0},
		[]byte{13}, []byte(":content-type"), []byte{7, 0, 2, 'o', 'k'}), []byte("p"))
	long := strings.Repeat("m", 300)
	longMsg := encode(awsstream.Headers{
		{Name: ":message-type", Value: awsstream.StringValue("error")},
		{Name: ":error-message", Value: awsstream.StringValue(long)},
	}, nil)
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
			name: "repeated headers, then others, then the first again",
			in: cat(event("chunk", "1"), event("chunk", "2"), event("metadata", "3"), exception, event("chunk", "4"),
				encode(nil, []byte("5")), event("chunk", "6")),
			want: []msg{wantEvent("chunk", "1"), wantEvent("chunk", "2"), wantEvent("metadata", "3"),
				{MessageType: "exception", ExceptionType: "modelStreamErrorException", ContentType: "application/json",
					Payload: `{"message":"The model encountered an error while streaming."}`, Size: int64(len(exception))},
				wantEvent("chunk", "4"), {Payload: "5", Size: 17}, wantEvent("chunk", "6")},
		},
		{
			name: "a header given twice",
			in:   dup,
			want: []msg{{EventType: "second", Payload: "x", Size: int64(len(dup))}},
		},
		{
			name: "a header block too long to remember, twice",
			in:   cat(longMsg, longMsg),
			want: []msg{{MessageType: "error", ErrorMessage: long, Size: int64(len(longMsg))},
				{MessageType: "error", ErrorMessage: long, Size: int64(len(longMsg))}},
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
			in:      rawMsg([]byte{1, 'a', 42, 0, 0, 0, 0, 0}, nil),
			wantErr: true,
		},
		{
			name:    "header name runs past the headers",
			in:      rawMsg([]byte{9, ':', 'e', 'v', 'e', 'n', 't'}, nil),
			wantErr: true,
		},
		{
			name:    "header type missing",
			in:      rawMsg([]byte{2, 'a', 'b'}, []byte("payload")),
			wantErr: true,
		},
		{
			name:    "string length runs past the headers",
			in:      rawMsg([]byte{1, 'a', 7, 0, 9, 'x', 'y', 'z', 'w'}, []byte("payload")),
			wantErr: true,
		},
		{
			name:    "string length cut",
			in:      rawMsg([]byte{1, 'a', 7, 0}, []byte("{}")),
			wantErr: true,
		},
		{
			name:    "fixed value runs past the headers (a long)",
			in:      rawMsg([]byte{1, 'a', 5, 0, 0, 0, 0}, []byte("{}")),
			wantErr: true,
		},
		{
			name: "every fixed type steps by its length",
			in:   fixedTypes,
			want: []msg{{ContentType: "ok", Payload: "p", Size: int64(len(fixedTypes))}},
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

// TestReaderSteadyStateAllocs guards that reading messages allocates
// nothing once the reader has seen their header values, whether a message
// is whole in one write or cut across several. (Not parallel: AllocsPerRun
// counts the whole process.)
func TestReaderSteadyStateAllocs(t *testing.T) {
	var parts [][]byte
	for i := range 200 {
		parts = append(parts, chunk(fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word%d"}}`, i)),
			event([]string{"messageStart", "contentBlockDelta", "metadata"}[i%3], `{"a":1}`))
	}
	in := cat(parts...)
	n := 0
	r := NewReader(func(*Message) { n++ }, Options{})
	r.Write(in)
	for _, size := range []int{len(in), 4096, 100, 1} {
		pieces := splitEvery(in, size)
		if a := testing.AllocsPerRun(3, func() {
			for _, p := range pieces {
				r.Write(p)
			}
		}); a != 0 {
			t.Errorf("%d-byte writes: %v allocations per stream of %d messages", size, a, len(parts))
		}
	}
	if r.Err() != nil || n != len(parts)*(1+4*4) {
		t.Fatalf("%d messages, %v", n, r.Err())
	}
}

// TestReaderInternBounded guards that header values are interned within
// their bound, and that values past it (too many, too long) still read
// right.
func TestReaderInternBounded(t *testing.T) {
	t.Parallel()
	var in []byte
	var want []msg
	for i := range 3 * maxInterned {
		typ := fmt.Sprintf("type%d", i)
		if i%5 == 0 {
			typ = strings.Repeat("t", maxInternLen+i)
		}
		in = append(in, event(typ, "{}")...)
		want = append(want, wantEvent(typ, "{}"))
	}
	got, r := run(Options{}, [][]byte{cat(in, in)})
	if r.Err() != nil || !reflect.DeepEqual(got, append(want, want...)) {
		t.Fatalf("%v\n got %+v\nwant %+v", r.Err(), got, want)
	}
	if len(r.strs) > maxInterned {
		t.Errorf("%d strings interned", len(r.strs))
	}
	for _, s := range r.strs {
		if len(s) > maxInternLen {
			t.Errorf("interned a %d-byte string", len(s))
		}
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
		agreesWithSDK(t, in, whole)
		// The same bytes with their CRCs made right, so that what is behind
		// them (lengths, headers) is read and compared too.
		fixed := fixCRCs(in)
		fw, fr := run(opts, [][]byte{fixed})
		fb, fbr := run(opts, splitEvery(fixed, 1))
		fs, fsr := run(opts, splitRandom(fixed, rand.New(rand.NewPCG(seed, 2))))
		if !reflect.DeepEqual(fb, fw) || !reflect.DeepEqual(fs, fw) ||
			fmt.Sprint(fbr.Err()) != fmt.Sprint(fr.Err()) || fmt.Sprint(fsr.Err()) != fmt.Sprint(fr.Err()) {
			t.Fatalf("CRCs fixed: 1-byte %v %v\nrandom %v %v\nwhole %v %v", fb, fbr.Err(), fs, fsr.Err(), fw, fr.Err())
		}
		agreesWithSDK(t, fixed, fw)
	})
}

// fixCRCs returns in with the prelude and message CRCs of the messages its
// lengths frame made right.
func fixCRCs(in []byte) []byte {
	b := bytes.Clone(in)
	for i := 0; i+preludeLen <= len(b); {
		binary.BigEndian.PutUint32(b[i+8:], crc32.ChecksumIEEE(b[i:i+8]))
		total := int(binary.BigEndian.Uint32(b[i:]))
		if total < minLen || total > len(b)-i {
			break
		}
		binary.BigEndian.PutUint32(b[i+total-4:], crc32.ChecksumIEEE(b[i:i+total-4]))
		i += total
	}
	return b
}

// sdkDecode decodes in with the AWS SDK's decoder, message by message,
// until the end or its first error.
func sdkDecode(in []byte) []msg {
	var out []msg
	dec := awsstream.NewDecoder()
	for r := bytes.NewReader(in); r.Len() > 0; {
		before := r.Len()
		m, err := dec.Decode(r, nil)
		if err != nil {
			break
		}
		s := func(name string) string {
			if v, ok := m.Headers.Get(name).(awsstream.StringValue); ok {
				return string(v)
			}
			return ""
		}
		out = append(out, msg{MessageType: s(":message-type"), EventType: s(":event-type"), ExceptionType: s(":exception-type"),
			ContentType: s(":content-type"), ErrorCode: s(":error-code"), ErrorMessage: s(":error-message"),
			Payload: string(m.Payload), Size: int64(before - r.Len())})
	}
	return out
}

// agreesWithSDK fails if the reader accepted a message (got, read from in)
// that the SDK's decoder refuses or reads differently. The reader may
// refuse more: it holds lengths and headers to the format exactly, where
// the SDK's decoder lets some malformed ones by (a total length below 16,
// a header block ending in a name's length byte).
func agreesWithSDK(t *testing.T, in []byte, got []msg) {
	t.Helper()
	sdk := sdkDecode(in)
	for i, m := range got {
		if i >= len(sdk) {
			t.Fatalf("message %d %+v: the SDK's decoder refuses it", i, m)
		}
		if m.Oversize {
			if m.Size != sdk[i].Size {
				t.Fatalf("oversize message %d of %d bytes, the SDK's %d", i, m.Size, sdk[i].Size)
			}
			continue
		}
		if m != sdk[i] {
			t.Fatalf("message %d:\n got %+v\n SDK %+v", i, m, sdk[i])
		}
	}
}

// FuzzReaderEncoded builds messages with the SDK's encoder from a script
// (headers of every value type, names the reader reads and others, given
// twice or not, payloads of any size): the reader must read each exactly
// as the SDK's decoder does, whole, byte by byte and cut at random, and
// never fail.
func FuzzReaderEncoded(f *testing.F) {
	f.Add([]byte("\x03\x00\x07abc\x01\x07chunk\x02\x07event\x05{}"), uint64(1))
	f.Add([]byte("\x0a\x00\x00\x01\x01\x02\x02\x03\x03\x04\x04\x05\x05\x06\x06\x07\x07\x08\x08\x09\x09\x10payload"), uint64(2))
	f.Add([]byte("\x02\x03\x07exc\x00\x07event\x00\x02\x04\x07x\x05\x07y"), uint64(3))
	names := []string{":message-type", ":event-type", ":exception-type", ":content-type", ":error-code", ":error-message", "", "x-other"}
	f.Fuzz(func(t *testing.T, script []byte, seed uint64) {
		next := func() byte {
			if len(script) == 0 {
				return 0
			}
			c := script[0]
			script = script[1:]
			return c
		}
		take := func(n int) []byte {
			n = min(n, len(script))
			b := script[:n]
			script = script[n:]
			return b
		}
		var in []byte
		for len(script) > 0 && len(in) < 1<<14 {
			var hs awsstream.Headers
			for range int(next() % 12) {
				name := names[int(next())%len(names)]
				var v awsstream.Value
				switch next() % 10 {
				case 0:
					v = awsstream.BoolValue(true)
				case 1:
					v = awsstream.BoolValue(false)
				case 2:
					v = awsstream.Int8Value(int8(next()))
				case 3:
					v = awsstream.Int16Value(int16(next()) << 7)
				case 4:
					v = awsstream.Int32Value(int32(next()) << 20)
				case 5:
					v = awsstream.Int64Value(int64(next()) << 50)
				case 6:
					v = awsstream.BytesValue(bytes.Clone(take(int(next()))))
				case 7:
					v = awsstream.StringValue(take(int(next())))
				case 8:
					v = awsstream.TimestampValue(time.UnixMilli(int64(next()) << 30))
				case 9:
					var u awsstream.UUIDValue
					copy(u[:], take(16))
					v = u
				}
				// Appended, not Set: a name may come twice on the wire.
				hs = append(hs, awsstream.Header{Name: name, Value: v})
			}
			n := int(next())
			if n > 200 {
				n = (n - 200) * 200 // some payloads of several KB
			}
			pattern := take(1 + int(next()%16))
			if len(pattern) == 0 {
				pattern = []byte("p")
			}
			payload := bytes.Repeat(pattern, n/len(pattern)+1)[:n]
			in = append(in, encode(hs, payload)...)
		}
		want := sdkDecode(in)
		for how, pieces := range map[string][][]byte{
			"whole":  {in},
			"1-byte": splitEvery(in, 1),
			"random": splitRandom(in, rand.New(rand.NewPCG(seed, 5))),
		} {
			got, r := run(Options{}, pieces)
			if r.Err() != nil || r.Pending() != 0 || !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("%s: %v, pending %d\n got %+v\nwant %+v", how, r.Err(), r.Pending(), got, want)
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
