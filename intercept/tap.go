package intercept

import (
	"io"
	"net/http"
	"sync"

	"github.com/valohai/conduit/parsers"
	"github.com/valohai/conduit/sse"
)

// copyBufferSize is the size of one upstream read: large enough that a big
// body costs few reads, small enough that 1,000 concurrent streams stay
// within a few tens of MB.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// tap is a response body that meters what passes through it. It is copied
// to the client with WriteTo, never read: each chunk read from upstream is
// written (and flushed) to the client before the meter sees it, so metering
// never delays a byte.
//
// The tap finalizes its call exactly once: at the end of the body, on an
// upstream read error, or on Close. A Close before the end means the client
// went away: the rest of the body is then read in the background, for at most
// Timeouts.Drain, so that the provider's final usage is still recorded.
type tap struct {
	call  *call
	body  io.ReadCloser
	meter meterSink

	// stripUsageEvent drops the usage-only event that Conduit's own
	// stream_options.include_usage caused, so the client sees the stream it
	// asked for.
	stripUsageEvent bool

	mu        sync.Mutex
	firstByte bool
	eof       bool
	readErr   error
	closed    bool
}

// meterSink is where the tap copies the body: a parsers.Meter, possibly
// behind a decoder for a compressed body.
type meterSink interface {
	Write(p []byte) (int, error)
	Finish(eof bool) parsers.Result
}

func newTap(cl *call, body io.ReadCloser, contentEncoding, contentType string) *tap {
	var m meterSink = parsers.NewMeter(cl.endpoint, contentType, cl.request)
	if contentEncoding != "" {
		m = newDecodingSink(contentEncoding, m)
	}
	return &tap{call: cl, body: body, meter: m}
}

// WriteTo copies the body to w, flushing after every write when w can flush,
// and meters each chunk after the client has it.
func (t *tap) WriteTo(w io.Writer) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	out := flushingWriter(w)
	var filter *usageEventFilter
	if t.stripUsageEvent {
		filter = newUsageEventFilter(out)
		out = filter
	}
	var written int64
	for {
		n, rerr := t.body.Read(buf)
		if n > 0 {
			t.markFirstByte()
			if t.call.goneFlag.Load() {
				t.call.wroteAfterGone.Store(true)
			}
			nw, werr := out.Write(buf[:n])
			written += int64(nw)
			if werr != nil {
				t.observe(buf[:n], nil)
				t.call.clientLeft()
				return written, clientWriteError{werr}
			}
		}
		if rerr != nil && filter != nil {
			// The stream ended, or was cut (even inside an event): the
			// client gets the bytes held back for filtering either way, as
			// it would have without Conduit, before it sees the end.
			if werr := filter.Close(); werr != nil {
				t.call.clientLeft()
				t.observe(buf[:n], rerr)
				return written, clientWriteError{werr}
			}
		}
		if rerr == io.EOF {
			t.call.reachedEOF.Store(true) // every byte went to the client
		}
		t.observe(buf[:n], rerr)
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// flushingWriter returns w, made to flush after every write when it can.
func flushingWriter(w io.Writer) io.Writer {
	switch w.(type) {
	case http.Flusher, interface{ FlushError() error }:
		return writerFlusher{w}
	}
	return w
}

type writerFlusher struct{ w io.Writer }

func (f writerFlusher) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	switch fl := f.w.(type) {
	case interface{ FlushError() error }:
		err = fl.FlushError()
	case http.Flusher:
		fl.Flush()
	}
	return n, err
}

func (t *tap) markFirstByte() {
	t.mu.Lock()
	if !t.firstByte {
		t.firstByte = true
		t.call.rec.TTFB = t.call.c.now().Sub(t.call.start)
	}
	t.mu.Unlock()
}

// observe meters a chunk the client already has, and finalizes at the end.
func (t *tap) observe(p []byte, err error) {
	if len(p) > 0 {
		t.markFirstByte()
		t.meter.Write(p)
	}
	if err == nil {
		return
	}
	t.mu.Lock()
	if err == io.EOF {
		t.eof = true
	} else if t.readErr == nil {
		t.readErr = err
	}
	t.mu.Unlock()
	t.finalize()
}

// Close ends the client's side. Before the end of the body it means the
// client stopped reading: the rest is drained in the background (bounded by
// Timeouts.Drain) for the final usage.
func (t *tap) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	done := t.eof || t.readErr != nil
	t.mu.Unlock()
	if done {
		return t.body.Close()
	}
	t.call.clientLeft()
	go t.drain()
	return nil
}

// drain reads the rest of an abandoned body into the meter only.
func (t *tap) drain() {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	for {
		n, err := t.body.Read(*bp)
		t.observe((*bp)[:n], err)
		if err != nil {
			break
		}
	}
	t.body.Close()
}

func (t *tap) finalize() {
	t.mu.Lock()
	eof, readErr := t.eof, t.readErr
	t.mu.Unlock()
	t.call.finish(t.meter.Finish(eof), eof, readErr)
}

// filterMaxEvent bounds the events the usage filter holds back: OpenAI's
// usage-only chunk is well under 1 KiB.
const filterMaxEvent = 64 << 10

// usageEventFilter passes an event stream through event by event, dropping
// the one usage-only chunk Conduit's injected include_usage added. Bytes that
// are not part of a pending event (comments, blank lines) pass at once.
type usageEventFilter struct {
	w       io.Writer
	scanner *sse.Scanner
	err     error
}

func newUsageEventFilter(w io.Writer) *usageEventFilter {
	f := &usageEventFilter{w: w}
	// The one event to drop is small (a usage object and an empty choices
	// list): an event past filterMaxEvent cannot be it, and passes on as it
	// arrives instead of being held whole — less memory, less delay.
	f.scanner = sse.NewScanner(f.event, sse.Options{KeepRaw: true, RawOverflow: f.pass, MaxEventSize: filterMaxEvent})
	return f
}

// event passes on a whole event unless it is the injected usage chunk. An
// oversize event has no Raw: its bytes already went through pass.
func (f *usageEventFilter) event(ev *sse.Event) {
	if ev.Raw == nil || parsers.IsUsageOnlyChunk(ev.Data) {
		return
	}
	f.pass(ev.Raw)
}

func (f *usageEventFilter) pass(p []byte) {
	if f.err != nil || len(p) == 0 {
		return
	}
	_, f.err = f.w.Write(p)
}

func (f *usageEventFilter) Write(p []byte) (int, error) {
	f.scanner.Write(p)
	if f.err != nil {
		return 0, f.err
	}
	return len(p), nil
}

// Close passes on whatever the stream ended with.
func (f *usageEventFilter) Close() error {
	f.scanner.Close()
	return f.err
}
