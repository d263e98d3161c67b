package fakeprovider

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// The fake's own WebSocket server side (RFC 6455 with RFC 7692
// permessage-deflate). It is written out rather than taken from a library
// because the fake must control the wire exactly: which extension
// parameters it answers, how a message is cut into frames, where pings are
// interleaved, and when a connection is cut without a close frame. Tests
// check it against an independent client (github.com/coder/websocket).

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Close codes used by the fake (RFC 6455 §7.4.1).
const (
	closeNormal      = 1000
	closeGoingAway   = 1001
	closeProtocol    = 1002
	closeUnsupported = 1003
	closeInvalidData = 1007
	closePolicy      = 1008
	closeTooBig      = 1009
	closeInternal    = 1011
)

// Values of HeaderWSDeflate and Options.WSDeflate.
const (
	// DeflateAuto accepts the client's first permessage-deflate offer that the
	// fake can honour, answering the no-context-takeover parameters the
	// client asked for (so context takeover stays on unless asked off).
	DeflateAuto = "auto"
	// DeflateOff declines every offer: messages go uncompressed.
	DeflateOff = "off"
	// DeflateNoContextTakeover accepts with server_no_context_takeover and
	// client_no_context_takeover: every message compressed on its own.
	DeflateNoContextTakeover = "no-context-takeover"
	// DeflateServerNoContextTakeover accepts with server_no_context_takeover
	// only (the client keeps its window unless it asked otherwise).
	DeflateServerNoContextTakeover = "server-no-context-takeover"
	// DeflateClientNoContextTakeover accepts with client_no_context_takeover
	// only (the server keeps its window unless the client asked otherwise).
	DeflateClientNoContextTakeover = "client-no-context-takeover"
)

// wsGUID is the key suffix of RFC 6455 §1.3.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// deflateTail is what a sender strips from each compressed message (RFC 7692
// §7.2.1) and the receiver appends back; the final empty stored block after
// it makes the inflater end cleanly with io.EOF.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// deflateWindow is the LZ77 window compress/flate uses (2^15 bytes): the
// fake can honour only server_max_window_bits=15.
const deflateWindow = 1 << 15

// isWebSocketUpgrade reports whether r asks for a WebSocket upgrade.
func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

// headerHasToken reports whether a comma-separated header lists token
// (case-insensitively).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// deflateParams is the permessage-deflate agreement of one connection.
type deflateParams struct {
	on                      bool
	serverNoContextTakeover bool
	clientNoContextTakeover bool
}

// header is the Sec-WebSocket-Extensions answer.
func (d deflateParams) header() string {
	if !d.on {
		return ""
	}
	s := "permessage-deflate"
	if d.serverNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if d.clientNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	return s
}

// negotiateDeflate picks the answer to the client's extension offers under
// the mode (a Deflate… constant, "" meaning DeflateAuto).
func negotiateDeflate(h http.Header, mode string) deflateParams {
	if mode == DeflateOff {
		return deflateParams{}
	}
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		for _, offer := range strings.Split(v, ",") {
			parts := strings.Split(offer, ";")
			if !strings.EqualFold(strings.TrimSpace(parts[0]), "permessage-deflate") {
				continue
			}
			d, ok := deflateParams{on: true}, true
			for _, p := range parts[1:] {
				name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				val = strings.Trim(strings.TrimSpace(val), `"`)
				switch strings.ToLower(strings.TrimSpace(name)) {
				case "server_no_context_takeover":
					d.serverNoContextTakeover = true
				case "client_no_context_takeover":
					d.clientNoContextTakeover = true
				case "server_max_window_bits":
					// compress/flate always uses a 2^15 window.
					ok = ok && val == "15"
				case "client_max_window_bits":
					// Any client window fits the 2^15 window the inflater keeps.
				default:
					ok = false // unknown parameter: decline this offer (RFC 7692 §5)
				}
			}
			if !ok {
				continue
			}
			switch mode {
			case DeflateNoContextTakeover:
				d.serverNoContextTakeover, d.clientNoContextTakeover = true, true
			case DeflateServerNoContextTakeover:
				d.serverNoContextTakeover = true
			case DeflateClientNoContextTakeover:
				d.clientNoContextTakeover = true
			}
			return d
		}
	}
	return deflateParams{}
}

// wsKnobs are the connection-level WebSocket knobs.
type wsKnobs struct {
	deflate  string // a Deflate… mode
	fragment int    // max payload bytes per frame; 0: one frame per message
	ping     bool   // interleave pings between fragments and before messages
	status   int    // refuse upgrades with this status; 0 accepts
}

// wsMessage is one complete data message from the client.
type wsMessage struct {
	opcode byte
	data   []byte
}

// errWSClosed means the client closed the connection (close frame or EOF).
var errWSClosed = errors.New("websocket closed by the client")

// wsConn is the server end of one WebSocket connection. Writes are
// serialized by mu; one goroutine reads (readLoop) and answers pings.
type wsConn struct {
	conn    net.Conn
	br      *bufio.Reader
	deflate deflateParams
	knobs   wsKnobs
	maxMsg  int64

	mu      sync.Mutex // guards writes and the fields below
	closed  bool       // a close frame was sent
	pings   int        // pings sent, numbering their payloads
	zw      *flate.Writer
	zbuf    bytes.Buffer
	wbuf    []byte
	inflate io.ReadCloser // reused inflater for client messages
	dict    []byte        // last deflateWindow bytes of client output (context takeover)
}

// acceptWebSocket completes the handshake on w and returns the connection,
// or answers a 400 (in prov's error shape, through e) and returns nil.
func acceptWebSocket(w http.ResponseWriter, r *http.Request, e *emitter, k wsKnobs, maxMsg int64) *wsConn {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Header.Get("Sec-WebSocket-Version") != "13" || key == "" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		e.fail(http.StatusBadRequest, "fakeprovider: WebSocket upgrade needs Sec-WebSocket-Version 13 and a Sec-WebSocket-Key")
		return nil
	}
	d := negotiateDeflate(r.Header, k.deflate)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		e.fail(http.StatusInternalServerError, "fakeprovider: cannot hijack the connection for a WebSocket: "+err.Error())
		return nil
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	b.WriteString("Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n")
	if p := firstToken(r.Header.Get("Sec-WebSocket-Protocol")); p != "" {
		b.WriteString("Sec-WebSocket-Protocol: " + p + "\r\n")
	}
	if x := d.header(); x != "" {
		b.WriteString("Sec-WebSocket-Extensions: " + x + "\r\n")
	}
	for name, vs := range e.w.Header() {
		for _, v := range vs {
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	if _, err := rw.WriteString(b.String()); err != nil {
		conn.Close()
		return nil
	}
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil
	}
	return &wsConn{conn: conn, br: rw.Reader, deflate: d, knobs: k, maxMsg: maxMsg}
}

// firstToken is the first element of a comma-separated list.
func firstToken(s string) string {
	t, _, _ := strings.Cut(s, ",")
	return strings.TrimSpace(t)
}

// appendFrame appends one server frame (unmasked) to dst.
func appendFrame(dst []byte, fin bool, rsv1 bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	dst = append(dst, b0)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// compress deflates one message under the agreed context takeover.
func (c *wsConn) compress(data []byte) []byte {
	c.zbuf.Reset()
	if c.zw == nil {
		// BestSpeed keeps big test messages cheap; the level does not matter
		// to the receiver.
		c.zw, _ = flate.NewWriter(&c.zbuf, flate.BestSpeed) // level is valid: no error
	} else if c.deflate.serverNoContextTakeover {
		c.zw.Reset(&c.zbuf)
	}
	_, _ = c.zw.Write(data) // into a bytes.Buffer: cannot fail
	_ = c.zw.Flush()
	out := c.zbuf.Bytes()
	return bytes.TrimSuffix(out, []byte(deflateTail[:4]))
}

// writeMessage sends one data message, compressed when agreed, cut into
// frames of knobs.fragment payload bytes with a ping between them (and
// before the message) when knobs.ping is set.
func (c *wsConn) writeMessage(opcode byte, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	payload, rsv1 := data, false
	if c.deflate.on {
		payload, rsv1 = c.compress(data), true
	}
	c.wbuf = c.wbuf[:0]
	if c.knobs.ping {
		c.wbuf = c.appendPing(c.wbuf)
	}
	op := opcode
	for first := true; first || len(payload) > 0; first = false {
		n := len(payload)
		if c.knobs.fragment > 0 && n > c.knobs.fragment {
			n = c.knobs.fragment
		}
		fin := n == len(payload)
		if !first && c.knobs.ping {
			c.wbuf = c.appendPing(c.wbuf)
		}
		c.wbuf = appendFrame(c.wbuf, fin, rsv1 && first, op, payload[:n])
		payload = payload[n:]
		op = opContinuation
	}
	_, err := c.conn.Write(c.wbuf)
	return err
}

// appendPing appends a ping whose payload numbers it.
func (c *wsConn) appendPing(dst []byte) []byte {
	c.pings++
	return appendFrame(dst, true, false, opPing, fmt.Appendf(nil, "fake-ping-%d", c.pings))
}

// writeControl sends one control frame.
func (c *wsConn) writeControl(opcode byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if opcode == opClose {
		c.closed = true
	}
	_, err := c.conn.Write(appendFrame(nil, true, false, opcode, payload))
	return err
}

// close sends a close frame with code and reason, then closes the socket.
func (c *wsConn) close(code int, reason string) {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	_ = c.writeControl(opClose, append(p, reason...))
	c.conn.Close()
}

// cut closes the socket without a close frame, as a crash or a network
// failure would.
func (c *wsConn) cut() { c.conn.Close() }

// readLoop reads client frames until the connection ends, answering pings
// and the client's close, and sends each complete data message to msgs. It
// closes msgs when it returns, with the reason it stopped.
func (c *wsConn) readLoop(ctx context.Context, msgs chan<- wsMessage) error {
	defer close(msgs)
	var (
		msg      []byte
		msgOp    byte
		msgRSV1  bool
		inFrames bool
	)
	for {
		fin, rsv1, op, payload, err := c.readFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errWSClosed
			}
			var pe *wsProtocolError
			if errors.As(err, &pe) {
				c.close(pe.code, pe.msg)
			}
			return err
		}
		switch op {
		case opPing:
			if err := c.writeControl(opPong, payload); err != nil {
				return err
			}
			continue
		case opPong:
			continue
		case opClose:
			// Echo the close (RFC 6455 §5.5.1) and end.
			_ = c.writeControl(opClose, payload[:min(len(payload), 2)])
			c.conn.Close()
			return errWSClosed
		case opText, opBinary:
			if inFrames {
				c.close(closeProtocol, "new message inside a fragmented one")
				return errors.New("websocket: data frame inside a fragmented message")
			}
			msg, msgOp, msgRSV1, inFrames = msg[:0], op, rsv1, true
		case opContinuation:
			if !inFrames {
				c.close(closeProtocol, "continuation without a message")
				return errors.New("websocket: continuation frame without a message")
			}
		default:
			c.close(closeProtocol, "unknown opcode")
			return fmt.Errorf("websocket: unknown opcode %#x", op)
		}
		if int64(len(msg)+len(payload)) > c.maxMsg {
			c.close(closeTooBig, "message too big")
			return fmt.Errorf("websocket: message over %d bytes", c.maxMsg)
		}
		msg = append(msg, payload...)
		if !fin {
			continue
		}
		inFrames = false
		data := bytes.Clone(msg)
		if msgRSV1 {
			if data, err = c.decompress(data); err != nil {
				c.close(closeInvalidData, "bad compressed message")
				return err
			}
		}
		select {
		case msgs <- wsMessage{opcode: msgOp, data: data}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wsProtocolError is a client frame that breaks RFC 6455: the connection
// is closed with code.
type wsProtocolError struct {
	code int
	msg  string
}

func (e *wsProtocolError) Error() string { return "websocket: " + e.msg }

// readFrame reads one client frame and unmasks it.
func (c *wsConn) readFrame() (fin, rsv1 bool, opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(c.br, h[:]); err != nil {
		return
	}
	fin, rsv1, opcode = h[0]&0x80 != 0, h[0]&0x40 != 0, h[0]&0x0F
	if h[0]&0x30 != 0 || (rsv1 && !c.deflate.on) || (rsv1 && opcode >= opClose) || (rsv1 && opcode == opContinuation) {
		err = &wsProtocolError{closeProtocol, "reserved bits set"}
		return
	}
	if h[1]&0x80 == 0 {
		err = &wsProtocolError{closeProtocol, "client frame not masked"}
		return
	}
	n := int64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(c.br, b[:]); err != nil {
			return
		}
		n = int64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(c.br, b[:]); err != nil {
			return
		}
		n = int64(binary.BigEndian.Uint64(b[:]) & (1<<63 - 1))
	}
	if opcode >= opClose && (n > 125 || !fin) {
		err = &wsProtocolError{closeProtocol, "bad control frame"}
		return
	}
	if n > c.maxMsg {
		err = &wsProtocolError{closeTooBig, "frame too big"}
		return
	}
	var mask [4]byte
	if _, err = io.ReadFull(c.br, mask[:]); err != nil {
		return
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(c.br, payload); err != nil {
		return
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return
}

// decompress inflates one client message, keeping the client's window
// across messages unless client_no_context_takeover was agreed.
func (c *wsConn) decompress(data []byte) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(data), strings.NewReader(deflateTail))
	var dict []byte
	if !c.deflate.clientNoContextTakeover {
		dict = c.dict
	}
	if c.inflate == nil {
		c.inflate = flate.NewReaderDict(src, dict)
	} else if err := c.inflate.(flate.Resetter).Reset(src, dict); err != nil {
		return nil, fmt.Errorf("websocket: reset inflater: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(c.inflate, c.maxMsg+1))
	if err != nil {
		return nil, fmt.Errorf("websocket: inflate message: %w", err)
	}
	if int64(len(out)) > c.maxMsg {
		return nil, fmt.Errorf("websocket: inflated message over %d bytes", c.maxMsg)
	}
	if !c.deflate.clientNoContextTakeover {
		c.dict = append(c.dict, out...)
		if len(c.dict) > deflateWindow {
			c.dict = append(c.dict[:0], c.dict[len(c.dict)-deflateWindow:]...)
		}
	}
	return out, nil
}
