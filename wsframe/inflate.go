package wsframe

import (
	"compress/flate"
	"errors"
	"io"
	"iter"
)

// deflateTail is what a sender strips from the end of each compressed
// message (an empty stored block, RFC 7692 §7.2.1) followed by an empty
// final stored block: with it appended, the decompressor ends the message
// cleanly with io.EOF instead of waiting for a next block.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// windowSize is the LZ77 window of DEFLATE (2^15 bytes): every window size
// a peer may negotiate (server_max_window_bits, client_max_window_bits, 8
// to 15) fits in it, so the inflater never needs to know which one.
const windowSize = 1 << 15

// pendingMax is how many compressed bytes of one message are gathered
// before inflating starts: a message that ends within it (the usual case)
// is inflated at its end, without a coroutine.
const pendingMax = 64 << 10

// outSize is the piece size in which inflated bytes are handed on.
const outSize = 32 << 10

// flateStateSize estimates the memory of compress/flate's decompressor
// (its window and Huffman tables), for Reader.Retained.
const flateStateSize = 40 << 10

// errStopped unwinds the decompressor when its coroutine is stopped.
var errStopped = errors.New("wsframe: inflater stopped")

// inflater decompresses the permessage-deflate messages of one direction.
//
// compress/flate reads from an io.Reader, but the compressed bytes are
// pushed in pieces by Write. A message gathered whole (pendingMax) is
// inflated at once from memory. A longer one runs the decompressor as a
// coroutine (iter.Pull): its source yields when it runs out of bytes, and
// each further piece resumes it; inflated bytes are yielded back, so all of
// them are handled on the writer's goroutine. The coroutine ends with its
// message; the window that context takeover needs is kept apart (window)
// and given to the next message as its dictionary.
type inflater struct {
	takeover bool
	// pendingMax is pendingMax (tests lower it to stream small messages).
	pendingMax int
	fr         io.ReadCloser // compress/flate's decompressor, reset per message
	window     []byte        // the last windowSize bytes inflated (takeover only)
	src        source
	pending    []byte // compressed bytes of the open message, not yet inflated
	out        []byte

	// the coroutine, while a message streams through it
	next func() ([]byte, bool)
	stop func()
	err  error // how the coroutine's decompression ended
	done bool  // the coroutine ended before the message did
}

func newInflater(takeover bool) *inflater {
	return &inflater{takeover: takeover, pendingMax: pendingMax}
}

// source feeds the decompressor: the compressed bytes of one message, then
// deflateTail once the message is whole, then io.EOF.
type source struct {
	cur   []byte
	final bool
	tailN int
	// yield, in the coroutine, gives control back to the writer until more
	// bytes arrive; false means the coroutine is being stopped.
	yield func() bool
}

func (s *source) ReadByte() (byte, error) {
	if err := s.fill(); err != nil {
		return 0, err
	}
	if len(s.cur) == 0 {
		b := deflateTail[s.tailN]
		s.tailN++
		return b, nil
	}
	b := s.cur[0]
	s.cur = s.cur[1:]
	return b, nil
}

func (s *source) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.fill(); err != nil {
		return 0, err
	}
	if len(s.cur) == 0 {
		n := copy(p, deflateTail[s.tailN:])
		s.tailN += n
		return n, nil
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// fill waits (in the coroutine) until a byte can be served: from cur, or
// from the tail once the message is final. It returns io.EOF past the tail.
func (s *source) fill() error {
	for len(s.cur) == 0 {
		if s.final {
			if s.tailN < len(deflateTail) {
				return nil
			}
			return io.EOF
		}
		if s.yield == nil || !s.yield() {
			return errStopped
		}
	}
	return nil
}

// reset prepares the source for a new message.
func (s *source) reset() { *s = source{} }

// write takes the next compressed bytes of the open message; emit receives
// inflated bytes (valid during the call).
func (z *inflater) write(p []byte, emit func([]byte)) error {
	if z.next == nil {
		if z.done {
			return nil
		}
		if len(z.pending)+len(p) <= z.pendingMax {
			z.pending = appendCapped(z.pending, p, z.pendingMax)
			return nil
		}
		z.start()
		if err := z.feed(z.pending, emit); err != nil {
			return err
		}
		z.pending = z.pending[:0]
	}
	return z.feed(p, emit)
}

// finish ends the open message: everything it inflates to is emitted.
func (z *inflater) finish(emit func([]byte)) error {
	defer func() {
		z.pending, z.done = z.pending[:0], false
	}()
	if z.next == nil {
		if z.done {
			return z.takeErr()
		}
		z.src.reset()
		z.src.cur, z.src.final = z.pending, true
		return z.inflate(func(b []byte) bool { emit(b); return true })
	}
	z.src.final = true
	if err := z.feed(nil, emit); err != nil {
		return err
	}
	return z.takeErr()
}

// takeErr returns (and forgets) how the coroutine ended.
func (z *inflater) takeErr() error {
	err := z.err
	z.err = nil
	return err
}

// start runs the decompressor for the open message in a coroutine.
func (z *inflater) start() {
	z.src.reset()
	z.next, z.stop = iter.Pull(z.run)
}

// run is the coroutine: it inflates one message, yielding nil when it
// needs more bytes and each piece of output as it comes.
func (z *inflater) run(yield func([]byte) bool) {
	z.src.yield = func() bool { return yield(nil) }
	z.err = z.inflate(yield)
	z.src.yield = nil
}

// feed gives the coroutine p and hands on what it inflates, until it needs
// more bytes or ends.
func (z *inflater) feed(p []byte, emit func([]byte)) error {
	z.src.cur = p
	for {
		out, ok := z.next()
		if !ok {
			// The message's compressed data ended (or failed) before the
			// message did: what follows of it is ignored.
			z.next, z.stop, z.done = nil, nil, true
			if z.err != nil {
				return z.takeErr()
			}
			return nil
		}
		if out == nil {
			return nil
		}
		emit(out)
		if z.next == nil {
			// emit stopped the reader (and so the coroutine).
			return nil
		}
	}
}

// inflate decompresses the message the source holds, passing each piece
// of output to emit until emit returns false.
func (z *inflater) inflate(emit func([]byte) bool) error {
	var dict []byte
	if z.takeover {
		dict = lastN(z.window, windowSize)
	}
	if z.fr == nil {
		z.fr = flate.NewReaderDict(&z.src, dict)
	} else if err := z.fr.(flate.Resetter).Reset(&z.src, dict); err != nil {
		return err
	}
	if z.out == nil {
		z.out = make([]byte, outSize)
	}
	for {
		n, err := z.fr.Read(z.out)
		if n > 0 {
			if z.takeover {
				z.window = appendTail(z.window, z.out[:n], windowSize)
			}
			if !emit(z.out[:n]) {
				return errStopped
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// release stops a running coroutine and forgets the open message.
func (z *inflater) release() {
	if z.stop != nil {
		stop := z.stop
		z.next, z.stop = nil, nil
		stop()
	}
	z.pending, z.done, z.err = z.pending[:0], false, nil
}

// retained is the memory the inflater holds.
func (z *inflater) retained() int {
	n := cap(z.window) + cap(z.pending) + cap(z.out)
	if z.fr != nil {
		n += flateStateSize
	}
	return n
}
