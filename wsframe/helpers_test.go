package wsframe

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
)

// msg is a copied Message for comparisons.
type msg struct {
	Op         Opcode
	Data, Head string
	Size       int64
	Compressed bool
	Oversize   bool
	Code       int
	Reason     string
}

func (m msg) String() string {
	d := m.Data
	if len(d) > 40 {
		d = fmt.Sprintf("%s…(%d bytes)…%s", d[:16], len(d), d[len(d)-16:])
	}
	return fmt.Sprintf("{%s %q size=%d z=%v over=%v head=%d code=%d reason=%q}",
		m.Op, d, m.Size, m.Compressed, m.Oversize, len(m.Head), m.Code, m.Reason)
}

func copyMsg(m *Message) msg {
	return msg{Op: m.Opcode, Data: string(m.Data), Head: string(m.Head), Size: m.Size,
		Compressed: m.Compressed, Oversize: m.Oversize, Code: m.CloseCode, Reason: string(m.CloseReason)}
}

// streamAll makes a reader inflate every compressed message through its
// coroutine, however small.
func streamAll(r *Reader) {
	if r.z != nil {
		r.z.pendingMax = 0
	}
}

// run feeds pieces to a fresh reader and returns the messages, the error
// and the reader. tweaks adjust the reader before the first write.
func run(dir Direction, opts Options, pieces [][]byte, tweaks ...func(*Reader)) ([]msg, *Reader, error) {
	var out []msg
	r := NewReader(dir, func(m *Message) { out = append(out, copyMsg(m)) }, opts)
	for _, f := range tweaks {
		f(r)
	}
	for _, p := range pieces {
		orig := bytes.Clone(p)
		if n, err := r.Write(p); n != len(p) || err != nil {
			panic(fmt.Sprintf("Write returned %d, %v for %d bytes", n, err, len(p)))
		}
		if !bytes.Equal(p, orig) {
			panic("Write modified its input")
		}
	}
	r.Close()
	return out, r, r.Err()
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

// splits returns the ways every test stream is fed: whole, in 1- and
// 3-byte pieces and at random points.
func splits(b []byte) map[string][][]byte {
	m := map[string][][]byte{"whole": {b}, "1-byte": splitEvery(b, 1), "3-byte": splitEvery(b, 3)}
	for seed := uint64(1); seed <= 4; seed++ {
		m[fmt.Sprintf("random-%d", seed)] = splitRandom(b, rand.New(rand.NewPCG(seed, 11)))
	}
	return m
}

// wire builds frames the way a peer sends them: masked (with varying keys)
// for a client, and compressed with or without context takeover.
type wire struct {
	dir      Direction
	takeover bool
	zw       *flate.Writer
	zbuf     bytes.Buffer
	masks    uint32
	pings    int // pings ztext added
	b        []byte
}

func newWire(dir Direction, takeover bool) *wire { return &wire{dir: dir, takeover: takeover} }

// frame appends one frame with the given first-byte bits.
func (w *wire) frame(fin bool, rsv byte, op Opcode, payload []byte) *wire {
	b0 := byte(op) | rsv<<4
	if fin {
		b0 |= 0x80
	}
	w.b = append(w.b, b0)
	var maskBit byte
	if w.dir == FromClient {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		w.b = append(w.b, maskBit|byte(n))
	case n <= 0xFFFF:
		w.b = append(w.b, maskBit|126, byte(n>>8), byte(n))
	default:
		w.b = append(w.b, maskBit|127)
		w.b = binary.BigEndian.AppendUint64(w.b, uint64(n))
	}
	if w.dir != FromClient {
		w.b = append(w.b, payload...)
		return w
	}
	w.masks++
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], w.masks*0x9E3779B1)
	w.b = append(w.b, key[:]...)
	for i, c := range payload {
		w.b = append(w.b, c^key[i%4])
	}
	return w
}

// text appends an unfragmented text message.
func (w *wire) text(s string) *wire { return w.frame(true, 0, OpText, []byte(s)) }

// compress deflates one message as permessage-deflate does.
func (w *wire) compress(data []byte) []byte {
	w.zbuf.Reset()
	if w.zw == nil {
		w.zw, _ = flate.NewWriter(&w.zbuf, flate.BestSpeed)
	} else if !w.takeover {
		w.zw.Reset(&w.zbuf)
	}
	w.zw.Write(data)
	w.zw.Flush()
	return bytes.TrimSuffix(bytes.Clone(w.zbuf.Bytes()), []byte("\x00\x00\xff\xff"))
}

// ztext appends a compressed text message cut into frames of at most
// frag compressed bytes (0: one frame), with a ping between fragments
// when ping is set.
func (w *wire) ztext(s string, frag int, ping bool) *wire {
	p := w.compress([]byte(s))
	op, rsv := OpText, byte(4)
	for first := true; first || len(p) > 0; first = false {
		n := len(p)
		if frag > 0 && n > frag {
			n = frag
		}
		if !first && ping {
			w.pings++
			w.frame(true, 0, OpPing, []byte("p"))
		}
		w.frame(n == len(p), rsv, op, p[:n])
		p = p[n:]
		op, rsv = OpContinuation, 0
	}
	return w
}

// text builds a compressible text of about n bytes.
func prose(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"type":"response.output_text.delta","sequence_number":%d,"delta":" word%d"}`, i, i%97)
	}
	return b.String()[:n]
}

// noise is n incompressible bytes.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 5))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
