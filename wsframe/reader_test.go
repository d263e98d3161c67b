package wsframe

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var (
	deflateBoth      = Deflate{Enabled: true}
	deflateNoContext = Deflate{Enabled: true, ServerNoContextTakeover: true, ClientNoContextTakeover: true}
)

type readerCase struct {
	name    string
	dir     Direction
	opts    Options
	in      []byte
	want    []msg
	wantErr error // a sentinel the error wraps; nil for none
}

func readerCases() []readerCase {
	long := prose(70000)
	mid := prose(300)
	return []readerCase{
		{
			name: "server text",
			dir:  FromServer,
			in:   newWire(FromServer, false).text(`{"type":"response.created"}`).b,
			want: []msg{{Op: OpText, Data: `{"type":"response.created"}`, Size: 27}},
		},
		{
			name: "client text, masked",
			dir:  FromClient,
			in:   newWire(FromClient, false).text(`{"type":"response.create"}`).text("second").b,
			want: []msg{{Op: OpText, Data: `{"type":"response.create"}`, Size: 26}, {Op: OpText, Data: "second", Size: 6}},
		},
		{
			name: "binary, 16- and 64-bit lengths",
			dir:  FromServer,
			in:   newWire(FromServer, false).frame(true, 0, OpBinary, []byte(mid)).frame(true, 0, OpText, []byte(long)).b,
			want: []msg{{Op: OpBinary, Data: mid, Size: 300}, {Op: OpText, Data: long, Size: 70000}},
		},
		{
			name: "client 64-bit length",
			dir:  FromClient,
			in:   newWire(FromClient, false).frame(true, 0, OpText, []byte(long)).b,
			want: []msg{{Op: OpText, Data: long, Size: 70000}},
		},
		{
			name: "empty messages and fragments",
			dir:  FromClient,
			in: newWire(FromClient, false).text("").frame(false, 0, OpText, nil).frame(false, 0, OpContinuation, nil).
				frame(true, 0, OpContinuation, []byte("x")).b,
			want: []msg{{Op: OpText}, {Op: OpText, Data: "x", Size: 1}},
		},
		{
			name: "fragments with control frames between them",
			dir:  FromServer,
			in: newWire(FromServer, false).frame(false, 0, OpText, []byte("hel")).frame(true, 0, OpPing, []byte("p1")).
				frame(false, 0, OpContinuation, []byte("lo ")).frame(true, 0, OpPong, nil).
				frame(true, 0, OpContinuation, []byte("world")).text("next").b,
			want: []msg{{Op: OpPing, Data: "p1", Size: 2}, {Op: OpPong}, {Op: OpText, Data: "hello world", Size: 11}, {Op: OpText, Data: "next", Size: 4}},
		},
		{
			name: "masked fragments with a masked ping",
			dir:  FromClient,
			in: newWire(FromClient, false).frame(false, 0, OpBinary, []byte(mid[:150])).frame(true, 0, OpPing, []byte("are you there")).
				frame(true, 0, OpContinuation, []byte(mid[150:])).b,
			want: []msg{{Op: OpPing, Data: "are you there", Size: 13}, {Op: OpBinary, Data: mid, Size: 300}},
		},
		{
			name: "close with code and reason",
			dir:  FromServer,
			in:   newWire(FromServer, false).text("a").frame(true, 0, OpClose, append([]byte{0x03, 0xF3}, "Internal error encountered."...)).b,
			want: []msg{{Op: OpText, Data: "a", Size: 1}, {Op: OpClose, Data: "\x03\xf3Internal error encountered.", Size: 29, Code: 1011, Reason: "Internal error encountered."}},
		},
		{
			name: "empty close is 1005",
			dir:  FromClient,
			in:   newWire(FromClient, false).frame(true, 0, OpClose, nil).b,
			want: []msg{{Op: OpClose, Code: 1005}},
		},
		{
			name: "compressed, context takeover",
			dir:  FromServer,
			opts: Options{Deflate: deflateBoth},
			in:   newWire(FromServer, true).ztext(mid, 0, false).ztext(mid, 0, false).ztext(long, 0, false).ztext("", 0, false).b,
			want: []msg{{Op: OpText, Data: mid, Size: 300, Compressed: true}, {Op: OpText, Data: mid, Size: 300, Compressed: true},
				{Op: OpText, Data: long, Size: 70000, Compressed: true}, {Op: OpText, Compressed: true}},
		},
		{
			name: "compressed, no context takeover",
			dir:  FromServer,
			opts: Options{Deflate: deflateNoContext},
			in:   newWire(FromServer, false).ztext(mid, 0, false).ztext(mid, 0, false).b,
			want: []msg{{Op: OpText, Data: mid, Size: 300, Compressed: true}, {Op: OpText, Data: mid, Size: 300, Compressed: true}},
		},
		{
			name: "compressed and plain messages mixed",
			dir:  FromServer,
			opts: Options{Deflate: deflateBoth},
			in:   newWire(FromServer, true).ztext(mid, 0, false).text("plain").ztext(mid, 0, false).b,
			want: []msg{{Op: OpText, Data: mid, Size: 300, Compressed: true}, {Op: OpText, Data: "plain", Size: 5},
				{Op: OpText, Data: mid, Size: 300, Compressed: true}},
		},
		fragmentedWithPings(mid, long),
		{
			name: "client takeover only on the server's side",
			dir:  FromClient,
			opts: Options{Deflate: Deflate{Enabled: true, ClientNoContextTakeover: true}},
			in:   newWire(FromClient, false).ztext(mid, 0, false).ztext(mid, 0, false).b,
			want: []msg{{Op: OpText, Data: mid, Size: 300, Compressed: true}, {Op: OpText, Data: mid, Size: 300, Compressed: true}},
		},
		{
			name: "oversize keeps head and tail",
			dir:  FromServer,
			opts: Options{MaxMessageSize: 1000, HeadSize: 10, TailSize: 20},
			in:   newWire(FromServer, false).frame(false, 0, OpText, []byte(long[:600])).frame(true, 0, OpContinuation, []byte(long[600:5000])).text("ok").b,
			want: []msg{{Op: OpText, Head: long[:10], Data: long[5000-20 : 5000], Size: 5000, Oversize: true}, {Op: OpText, Data: "ok", Size: 2}},
		},
		{
			name: "oversize compressed",
			dir:  FromServer,
			opts: Options{Deflate: deflateBoth, MaxMessageSize: 1000, HeadSize: 10, TailSize: 20},
			in:   newWire(FromServer, true).ztext(long, 0, false).ztext(mid[:100], 0, false).b,
			want: []msg{{Op: OpText, Head: long[:10], Data: long[70000-20:], Size: 70000, Compressed: true, Oversize: true},
				{Op: OpText, Data: mid[:100], Size: 100, Compressed: true}},
		},
		{
			name:    "client frame not masked",
			dir:     FromClient,
			in:      newWire(FromServer, false).text("a").b,
			wantErr: ErrProtocol,
		},
		{
			name:    "server frame masked",
			dir:     FromServer,
			in:      newWire(FromServer, false).text("ok").append(newWire(FromClient, false).text("a").b).b,
			want:    []msg{{Op: OpText, Data: "ok", Size: 2}},
			wantErr: ErrProtocol,
		},
		{
			name:    "rsv1 without deflate",
			dir:     FromServer,
			in:      newWire(FromServer, false).frame(true, 4, OpText, []byte("x")).b,
			wantErr: ErrProtocol,
		},
		{
			name:    "rsv1 on a continuation",
			dir:     FromServer,
			opts:    Options{Deflate: deflateBoth},
			in:      newWire(FromServer, false).frame(false, 0, OpText, []byte("x")).frame(true, 4, OpContinuation, []byte("y")).b,
			wantErr: ErrProtocol,
		},
		{
			name:    "rsv1 on a control frame",
			dir:     FromServer,
			opts:    Options{Deflate: deflateBoth},
			in:      newWire(FromServer, false).frame(true, 4, OpPing, nil).b,
			wantErr: ErrProtocol,
		},
		{
			name:    "rsv2",
			dir:     FromServer,
			opts:    Options{Deflate: deflateBoth},
			in:      newWire(FromServer, false).frame(true, 2, OpText, []byte("x")).b,
			wantErr: ErrProtocol,
		},
		{
			name:    "reserved opcode",
			dir:     FromServer,
			in:      newWire(FromServer, false).text("ok").frame(true, 0, Opcode(3), nil).b,
			want:    []msg{{Op: OpText, Data: "ok", Size: 2}},
			wantErr: ErrProtocol,
		},
		{
			name:    "control frame too long",
			dir:     FromServer,
			in:      newWire(FromServer, false).frame(true, 0, OpPing, bytes.Repeat([]byte("x"), 126)).b,
			wantErr: ErrProtocol,
		},
		{
			name:    "fragmented control frame",
			dir:     FromServer,
			in:      newWire(FromServer, false).frame(false, 0, OpPing, nil).b,
			wantErr: ErrProtocol,
		},
		{
			name:    "continuation without a message",
			dir:     FromServer,
			in:      newWire(FromServer, false).frame(true, 0, OpContinuation, []byte("x")).b,
			wantErr: ErrProtocol,
		},
		{
			name:    "new message inside a fragmented one",
			dir:     FromServer,
			in:      newWire(FromServer, false).frame(false, 0, OpText, []byte("x")).text("y").b,
			wantErr: ErrProtocol,
		},
		{
			name:    "64-bit length with the top bit set",
			dir:     FromServer,
			in:      []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1},
			wantErr: ErrProtocol,
		},
		{
			name:    "close with a 1-byte payload",
			dir:     FromServer,
			in:      newWire(FromServer, false).frame(true, 0, OpClose, []byte{3}).b,
			wantErr: ErrProtocol,
		},
		{
			name:    "bytes after close",
			dir:     FromServer,
			in:      newWire(FromServer, false).frame(true, 0, OpClose, []byte{3, 0xE8}).text("late").b,
			want:    []msg{{Op: OpClose, Data: "\x03\xe8", Size: 2, Code: 1000}},
			wantErr: ErrProtocol,
		},
		{
			name:    "corrupt compressed message",
			dir:     FromServer,
			opts:    Options{Deflate: deflateBoth},
			in:      newWire(FromServer, false).ztext(mid, 0, false).frame(true, 4, OpText, []byte{0xff, 0xff, 0xff, 0xff}).text("never").b,
			want:    []msg{{Op: OpText, Data: mid, Size: 300, Compressed: true}},
			wantErr: ErrCompression,
		},
		{
			name:    "decompression bomb past the inflate limit",
			dir:     FromServer,
			opts:    Options{Deflate: deflateBoth, MaxMessageSize: 4096, MaxInflatedSize: 1 << 20},
			in:      newWire(FromServer, false).ztext(strings.Repeat("a", 2<<20), 0, false).text("never").b,
			wantErr: ErrCompression,
		},
	}
}

func (w *wire) append(b []byte) *wire { w.b = append(w.b, b...); return w }

func repeat(m msg, n int) []msg {
	out := make([]msg, n)
	for i := range out {
		out[i] = m
	}
	return out
}

// fragmentedWithPings is a client stream of two compressed messages (with
// context takeover) cut into frames with a ping between every two.
func fragmentedWithPings(a, b string) readerCase {
	w := newWire(FromClient, true)
	var want []msg
	for _, s := range []string{a, b} {
		before := w.pings
		w.ztext(s, 20, true)
		want = append(want, repeat(msg{Op: OpPing, Data: "p", Size: 1}, w.pings-before)...)
		want = append(want, msg{Op: OpText, Data: s, Size: int64(len(s)), Compressed: true})
	}
	if len(want) < 10 {
		panic("too few fragments")
	}
	return readerCase{name: "compressed client, takeover, fragmented with pings", dir: FromClient,
		opts: Options{Deflate: deflateBoth}, in: w.b, want: want}
}

// TestReader feeds every case whole and cut every way, with compressed
// messages inflated at their end and through the coroutine, and checks the
// messages and the error.
func TestReader(t *testing.T) {
	t.Parallel()
	for _, tc := range readerCases() {
		for how, pieces := range splits(tc.in) {
			for _, stream := range []bool{false, true} {
				name := tc.name + "/" + how
				var tweaks []func(*Reader)
				if stream {
					name += "/streamed"
					tweaks = append(tweaks, streamAll)
				}
				t.Run(name, func(t *testing.T) {
					got, _, err := run(tc.dir, tc.opts, pieces, tweaks...)
					if !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
						t.Errorf("messages:\n got %v\nwant %v", got, tc.want)
					}
					switch {
					case tc.wantErr == nil && err != nil:
						t.Errorf("unexpected error: %v", err)
					case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
						t.Errorf("error %v, want one wrapping %v", err, tc.wantErr)
					}
				})
			}
		}
	}
}

// TestReaderSplitAtEveryByte cuts a stream of many kinds of frames in two
// at every byte and checks that the messages never change.
func TestReaderSplitAtEveryByte(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		dir  Direction
		opts Options
		in   []byte
	}{
		{"server plain", FromServer, Options{},
			newWire(FromServer, false).text("a").frame(false, 0, OpText, []byte(prose(200))).frame(true, 0, OpPing, []byte("x")).
				frame(true, 0, OpContinuation, []byte(prose(130))).frame(true, 0, OpBinary, []byte(prose(40))).frame(true, 0, OpClose, []byte{3, 0xE8}).b},
		{"client compressed with takeover", FromClient, Options{Deflate: deflateBoth},
			newWire(FromClient, true).ztext(prose(400), 0, false).ztext(prose(400), 50, true).text("plain").ztext(prose(150), 0, false).b},
		{"server compressed, small caps", FromServer, Options{Deflate: deflateNoContext, MaxMessageSize: 100, HeadSize: 8, TailSize: 16},
			newWire(FromServer, false).ztext(prose(500), 60, true).ztext("tiny", 0, false).frame(true, 0, OpText, []byte(prose(300))).b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _, werr := run(tc.dir, tc.opts, [][]byte{tc.in})
			if werr != nil || len(want) < 3 {
				t.Fatalf("whole stream: %d messages, %v", len(want), werr)
			}
			for i := range tc.in {
				for _, tweak := range []func(*Reader){func(*Reader) {}, streamAll} {
					got, _, err := run(tc.dir, tc.opts, [][]byte{tc.in[:i], tc.in[i:]}, tweak)
					if !reflect.DeepEqual(got, want) || err != nil {
						t.Fatalf("cut at %d: %v, %v\nwant %v", i, got, err, want)
					}
				}
			}
		})
	}
}

// TestReaderBoundary guards AtBoundary: true exactly between frames.
func TestReaderBoundary(t *testing.T) {
	t.Parallel()
	w := newWire(FromServer, false).text("ab")
	first := len(w.b)
	in := w.frame(false, 0, OpText, []byte("cd")).frame(true, 0, OpContinuation, []byte("e")).b
	second := first + 4
	r := NewReader(FromServer, nil, Options{})
	if !r.AtBoundary() {
		t.Fatal("not at a boundary before any byte")
	}
	for i := range in {
		r.Write(in[i : i+1])
		want := i+1 == first || i+1 == second || i+1 == len(in)
		if r.AtBoundary() != want {
			t.Errorf("after %d bytes: AtBoundary %v, want %v", i+1, r.AtBoundary(), want)
		}
	}
}

// TestReaderDoesNotRetain guards that Write never keeps the caller's slice.
func TestReaderDoesNotRetain(t *testing.T) {
	t.Parallel()
	var got []msg
	r := NewReader(FromServer, func(m *Message) { got = append(got, copyMsg(m)) }, Options{})
	in := newWire(FromServer, false).text("hello").b
	buf := bytes.Clone(in[:4])
	r.Write(buf)
	for i := range buf {
		buf[i] = '!'
	}
	r.Write(in[4:])
	if want := []msg{{Op: OpText, Data: "hello", Size: 5}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestReaderErrorIsSticky guards that nothing is read after an error,
// even valid frames.
func TestReaderErrorIsSticky(t *testing.T) {
	t.Parallel()
	n := 0
	r := NewReader(FromClient, func(*Message) { n++ }, Options{})
	r.Write(newWire(FromServer, false).text("unmasked").b)
	first := r.Err()
	r.Write(newWire(FromClient, false).text("fine").b)
	if first == nil || r.Err() != first || n != 0 {
		t.Errorf("err %v then %v, %d messages", first, r.Err(), n)
	}
	if !strings.Contains(first.Error(), "at byte 0") {
		t.Errorf("error does not say where: %v", first)
	}
}

// TestReaderNilCallback guards that a nil callback is allowed.
func TestReaderNilCallback(t *testing.T) {
	t.Parallel()
	r := NewReader(FromServer, nil, Options{Deflate: deflateBoth})
	r.Write(newWire(FromServer, true).ztext(prose(100), 0, false).frame(true, 0, OpPing, nil).b)
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
}
