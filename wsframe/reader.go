// Package wsframe is a push reader for WebSocket frames (RFC 6455) with
// permessage-deflate (RFC 7692), built to sit beside one direction of a
// WebSocket connection that is being relayed byte for byte: the relay
// writes each chunk it forwarded into Write, and the reader calls back once
// per complete message and once per control frame.
//
// Why a push reader: the relay forwards every byte as it arrives and must
// never wait for, buffer or depend on its copy being understood: the client
// gets exactly what the provider sent, at its pace. Write never retains
// the caller's slice, never modifies it, never fails and never blocks
// beyond the callback; bytes that break the protocol set a sticky error
// (Err) and the reader stops reading, while the relay carries on.
//
// What it reads: the frame header (FIN, RSV1–3, opcode, masking, 7/16/64-bit
// lengths), masked frames from the client and unmasked ones from the
// server, fragmented messages with control frames interleaved between their
// fragments, ping, pong and close frames (with the close code), and
// messages compressed with permessage-deflate, with or without context
// takeover, as negotiated in the 101 response (ParseExtensions). Text
// messages are not checked for valid UTF-8: that is the endpoints' job,
// and a meter reads bytes.
//
// Decompression is for the copy only. A compressed message is inflated as
// its bytes arrive: small messages (the usual case) from a buffer at their
// end; a message whose compressed bytes pass 64 KiB by a decompressor that
// runs as a coroutine (iter.Pull) and is resumed with each further piece,
// so no compressed message is ever held whole. With context takeover the
// last 32 KiB of each direction's output is kept as the next message's
// dictionary (RFC 7692 §7.2.3.1).
//
// Memory is bounded whatever the frame or message size: a message is kept
// whole up to Options.MaxMessageSize (decompressed), and past it only its
// first HeadSize and last TailSize bytes are kept, so that a meter can still
// read a large event's type and its trailing usage; a compressed message
// stops the reader once it inflates past MaxInflatedSize, so a
// decompression bomb costs bounded time as well as bounded memory.
//
// Library: frame headers are decoded with github.com/gobwas/ws
// (ReadHeaderBuffer over the at most 14 header bytes gathered from the
// writes, then CheckHeader with the direction's state), payloads are
// unmasked with its Cipher (which takes the offset into the frame, as a
// push reader needs), and the extension header is parsed with its wsflate
// package. Its frame readers and wsflate.Reader are pull-based over a
// connection, and wsflate does not keep a window across messages, so the
// reading loop and the inflater are this package's. github.com/coder/websocket
// exports no frame-level API at all: it owns its connection; the tests use
// it as an independent peer.
package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"

	"github.com/gobwas/ws"
)

// Defaults for Options.
const (
	DefaultMaxMessageSize  = 16 << 20 // 16 MiB, decompressed
	DefaultHeadSize        = 4 << 10  // 4 KiB
	DefaultTailSize        = 64 << 10 // 64 KiB
	DefaultMaxInflatedSize = 1 << 30  // 1 GiB
)

// Errors the reader stops with; Err wraps one of them with where it
// happened and the detail.
var (
	// ErrProtocol means the bytes break RFC 6455 or RFC 7692 framing.
	ErrProtocol = errors.New("websocket protocol violation")
	// ErrCompression means a compressed message does not inflate, or
	// inflates past Options.MaxInflatedSize.
	ErrCompression = errors.New("websocket message does not inflate")
)

// Direction is which way the bytes written to a Reader travel.
type Direction uint8

// The directions. The zero value is invalid: NewReader panics on it.
const (
	// FromClient is client to server: every frame is masked.
	FromClient Direction = 1 + iota
	// FromServer is server to client: no frame is masked.
	FromServer
)

func (d Direction) String() string {
	switch d {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Opcode is a frame's opcode (RFC 6455 §5.2). Messages are delivered with
// the opcode of their first frame: OpText or OpBinary, or the control
// opcodes; OpContinuation is never delivered.
type Opcode uint8

// The opcodes.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("Opcode(%#x)", uint8(o))
}

// IsControl reports whether o is a control opcode (close, ping, pong).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// Message is one data message or one control frame. The reader owns it and
// every slice in it: they are valid only during the callback that receives
// them (copy anything kept longer).
type Message struct {
	Opcode Opcode
	// Data is the payload: decompressed for a compressed message, unmasked
	// for a client's. For an oversize message it holds only the last
	// TailSize bytes.
	Data []byte
	// Head is set only for an oversize message: its first HeadSize bytes.
	Head []byte
	// Size is the whole payload's length (decompressed), oversize or not.
	Size int64
	// Compressed reports a permessage-deflate message (RSV1 on its first
	// frame).
	Compressed bool
	// Oversize reports that the message grew past MaxMessageSize: Data is
	// its tail and Head its head.
	Oversize bool
	// CloseCode is, for OpClose, the status code the frame carries, or
	// 1005 ("no status received", RFC 6455 §7.1.5) when it carries none.
	CloseCode int
	// CloseReason is, for OpClose, the reason text after the code.
	CloseReason []byte
}

// Options tunes a Reader. The zero value reads uncompressed frames with the
// default limits.
type Options struct {
	// Deflate is the permessage-deflate agreement of the connection, as
	// ParseExtensions reads it from the 101 response. Without it a frame
	// with RSV1 set is a protocol error.
	Deflate Deflate
	// MaxMessageSize caps the bytes kept of one message (decompressed).
	// Zero or negative means DefaultMaxMessageSize.
	MaxMessageSize int
	// HeadSize and TailSize are how much of an oversize message is kept.
	// Zero or negative means DefaultHeadSize and DefaultTailSize; both are
	// capped at MaxMessageSize.
	HeadSize, TailSize int
	// MaxInflatedSize stops the reader (with ErrCompression) when one
	// compressed message inflates past it. Zero or negative means
	// DefaultMaxInflatedSize.
	MaxInflatedSize int64
}

// readState is where the reader is in the byte stream.
type readState uint8

const (
	stHeader  readState = iota // inside a frame header
	stPayload                  // inside a frame payload
	stClosed                   // after a close frame: no more bytes are expected
	stFailed                   // after an error: bytes are ignored
)

// maxHeaderSize is the largest frame header: 2 bytes, a 64-bit length and
// a mask.
const maxHeaderSize = ws.MaxHeaderSize

// scratchSize is the piece size in which masked payloads are unmasked.
const scratchSize = 32 << 10

// retainLimit is the largest message buffer kept between messages: a
// larger one served a rare big message and is let go, so that an idle
// connection holds little.
const retainLimit = 1 << 20

// Reader reads the frames of one direction of one WebSocket connection.
// Create it with NewReader. A Reader is not safe for concurrent use, and
// the callback must not call back into the Reader.
type Reader struct {
	dir       Direction
	onMessage func(*Message)
	deflate   bool // permessage-deflate was agreed
	maxMsg    int
	headSize  int
	tailSize  int
	maxInfl   int64

	st   readState
	err  error
	off  int64 // bytes written so far
	hdr  [maxHeaderSize]byte
	hdrN int // header bytes gathered
	hbuf [maxHeaderSize - 2]byte
	hr   bytes.Reader

	// the frame being read
	fin        bool
	op         Opcode
	masked     bool
	mask       [4]byte
	frameLen   int64
	remaining  int64 // payload bytes still to come
	frameStart int64 // stream offset of the frame's first byte

	// the data message being assembled
	inMsg      bool
	msgOp      Opcode
	compressed bool
	size       int64
	over       bool
	// msgErr is why the message's compressed bytes do not inflate,
	// reported at the message's end whenever it was found, so that what is
	// delivered never depends on how far inflating had gone.
	msgErr   error
	msgStart int64 // stream offset of the message's first frame
	msg      []byte
	head     []byte
	tail     []byte

	ctrl    [ws.MaxControlFramePayloadSize]byte
	ctrlN   int
	scratch []byte
	z       *inflater

	m Message
}

// NewReader returns a reader for the bytes relayed in direction dir that
// calls onMessage for every complete message and control frame. A nil
// onMessage discards them (the reader still checks the framing).
func NewReader(dir Direction, onMessage func(*Message), opts Options) *Reader {
	if dir != FromClient && dir != FromServer {
		panic("wsframe: NewReader with an invalid Direction")
	}
	r := &Reader{dir: dir, onMessage: onMessage, deflate: opts.Deflate.Enabled}
	r.maxMsg = opts.MaxMessageSize
	if r.maxMsg <= 0 {
		r.maxMsg = DefaultMaxMessageSize
	}
	r.headSize = opts.HeadSize
	if r.headSize <= 0 {
		r.headSize = DefaultHeadSize
	}
	r.tailSize = opts.TailSize
	if r.tailSize <= 0 {
		r.tailSize = DefaultTailSize
	}
	r.headSize, r.tailSize = min(r.headSize, r.maxMsg), min(r.tailSize, r.maxMsg)
	r.maxInfl = opts.MaxInflatedSize
	if r.maxInfl <= 0 {
		r.maxInfl = DefaultMaxInflatedSize
	}
	if r.deflate {
		takeover := !opts.Deflate.ServerNoContextTakeover
		if dir == FromClient {
			takeover = !opts.Deflate.ClientNoContextTakeover
		}
		r.z = newInflater(takeover)
		// Should the Reader be dropped mid-message without Close, stop the
		// inflater's coroutine rather than leave its goroutine parked for
		// ever. The coroutine refers to the inflater only, never to the
		// Reader, so the Reader can become unreachable.
		runtime.AddCleanup(r, (*inflater).release, r.z)
	}
	return r
}

// Err returns the error the reader stopped on, or nil. Once set it stays.
func (r *Reader) Err() error { return r.err }

// Closed reports that a close frame was read: the direction has ended.
func (r *Reader) Closed() bool { return r.st == stClosed }

// AtBoundary reports whether the bytes written so far end exactly between
// two frames (true before the first byte), so that a frame of one's own
// could be sent next without cutting one in two. It is false after an
// error, when the position is unknown.
func (r *Reader) AtBoundary() bool {
	return (r.st == stHeader && r.hdrN == 0) || r.st == stClosed
}

// Retained returns the bytes of memory the reader holds now for buffers:
// message, head, tail, unmasking and inflating buffers, and the inflater's
// state (estimated at 40 KiB, compress/flate's decompressor). It is what
// the reader costs a connection beyond its fixed size.
func (r *Reader) Retained() int {
	n := cap(r.msg) + cap(r.head) + cap(r.tail) + cap(r.scratch)
	if r.z != nil {
		n += r.z.retained()
	}
	return n
}

// Close releases what the reader holds for a message still open (the
// inflater's coroutine, when one runs), and stops it: later writes are
// ignored. A message cut short is not delivered. Close always returns nil
// and may be called more than once.
func (r *Reader) Close() error {
	if r.z != nil {
		r.z.release()
	}
	if r.st != stClosed {
		r.st = stFailed
	}
	return nil
}

// Write reads p, calling the callback for each message and control frame
// it completes. It never retains or modifies p and always returns len(p),
// nil.
func (r *Reader) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		switch r.st {
		case stHeader:
			p = r.readHeader(p)
		case stPayload:
			k := int(min(r.remaining, int64(len(p))))
			r.payload(p[:k])
			p = p[k:]
			r.off += int64(k)
			if r.st == stPayload && r.remaining == 0 {
				r.endFrame()
			}
		case stClosed:
			r.fail(ErrProtocol, r.off, "bytes after the close frame")
			return n, nil
		default:
			return n, nil
		}
	}
	return n, nil
}

// fail stops the reader with an error wrapping kind.
func (r *Reader) fail(kind error, at int64, detail string, cause ...error) {
	if r.err != nil {
		return
	}
	var err error
	if len(cause) > 0 && cause[0] != nil {
		err = fmt.Errorf("wsframe: %s frame at byte %d: %w: %s: %w", r.dir, at, kind, detail, cause[0])
	} else {
		err = fmt.Errorf("wsframe: %s frame at byte %d: %w: %s", r.dir, at, kind, detail)
	}
	r.err, r.st = err, stFailed
	if r.z != nil {
		r.z.release()
	}
}

// headerSize returns the length of the header that starts with b0, b1.
func headerSize(b1 byte) int {
	n := 2
	if b1&0x80 != 0 {
		n += 4
	}
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n
}

// readHeader gathers header bytes from p and starts the frame once the
// header is whole. It returns the rest of p.
func (r *Reader) readHeader(p []byte) []byte {
	need := 2
	if r.hdrN >= 2 {
		need = headerSize(r.hdr[1])
	}
	for r.hdrN < need && len(p) > 0 {
		k := copy(r.hdr[r.hdrN:need], p)
		r.hdrN += k
		p = p[k:]
		r.off += int64(k)
		if r.hdrN == 2 {
			need = headerSize(r.hdr[1])
		}
	}
	if r.hdrN < need {
		return p
	}
	r.frameStart = r.off - int64(need)
	r.hr.Reset(r.hdr[:need])
	h, err := ws.ReadHeaderBuffer(&r.hr, r.hbuf[:0])
	r.hdrN = 0
	if err != nil {
		r.fail(ErrProtocol, r.frameStart, "bad header", err)
		return nil
	}
	r.beginFrame(h)
	if r.st == stFailed {
		return nil
	}
	return p
}

// beginFrame checks a frame header against the direction's state and
// prepares for its payload.
func (r *Reader) beginFrame(h ws.Header) {
	state := ws.StateClientSide // a client receives the server's frames
	if r.dir == FromClient {
		state = ws.StateServerSide
	}
	if r.deflate {
		state = state.Set(ws.StateExtended)
	}
	if r.inMsg {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(h, state); err != nil {
		r.fail(ErrProtocol, r.frameStart, "bad header", err)
		return
	}
	op := Opcode(h.OpCode)
	// permessage-deflate defines RSV1 only, and only on a message's first
	// frame (RFC 7692 §6); RSV2 and RSV3 have no meaning here.
	if h.Rsv2() || h.Rsv3() || (h.Rsv1() && (op.IsControl() || op == OpContinuation)) {
		r.fail(ErrProtocol, r.frameStart, fmt.Sprintf("reserved bits %03b on a %s frame", h.Rsv, op))
		return
	}
	r.fin, r.op, r.masked, r.mask = h.Fin, op, h.Masked, h.Mask
	r.frameLen, r.remaining = h.Length, h.Length
	switch {
	case op.IsControl():
		r.ctrlN = 0
	case op == OpContinuation:
	default:
		r.startMessage(op, h.Rsv1())
	}
	r.st = stPayload
	if r.remaining == 0 {
		r.endFrame()
	}
}

// startMessage begins a data message.
func (r *Reader) startMessage(op Opcode, compressed bool) {
	r.inMsg, r.msgOp, r.compressed = true, op, compressed
	r.size, r.over, r.msgErr, r.msgStart = 0, false, nil, r.frameStart
	r.msg, r.head, r.tail = r.msg[:0], r.head[:0], r.tail[:0]
}

// payload reads a piece of the current frame's payload (at most the bytes
// still to come).
func (r *Reader) payload(p []byte) {
	pos := r.frameLen - r.remaining // offset of p in the frame's payload
	r.remaining -= int64(len(p))
	if r.op.IsControl() {
		r.ctrlN += copy(r.ctrl[r.ctrlN:], p)
		return
	}
	if !r.masked {
		if r.fin && r.op != OpContinuation && pos == 0 && r.remaining == 0 && !r.compressed && len(p) <= r.maxMsg {
			// A whole unfragmented message in one write: deliver the
			// caller's bytes as they are.
			r.size = int64(len(p))
			r.deliverData(p)
			return
		}
		r.data(p)
		return
	}
	if r.scratch == nil {
		r.scratch = make([]byte, scratchSize)
	}
	for len(p) > 0 && r.st == stPayload {
		k := copy(r.scratch, p)
		ws.Cipher(r.scratch[:k], r.mask, int(pos))
		r.data(r.scratch[:k])
		p, pos = p[k:], pos+int64(k)
	}
}

// data takes a piece of a data message's payload, as sent (compressed or
// not).
func (r *Reader) data(p []byte) {
	if !r.compressed {
		r.appendMsg(p)
		return
	}
	if r.msgErr != nil {
		return
	}
	if err := r.z.write(p, r.appendMsg); err != nil {
		r.badMessage(err)
	}
}

// badMessage notes that the open message does not inflate: the rest of it
// is skipped, and the reader stops at its end.
func (r *Reader) badMessage(err error) {
	if r.msgErr == nil {
		r.msgErr = err
		r.z.release()
	}
}

// appendMsg adds decompressed (or plain) bytes to the message, within the
// caps.
func (r *Reader) appendMsg(p []byte) {
	if r.st == stFailed || r.msgErr != nil {
		return
	}
	r.size += int64(len(p))
	if r.compressed && r.size > r.maxInfl {
		r.badMessage(fmt.Errorf("message inflates past %d bytes", r.maxInfl))
		return
	}
	if !r.over {
		if len(r.msg)+len(p) <= r.maxMsg {
			r.msg = appendCapped(r.msg, p, r.maxMsg)
			return
		}
		// Past the cap: keep the head and, from here on, only a tail.
		r.over = true
		r.head = appendCapped(r.head[:0], r.msg[:min(len(r.msg), r.headSize)], r.headSize)
		if k := r.headSize - len(r.head); k > 0 {
			r.head = appendCapped(r.head, p[:min(k, len(p))], r.headSize)
		}
		r.tail = appendTail(r.tail[:0], r.msg, r.tailSize)
	}
	r.tail = appendTail(r.tail, p, r.tailSize)
}

// endFrame finishes the frame whose payload has all arrived.
func (r *Reader) endFrame() {
	r.st = stHeader
	if r.op.IsControl() {
		r.endControl()
		return
	}
	if !r.fin {
		return
	}
	if r.compressed {
		if r.msgErr == nil {
			if err := r.z.finish(r.appendMsg); err != nil {
				r.badMessage(err)
			}
		}
		if r.msgErr != nil {
			r.fail(ErrCompression, r.msgStart, "inflate the message", r.msgErr)
			return
		}
	}
	if r.inMsg {
		r.deliverData(nil)
	}
}

// deliverData hands the finished data message to the callback. direct,
// when not nil, is the whole message as it arrived.
func (r *Reader) deliverData(direct []byte) {
	m := &r.m
	*m = Message{Opcode: r.msgOp, Size: r.size, Compressed: r.compressed, Oversize: r.over}
	switch {
	case direct != nil:
		m.Data = direct
	case r.over:
		m.Data, m.Head = lastN(r.tail, r.tailSize), r.head
	default:
		m.Data = r.msg
	}
	r.inMsg = false
	if r.onMessage != nil {
		r.onMessage(m)
	}
	*m = Message{}
	if cap(r.msg) > retainLimit {
		r.msg = nil
	}
	if cap(r.tail) > retainLimit {
		r.tail = nil
	}
}

// endControl delivers a control frame.
func (r *Reader) endControl() {
	p := r.ctrl[:r.ctrlN]
	if r.masked {
		ws.Cipher(p, r.mask, 0)
	}
	m := &r.m
	*m = Message{Opcode: r.op, Data: p, Size: int64(len(p))}
	if r.op == OpClose {
		switch len(p) {
		case 0:
			m.CloseCode = int(ws.StatusNoStatusRcvd)
		case 1:
			r.fail(ErrProtocol, r.frameStart, "close frame with a 1-byte payload")
			return
		default:
			m.CloseCode, m.CloseReason = int(binary.BigEndian.Uint16(p)), p[2:]
		}
		r.st = stClosed
	}
	if r.onMessage != nil {
		r.onMessage(m)
	}
	*m = Message{}
}

// appendCapped appends p to b, growing b's storage (when it must) to no
// more than limit bytes: plain append would round a 16 MiB cap up to 20.
func appendCapped(b, p []byte, limit int) []byte {
	if need := len(b) + len(p); need > cap(b) {
		grown := make([]byte, len(b), min(max(2*cap(b), need, 512), max(limit, need)))
		copy(grown, b)
		b = grown
	}
	return append(b, p...)
}

// lastN returns the last n bytes of b (all of b if shorter).
func lastN(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// appendTail appends b to buf keeping at least the last n bytes of
// everything appended so far and at most 2n, sliding within buf's storage
// (which grows to 2n at most). Read the tail with lastN(buf, n).
func appendTail(buf, b []byte, n int) []byte {
	if len(b) >= n {
		return appendCapped(buf[:0], b[len(b)-n:], 2*n)
	}
	if len(buf)+len(b) > 2*n {
		keep := n - len(b)
		k := copy(buf, buf[len(buf)-keep:])
		buf = buf[:k]
	}
	return appendCapped(buf, b, 2*n)
}
