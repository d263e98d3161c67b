package intercept

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// A decrypted connection is served by a small HTTP/1.1 server of its own,
// not by net/http's. net/http's server, to notice a client that leaves,
// starts a goroutine reading the connection once a request's body is read,
// and stops it with a deadline in the past when the handler returns: per
// call a goroutine, two hand-offs between threads and three deadline
// changes, the largest cost forward mode had that goproxy's bare MITM has
// not. Here the connection's own goroutine does that read, and it is the
// read of the next request: a read that ends before the response did is
// the client leaving. And a response is complete on the wire once its
// Content-Length is written, so the next request on the connection is
// read and served while the handler still records the last one.
//
// It keeps what net/http's server gave a decrypted connection: header
// size limit (431), header and idle timeouts, keep-alive, Expect:
// 100-continue (417 for any other expectation), chunked and
// Content-Length framing both ways, the Host checks of RFC 9112, draining
// an unread request body (up to 256 KiB) before answering unless full
// duplex is enabled, Hijack for WebSocket upgrades, ErrAbortHandler, and
// a graceful stop.

const (
	// decryptedMaxHeaderBytes bounds a request's line and headers, as
	// net/http's default does for the listener's own connections.
	decryptedMaxHeaderBytes = http.DefaultMaxHeaderBytes + 4096
	// maxUnreadBody is what is read and discarded of a request body the
	// handler left unread before the connection can carry another
	// request; past it the connection closes (net/http's bound).
	maxUnreadBody = 256 << 10
	// preBodyBytes of a response without Content-Length are held until
	// the handler flushes or returns: a response that fits gets a
	// Content-Length, not chunks.
	preBodyBytes = 4 << 10
	// closeLinger is how long a closing connection that left a request
	// body unread waits for the client to stop sending, so that its
	// unread bytes do not reset the connection before the client has the
	// answer.
	closeLinger = 500 * time.Millisecond
)

// connState is where a decrypted connection is in its life, for the
// graceful stop: a new or idle connection is closed at once, an active
// one after its response.
type connState int

const (
	connNew    connState = iota // handshake or first request's first byte
	connIdle                    // between requests
	connActive                  // reading a request or writing its response
)

// decryptedConn is one decrypted client connection.
type decryptedConn struct {
	m      *mitm
	tc     *tls.Conn
	h      http.Handler
	lr     limitReader // what br reads: the connection, bounded while headers are read
	br     *bufio.Reader
	bw     *bufio.Writer
	ctx    context.Context // every request's parent: carries the local address
	tlsS   *tls.ConnectionState
	remote string                  // the client's address, as Request.RemoteAddr has it
	done   chan struct{}           // serve returned
	work   chan *decryptedResponse // to the handler goroutine; nil until the first request

	// headMu orders a 100 Continue, written by whoever reads the body,
	// with the response head.
	headMu sync.Mutex

	mu       sync.Mutex
	state    connState
	closing  bool // shutdown: no request after the current one
	hijacked bool
}

func newDecryptedConn(m *mitm, tc *tls.Conn, h http.Handler) *decryptedConn {
	c := &decryptedConn{m: m, tc: tc, h: h, done: make(chan struct{})}
	c.lr.conn, c.lr.remain = tc, -1
	c.br = bufio.NewReaderSize(&c.lr, 4<<10)
	c.bw = bufio.NewWriterSize(tc, 4<<10)
	c.remote = tc.RemoteAddr().String()
	c.ctx = context.WithValue(context.Background(), http.LocalAddrContextKey, tc.LocalAddr())
	return c
}

// setState moves the connection to s and reports false when a shutdown
// wants it closed instead.
func (c *decryptedConn) setState(s connState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = s
	return !(c.closing && s != connActive)
}

// shutdown closes the connection now when it is new or idle, else after
// the response in progress.
func (c *decryptedConn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	if c.state != connActive && !c.hijacked {
		c.tc.Close()
	}
}

// serve serves the connection's requests until it closes, is taken over
// or the client stops sending them.
func (c *decryptedConn) serve() {
	defer close(c.done)
	linger := false
	defer func() {
		if c.work != nil {
			close(c.work) // the handler goroutine ends after the last handler
		}
		if c.hijacked {
			return // the handler has the connection now
		}
		if linger {
			c.lingerClose()
			return
		}
		c.tc.Close()
	}()
	deadline := time.Now().Add(c.m.readHeaderTimeout)
	c.tc.SetDeadline(deadline)
	if err := c.tc.HandshakeContext(c.ctx); err != nil {
		c.m.logger.Debug("forward mode: the client's TLS handshake failed", "remote", c.tc.RemoteAddr(), "err", err)
		return
	}
	c.tc.SetWriteDeadline(time.Time{})
	st := c.tc.ConnectionState()
	c.tlsS = &st
	// The first request's headers are due by the handshake's deadline.
	for {
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return
			}
		}
		if !c.setState(connActive) {
			return
		}
		if deadline.IsZero() {
			c.tc.SetReadDeadline(time.Now().Add(c.m.readHeaderTimeout))
		}
		req, err := c.readRequest()
		if err != nil {
			c.badRequest(err)
			return
		}
		c.tc.SetReadDeadline(time.Time{})
		deadline = time.Time{}
		w := c.dispatch(req)
		keep, again := c.await(w)
		if !keep {
			linger = w.lingerOnClose
			return
		}
		if !again {
			// The response is complete and nothing was read after it:
			// wait for the next request (the deadline of the idle wait
			// was set when the response completed).
			if !c.setState(connIdle) {
				return
			}
		}
	}
}

// readRequest reads the next request's line and headers, and checks them
// as net/http's server would.
func (c *decryptedConn) readRequest() (*http.Request, error) {
	// RFC 9112 §2.2: a server should ignore empty lines before a request
	// (old clients send one after a POST body).
	for {
		b, err := c.br.Peek(1)
		if err != nil || (b[0] != '\r' && b[0] != '\n') {
			break
		}
		c.br.Discard(1)
	}
	// What br holds already (read by the wait for the request's first
	// byte) counts against the limit too.
	c.lr.remain = decryptedMaxHeaderBytes - int64(c.br.Buffered())
	req, err := http.ReadRequest(c.br)
	if err != nil {
		if c.lr.remain <= 0 {
			return nil, errHeadersTooLarge
		}
		return nil, err
	}
	c.lr.remain = -1
	if req.ProtoMajor != 1 {
		return nil, &requestError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	// http.ReadRequest moved the Host header to req.Host (and refused
	// two of them).
	switch {
	case req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect:
		return nil, &requestError{http.StatusBadRequest, "missing required Host header"}
	case req.Host != "" && !httpguts.ValidHostHeader(req.Host):
		return nil, &requestError{http.StatusBadRequest, "malformed Host header"}
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, &requestError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, &requestError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	// RFC 9110 §10.1.1: 100-continue in HTTP/1.0 is ignored (dispatch
	// sends no 100 for it).
	if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
		return nil, &requestError{http.StatusExpectationFailed, ""}
	}
	return req, nil
}

var errHeadersTooLarge = &requestError{http.StatusRequestHeaderFieldsTooLarge, ""}

// requestError is a request the connection cannot serve, with the status
// it is answered with.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return http.StatusText(e.status) + ": " + e.msg }

// badRequest answers a request that could not be read, as net/http's
// server does, unless the connection just ended or timed out.
func (c *decryptedConn) badRequest(err error) {
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
		return
	}
	// The body names what was wrong only in Conduit's own words: a parse
	// error quotes the bytes it choked on, which are not sent back.
	status, msg := http.StatusBadRequest, ""
	var re *requestError
	if errors.As(err, &re) {
		status, msg = re.status, re.msg
	}
	if e := err.Error(); strings.HasPrefix(e, "unsupported transfer encoding: ") || strings.HasPrefix(e, "too many transfer encodings: ") {
		// net/http's unsupportedTEError (unexported), known by the whole
		// of its text: other errors quote request bytes, which may say
		// "transfer encoding" too.
		status = http.StatusNotImplemented
	}
	c.m.logger.Debug("forward mode: a bad request on a decrypted connection", "remote", c.tc.RemoteAddr(), "status", status, "err", err)
	text := strconv.Itoa(status) + " " + http.StatusText(status)
	if msg != "" && status == http.StatusBadRequest {
		text += ": " + msg
	}
	c.tc.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%s", status, http.StatusText(status), text)
	c.bw.Flush()
}

// dispatch hands req to the connection's handler goroutine.
func (c *decryptedConn) dispatch(req *http.Request) *decryptedResponse {
	ctx, cancel := context.WithCancel(c.ctx)
	req = req.WithContext(ctx)
	req.RemoteAddr = c.remote
	req.TLS = c.tlsS
	w := &decryptedResponse{c: c, req: req, cancel: cancel, contentLength: -1,
		keepAlive: !req.Close, completed: make(chan struct{})}
	body := &requestBody{w: w, rc: req.Body, onConn: true, free: make(chan struct{})}
	w.body = body
	switch {
	case req.Body == http.NoBody || req.Body == nil:
		body.rc = http.NoBody
		body.offConn()
	case req.Header.Get("Expect") != "" && req.ProtoAtLeast(1, 1):
		body.expect = true
	case req.ContentLength > 0 && req.ContentLength <= int64(c.br.Buffered()):
		// The whole body came with the headers (a usual API call): read
		// it out of the buffer now, so that the connection is free for
		// the next request at once.
		b := make([]byte, req.ContentLength)
		if _, err := io.ReadFull(req.Body, b); err == nil {
			body.rc = memBody{Reader: bytes.NewReader(b)}
			body.offConn()
		}
	}
	req.Body = body
	if c.work == nil {
		c.work = make(chan *decryptedResponse)
		go c.runHandlers()
	}
	c.work <- w
	return w
}

// runHandlers runs the connection's handlers, one request after another,
// on one goroutine for the connection's life: a goroutine per request
// would grow its stack from the minimum, copying it four times, for each
// call (a tenth of Conduit's CPU in forward mode).
func (c *decryptedConn) runHandlers() {
	for w := range c.work {
		w.run()
	}
}

// await waits for w's response to complete and reports whether the
// connection carries another request, and whether that request's first
// byte was read already. Once the request's body is read it reads the
// connection: the next request's first byte, or the end of a client that
// left, which ends the request's context.
func (c *decryptedConn) await(w *decryptedResponse) (keep, again bool) {
	if isUpgrade(w.req.Header) {
		// A WebSocket upgrade may take the connection over: nothing may
		// read it meanwhile. Once the response is complete it can no
		// longer, and a taken-over connection is the handler's: it is
		// no longer served or tracked (its relay may last for hours).
		<-w.completed
		if c.hijacked {
			return false, false
		}
		return w.keepAlive, false
	}
	select {
	case <-w.body.free:
	case <-w.completed:
		if !w.body.drain() {
			return false, false
		}
	}
	if _, err := c.br.Peek(1); err != nil {
		select {
		case <-w.completed:
			// After the response: the client closed an idle connection,
			// it idled too long, or the connection is to close.
		default:
			w.cancel() // the client left
			<-w.completed
		}
		return false, false
	}
	<-w.completed
	return w.keepAlive && w.body.drain(), true
}

// lingerClose ends a connection whose client may still be sending a body
// nobody read: the client gets the end of the answer and the TLS
// close_notify before the connection closes, not a reset.
func (c *decryptedConn) lingerClose() {
	c.tc.SetWriteDeadline(time.Now().Add(closeLinger))
	c.tc.CloseWrite()
	c.tc.SetReadDeadline(time.Now().Add(closeLinger))
	io.Copy(io.Discard, c.tc)
	c.tc.Close()
}

// isUpgrade reports a request asking to switch protocols.
func isUpgrade(h http.Header) bool {
	return h.Get("Upgrade") != "" && headerHasToken(h, "Connection", "upgrade")
}

// limitReader is the connection as the request reader sees it: while
// remain >= 0, at most remain more bytes.
type limitReader struct {
	conn   net.Conn
	remain int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.remain == 0 {
		return 0, io.EOF
	}
	if l.remain > 0 && int64(len(p)) > l.remain {
		p = p[:l.remain]
	}
	n, err := l.conn.Read(p)
	if l.remain > 0 {
		l.remain -= int64(n)
	}
	return n, err
}

// memBody is a request body read whole with its headers.
type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }

// requestBody is a request's body as its handler reads it: it tells the
// connection when the body has been read to its end, sends 100 Continue
// on the first read of a client that waits for one, and is cut off from
// the connection once the connection has moved on.
type requestBody struct {
	w      *decryptedResponse
	expect bool // the client waits for 100 Continue

	mu       sync.Mutex
	rc       io.ReadCloser
	onConn   bool          // rc reads the connection: its end is not reached
	free     chan struct{} // closed once rc no longer reads the connection
	closed   bool          // by the handler
	detached bool          // by the connection: never read the connection again
	failed   bool          // a read error other than the end
}

// offConn marks the body read from the connection to its end.
func (b *requestBody) offConn() {
	b.onConn = false
	close(b.free)
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.detached {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.expect {
		b.expect = false
		b.w.writeContinue()
	}
	return b.read(p)
}

func (b *requestBody) read(p []byte) (int, error) {
	if b.failed {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF && b.onConn {
		b.offConn()
	} else if err != nil && err != io.EOF {
		b.failed = true
	}
	return n, err
}

// continueUnsent reports a client still waiting for 100 Continue.
func (b *requestBody) continueUnsent() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.expect
}

func (b *requestBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// drain reads and discards what is left of the body, at most
// maxUnreadBody, and cuts it off from the connection. It reports whether
// the body ended cleanly, so that the connection can carry the next
// request.
func (b *requestBody) drain() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.detached {
		b.detached = true
		if b.onConn && !b.failed && !b.expect {
			io.CopyN(io.Discard, readerFunc(b.read), maxUnreadBody+1)
		}
	}
	return !b.onConn
}

// readerFunc is a function as an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// decryptedResponse is the http.ResponseWriter of one request on a
// decrypted connection.
type decryptedResponse struct {
	c      *decryptedConn
	req    *http.Request
	body   *requestBody
	cancel context.CancelFunc

	header        http.Header
	status        int
	wroteHeader   bool // WriteHeader was called: the status is decided
	headWritten   bool // the status line and headers are in c.bw
	contentLength int64
	written       int64
	chunked       bool
	fullDuplex    bool
	pre           []byte // body held until the head is written
	err           error  // writing to the client failed: every later write fails so

	// Read by the connection once completed is closed.
	keepAlive     bool
	lingerOnClose bool

	completed chan struct{} // closed when the response is whole on the wire (or can never be)
	complete  bool
}

// run serves the request with the connection's handler.
func (w *decryptedResponse) run() {
	defer w.cancel()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				w.c.m.logger.Debug("forward mode: panic serving a decrypted request", "remote", w.req.RemoteAddr, "panic", p, "stack", string(debug.Stack()))
			}
			// The client sees the response cut, as net/http would show
			// it: the connection closes without ending the response. (A
			// complete response's keepAlive is the connection's to read
			// now: the close ends the connection.)
			if !w.complete {
				w.keepAlive = false
			}
			if !w.c.hijacked {
				w.c.tc.Close()
			}
			w.markComplete()
		}
	}()
	w.c.h.ServeHTTP(w, w.req)
	w.finish()
}

func (w *decryptedResponse) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

func (w *decryptedResponse) WriteHeader(code int) {
	if w.wroteHeader || w.complete || w.c.hijacked {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An informational answer goes out at once; the final one follows.
		w.c.headMu.Lock()
		defer w.c.headMu.Unlock()
		writeStatusLine(w.c.bw, code)
		w.header.Write(w.c.bw)
		w.c.bw.WriteString("\r\n")
		w.setErr(w.c.bw.Flush())
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
}

// bodyAllowed reports whether the response has a body on the wire.
func (w *decryptedResponse) bodyAllowed() bool {
	return w.req.Method != http.MethodHead && bodyAllowedForStatus(w.status)
}

func bodyAllowedForStatus(status int) bool {
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}

func (w *decryptedResponse) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.complete {
		// The connection has moved on: nothing more may reach it.
		if len(p) == 0 {
			return 0, nil
		}
		return 0, http.ErrContentLength
	}
	if w.err != nil {
		return 0, w.err
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.req.Method == http.MethodHead {
		return len(p), nil
	}
	if !w.headWritten && w.contentLength < 0 && len(w.pre)+len(p) <= preBodyBytes {
		w.pre = append(w.pre, p...)
		return len(p), nil
	}
	if !w.headWritten {
		w.writeHead()
		w.writeBody(w.pre)
		w.pre = nil
	}
	w.writeBody(p)
	if w.err != nil {
		return 0, w.err
	}
	if w.contentLength >= 0 && w.written == w.contentLength {
		// Whole: the connection may read the next request while the
		// handler finishes (records the call).
		w.setErr(w.c.bw.Flush())
		w.markComplete()
	}
	return len(p), w.err
}

// writeBody writes p to the connection's buffer, as a chunk when chunked.
func (w *decryptedResponse) writeBody(p []byte) {
	if len(p) == 0 || w.err != nil {
		return
	}
	bw := w.c.bw
	if w.chunked {
		var size [18]byte
		bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err := bw.WriteString("\r\n")
		w.setErr(err)
		return
	}
	_, err := bw.Write(p)
	w.setErr(err)
}

// writeHead decides the response's framing and writes its status line and
// headers to the connection's buffer.
func (w *decryptedResponse) writeHead() {
	c := w.c
	if w.body.continueUnsent() {
		// The client was never told to send its body: whatever it sends
		// next cannot be taken for the next request.
		w.keepAlive = false
	} else if w.bodyAllowed() && !w.fullDuplex && w.keepAlive && !w.body.drain() {
		// A client may send its whole body before reading the answer:
		// the rest (past maxUnreadBody) is not read, and the connection
		// closes after the answer, waiting for the client to stop.
		w.keepAlive = false
		w.lingerOnClose = true
	}
	c.headMu.Lock()
	defer c.headMu.Unlock()
	w.headWritten = true
	h := w.Header()
	switch {
	case !bodyAllowedForStatus(w.status):
		delete(h, "Transfer-Encoding")
		delete(h, "Content-Length")
		if w.status == http.StatusNotModified {
			delete(h, "Content-Type")
		}
	case w.contentLength >= 0:
		delete(h, "Transfer-Encoding")
	case w.req.Method == http.MethodHead:
		delete(h, "Transfer-Encoding")
	case w.req.ProtoAtLeast(1, 1):
		w.chunked = true
		h["Transfer-Encoding"] = chunkedValue
	default:
		// HTTP/1.0 without a length: the end of the connection ends it.
		delete(h, "Transfer-Encoding")
		w.keepAlive = false
	}
	if c.closingNow() {
		w.keepAlive = false
	}
	if headerHasToken(h, "Connection", "close") {
		w.keepAlive = false
	} else if !w.keepAlive && w.status != http.StatusSwitchingProtocols {
		h["Connection"] = closeValue
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	}
	writeStatusLine(c.bw, w.status)
	w.setErr(h.Write(c.bw))
	_, err := c.bw.WriteString("\r\n")
	w.setErr(err)
}

var (
	chunkedValue = []string{"chunked"}
	closeValue   = []string{"close"}
)

func (c *decryptedConn) closingNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func writeStatusLine(bw *bufio.Writer, code int) {
	bw.WriteString("HTTP/1.1 ")
	var b [3]byte
	bw.Write(strconv.AppendInt(b[:0], int64(code), 10))
	bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	bw.WriteString(text)
	bw.WriteString("\r\n")
}

// writeContinue answers a client waiting with its body, unless the
// response has begun.
func (w *decryptedResponse) writeContinue() {
	c := w.c
	c.headMu.Lock()
	defer c.headMu.Unlock()
	if w.headWritten {
		return
	}
	// A failure shows in the response's own writes.
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	c.bw.Flush()
}

func (w *decryptedResponse) setErr(err error) {
	if err != nil && w.err == nil {
		w.err = err
		w.keepAlive = false
	}
}

// FlushError sends what the response has so far to the client.
func (w *decryptedResponse) FlushError() error {
	if w.c.hijacked {
		return http.ErrHijacked
	}
	if w.complete {
		return w.err
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten {
		w.writeHead()
		w.writeBody(w.pre)
		w.pre = nil
	}
	w.setErr(w.c.bw.Flush())
	return w.err
}

func (w *decryptedResponse) Flush() { w.FlushError() }

// EnableFullDuplex lets the handler read the request body while it writes
// the response (http.ResponseController).
func (w *decryptedResponse) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// Hijack hands the connection to the handler, for a WebSocket upgrade:
// only an upgrade request may take it, before its response began.
func (w *decryptedResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if !isUpgrade(w.req.Header) {
		return nil, nil, errors.New("conduit: only an upgrade request may take over a decrypted connection")
	}
	if w.headWritten || w.complete {
		return nil, nil, errors.New("conduit: the response began before the connection was taken over")
	}
	c.mu.Lock()
	c.hijacked = true
	c.mu.Unlock()
	w.keepAlive = false
	w.markComplete()
	return c.tc, bufio.NewReadWriter(c.br, c.bw), nil
}

// finish ends the response when the handler returns.
func (w *decryptedResponse) finish() {
	if w.c.hijacked || w.complete {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten {
		if w.contentLength < 0 && w.bodyAllowed() {
			w.Header()["Content-Length"] = []string{strconv.Itoa(len(w.pre))}
			w.contentLength = int64(len(w.pre))
		}
		w.writeHead()
		w.writeBody(w.pre)
		w.pre = nil
	}
	if w.chunked && w.err == nil {
		_, err := w.c.bw.WriteString("0\r\n\r\n")
		w.setErr(err)
	}
	if w.contentLength >= 0 && w.bodyAllowed() && w.written != w.contentLength {
		// Shorter than it said: the client must not take what follows
		// for the rest.
		w.keepAlive = false
	}
	w.setErr(w.c.bw.Flush())
	w.markComplete()
}

// markComplete lets the connection go on: to the next request, or, when
// the connection is to close or stop, to its end. It sets the idle
// timeout on the read of the next request, which may be under way.
func (w *decryptedResponse) markComplete() {
	if w.complete {
		return
	}
	w.complete = true
	c := w.c
	c.mu.Lock()
	if c.closing {
		w.keepAlive = false
	}
	if w.keepAlive {
		// Between requests now, though the next one may be arriving:
		// a shutdown closes the connection.
		c.state = connIdle
	}
	hijacked := c.hijacked
	c.mu.Unlock()
	if hijacked {
		close(w.completed)
		return
	}
	if w.keepAlive {
		// Before completed is closed: once it is, the connection may
		// read the next request (already arrived) and set its own
		// deadlines, which this one must not replace.
		c.tc.SetReadDeadline(time.Now().Add(c.m.idleTimeout))
		close(w.completed)
		return
	}
	// Closed before the deadline moves: the connection, woken by it, must
	// see the response complete, not a client that left.
	close(w.completed)
	c.tc.SetReadDeadline(time.Now()) // ends the read of the next request at once
}
