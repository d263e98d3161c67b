// Package sse is a push scanner for the WHATWG event-stream format
// (Server-Sent Events), built to sit beside a byte stream that is being
// forwarded elsewhere: the caller writes each chunk it copies into Write and
// the scanner calls back once per dispatched event.
//
// Why a push scanner: the proxy must forward every byte to its client as it
// arrives and read usage from the same bytes without a goroutine, pipe or
// second buffer per call, in memory bounded per call. Write never
// retains the caller's slice, never fails, and never blocks beyond the
// callback.
//
// The line and field rules follow the WHATWG HTML "event stream
// interpretation" exactly: LF, CRLF and lone CR line ends (a CR ending one
// Write and an LF starting the next are one line end), one UTF-8 byte order
// mark stripped at stream start only, comment lines, one optional space after
// the colon, a line without a colon taken as a field with an empty value, an
// id containing NUL ignored, retry only when all ASCII digits, dispatch on a
// blank line, nothing dispatched while the data buffer is empty. Two
// deliberate additions serve accounting: an unterminated last event is
// delivered by Close, flagged; and an event larger than MaxEventSize is not
// accumulated but delivered flagged Oversize with only the tail of its data,
// so a meter can still find a trailing "usage" object.
//
// Memory is bounded by MaxEventSize (plus TailSize), and steady state
// allocates nothing per event: every buffer is reused.
package sse

import "bytes"

// Defaults for Options.
const (
	DefaultMaxEventSize = 16 << 20 // 16 MiB
	DefaultTailSize     = 64 << 10 // 64 KiB
)

// Event is one dispatched event. The scanner owns it and every slice in it:
// they are valid only during the callback that receives them (copy anything
// kept longer).
type Event struct {
	// Type is the value of the event's last "event" field. Empty (nil or
	// zero length) means the default type, "message".
	Type []byte
	// Data is the event's data lines joined with "\n", without a trailing
	// "\n". It is empty but the event is still dispatched for a single
	// "data" line with an empty value.
	Data []byte
	// ID is the value of the event's last valid "id" field, if HasID. Per the
	// spec the last event ID is sticky across events; a consumer that needs
	// it keeps the last ID seen with HasID.
	ID    []byte
	HasID bool
	// Retry is the reconnection time in milliseconds from the event's last
	// valid "retry" field, if HasRetry (a value too large for int64 is
	// ignored).
	Retry    int64
	HasRetry bool
	// Oversize reports that the event grew past MaxEventSize (counting every
	// byte of its lines, comments included): Data then holds only the last
	// TailSize bytes of the joined data, Type and ID at most their first
	// TailSize bytes, and Raw is nil.
	Oversize bool
	// Unterminated reports an event delivered by Close: the stream ended
	// without the blank line that dispatches it. Its last line may be cut.
	Unterminated bool
	// Raw is set only with Options.KeepRaw: the exact bytes of this event,
	// from the byte after the previous event's terminating blank line
	// through its own blank line (comments, ignored fields and the byte
	// order mark included). The event is dispatched at the CR of a blank
	// line ending in CRLF, so that LF opens the next block's raw bytes
	// instead, wherever the stream is cut. Nil for an oversize event, whose
	// bytes were already passed to Options.RawOverflow.
	Raw []byte
}

// Options tunes a Scanner. The zero value is ready to use.
type Options struct {
	// MaxEventSize caps the bytes of one event (all its lines and line
	// ends). Zero or negative means DefaultMaxEventSize.
	MaxEventSize int
	// TailSize is how much of an oversize event's data is kept. Zero or
	// negative means DefaultTailSize; it is capped at MaxEventSize.
	TailSize int
	// KeepRaw makes the scanner keep each event's exact bytes in Event.Raw,
	// so that a filter can forward events selectively.
	KeepRaw bool
	// RawOverflow, with KeepRaw, receives the bytes that no Event.Raw will
	// hold, as soon as that is known, so a filter can pass them on
	// unfiltered: the raw bytes of an event once it grows past MaxEventSize
	// (first everything held so far, then each further piece as it is
	// written), and the bytes of a block that dispatches nothing (comments,
	// keep-alives, blocks without data) at its blank line or at Close. Its
	// argument is valid only during the call. Nil discards those bytes.
	RawOverflow func(p []byte)
}

// field identifies the field a line's value belongs to.
type field uint8

const (
	fieldIgnored field = iota
	fieldData
	fieldEvent
	fieldID
	fieldRetry
)

// lineState is where the scanner is inside the current line.
type lineState uint8

const (
	stLineStart  lineState = iota // nothing of the line seen yet
	stName                        // inside the field name
	stValueStart                  // just after the colon (optional space next)
	stValue                       // inside the value
	stComment                     // inside a comment line
)

// utf8BOM is the byte order mark stripped at stream start.
var utf8BOM = [3]byte{0xEF, 0xBB, 0xBF}

// maxNameLen is the longest field name the scanner cares about ("event",
// "retry"); longer names are ignored without being kept.
const maxNameLen = 5

// Scanner splits an event stream into events. Create it with NewScanner. A
// Scanner is not safe for concurrent use, and the callback must not call
// back into the scanner.
type Scanner struct {
	onEvent func(*Event)
	opts    Options
	maxSize int
	tail    int

	// stream state
	bomN    int  // bytes of a BOM matched so far at stream start
	bomDone bool // the stream start has been checked for a BOM
	skipLF  bool // the last byte written was a CR: swallow one LF next

	// line state
	st      lineState
	name    [maxNameLen]byte
	nameLen int  // bytes of the field name kept (≤ maxNameLen)
	nameBad bool // the name is longer than any field of interest
	fld     field

	// event state
	size    int  // bytes of the current block so far (lines and line ends)
	over    bool // the current block grew past maxSize
	hasData bool // at least one data line: the block will dispatch
	data    []byte
	typ     []byte
	id      []byte // committed id of this event
	idLine  []byte // id value of the current line, committed at its end
	hasID   bool
	idNUL   bool // idLine contains NUL
	retry   int64
	hasRet  bool
	retLine int64 // retry value of the current line
	retOK   bool  // retLine is all digits so far (and at least one)
	retBad  bool  // a non-digit or overflow was seen on this line
	raw     []byte

	ev Event
}

// NewScanner returns a scanner that calls onEvent for every dispatched
// event. A nil onEvent discards events (the scanner still forwards raw
// bytes to Options.RawOverflow). The *Event and all its slices are valid only
// during the callback.
func NewScanner(onEvent func(*Event), opts Options) *Scanner {
	s := &Scanner{onEvent: onEvent, opts: opts}
	s.maxSize = opts.MaxEventSize
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxEventSize
	}
	s.tail = opts.TailSize
	if s.tail <= 0 {
		s.tail = DefaultTailSize
	}
	if s.tail > s.maxSize {
		s.tail = s.maxSize
	}
	return s
}

// Reset forgets all state so the scanner can read a new stream, keeping
// its buffers (and its callback and options). Nothing pending is delivered:
// call Close first for that.
func (s *Scanner) Reset() {
	s.bomN, s.bomDone, s.skipLF = 0, false, false
	s.resetLine()
	s.resetEvent()
}

// Write scans p, calling the callback for each event it completes. It never
// retains p and always returns len(p), nil.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	for !s.bomDone && len(p) > 0 {
		if p[0] == utf8BOM[s.bomN] {
			s.bomN++
			p = p[1:]
			if s.bomN == len(utf8BOM) {
				s.bomDone = true
				s.segment(utf8BOM[:], false)
			}
			continue
		}
		s.abandonBOM()
	}
	if len(p) > 0 {
		s.feed(p)
	}
	return n, nil
}

// abandonBOM handles bytes that looked like the start of a BOM but were
// not: they are ordinary content.
func (s *Scanner) abandonBOM() {
	s.bomDone = true
	if s.bomN > 0 {
		s.feed(utf8BOM[:s.bomN])
	}
}

// Close ends the stream: it processes a last line that has no line end and
// delivers a pending event with Unterminated set. It then resets the scanner
// for a new stream, so a second Close delivers nothing. It always returns
// nil.
func (s *Scanner) Close() error {
	if !s.bomDone {
		s.abandonBOM()
	}
	if s.st != stLineStart {
		s.endLine()
	}
	if s.hasData {
		s.dispatch(true)
	} else {
		s.flushRaw()
	}
	s.Reset()
	return nil
}

// feed scans content bytes (after BOM handling).
func (s *Scanner) feed(p []byte) {
	// nextCR is the index in p of the next CR (len(p) if none), searched once
	// and reused, so that LF-only streams pay one IndexByte per line.
	nextCR := -1
	for len(p) > 0 {
		if s.skipLF {
			s.skipLF = false
			if p[0] == '\n' {
				// The LF of a CRLF. The line ended at the CR (which may have
				// dispatched an event: waiting for the next write to see
				// whether an LF follows would delay it), so the LF is only
				// raw bytes, counted with whatever follows. Treating it the
				// same way whether or not it arrives in the same write keeps
				// Raw independent of how the stream is cut.
				s.segment(p[:1], false)
				p = p[1:]
				continue
			}
		}
		if nextCR < 0 {
			nextCR = bytes.IndexByte(p, '\r')
			if nextCR < 0 {
				nextCR = len(p)
			}
		}
		end := bytes.IndexByte(p[:nextCR], '\n')
		if end < 0 {
			if nextCR == len(p) {
				// No line end in the rest of p: a partial line.
				s.segment(p, true)
				return
			}
			end = nextCR
		}
		eol := end + 1
		if p[end] == '\r' {
			s.skipLF = true
			nextCR = -1
		} else {
			nextCR -= eol
		}
		s.segmentLine(p[:end], p[:eol])
		p = p[eol:]
	}
}

// segmentLine handles a complete line: content is its text, whole the text
// with its line end.
func (s *Scanner) segmentLine(content, whole []byte) {
	s.account(whole)
	if s.st == stLineStart && s.wholeLine(content) {
		return
	}
	s.linePart(content)
	s.endLine()
}

// wholeLine reads a data or event line seen whole (most lines of a
// stream) as linePart and endLine would, without stepping through the
// line states, and reports whether it did; other lines are left to them.
func (s *Scanner) wholeLine(line []byte) bool {
	var v []byte
	switch {
	case len(line) >= 5 && string(line[:5]) == "data:":
		v = line[5:]
	case len(line) >= 6 && string(line[:6]) == "event:":
		v = line[6:]
	default:
		return false
	}
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	if line[0] == 'd' {
		if s.hasData {
			s.appendData(newline)
		}
		s.hasData = true
		s.appendData(v)
	} else {
		s.typ = s.appendCapped(s.typ[:0], v)
	}
	return true
}

// segment handles bytes that do not end a line; content says whether they
// are line text (false for a BOM or a swallowed LF).
func (s *Scanner) segment(p []byte, content bool) {
	s.account(p)
	if content {
		s.linePart(p)
	}
}

// account counts p against the event size and keeps or passes on its raw
// bytes.
func (s *Scanner) account(p []byte) {
	s.size += len(p)
	if s.opts.KeepRaw || (!s.over && s.size > s.maxSize) {
		s.accountMore(p)
	}
}

// accountMore is account's less common part (kept apart so that account
// inlines): the event grown past its cap, raw bytes kept.
func (s *Scanner) accountMore(p []byte) {
	if !s.over && s.size > s.maxSize {
		s.enterOversize()
	}
	if !s.opts.KeepRaw {
		return
	}
	if s.over {
		if s.opts.RawOverflow != nil {
			s.opts.RawOverflow(p)
		}
		return
	}
	s.raw = append(s.raw, p...)
}

// enterOversize switches the current block to tail-only mode.
func (s *Scanner) enterOversize() {
	s.over = true
	if len(s.data) > s.tail {
		n := copy(s.data, s.data[len(s.data)-s.tail:])
		s.data = s.data[:n]
	}
	// The type and id keep their first TailSize bytes, as appendCapped
	// does from now on, whether their line came whole or in pieces before
	// the event went over.
	s.typ, s.id, s.idLine = s.typ[:min(len(s.typ), s.tail)], s.id[:min(len(s.id), s.tail)], s.idLine[:min(len(s.idLine), s.tail)]
	s.flushRaw()
}

// flushRaw passes the raw bytes held so far to RawOverflow.
func (s *Scanner) flushRaw() {
	if len(s.raw) > 0 && s.opts.RawOverflow != nil {
		s.opts.RawOverflow(s.raw)
	}
	s.raw = s.raw[:0]
}

// linePart processes a piece of the current line's text.
func (s *Scanner) linePart(p []byte) {
	for len(p) > 0 {
		switch s.st {
		case stLineStart:
			if p[0] == ':' {
				s.st = stComment
				return
			}
			s.st = stName
		case stName:
			i := bytes.IndexByte(p, ':')
			namePart := p
			if i >= 0 {
				namePart = p[:i]
			}
			s.addName(namePart)
			if i < 0 {
				return
			}
			s.startValue()
			p = p[i+1:]
		case stValueStart:
			s.st = stValue
			if p[0] == ' ' {
				p = p[1:]
			}
		case stValue:
			s.addValue(p)
			return
		case stComment:
			return
		}
	}
}

// addName appends to the field name, remembering only names short enough to
// matter.
func (s *Scanner) addName(p []byte) {
	if s.nameBad {
		return
	}
	if s.nameLen+len(p) > maxNameLen {
		s.nameBad = true
		return
	}
	s.nameLen += copy(s.name[s.nameLen:], p)
}

// resolveField maps the field name to a field.
func (s *Scanner) resolveField() field {
	if s.nameBad {
		return fieldIgnored
	}
	switch string(s.name[:s.nameLen]) {
	case "data":
		return fieldData
	case "event":
		return fieldEvent
	case "id":
		return fieldID
	case "retry":
		return fieldRetry
	}
	return fieldIgnored
}

// startValue begins the value of the field named so far.
func (s *Scanner) startValue() {
	s.st = stValueStart
	s.fld = s.resolveField()
	switch s.fld {
	case fieldData:
		if s.hasData {
			s.appendData(newline)
		}
		s.hasData = true
	case fieldEvent:
		s.typ = s.typ[:0]
	case fieldID:
		s.idLine = s.idLine[:0]
		s.idNUL = false
	case fieldRetry:
		s.retLine, s.retOK, s.retBad = 0, false, false
	}
}

var newline = []byte{'\n'}

// addValue appends a piece of the current field's value.
func (s *Scanner) addValue(p []byte) {
	switch s.fld {
	case fieldData:
		s.appendData(p)
	case fieldEvent:
		s.typ = s.appendCapped(s.typ, p)
	case fieldID:
		if !s.idNUL && bytes.IndexByte(p, 0) >= 0 {
			s.idNUL = true
		}
		if !s.idNUL {
			s.idLine = s.appendCapped(s.idLine, p)
		}
	case fieldRetry:
		if s.retBad {
			return
		}
		for _, c := range p {
			if c < '0' || c > '9' || s.retLine > (1<<63-1-9)/10 {
				s.retBad = true
				return
			}
			s.retLine = s.retLine*10 + int64(c-'0')
			s.retOK = true
		}
	}
}

// appendCapped appends to an event or id buffer. Before the event is
// oversize the event size bounds it; after, it grows to TailSize at most.
func (s *Scanner) appendCapped(dst, p []byte) []byte {
	if s.over {
		room := s.tail - len(dst)
		if room <= 0 {
			return dst
		}
		if len(p) > room {
			p = p[:room]
		}
	}
	return append(dst, p...)
}

// appendData appends to the data buffer, keeping only a tail once the event
// is oversize.
func (s *Scanner) appendData(p []byte) {
	if !s.over {
		s.data = append(s.data, p...)
		return
	}
	if len(p) >= s.tail {
		s.data = append(s.data[:0], p[len(p)-s.tail:]...)
		return
	}
	if len(s.data)+len(p) > 2*s.tail {
		keep := s.tail - len(p)
		n := copy(s.data, s.data[len(s.data)-keep:])
		s.data = s.data[:n]
	}
	s.data = append(s.data, p...)
}

// endLine finishes the current line: a blank line dispatches, a field line
// commits its value.
func (s *Scanner) endLine() {
	switch s.st {
	case stLineStart:
		if s.hasData {
			s.dispatch(false)
		} else {
			s.flushRaw()
			s.resetEvent()
		}
	case stName:
		// No colon: the whole line is the name, the value is empty.
		s.startValue()
		s.commitField()
	case stValueStart, stValue:
		s.commitField()
	}
	s.resetLine()
}

// commitField applies a finished field line.
func (s *Scanner) commitField() {
	switch s.fld {
	case fieldID:
		if !s.idNUL {
			s.id, s.idLine = s.idLine, s.id
			s.hasID = true
		}
	case fieldRetry:
		if s.retOK && !s.retBad {
			s.retry, s.hasRet = s.retLine, true
		}
	}
}

// dispatch delivers the current event and starts the next.
func (s *Scanner) dispatch(unterminated bool) {
	ev := &s.ev
	ev.Type = s.typ
	ev.Data = s.data
	if s.over && len(ev.Data) > s.tail {
		ev.Data = ev.Data[len(ev.Data)-s.tail:]
	}
	ev.ID, ev.HasID = nil, s.hasID
	if s.hasID {
		ev.ID = s.id
	}
	ev.Retry, ev.HasRetry = s.retry, s.hasRet
	ev.Oversize = s.over
	ev.Unterminated = unterminated
	ev.Raw = nil
	if s.opts.KeepRaw && !s.over {
		ev.Raw = s.raw
	}
	if s.onEvent != nil {
		s.onEvent(ev)
	}
	*ev = Event{}
	s.resetEvent()
}

// resetLine prepares for a new line.
func (s *Scanner) resetLine() {
	s.st = stLineStart
	s.nameLen = 0
	s.nameBad = false
	s.fld = fieldIgnored
}

// resetEvent prepares for a new block, keeping buffers.
func (s *Scanner) resetEvent() {
	s.size = 0
	s.over = false
	s.hasData = false
	s.data = s.data[:0]
	s.typ = s.typ[:0]
	s.id = s.id[:0]
	s.idLine = s.idLine[:0]
	s.hasID = false
	s.retry, s.hasRet = 0, false
	s.raw = s.raw[:0]
}
