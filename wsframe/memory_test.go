package wsframe

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"testing"
)

// boundFor is the most a reader may retain with opts: the message cap, the
// head, a sliding tail of twice its size, the unmasking buffer and, with
// deflate, the inflater (pending bytes, window, output piece, state).
func boundFor(opts Options) int {
	r := NewReader(FromServer, nil, opts)
	n := r.maxMsg + r.headSize + 2*r.tailSize + scratchSize
	if opts.Deflate.Enabled {
		n += pendingMax + 2*windowSize + outSize + flateStateSize
	}
	return n
}

// TestReader100MBFrame streams one 100 MB masked frame through a reader
// in 64 KiB writes and checks that what it holds never passes its bound,
// and that the head, the tail and the size it reports are exact.
func TestReader100MBFrame(t *testing.T) {
	t.Parallel()
	const size = 100 << 20
	opts := Options{}
	bound := boundFor(opts)
	var got []msg
	r := NewReader(FromClient, func(m *Message) { got = append(got, copyMsg(m)) }, opts)
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	hdr := []byte{0x82, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, size)
	r.Write(append(hdr, key[:]...))
	chunk := make([]byte, 64<<10)
	var head, tail []byte
	for off := 0; off < size; off += len(chunk) {
		for i := range chunk {
			plain := byte((off + i) % 251)
			if off+i < DefaultHeadSize {
				head = append(head, plain)
			}
			if off+i >= size-DefaultTailSize {
				tail = append(tail, plain)
			}
			chunk[i] = plain ^ key[(off+i)%4]
		}
		r.Write(chunk)
		if n := r.Retained(); n > bound {
			t.Fatalf("after %d MB the reader retains %d bytes, bound %d", off>>20, n, bound)
		}
	}
	if r.Err() != nil || len(got) != 1 {
		t.Fatalf("%d messages, %v", len(got), r.Err())
	}
	m := got[0]
	if !m.Oversize || m.Size != size || m.Head != string(head) || m.Data != string(tail) || m.Op != OpBinary {
		t.Errorf("message %v", m)
	}
	if n := r.Retained(); n > retainLimit+3*DefaultTailSize+scratchSize {
		t.Errorf("after the message the reader still retains %d bytes", n)
	}
}

// TestReader100MBCompressedMessage streams a 100 MB message compressed with
// context takeover (in stored blocks: the test is about memory, and they
// inflate at copying speed), in 64 KiB fragments, and checks the bound,
// the tail and that the next message, which refers to the window, still
// inflates.
func TestReader100MBCompressedMessage(t *testing.T) {
	t.Parallel()
	const size = 100 << 20
	opts := Options{Deflate: deflateBoth}
	bound := boundFor(opts)
	var got []msg
	r := NewReader(FromServer, func(m *Message) { got = append(got, copyMsg(m)) }, opts)
	var zbuf bytes.Buffer
	zw, _ := flate.NewWriter(&zbuf, flate.NoCompression)
	text := []byte(prose(1 << 20))
	first := true
	send := func(fin bool) {
		p := zbuf.Bytes()
		if fin {
			p = bytes.TrimSuffix(p, []byte("\x00\x00\xff\xff"))
		}
		op, rsv := OpContinuation, byte(0)
		if first {
			op, rsv, first = OpText, 4, false
		}
		r.Write(newWire(FromServer, false).frame(fin, rsv, op, p).b)
		zbuf.Reset()
		if n := r.Retained(); n > bound {
			t.Fatalf("the reader retains %d bytes, bound %d", n, bound)
		}
	}
	for sent := 0; sent < size; sent += len(text) {
		zw.Write(text)
		for zbuf.Len() > 64<<10 {
			send(false)
		}
	}
	zw.Flush()
	send(true)
	next := []byte(prose(5000))
	zw, _ = flate.NewWriter(&zbuf, flate.BestSpeed)
	zw.Write(text[len(text)-windowSize:]) // prime the window the reader keeps
	zw.Flush()
	zbuf.Reset()
	zw.Write(next)
	zw.Flush()
	first = true
	send(true)
	if r.Err() != nil || len(got) != 2 {
		t.Fatalf("%d messages, %v", len(got), r.Err())
	}
	if m := got[0]; !m.Oversize || m.Size != size || m.Head != string(text[:DefaultHeadSize]) ||
		m.Data != string(text[len(text)-DefaultTailSize:]) || !m.Compressed {
		t.Errorf("big message %v", m)
	}
	if m := got[1]; m.Data != string(next) {
		t.Errorf("next message %v", m)
	}
}

// TestReaderStreamsLargeCompressedMessage guards that a compressed message
// is never held whole: 4 MB of incompressible data, in 4 KiB writes, keeps
// the pending buffer within pendingMax while the message is open.
func TestReaderStreamsLargeCompressedMessage(t *testing.T) {
	t.Parallel()
	data := noise(4<<20, 1)
	in := newWire(FromClient, false).ztext(string(data), 0, false).b
	var got []msg
	r := NewReader(FromClient, func(m *Message) { got = append(got, copyMsg(m)) }, Options{Deflate: deflateNoContext})
	streamed := false
	for _, p := range splitEvery(in, 4096) {
		r.Write(p)
		if cap(r.z.pending) > pendingMax+4096 {
			t.Fatalf("pending compressed bytes grew to %d", cap(r.z.pending))
		}
		streamed = streamed || r.z.next != nil
	}
	if !streamed {
		t.Error("the message never streamed through the coroutine")
	}
	if r.Err() != nil || len(got) != 1 || got[0].Size != int64(len(data)) || got[0].Data != string(data) {
		t.Fatalf("%v, %v", got, r.Err())
	}
	if r.z.next != nil {
		t.Error("the coroutine outlived its message")
	}
}

// TestReaderCloseStopsCoroutine guards that Close ends a coroutine left
// running by a message cut short, and that the reader then ignores bytes.
func TestReaderCloseStopsCoroutine(t *testing.T) {
	t.Parallel()
	in := newWire(FromServer, false).ztext(string(noise(200<<10, 2)), 0, false).b
	n := 0
	r := NewReader(FromServer, func(*Message) { n++ }, Options{Deflate: deflateBoth})
	r.Write(in[:len(in)/2])
	if r.z.next == nil {
		t.Fatal("no coroutine mid-message")
	}
	r.Close()
	if r.z.next != nil || r.z.stop != nil {
		t.Error("Close left the coroutine")
	}
	r.Write(in[len(in)/2:])
	if n != 0 || r.Err() != nil {
		t.Errorf("after Close: %d messages, %v", n, r.Err())
	}
}

// TestReaderBombBounded guards that a message inflating far past the
// message cap (16 MiB of zeros, 16 times the cap, under the inflate limit)
// keeps the reader within its bound.
func TestReaderBombBounded(t *testing.T) {
	t.Parallel()
	opts := Options{Deflate: deflateNoContext, MaxMessageSize: 1 << 20}
	bound := boundFor(opts)
	in := newWire(FromServer, false).ztext(string(make([]byte, 16<<20)), 0, false).b
	var got []msg
	r := NewReader(FromServer, func(m *Message) { got = append(got, copyMsg(m)) }, opts)
	for _, p := range splitEvery(in, 1024) {
		r.Write(p)
		if n := r.Retained(); n > bound {
			t.Fatalf("retains %d bytes, bound %d", n, bound)
		}
	}
	if r.Err() != nil || len(got) != 1 || got[0].Size != 16<<20 || !got[0].Oversize {
		t.Fatalf("%v, %v", got, r.Err())
	}
}
