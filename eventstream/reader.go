// Package eventstream is a push reader for the AWS event-stream encoding
// (application/vnd.amazon.eventstream) that Amazon Bedrock streams its
// responses in, built to sit beside a response body that is being
// forwarded: the caller writes each chunk it copied into Write and the
// reader calls back once per message.
//
// Why a push reader: as with the sse package, the proxy forwards every
// byte as it arrives and reads the copy without a goroutine, pipe or second
// buffer per call. Write never retains the caller's slice, never fails and
// never blocks beyond the callback; bytes that break the encoding (a length
// that cannot be, a prelude or message CRC that does not match) set a
// sticky error (Err) and the reader stops, while the forwarding goes on.
//
// The encoding (see
// https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html#streaming-event-stream)
// is a sequence of messages, each: total length and headers length (two
// big-endian uint32s) and the CRC32 of those 8 bytes (the prelude), the
// headers, the payload, and the CRC32 of everything before it.
//
// Library: none; the framing is small and fully specified, and decoding it
// here, in place, costs no allocation per message (the AWS SDK for Go v2's
// decoder, github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream, builds a
// header list and value per header and copies each payload; the tests use
// it as an independent encoder and as an oracle). The reader checks the
// prelude CRC before it trusts a length, the message CRC before it reads a
// header, and steps over every header value type by its length rules
// (bool true and false: no value; byte, short, int, long, timestamp: 1, 2,
// 4, 8, 8 bytes; UUID: 16; bytes and string: a uint16 length, then the
// bytes); an unknown type or a header running past its block breaks the
// encoding. A message whole within one Write is decoded in the caller's
// slice; one cut across Writes is gathered first. Memory is bounded by
// Options.MaxMessageSize: a longer message is not gathered but skipped,
// its CRC still checked, and reported as Oversize.
package eventstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// DefaultMaxMessageSize is the default cap on one message (Bedrock's are a
// few KB: one event each).
const DefaultMaxMessageSize = 16 << 20

// ErrFormat is what Err wraps when the bytes break the encoding.
var ErrFormat = errors.New("malformed event stream")

// preludeLen is the prelude with its CRC; minLen the smallest message
// (no headers, no payload).
const (
	preludeLen = 12
	minLen     = preludeLen + 4
)

// Message is one decoded message. The reader owns it and its Payload,
// which is valid only during the callback that receives it (copy it to
// keep it longer) and must not be modified: it may be the caller's own
// bytes. The header strings are ordinary strings, safe to keep.
type Message struct {
	// The string headers that say what a message is ("" when absent or
	// not strings; of a header given twice, the last counts):
	// ":message-type" ("event", "exception" or "error"), ":event-type"
	// (Bedrock's "chunk", "messageStart", "metadata", …),
	// ":exception-type" ("modelStreamErrorException", …), ":content-type",
	// and, on error messages, ":error-code" and ":error-message".
	MessageType, EventType, ExceptionType, ContentType string
	ErrorCode, ErrorMessage                            string
	// Payload is the message's payload; nil for an oversize message.
	Payload []byte
	// Size is the message's total length, prelude and CRC included.
	Size int64
	// Oversize reports a message longer than MaxMessageSize: it was
	// skipped (its CRC checked) and no header or payload is known.
	Oversize bool
}

// Options tunes a Reader. The zero value is ready to use.
type Options struct {
	// MaxMessageSize caps the bytes of one message held for decoding.
	// Zero or negative means DefaultMaxMessageSize.
	MaxMessageSize int
}

// retainLimit is the largest message buffer kept between messages.
const retainLimit = 1 << 20

// Header values are made strings once and reused: a stream repeats a few
// (its message, event and content types), and a string per header per
// message would be most of what reading a message costs. At most
// maxInterned strings of at most maxInternLen bytes are kept per reader
// (2 KiB); others are made each time.
const (
	maxInterned  = 32
	maxInternLen = 64
)

// maxHeaderCache is the largest header block remembered to be compared
// with the next message's.
const maxHeaderCache = 256

// Reader reads one event stream. Create it with NewReader. A Reader is not
// safe for concurrent use, and the callback must not call back into it.
type Reader struct {
	onMessage func(*Message)
	max       int

	err     error
	off     int64 // bytes written so far
	start   int64 // stream offset of the current message
	prelude [preludeLen]byte
	pn      int    // prelude bytes gathered
	total   int64  // the current message's length, once its prelude is checked
	headers int    // the current message's headers length, likewise
	preCRC  uint32 // the CRC32 of the current message's first 8 bytes
	buf     []byte // the current message, gathered whole when cut across writes
	skip    int64  // bytes of an oversize message still to skip, its CRC excluded
	crc     uint32 // running CRC of an oversize message
	crcBuf  [4]byte
	crcN    int
	strs    []string // interned header values
	// lastHeaders is the last header block read (when at most
	// maxHeaderCache bytes) and lastMsg what it said: a stream's messages
	// mostly repeat their headers byte for byte.
	lastHeaders []byte
	lastMsg     Message
	m           Message
}

// NewReader returns a reader that calls onMessage for every message. A nil
// onMessage discards them (the reader still checks the encoding).
func NewReader(onMessage func(*Message), opts Options) *Reader {
	r := &Reader{onMessage: onMessage, max: opts.MaxMessageSize}
	if r.max <= 0 {
		r.max = DefaultMaxMessageSize
	}
	r.max = max(r.max, minLen)
	return r
}

// Err returns the error the reader stopped on, or nil. Once set it stays.
func (r *Reader) Err() error { return r.err }

// Pending reports how many bytes of an unfinished message have been
// written: nonzero at the end of a body means it was cut mid-message.
func (r *Reader) Pending() int64 { return r.off - r.start }

// Retained returns the bytes of message buffer the reader holds now (the
// interned header strings and the last header block, at most 2.25 KiB,
// aside).
func (r *Reader) Retained() int { return cap(r.buf) }

// Write reads p, calling the callback for each message it completes. It
// never retains p and always returns len(p), nil.
func (r *Reader) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && r.err == nil {
		switch {
		case r.pn == 0 && len(p) >= preludeLen:
			// A message starts here with its prelude whole: decode it in
			// place if all of it is here, else gather it as below.
			r.off += preludeLen
			if !r.checkPrelude(p[:preludeLen]) {
				return n, nil
			}
			if total := r.total; total <= int64(len(p)) && total <= int64(r.max) {
				r.off += total - preludeLen
				r.decode(p[:total])
				p = p[total:]
				continue
			}
			r.pn = copy(r.prelude[:], p)
			if r.total <= int64(r.max) {
				r.buf = append(r.buf[:0], p[:preludeLen]...)
			}
			p = p[preludeLen:]
		case r.pn < preludeLen:
			k := copy(r.prelude[r.pn:], p)
			r.pn += k
			p = p[k:]
			r.off += int64(k)
			if r.pn == preludeLen {
				if !r.checkPrelude(r.prelude[:]) {
					return n, nil
				}
				if r.total <= int64(r.max) {
					r.buf = append(r.buf[:0], r.prelude[:]...)
				}
			}
		case r.total > int64(r.max):
			p = r.skipPart(p)
		default:
			k := min(int(r.total)-len(r.buf), len(p))
			r.buf = append(r.buf, p[:k]...)
			p = p[k:]
			r.off += int64(k)
			if len(r.buf) == int(r.total) {
				r.decode(r.buf)
			}
		}
	}
	return n, nil
}

// fail stops the reader.
func (r *Reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("eventstream: message at byte %d: %w: %s", r.start, ErrFormat, fmt.Sprintf(format, args...))
	}
}

// checkPrelude validates a message's prelude before its lengths are
// trusted, and readies the reader for the rest of the message: gathered or
// decoded if it is within the cap, skipped if not. It reports whether the
// prelude was sound.
func (r *Reader) checkPrelude(pre []byte) bool {
	total := binary.BigEndian.Uint32(pre[0:])
	headers := binary.BigEndian.Uint32(pre[4:])
	r.preCRC = crc32.ChecksumIEEE(pre[:8])
	if want := binary.BigEndian.Uint32(pre[8:]); want != r.preCRC {
		r.fail("prelude CRC %08x, computed %08x", want, r.preCRC)
		return false
	}
	if total < minLen || uint64(headers) > uint64(total)-minLen {
		r.fail("lengths %d (headers %d) cannot be", total, headers)
		return false
	}
	r.total, r.headers = int64(total), int(headers)
	if r.total > int64(r.max) {
		// Oversize: never gathered. The buffer grows only as bytes
		// arrive, never on the length the peer declared.
		r.skip = r.total - minLen
		r.crc = crc32.Update(r.preCRC, crc32.IEEETable, pre[8:preludeLen])
		r.crcN = 0
		r.buf = r.buf[:0]
	}
	return true
}

// skipPart passes over the bytes of an oversize message, checking its CRC,
// and returns the rest of p.
func (r *Reader) skipPart(p []byte) []byte {
	if r.skip > 0 {
		k := int(min(r.skip, int64(len(p))))
		r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:k])
		r.skip -= int64(k)
		r.off += int64(k)
		p = p[k:]
	}
	k := copy(r.crcBuf[r.crcN:], p)
	r.crcN += k
	r.off += int64(k)
	p = p[k:]
	if r.crcN < 4 {
		return p
	}
	if want := binary.BigEndian.Uint32(r.crcBuf[:]); want != r.crc {
		r.fail("message CRC %08x, computed %08x", want, r.crc)
		return nil
	}
	r.m = Message{Size: r.total, Oversize: true}
	r.deliver()
	return p
}

// decode checks and decodes b, one whole message whose prelude was
// checked, and delivers it.
func (r *Reader) decode(b []byte) {
	end := len(b) - 4
	if want, got := binary.BigEndian.Uint32(b[end:]), crc32.Update(r.preCRC, crc32.IEEETable, b[8:end]); want != got {
		r.fail("message CRC %08x, computed %08x", want, got)
		return
	}
	m := &r.m
	hEnd := preludeLen + r.headers
	if h := b[preludeLen:hEnd]; len(r.lastHeaders) == len(h) && string(r.lastHeaders) == string(h) {
		*m = r.lastMsg
	} else {
		*m = Message{}
		if !r.readHeaders(h) {
			return
		}
		if len(h) <= maxHeaderCache {
			r.lastHeaders, r.lastMsg = append(r.lastHeaders[:0], h...), *m
		}
	}
	m.Size = r.total
	if hEnd < end {
		// Capped, so that an append to it cannot reach the next message.
		m.Payload = b[hEnd:end:end]
	}
	r.deliver()
}

// Header value types, as the encoding numbers them.
const (
	typeTrue byte = iota
	typeFalse
	typeByte
	typeShort
	typeInt
	typeLong
	typeBytes
	typeString
	typeTimestamp
	typeUUID
)

// fixedLen is the value length of each fixed-size header value type.
var fixedLen = [...]int{typeTrue: 0, typeFalse: 0, typeByte: 1, typeShort: 2, typeInt: 4, typeLong: 8,
	typeTimestamp: 8, typeUUID: 16}

// readHeaders reads a message's header block into r.m, stepping over every
// value, and reports whether the block was sound.
func (r *Reader) readHeaders(h []byte) bool {
	for i := 0; len(h) > 0; i++ {
		nameLen := int(h[0])
		if len(h) < 1+nameLen+1 {
			r.fail("header %d: name and type run past the headers", i)
			return false
		}
		name, typ := h[1:1+nameLen], h[1+nameLen]
		h = h[2+nameLen:]
		var n int
		switch typ {
		case typeBytes, typeString:
			if len(h) < 2 {
				r.fail("header %d: value length runs past the headers", i)
				return false
			}
			n = int(binary.BigEndian.Uint16(h))
			h = h[2:]
		case typeTrue, typeFalse, typeByte, typeShort, typeInt, typeLong, typeTimestamp, typeUUID:
			n = fixedLen[typ]
		default:
			r.fail("header %d: unknown value type %d", i, typ)
			return false
		}
		if len(h) < n {
			r.fail("header %d: value runs past the headers", i)
			return false
		}
		value := h[:n]
		h = h[n:]
		if dst := r.field(name); dst != nil {
			*dst = ""
			if typ == typeString {
				*dst = r.intern(value)
			}
		}
	}
	return true
}

// field returns the Message field that header name fills, or nil.
func (r *Reader) field(name []byte) *string {
	switch string(name) {
	case ":message-type":
		return &r.m.MessageType
	case ":event-type":
		return &r.m.EventType
	case ":exception-type":
		return &r.m.ExceptionType
	case ":content-type":
		return &r.m.ContentType
	case ":error-code":
		return &r.m.ErrorCode
	case ":error-message":
		return &r.m.ErrorMessage
	}
	return nil
}

// intern returns b as a string, the same one each time for the values the
// reader keeps.
func (r *Reader) intern(b []byte) string {
	for _, s := range r.strs {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	if len(s) <= maxInternLen && len(r.strs) < maxInterned {
		r.strs = append(r.strs, s)
	}
	return s
}

// deliver hands r.m to the callback and prepares for the next message.
func (r *Reader) deliver() {
	if r.onMessage != nil {
		r.onMessage(&r.m)
	}
	r.m = Message{}
	r.start, r.pn, r.total, r.headers, r.skip, r.crcN = r.off, 0, 0, 0, 0, 0
	if cap(r.buf) > retainLimit {
		r.buf = nil
	}
	r.buf = r.buf[:0]
}
