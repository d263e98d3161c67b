package intercept

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Client sends the calls Conduit forwards to providers over HTTP/1.1
// connections of its own, and hands every other request to the
// http.Transport it wraps.
//
// Why: http.Transport serves each connection with two goroutines, a read
// loop and a write loop, and a call passes between them and its caller
// five times (the request handed over, written, the response handed back,
// the end of its body reported and acknowledged): per call, five
// goroutine switches, a select each and, on a machine with idle cores,
// threads woken to run them, a tenth of forward mode's CPU. Here the
// goroutine that makes the call writes the request and reads the response
// itself.
//
// It serves what the calls need and leaves the rest to the Transport: a
// request whose body is in memory (the metered calls: their body is read
// whole to be inspected) or empty, without Expect or an upgrade, to an
// http or https URL, with no upstream proxy configured. What it keeps of
// the Transport's behaviour: a pool of idle connections per host (256,
// closed after 90 s idle), TLS with the Transport's roots and handshake
// timeout, the response header timeout, gzip negotiated and decoded when
// the client did not ask for an encoding, 1xx responses skipped, the
// response header size bound (10 MB, informational answers included), a
// connection reused only once its response was read to the end and
// nothing else came, a server's answer read even when it closed before
// taking the whole body, and a request retried once on a new connection
// when a reused one failed before any of it was written (or, for a
// request that may be sent twice, before any of the answer came).
type h1Client struct {
	tr             *http.Transport
	dial           dialFunc
	tlsConfig      *tls.Config // nil: the system roots
	connectTimeout time.Duration
	headerTimeout  time.Duration
	idleTimeout    time.Duration // an idle connection is closed after it
	direct         bool          // no upstream proxy: the only case served here

	mu   sync.Mutex
	idle map[string][]*h1Conn // by scheme://host:port, most recently used last
}

const (
	// h1MaxIdlePerHost is the Transport's setting (newTransport).
	h1MaxIdlePerHost = 256
	// h1MaxHeaderBytes bounds a response's status line and headers, as
	// the Transport's default does.
	h1MaxHeaderBytes = 10 << 20
)

func newH1Client(tr *http.Transport, t Timeouts, u Upstream, dial dialFunc) *h1Client {
	return &h1Client{
		tr:             tr,
		dial:           dial,
		tlsConfig:      tr.TLSClientConfig,
		connectTimeout: t.Connect,
		headerTimeout:  t.ResponseHeader,
		idleTimeout:    tr.IdleConnTimeout,
		direct:         u.Proxy == nil,
		idle:           make(map[string][]*h1Conn),
	}
}

// serves reports whether req is one this client sends itself.
// A malformed request (a method or header the wire cannot carry) goes to
// the Transport too, which refuses it with its own error.
func (c *h1Client) serves(req *http.Request) bool {
	u := req.URL
	return c.direct && u != nil && req.Header != nil &&
		(u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && isASCII(u.Host) &&
		(req.Body == nil || req.Body == http.NoBody || req.GetBody != nil) && req.ContentLength >= 0 &&
		!req.Close && req.Trailer == nil && req.Header.Get("Expect") == "" && !isUpgrade(req.Header) &&
		isToken(req.Method) && validHeader(req.Header)
}

// isToken reports a non-empty RFC 9110 token: a method the request line
// can carry.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

func validHeader(h http.Header) bool {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// RoundTrip sends req and returns its response, whose Body the caller
// must read or close.
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if !c.serves(req) {
		return c.tr.RoundTrip(req)
	}
	ctx := req.Context()
	key := req.URL.Scheme + "://" + canonicalAddr(req.URL)
	pc, err := c.conn(ctx, key, req.URL)
	for retried := false; ; retried = true {
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		var nw nothingWritten
		var ca closedBeforeAnswer
		switch {
		case retried || !pc.reused || ctx.Err() != nil:
			return nil, err
		case errors.As(err, &nw):
			// The connection died while idle and nothing of the request
			// reached it: the provider never saw it.
		case errors.As(err, &ca) && isReplayable(req):
			// The provider closed the connection without a byte of an
			// answer: a request that may be sent twice goes again, as
			// the Transport sends it.
		default:
			return nil, err
		}
		// Again on a new connection (the pooled ones may all be dead: a
		// provider that restarted), with the body rewound.
		pc, err = c.dialConn(ctx, key, req.URL)
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			r := *req
			r.Body = body
			req = &r
		}
	}
}

// canonicalAddr is u's host:port, with the scheme's port when u names
// none.
func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// CloseIdleConnections closes the connections kept for reuse, this
// client's and the Transport's.
func (c *h1Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = make(map[string][]*h1Conn)
	c.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.close()
		}
	}
	c.tr.CloseIdleConnections()
}

// conn returns an idle connection to key that still works, or a new one.
func (c *h1Client) conn(ctx context.Context, key string, u *url.URL) (*h1Conn, error) {
	for {
		c.mu.Lock()
		list := c.idle[key]
		if len(list) == 0 {
			c.mu.Unlock()
			break
		}
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		c.idle[key] = list[:len(list)-1]
		c.mu.Unlock()
		if pc.takeIdle() {
			return pc, nil
		}
	}
	return c.dialConn(ctx, key, u)
}

// dialConn opens a new connection to key.
func (c *h1Client) dialConn(ctx context.Context, key string, u *url.URL) (*h1Conn, error) {
	addr := key[strings.Index(key, "://")+3:]
	raw, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := raw
	if strings.HasPrefix(key, "https:") {
		cfg := c.tlsConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg.ServerName = u.Hostname()
		tc := tls.Client(raw, cfg)
		hctx, cancel := ctx, context.CancelFunc(func() {})
		if c.connectTimeout > 0 {
			hctx, cancel = context.WithTimeout(ctx, c.connectTimeout)
		}
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, h1Timeout("TLS handshake timeout")
			}
			return nil, err
		}
		conn = tc
	}
	pc := &h1Conn{c: c, key: key, conn: conn, raw: raw}
	pc.lr.conn, pc.lr.remain = conn, -1
	pc.cw.w = conn
	pc.br = bufio.NewReaderSize(&pc.lr, 4<<10)
	pc.bw = bufio.NewWriterSize(&pc.cw, 4<<10)
	return pc, nil
}

// putIdle keeps pc for the next call to its host, or closes it when the
// host has enough idle connections.
func (c *h1Client) putIdle(pc *h1Conn) {
	c.mu.Lock()
	list := c.idle[pc.key]
	if len(list) >= h1MaxIdlePerHost {
		c.mu.Unlock()
		pc.close()
		return
	}
	pc.setIdle()
	c.idle[pc.key] = append(list, pc)
	c.mu.Unlock()
}

// dropIdle forgets pc, closed by its idle timer, if it is still kept.
func (c *h1Client) dropIdle(pc *h1Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.idle[pc.key]
	for i, x := range list {
		if x == pc {
			c.idle[pc.key] = append(list[:i], list[i+1:]...)
			return
		}
	}
}

// h1Conn is one connection to a provider.
type h1Conn struct {
	c    *h1Client
	key  string
	conn net.Conn // what requests are written to: TLS or plain
	raw  net.Conn // the TCP connection under it
	lr   limitReader
	cw   countingWriter
	br   *bufio.Reader
	bw   *bufio.Writer

	reused bool // it carried a request before the current one

	mu     sync.Mutex
	idle   bool        // in the pool
	timer  *time.Timer // closes the connection once idle for the client's idleTimeout
	closed bool
}

// setIdle marks pc idle from now, and starts its idle timer.
func (pc *h1Conn) setIdle() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.idle = true
	if pc.timer == nil {
		pc.timer = time.AfterFunc(pc.c.idleTimeout, pc.idleTimeout)
	} else {
		pc.timer.Reset(pc.c.idleTimeout)
	}
}

func (pc *h1Conn) idleTimeout() {
	pc.mu.Lock()
	idle := pc.idle
	pc.mu.Unlock()
	if idle {
		pc.c.dropIdle(pc)
		pc.close()
	}
}

// takeIdle takes pc, just removed from the pool, for a call, unless it was
// closed meanwhile or its server closed it. The Transport's read loop sees
// a server close an idle connection at once; here it is looked for when
// the connection is taken (one system call, that does not wait).
func (pc *h1Conn) takeIdle() bool {
	pc.mu.Lock()
	ok := !pc.closed && pc.timer.Stop()
	pc.idle = false
	pc.mu.Unlock()
	if ok && (pc.conn != pc.raw && !pc.tlsDrained() || !connAlive(pc.raw)) {
		ok = false
	}
	if !ok {
		pc.close()
		return false
	}
	pc.reused = true
	return true
}

// tlsDrained reports that the TLS layer holds none of what it read: it
// reads ahead, and a record that came after the response (unsolicited)
// waits in its buffer, where neither br nor the socket shows it. A read
// with its deadline already past returns what is buffered, or times out
// without a system call.
func (pc *h1Conn) tlsDrained() bool {
	pc.conn.SetReadDeadline(time.Unix(1, 0))
	_, err := pc.br.Peek(1)
	pc.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (pc *h1Conn) close() {
	pc.mu.Lock()
	pc.closed = true
	pc.mu.Unlock()
	pc.conn.Close()
}

// nothingWritten is a failure to write a request of which no byte reached
// the connection.
type nothingWritten struct{ error }

func (e nothingWritten) Unwrap() error { return e.error }

// closedBeforeAnswer is a connection the provider closed or reset after the
// request, before any byte of an answer.
type closedBeforeAnswer struct{ error }

func (e closedBeforeAnswer) Unwrap() error { return e.error }

// isReplayable reports a request that may be sent twice, as the Transport
// decides it: an idempotent method, or an idempotency key, and a body that
// can be sent again.
func isReplayable(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := r.Header["Idempotency-Key"]
	_, b := r.Header["X-Idempotency-Key"]
	return a || b
}

// h1Timeout is a time limit of the client's own that ran out.
type h1Timeout string

func (e h1Timeout) Error() string   { return "net/http: " + string(e) }
func (e h1Timeout) Timeout() bool   { return true }
func (e h1Timeout) Temporary() bool { return true }

var gzipValue = []string{"gzip"}

// roundTrip writes req on pc and reads its response's head. On failure pc
// is closed.
func (pc *h1Conn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// The call's end (its deadline, the client leaving) closes the
	// connection, which ends whatever read or write it waits in.
	stop := context.AfterFunc(ctx, pc.close)
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.close()
		if cerr := context.Cause(ctx); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}

	// What is written is a copy: the request is the caller's. As the
	// Transport does, gzip is asked for when the client named no
	// encoding, and decoded.
	w := *req
	addedGzip := false
	if req.Method != http.MethodHead && req.Header.Get("Accept-Encoding") == "" && req.Header.Get("Range") == "" {
		addedGzip = true
		w.Header = make(http.Header, len(req.Header)+1)
		maps.Copy(w.Header, req.Header)
		w.Header["Accept-Encoding"] = gzipValue
	}
	// The body goes as it is: wrapped, http.Request's Write would no
	// longer know it in memory, and would flush the headers on their own
	// first (a write and a TLS record more per call).
	pc.cw.n, pc.cw.err = 0, nil
	err := w.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	var writeErr error
	switch {
	case err != nil && pc.cw.err == nil:
		return fail(err) // the request's own body failed, not the connection
	case err != nil && pc.cw.n == 0:
		return fail(nothingWritten{err})
	case err != nil:
		writeErr = err
	}
	// A write that failed part way is the server closing: it may have
	// answered first, without reading the whole body (a 413, a 401), and
	// that answer is the call's, as the Transport would return it.

	if pc.c.headerTimeout > 0 {
		pc.conn.SetReadDeadline(time.Now().Add(pc.c.headerTimeout))
	}
	pc.lr.remain = h1MaxHeaderBytes - int64(pc.br.Buffered())
	// Informational answers before the final one are skipped; together
	// they count against the header bound.
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			var ne net.Error
			switch {
			case pc.lr.remain <= 0:
				err = fmt.Errorf("net/http: server response headers exceeded %d bytes; aborted", h1MaxHeaderBytes)
			case errors.As(err, &ne) && ne.Timeout():
				err = h1Timeout("timeout awaiting response headers")
			}
			switch {
			case writeErr != nil:
				err = writeErr
			case err == io.EOF || errors.Is(err, syscall.ECONNRESET):
				err = closedBeforeAnswer{err}
			}
			return fail(err)
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	pc.lr.remain = -1
	if pc.c.headerTimeout > 0 {
		pc.conn.SetReadDeadline(time.Time{})
	}

	body := &h1Body{pc: pc, rc: resp.Body, ctx: ctx, stop: stop,
		keep: !resp.Close && writeErr == nil && resp.StatusCode != http.StatusSwitchingProtocols}
	if resp.Body == http.NoBody {
		body.finish(true) // nothing to read: the connection is free now
		return resp, nil
	}
	resp.Body = body
	if addedGzip && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		resp.Body = &gzipBody{body: body}
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
	}
	return resp, nil
}

// h1Body is a response's body. Once read to its end the connection goes
// back to the pool; closed before, the connection closes.
type h1Body struct {
	pc   *h1Conn
	rc   io.ReadCloser // the body as http.ReadResponse frames it
	ctx  context.Context
	stop func() bool // stops the call's end from closing the connection
	keep bool        // the connection may carry another request

	mu   sync.Mutex
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		if cerr := context.Cause(b.ctx); cerr != nil {
			err = cerr
		}
		b.finish(false)
	}
	return n, err
}

// Close ends the body; unread, it closes the connection (as the
// Transport does) rather than reading on.
func (b *h1Body) Close() error {
	b.finish(false)
	return nil
}

// finish ends the call on the connection: back to the pool when the body
// was read to its end and the connection may carry another request.
func (b *h1Body) finish(eof bool) {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return
	}
	b.done = true
	b.mu.Unlock()
	pc := b.pc
	if !b.stop() {
		eof = false // the call ended first: the connection is closed
	}
	if eof && b.keep && pc.br.Buffered() == 0 {
		pc.c.putIdle(pc)
		return
	}
	pc.close()
}

// gzipBody decodes a body the client gets decompressed, as the
// Transport's gzipReader does.
type gzipBody struct {
	body *h1Body
	zr   *gzip.Reader
	err  error
}

func (g *gzipBody) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		g.zr, g.err = gzip.NewReader(g.body)
		if g.err != nil {
			return 0, g.err
		}
	}
	n, err := g.zr.Read(p)
	if err != nil {
		g.err = err
	}
	return n, err
}

func (g *gzipBody) Close() error { return g.body.Close() }

// countingWriter counts what reaches the connection, and keeps its
// failure.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}
