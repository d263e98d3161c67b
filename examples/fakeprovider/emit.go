package fakeprovider

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// emitter writes one response through the knobs: delays between events,
// pieces of HeaderChunk bytes each flushed, gzip, and cuts. It panics with
// http.ErrAbortHandler to cut a connection (a knob, a vanished client or
// Server.Close), which net/http turns into a closed connection without a
// log line; serve the fake through a real http.Server, not a
// ResponseRecorder.
type emitter struct {
	s    *Server
	w    http.ResponseWriter
	rc   *http.ResponseController
	ctx  context.Context
	k    knobs
	prov provider
	seed []byte // for request ids

	frames int          // stream frames written
	gz     *gzip.Writer // nil unless gzipping a stream
	zbuf   bytes.Buffer // gzip output awaiting the wire
	buf    bytes.Buffer // the event being encoded
	enc    *json.Encoder
	ws     *wsConn // set on WebSocket sessions: events go out as messages
	wsOp   byte    // opText or opBinary
	es     bool    // Bedrock: events go out as event-stream chunks
	chunks int     // event-stream chunks written, varying their padding
}

func newEmitter(ctx context.Context, s *Server, w http.ResponseWriter, k knobs, prov provider, body []byte) *emitter {
	return &emitter{s: s, w: w, rc: http.NewResponseController(w), ctx: ctx, k: k, prov: prov, seed: body}
}

// abort cuts the connection: the client sees a truncated response.
func (e *emitter) abort() {
	panic(http.ErrAbortHandler)
}

// sleep waits d, cutting the connection if the client left or the server
// closed meanwhile.
func (e *emitter) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if err := e.s.sleep(e.ctx, d); err != nil {
		e.abort()
	}
}

// flush pushes what was written to the client.
func (e *emitter) flush() {
	if err := e.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		e.abort()
	}
}

// raw writes b to the wire in pieces of k.chunk bytes (all at once when 0),
// flushing after each; pause waits k.delay between pieces.
func (e *emitter) raw(b []byte, pause bool) {
	for first := true; len(b) > 0; first = false {
		if pause && !first {
			e.sleep(e.k.delay)
		}
		n := len(b)
		if e.k.chunk > 0 && e.k.chunk < n {
			n = e.k.chunk
		}
		if _, err := e.w.Write(b[:n]); err != nil {
			e.abort()
		}
		e.flush()
		b = b[n:]
	}
}

// headers sets the provider's response headers (request id, version).
func (e *emitter) headers(contentType string) {
	h := e.w.Header()
	h.Set("Content-Type", contentType)
	switch e.prov {
	case providerOpenAI:
		h.Set("X-Request-Id", "req_"+makeHexID(e.seed, "request-id", 32))
		h.Set("Openai-Version", "2020-10-01")
		h.Set("Openai-Processing-Ms", "1")
	case providerAnthropic:
		h.Set("Request-Id", anthropicRequestID(e.seed))
	case providerGemini:
		h.Set("Vary", "Origin, X-Origin, Referer")
	case providerBedrock:
		h.Set("X-Amzn-Requestid", bedrockRequestID(e.seed))
	}
	if e.k.gzip {
		h.Set("Content-Encoding", "gzip")
	}
}

// whole writes a complete (non-streaming) response body.
func (e *emitter) whole(status int, contentType string, body []byte) {
	e.headers(contentType)
	if e.k.gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write(body) // writes to a bytes.Buffer cannot fail
		_ = zw.Close()
		body = zb.Bytes()
	}
	e.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	e.w.WriteHeader(status)
	cut := e.k.abortAfter >= 0 && e.k.abortAfter < len(body)
	if cut {
		body = body[:e.k.abortAfter]
	}
	e.raw(body, true)
	if cut {
		e.flush()
		e.abort()
	}
}

// object writes v as a complete 200 JSON response.
func (e *emitter) object(contentType string, v any) {
	e.whole(http.StatusOK, contentType, marshal(v))
}

// startStream writes the status and headers of a streaming response and
// flushes them, as the providers do before the first event.
func (e *emitter) startStream(contentType string) {
	e.headers(contentType)
	e.w.Header().Set("Cache-Control", "no-cache")
	if e.k.gzip {
		e.gz = gzip.NewWriter(&e.zbuf)
	}
	e.w.WriteHeader(http.StatusOK)
	e.flush()
}

// frame writes one event, waiting k.delay first unless it is the first,
// and flushes it (through gzip when on).
func (e *emitter) frame(b []byte) {
	if e.frames > 0 {
		e.sleep(e.k.delay)
	}
	e.frames++
	if e.gz == nil {
		e.raw(b, false)
		return
	}
	_, _ = e.gz.Write(b) // into zbuf: cannot fail
	_ = e.gz.Flush()
	e.raw(e.zbuf.Bytes(), false)
	e.zbuf.Reset()
}

// endStream finishes a stream (the gzip trailer).
func (e *emitter) endStream() {
	if e.gz == nil {
		return
	}
	_ = e.gz.Close()
	e.raw(e.zbuf.Bytes(), false)
	e.zbuf.Reset()
}

// sse writes one Server-Sent Event: an event line when name is set, one
// data line, and the blank line, all with LF. It encodes into a buffer
// reused across events.
func (e *emitter) sse(name string, v any) {
	if e.ws != nil {
		e.message(v)
		return
	}
	if e.es {
		e.chunks++
		e.esMessage(esEvent("chunk"), esChunk(marshal(v), e.chunks))
		return
	}
	e.buf.Reset()
	if name != "" {
		e.buf.WriteString("event: ")
		e.buf.WriteString(name)
		e.buf.WriteByte('\n')
	}
	e.buf.WriteString("data: ")
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.buf)
		e.enc.SetEscapeHTML(false)
	}
	if err := e.enc.Encode(v); err != nil { // appends the data line's LF
		panic("fakeprovider: encode event: " + err.Error())
	}
	e.buf.WriteByte('\n')
	e.frame(e.buf.Bytes())
}

// esMessage writes one event-stream message as a stream frame.
func (e *emitter) esMessage(headers []esHeader, payload []byte) {
	e.frame(appendEventStream(nil, headers, payload))
}

// message sends v as one WebSocket message, waiting k.delay first unless
// it is the first of this response, like frame.
func (e *emitter) message(v any) {
	if e.frames > 0 {
		e.sleep(e.k.delay)
	}
	e.frames++
	if err := e.ws.writeMessage(e.wsOp, marshal(v)); err != nil {
		e.abort()
	}
}

// streamer generates the events of one streaming API.
type streamer interface {
	// preamble writes the events before the first content event.
	preamble(e *emitter)
	// content writes content event i carrying text.
	content(e *emitter, i int, text string)
	// trailer writes the closing events, usage included.
	trailer(e *emitter)
	// fail writes the provider's mid-stream error event.
	fail(e *emitter)
}

// run writes a whole stream of n content events, honouring the abort and
// error-event knobs: both act after min(knob, n) content events.
func (e *emitter) run(st streamer, p *plan, n int) {
	st.preamble(e)
	for i := 0; ; i++ {
		if e.k.abortAfter >= 0 && i == min(e.k.abortAfter, n) {
			e.abort()
		}
		if e.k.errorAt >= 0 && i == min(e.k.errorAt, n) {
			st.fail(e)
			e.endStream()
			return
		}
		if i == n {
			break
		}
		st.content(e, i, p.word(i))
	}
	st.trailer(e)
	e.endStream()
}

// marshal encodes v as compact JSON without HTML escaping (as the providers
// send it) and without a trailing newline.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the package's own types are encoded: this is a bug.
		panic("fakeprovider: encode response: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
