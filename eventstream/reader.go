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
// Library: each message is gathered whole (its length is known from the
// prelude) and decoded by the AWS SDK for Go v2's own decoder,
// github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream, which checks both
// CRCs and reads every header value type; the reader checks the prelude
// itself first, so that a damaged length is never trusted. Memory is
// bounded by Options.MaxMessageSize: a longer message is not gathered but
// skipped, its CRC still checked, and reported as Oversize.
package eventstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	awsstream "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
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
// keep it longer).
type Message struct {
	// The string headers that say what a message is ("" when absent or
	// not strings): ":message-type" ("event", "exception" or "error"),
	// ":event-type" (Bedrock's "chunk", "messageStart", "metadata", …),
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

// Reader reads one event stream. Create it with NewReader. A Reader is not
// safe for concurrent use, and the callback must not call back into it.
type Reader struct {
	onMessage func(*Message)
	max       int
	dec       *awsstream.Decoder

	err     error
	off     int64 // bytes written so far
	start   int64 // stream offset of the current message
	prelude [preludeLen]byte
	pn      int    // prelude bytes gathered
	total   int64  // the current message's length, once its prelude is whole
	buf     []byte // the current message, gathered whole
	skip    int64  // bytes of an oversize message still to skip, its CRC excluded
	crc     uint32 // running CRC of an oversize message
	crcBuf  [4]byte
	crcN    int
	payload []byte // the decoder's payload buffer, reused
	br      bytes.Reader
	m       Message
}

// NewReader returns a reader that calls onMessage for every message. A nil
// onMessage discards them (the reader still checks the encoding).
func NewReader(onMessage func(*Message), opts Options) *Reader {
	r := &Reader{onMessage: onMessage, max: opts.MaxMessageSize, dec: awsstream.NewDecoder()}
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

// Retained returns the bytes of buffer memory the reader holds now.
func (r *Reader) Retained() int { return cap(r.buf) + cap(r.payload) }

// Write reads p, calling the callback for each message it completes. It
// never retains p and always returns len(p), nil.
func (r *Reader) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && r.err == nil {
		switch {
		case r.pn < preludeLen:
			k := copy(r.prelude[r.pn:], p)
			r.pn += k
			r.buf = append(r.buf, p[:k]...)
			p = p[k:]
			r.off += int64(k)
			if r.pn == preludeLen {
				r.checkPrelude()
			}
		case r.total > int64(r.max):
			p = r.skipPart(p)
		default:
			k := min(int(r.total)-len(r.buf), len(p))
			r.buf = append(r.buf, p[:k]...)
			p = p[k:]
			r.off += int64(k)
			if len(r.buf) == int(r.total) {
				r.decode()
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

// checkPrelude validates the prelude before its lengths are trusted.
func (r *Reader) checkPrelude() {
	total := binary.BigEndian.Uint32(r.prelude[0:])
	headers := binary.BigEndian.Uint32(r.prelude[4:])
	if want, got := binary.BigEndian.Uint32(r.prelude[8:]), crc32.ChecksumIEEE(r.prelude[:8]); want != got {
		r.fail("prelude CRC %08x, computed %08x", want, got)
		return
	}
	if total < minLen || uint64(headers) > uint64(total)-minLen {
		r.fail("lengths %d (headers %d) cannot be", total, headers)
		return
	}
	r.total = int64(total)
	if r.total > int64(r.max) {
		r.skip = r.total - minLen
		r.crc = crc32.ChecksumIEEE(r.prelude[:])
		r.crcN = 0
		r.buf = r.buf[:0]
		return
	}
	// The buffer grows as bytes arrive, never on the length the peer
	// declared.
	if len(r.buf) == int(r.total) {
		r.decode()
	}
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
	r.deliver(&Message{Size: r.total, Oversize: true})
	r.next()
	return p
}

// decode decodes the gathered message with the SDK's decoder.
func (r *Reader) decode() {
	r.br.Reset(r.buf)
	msg, err := r.dec.Decode(&r.br, r.payload[:0])
	if err != nil {
		r.fail("%v", err)
		return
	}
	r.payload = msg.Payload[:0]
	m := &r.m
	*m = Message{Payload: msg.Payload, Size: r.total}
	for _, h := range msg.Headers {
		s, ok := h.Value.(awsstream.StringValue)
		if !ok {
			continue
		}
		var dst *string
		switch h.Name {
		case ":message-type":
			dst = &m.MessageType
		case ":event-type":
			dst = &m.EventType
		case ":exception-type":
			dst = &m.ExceptionType
		case ":content-type":
			dst = &m.ContentType
		case ":error-code":
			dst = &m.ErrorCode
		case ":error-message":
			dst = &m.ErrorMessage
		default:
			continue
		}
		*dst = string(s)
	}
	r.deliver(m)
	*m = Message{}
	r.next()
}

// deliver hands a message to the callback.
func (r *Reader) deliver(m *Message) {
	if r.onMessage != nil {
		r.onMessage(m)
	}
}

// next prepares for the next message.
func (r *Reader) next() {
	r.start, r.pn, r.total, r.skip, r.crcN = r.off, 0, 0, 0, 0
	if cap(r.buf) > retainLimit {
		r.buf = nil
	}
	if cap(r.payload) > retainLimit {
		r.payload = nil
	}
	r.buf = r.buf[:0]
}
