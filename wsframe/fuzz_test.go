package wsframe

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fuzzOptions picks the reader's options from a selector: direction,
// deflate agreement and small caps (so that oversize paths run).
func fuzzOptions(sel uint8) (Direction, Options) {
	dir := FromServer
	if sel&1 != 0 {
		dir = FromClient
	}
	var opts Options
	switch sel >> 1 % 3 {
	case 1:
		opts.Deflate = deflateBoth
	case 2:
		opts.Deflate = deflateNoContext
	}
	if sel&8 != 0 {
		opts.MaxMessageSize, opts.HeadSize, opts.TailSize, opts.MaxInflatedSize = 64, 8, 16, 1<<16
	}
	return dir, opts
}

// errString is an error's text, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzReader feeds arbitrary bytes: nothing panics, the messages and the
// error are the same whole, cut at random, byte by byte and with every
// compressed message streamed, and the reader never holds more than its
// bound.
func FuzzReader(f *testing.F) {
	for i, c := range readerCases() {
		if len(c.in) < 4096 {
			f.Add(c.in, uint8(i), uint64(i))
		}
	}
	f.Add(newWire(FromClient, true).ztext(prose(300), 40, true).b, uint8(3), uint64(1))
	f.Fuzz(func(t *testing.T, in []byte, sel uint8, seed uint64) {
		dir, opts := fuzzOptions(sel)
		whole, _, werr := run(dir, opts, [][]byte{in})
		bound := boundFor(opts)
		var split []msg
		r := NewReader(dir, func(m *Message) { split = append(split, copyMsg(m)) }, opts)
		for _, p := range splitRandom(in, rand.New(rand.NewPCG(seed, 1))) {
			r.Write(p)
			if n := r.Retained(); n > bound {
				t.Fatalf("retains %d bytes, bound %d", n, bound)
			}
		}
		r.Close()
		if !reflect.DeepEqual(split, whole) || errString(r.Err()) != errString(werr) {
			t.Fatalf("split: %v %v\nwhole: %v %v", split, r.Err(), whole, werr)
		}
		for name, pieces := range map[string][][]byte{"1-byte": splitEvery(in, 1), "streamed": {in}} {
			got, _, err := run(dir, opts, pieces, streamAll)
			if !reflect.DeepEqual(got, whole) || errString(err) != errString(werr) {
				t.Fatalf("%s: %v %v\nwhole: %v %v", name, got, err, whole, werr)
			}
		}
		for _, m := range dataOf(whole) {
			if len(m.Data) > r.maxMsg || len(m.Head) > r.headSize {
				t.Fatalf("message data %d bytes, head %d, past the caps", len(m.Data), len(m.Head))
			}
		}
	})
}

// genStream builds a valid stream from a fuzzer's spec: messages of spec
// bytes, compressed or not, cut into fragments with pings between them,
// and returns the stream and the data messages a reader must deliver.
func genStream(spec []byte, dir Direction, d Deflate) (in []byte, want []string) {
	takeover := !d.ServerNoContextTakeover
	if dir == FromClient {
		takeover = !d.ClientNoContextTakeover
	}
	w := newWire(dir, takeover)
	for len(spec) >= 2 {
		ctl, n := spec[0], int(spec[1])
		spec = spec[2:]
		n = min(n, len(spec))
		payload := string(spec[:n])
		spec = spec[n:]
		if ctl&0x80 != 0 {
			payload += prose(int(ctl&0x7F) * 40) // sometimes long, compressible
		}
		frag := int(ctl>>2&3) * 7 // 0: one frame
		ping := ctl&0x10 != 0
		switch {
		case ctl&3 == 3:
			w.frame(true, 0, OpPing, []byte(payload[:min(len(payload), 125)]))
			continue
		case ctl&1 != 0 && d.Enabled:
			w.ztext(payload, frag, ping)
		default:
			p := []byte(payload)
			op := OpText
			if ctl&2 != 0 {
				op = OpBinary
			}
			for first := true; first || len(p) > 0; first = false {
				k := len(p)
				if frag > 0 && k > frag {
					k = frag
				}
				if !first && ping {
					w.frame(true, 0, OpPing, nil)
				}
				w.frame(k == len(p), 0, op, p[:k])
				p, op = p[k:], OpContinuation
			}
		}
		want = append(want, payload)
	}
	return w.b, want
}

// FuzzReaderStream builds valid streams from the fuzzer's spec and checks
// that the reader delivers exactly the messages sent, however the bytes
// are cut, without an error, and with exact heads, tails and sizes when
// the messages are over a small cap.
func FuzzReaderStream(f *testing.F) {
	f.Add([]byte("\x01\x05hello\x85\x03abc\x1c\x10sixteen bytes..!\x03\x02pp"), uint8(0), uint64(1))
	f.Add([]byte("\x9d\x20the quick brown fox jumps over..\x81\x00"), uint8(3), uint64(2))
	f.Fuzz(func(t *testing.T, spec []byte, sel uint8, seed uint64) {
		dir, opts := fuzzOptions(sel)
		opts.MaxInflatedSize = 0
		in, want := genStream(spec, dir, opts.Deflate)
		for how, pieces := range map[string][][]byte{
			"whole":  {in},
			"random": splitRandom(in, rand.New(rand.NewPCG(seed, 2))),
		} {
			for _, tweak := range []func(*Reader){func(*Reader) {}, streamAll} {
				got, r, err := run(dir, opts, pieces, tweak)
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				data := dataOf(got)
				if len(data) != len(want) {
					t.Fatalf("%s: %d messages, want %d", how, len(data), len(want))
				}
				for i, m := range data {
					if err := sameMessage(m, want[i], r); err != nil {
						t.Fatalf("%s: message %d: %v", how, i, err)
					}
				}
			}
		}
	})
}

func dataOf(ms []msg) []msg {
	var out []msg
	for _, m := range ms {
		if m.Op == OpText || m.Op == OpBinary {
			out = append(out, m)
		}
	}
	return out
}

// sameMessage checks a delivered message against the payload sent, given
// the reader's caps.
func sameMessage(m msg, want string, r *Reader) error {
	if m.Size != int64(len(want)) {
		return fmt.Errorf("size %d, want %d", m.Size, len(want))
	}
	if len(want) <= r.maxMsg {
		if m.Oversize || m.Data != want {
			return fmt.Errorf("got %v, want %q", m, want)
		}
		return nil
	}
	if !m.Oversize || m.Head != want[:r.headSize] || m.Data != want[len(want)-r.tailSize:] {
		return fmt.Errorf("oversize %v, want head %q tail %q", m, want[:r.headSize], want[len(want)-r.tailSize:])
	}
	return nil
}
