package intercept

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
	"github.com/valohai/conduit/wsframe"
)

// A WebSocket upgrade to an intercepted host (forward mode) or a provider
// (base-URL mode) is relayed, not answered: Conduit sends the handshake
// upstream with the client's headers and subprotocols, hands the 101 back
// as it came, and then copies bytes both ways, unchanged, each read written
// on at once (see wsHalf.forward for the order of sending and metering). A copy of each direction goes to a wsframe.Reader, whose
// messages feed one parsers.MessageMeter per connection; every response
// the meter ends becomes its own record, linked to the others of the
// connection by Record.ConnectionID (the id of the connection's upgrade).
//
// An upgrade to a path that is not a metered WebSocket API is relayed the
// same way without a meter, and recorded once, as kind other, when it
// closes: an HTTP request to such a path is recorded as other too, and one
// row per connection says the traffic existed without counting it as calls.
//
// A refused upgrade (any status but 101) is an ordinary HTTP answer: it
// goes through the same reply and record path as any call.

// Defaults of the WebSocket timeouts.
const (
	defaultWebSocketIdle = 10 * time.Minute
	// wsCloseGrace is how long a connection Conduit ends (a graceful stop,
	// an idle or total timeout) is given to answer Conduit's close frames
	// before both sides are cut.
	wsCloseGrace = 3 * time.Second
	// wsBufferSize is one read of either side: a TLS record's plaintext
	// fits, and 1,000 idle connections hold a few tens of MB.
	wsBufferSize = 16 << 10
)

var wsBuffers = sync.Pool{New: func() any { b := make([]byte, wsBufferSize); return &b }}

// webSockets relays the upgrades of both modes and tracks the open
// connections, for a graceful stop.
type webSockets struct {
	capture   *capture
	transport *http.Transport // the calls' transport, HTTP/1.1 only and without Go's own gzip
	logger    *slog.Logger

	mu      sync.Mutex
	closing bool
	conns   map[*wsRelay]struct{}
	empty   chan struct{} // closed while conns is empty
}

func newWebSockets(c *capture, calls *http.Transport, logger *slog.Logger) *webSockets {
	tr := calls.Clone()
	// The client's Accept-Encoding (if any) goes upstream as sent, and Go
	// must not add its own to a handshake.
	tr.DisableCompression = true
	// An upgrade is HTTP/1.1 (RFC 8441's HTTP/2 WebSockets are not
	// offered by the clients Conduit serves).
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	e := make(chan struct{})
	close(e)
	return &webSockets{capture: c, transport: tr, logger: logger, conns: make(map[*wsRelay]struct{}), empty: e}
}

// serve relays one WebSocket upgrade to t (see the comment at the top of
// this file). It returns when the connection has closed and its responses
// are recorded.
func (s *webSockets) serve(w http.ResponseWriter, r *http.Request, t target) {
	c := s.capture
	cl := c.newWebSocketCall(r, t)
	if c.admit != nil {
		if no := c.admit(r, cl.rec.Record); no != nil {
			writeResponse(w, cl.refused(no))
			return
		}
	}
	out, err := http.NewRequestWithContext(cl.ctx, http.MethodGet, t.url.String(), http.NoBody)
	if err != nil {
		writeResponse(w, cl.fail(http.StatusBadRequest, typeBadRequest, fmt.Sprintf("cannot forward this request: %v", err)))
		return
	}
	out.Header = upgradeHeaders(r.Header)
	out.Host = t.url.Host
	cl.sent = c.now()
	resp, err := s.transport.RoundTrip(out)
	if err != nil {
		writeResponse(w, cl.upstreamError(err))
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		writeResponse(w, cl.wrap(resp))
		return
	}
	upstream, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		// net/http gives every 101 a writable body; this is a guard.
		resp.Body.Close()
		writeResponse(w, cl.fail(http.StatusBadGateway, typeUpstreamUnreachable, "conduit: the upstream's 101 answer has no connection to relay"))
		return
	}
	cl.rec.Status = resp.StatusCode
	cl.rec.RequestID = firstHeader(resp.Header, "X-Request-Id", "Request-Id")
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		writeResponse(w, cl.fail(http.StatusInternalServerError, typeBadRequest, "conduit: cannot take over this connection to relay a WebSocket"))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		cl.rec.Outcome = ledger.OutcomeClientCancelled
		cl.rec.Error = "taking over the client's connection: " + err.Error()
		cl.finish(parsers.Result{}, false, nil)
		return
	}
	// The client's request is over: from here on the relay, not the
	// request's context, says when the client has gone.
	cl.stopClientWatch()
	// The listener's header and idle deadlines were for HTTP.
	conn.SetDeadline(time.Time{})

	rl := newWSRelay(s, cl, conn, brw.Reader, upstream, resp.Header)
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 %s\r\n", resp.Status)
	resp.Header.Write(&head)
	head.WriteString("\r\n")
	if _, err := conn.Write(head.Bytes()); err != nil {
		rl.clientGone.Store(true)
		rl.closeConns()
	}
	rl.run()
}

// newWebSocketCall starts the call of an upgrade to t: its record is the
// template of the connection's responses.
func (c *capture) newWebSocketCall(r *http.Request, t target) *call {
	ep := parsers.ClassifyWebSocket(t.provider.API, t.url.Path, t.url.RawQuery)
	cl := c.newCall(r, t, ep)
	cl.rec.Model, cl.rec.RequestModel = ep.Model, ep.Model
	cl.rec.Stream = true
	return cl
}

// upgradeHeaders are the headers of the handshake sent upstream: the
// client's, with Sec-WebSocket-Key, -Version, -Protocol and -Extensions
// untouched, minus Conduit's own and the other hop-by-hop ones, and with
// Accept-Encoding as the client sent it.
func upgradeHeaders(in http.Header) http.Header {
	h := outboundHeaders(in)
	if ae, ok := in["Accept-Encoding"]; ok {
		h["Accept-Encoding"] = ae
	}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "websocket")
	return h
}

// add tracks rl; it reports false when a stop has begun.
func (s *webSockets) add(rl *wsRelay) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		s.empty = make(chan struct{})
	}
	s.conns[rl] = struct{}{}
	return !s.closing
}

func (s *webSockets) remove(rl *wsRelay) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[rl]; ok {
		delete(s.conns, rl)
		if len(s.conns) == 0 {
			close(s.empty)
		}
	}
}

// shutdown ends every open connection with a close frame (1001, going
// away) to each side, and waits until they have closed and their responses
// are recorded: each side gets wsCloseGrace to answer, then is cut. When
// ctx ends first, the rest are cut at once, and ctx's error is returned.
func (s *webSockets) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	open := make([]*wsRelay, 0, len(s.conns))
	for rl := range s.conns {
		open = append(open, rl)
	}
	empty := s.empty
	s.mu.Unlock()
	for _, rl := range open {
		rl.stop("Conduit is stopping")
	}
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
	}
	for _, rl := range open {
		rl.closeConns()
	}
	// Cut connections end at once: what is left is recording.
	select {
	case <-empty:
	case <-time.After(abortGrace):
	}
	return ctx.Err()
}

// wsRelay is one relayed WebSocket connection.
type wsRelay struct {
	s        *webSockets
	cl       *call // the upgrade: its record is every response's template
	client   net.Conn
	clientR  io.Reader // the client's bytes: those read ahead with the upgrade request, then the connection
	upstream io.ReadWriteCloser
	meter    *parsers.MessageMeter // nil: not a metered endpoint

	toServer, toClient wsHalf

	lastActive atomic.Int64 // unix nanoseconds of the last read, either way
	idleTimer  *time.Timer
	totalTimer *time.Timer // nil: no total timeout
	drainTimer *time.Timer // set once one side has ended
	timersMu   sync.Mutex

	stopping   atomic.Bool
	over       atomic.Bool // run has finished relaying: the timers do nothing
	closeOnce  sync.Once
	clientGone atomic.Bool // the client ended first: its close frame or EOF came before the server's
	serverDone atomic.Bool // the server's side has ended
}

func newWSRelay(s *webSockets, cl *call, client net.Conn, clientR io.Reader, upstream io.ReadWriteCloser, respHeader http.Header) *wsRelay {
	rl := &wsRelay{s: s, cl: cl, client: client, clientR: clientR, upstream: upstream}
	cl.rec.ConnectionID = cl.rec.ID
	rl.toServer = wsHalf{rl: rl, dst: upstream, mask: true, dir: wsframe.FromClient}
	rl.toClient = wsHalf{rl: rl, dst: client, dir: wsframe.FromServer}
	deflate, err := wsframe.ParseExtensions(respHeader.Values("Sec-WebSocket-Extensions"))
	if err != nil {
		// The reader stops at the first frame it cannot read; the relay
		// carries on regardless.
		s.logger.Warn("websocket: extensions not understood; metering may stop", "host", cl.target.url.Host, "err", err)
	}
	opts := wsframe.Options{Deflate: deflate}
	if cl.endpoint.Metered() {
		rl.meter = parsers.NewMessageMeter(cl.endpoint, rl.record)
		rl.toServer.rd = wsframe.NewReader(wsframe.FromClient, rl.clientMessage, opts)
		rl.toClient.rd = wsframe.NewReader(wsframe.FromServer, rl.serverMessage, opts)
	} else {
		// Read without a meter, only to know the frame boundaries where a
		// close frame of Conduit's may go.
		rl.toServer.rd = wsframe.NewReader(wsframe.FromClient, nil, opts)
		rl.toClient.rd = wsframe.NewReader(wsframe.FromServer, nil, opts)
	}
	return rl
}

// run relays until both sides have ended, then records what the meter has
// not yet ended and forgets the connection.
func (rl *wsRelay) run() {
	s, t := rl.s, rl.cl.c.timeouts
	if !s.add(rl) {
		rl.stop("Conduit is stopping")
	}
	rl.lastActive.Store(time.Now().UnixNano())
	rl.timersMu.Lock()
	rl.idleTimer = time.AfterFunc(t.WebSocketIdle, rl.checkIdle)
	if t.WebSocketTotal > 0 {
		rl.totalTimer = time.AfterFunc(t.WebSocketTotal, func() { rl.stop("the WebSocket total timeout passed") })
	}
	rl.timersMu.Unlock()
	s.logger.Debug("websocket: relaying", "host", rl.cl.target.url.Host, "path", rl.cl.rec.Path, "connection", rl.cl.rec.ID)

	serverEnded := make(chan struct{})
	go func() {
		defer close(serverEnded)
		err := rl.toClient.pump(rl.upstream)
		rl.serverDone.Store(true)
		rl.sideEnded(rl.client, err)
	}()
	err := rl.toServer.pump(rl.clientR)
	if !rl.serverDone.Load() && !rl.toClient.sawClose() && !rl.stopping.Load() {
		rl.clientGone.Store(true)
	}
	rl.sideEnded(rl.upstream, err)
	<-serverEnded
	rl.closeConns()
	rl.over.Store(true)

	rl.timersMu.Lock()
	rl.idleTimer.Stop()
	if rl.totalTimer != nil {
		rl.totalTimer.Stop()
	}
	if rl.drainTimer != nil {
		rl.drainTimer.Stop()
	}
	rl.timersMu.Unlock()
	rl.toServer.release()
	rl.toClient.release()

	cl := rl.cl
	if rl.meter != nil {
		rl.meter.Finish(cl.c.now())
		cl.mu.Lock()
		cl.finished = true
		cl.mu.Unlock()
		cl.cancel()
		cl.c.inflight.done(cl)
	} else {
		// Not metered: one record of kind other for the connection.
		cl.finish(parsers.Result{}, true, nil)
	}
	s.remove(rl)
	s.logger.Debug("websocket: closed", "host", cl.target.url.Host, "connection", cl.rec.ID)
}

// sideEnded is called when one side's reads end (EOF, a cut, or Conduit's
// own close): the other side is told by a half close, and both are cut
// once the drain timeout passes — the other side may still be sending a
// response's last events. A side that cannot be half-closed (the
// provider's upgraded connection) is cut at once (see Timeouts.Drain).
func (rl *wsRelay) sideEnded(other io.Writer, err error) {
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		rl.s.logger.Debug("websocket: one side ended", "host", rl.cl.target.url.Host, "err", err)
	}
	if cw, ok := other.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		rl.closeConns()
		return
	}
	rl.timersMu.Lock()
	defer rl.timersMu.Unlock()
	if rl.drainTimer == nil {
		rl.drainTimer = time.AfterFunc(*rl.cl.c.timeouts.Drain, rl.closeConns)
	}
}

// checkIdle ends the connection once nothing has passed either way for the
// idle timeout.
func (rl *wsRelay) checkIdle() {
	if rl.over.Load() {
		return
	}
	idle := rl.cl.c.timeouts.WebSocketIdle
	since := time.Since(time.Unix(0, rl.lastActive.Load()))
	if since >= idle {
		rl.stop("the WebSocket idle timeout passed")
		return
	}
	rl.timersMu.Lock()
	rl.idleTimer.Reset(idle - since)
	rl.timersMu.Unlock()
}

// stop ends the connection gracefully: a close frame (1001, going away) to
// each side at its next frame boundary, then, after wsCloseGrace, a cut.
func (rl *wsRelay) stop(why string) {
	if rl.over.Load() || !rl.stopping.CompareAndSwap(false, true) {
		return
	}
	rl.s.logger.Info("websocket: closing the connection", "host", rl.cl.target.url.Host, "why", why)
	// Each in its own goroutine: a side may be stuck writing to a peer
	// that does not read, until the cut.
	go rl.toClient.goAway()
	go rl.toServer.goAway()
	time.AfterFunc(wsCloseGrace, rl.closeConns)
}

// closeConns cuts both sides; the pumps then end.
func (rl *wsRelay) closeConns() {
	rl.closeOnce.Do(func() {
		rl.client.Close()
		rl.upstream.Close()
	})
}

// clientMessage meters a message the client sent.
func (rl *wsRelay) clientMessage(m *wsframe.Message) {
	if m.Opcode == wsframe.OpClose && !rl.toClient.sawClose() && !rl.stopping.Load() {
		rl.clientGone.Store(true)
	}
	rl.meter.ClientMessage(m, rl.cl.c.now())
}

// serverMessage meters a message the server sent.
func (rl *wsRelay) serverMessage(m *wsframe.Message) {
	rl.meter.ServerMessage(m, rl.cl.c.now())
}

// record hands on one response of the connection, as a record of its own
// built on the upgrade's (provider, client, attribution, connection id).
// It runs on a pump's goroutine, with the meter's lock held.
func (rl *wsRelay) record(mr parsers.MessageResult) {
	cl := rl.cl
	rec := cl.rec
	rec.ID = newID()
	rec.Tags = slices.Clone(cl.rec.Tags)
	rec.StartedAt, rec.FinishedAt = mr.Start.UTC(), mr.End.UTC()
	rec.Duration = mr.End.Sub(mr.Start)
	// The messages pass through as they come: the response's time is the
	// upstream's.
	rec.UpstreamTime = rec.Duration
	if !mr.FirstByte.IsZero() {
		rec.TTFB = mr.FirstByte.Sub(mr.Start)
	}
	applyResult(&rec.Record, mr.Result)
	if rec.RequestModel == "" {
		rec.RequestModel = rec.Model
	}
	cut := !mr.Terminal
	var msg string
	rec.Outcome, msg = outcome(rec.Status, cl.endpoint, mr.Result, !cut, nil, cut && rl.clientGone.Load())
	rec.Error = scrubSecrets(msg, cl.reqHeader, cl.target.url.RawQuery)
	rec.Sanitize() // bounded before the log, budgets and telemetry see it, as call.finish does
	cl.c.log(&rec.Record)
	if cl.c.record != nil {
		cl.c.record(rec)
	}
}

// wsHalf is one direction of a relayed connection: its destination, and
// the reader of the copy of what was written to it.
type wsHalf struct {
	rl   *wsRelay
	dir  wsframe.Direction
	dst  io.Writer
	mask bool // frames Conduit itself writes this way are masked (towards the server)

	mu        sync.Mutex
	rd        *wsframe.Reader // the copy's reader; it feeds the meter when there is one
	goingAway bool            // a close frame is to go out at the next frame boundary
	ended     bool            // Conduit's close frame went out: nothing more is forwarded
	errLogged bool
	closeSeen atomic.Bool // a close frame passed this way
}

// pump copies src to the destination, one read at a time, until src ends.
func (h *wsHalf) pump(src io.Reader) error {
	bp := wsBuffers.Get().(*[]byte)
	defer wsBuffers.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			h.rl.lastActive.Store(time.Now().UnixNano())
			if werr := h.forward(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// forward sends p on and gives a copy to the reader. The provider's bytes
// reach the client before they are read, so metering never delays them;
// the client's are read just before they are sent, so that the meter knows
// of a request before any answer to it can arrive (the other direction
// runs on its own goroutine).
func (h *wsHalf) forward(p []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir == wsframe.FromClient {
		h.read(p)
	}
	if !h.ended {
		if _, err := h.dst.Write(p); err != nil {
			return fmt.Errorf("writing to the %s: %w", h.peer(), err)
		}
	}
	if h.dir == wsframe.FromServer {
		h.read(p)
	}
	if h.goingAway {
		h.sendClose()
	}
	return nil
}

// read gives p to the reader, and notes a close frame or the reader's end.
func (h *wsHalf) read(p []byte) {
	h.rd.Write(p)
	if h.rd.Closed() {
		h.closeSeen.Store(true)
	}
	if err := h.rd.Err(); err != nil && !h.errLogged && h.rl.meter != nil {
		h.errLogged = true
		h.rl.s.logger.Warn("websocket: cannot read the frames any more; the connection is still relayed, its remaining responses are not metered",
			"host", h.rl.cl.target.url.Host, "from", h.dir.String(), "err", err)
	}
}

// peer names the destination, for errors.
func (h *wsHalf) peer() string {
	if h.mask {
		return "server"
	}
	return "client"
}

func (h *wsHalf) sawClose() bool { return h.closeSeen.Load() }

// goAway asks for Conduit's close frame to go this way at the next frame
// boundary (now, when the bytes so far end between frames).
func (h *wsHalf) goAway() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.goingAway = true
	h.sendClose()
}

// sendClose writes Conduit's close frame if the direction is between
// frames and no close frame went this way yet. A direction whose reader
// stopped has no known boundary: it is only cut.
func (h *wsHalf) sendClose() {
	if h.ended {
		return
	}
	if h.rd.Closed() {
		h.ended = true // the peer's own close frame already went this way
		return
	}
	if !h.rd.AtBoundary() {
		return
	}
	h.ended = true
	frame := ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "Conduit is closing the connection"))
	if h.mask {
		frame = ws.MaskFrameInPlace(frame)
	}
	b, err := ws.CompileFrame(frame)
	if err == nil {
		_, _ = h.dst.Write(b)
	}
}

// release lets the reader go.
func (h *wsHalf) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rd.Close()
}
