package parsers

import "bytes"

// jsonSplitter cuts a JSON body into the objects a meter parses, without
// holding the whole body: a top-level object is one unit; so is each object
// in a sequence of top-level values (NDJSON sent as application/json) and
// each object element of a top-level array (Gemini's streamGenerateContent
// without alt=sse). It counts depth with strings respected, and keeps each
// unit's head (up to Meter.headCap) and, past that, only a tail (up to
// Meter.tailCap).
type jsonSplitter struct {
	depth  int
	inStr  bool
	esc    bool
	array  bool // inside a top-level array: its object elements are units
	inUnit bool
	base   int // depth at which the current unit started
	over   bool
	head   []byte
	tail   []byte
}

func (j *jsonSplitter) write(m *Meter, p []byte) {
	start := 0 // where the current unit's bytes start in p
	for i := 0; i < len(p); i++ {
		c := p[i]
		if j.inStr {
			switch {
			case j.esc:
				j.esc = false
			case c == '\\':
				j.esc = true
			case c == '"':
				j.inStr = false
			default:
				// Skip ahead to the next quote or backslash.
				k := indexQuoteOrBackslash(p[i+1:])
				if k < 0 {
					i = len(p) - 1
				} else {
					i += k
				}
			}
			continue
		}
		switch c {
		case '"':
			j.inStr = true
		case '[':
			if j.depth == 0 && !j.inUnit {
				j.array = true
			}
			j.depth++
		case '{':
			if !j.inUnit && (j.depth == 0 || (j.array && j.depth == 1)) {
				j.inUnit, j.base, start = true, j.depth, i
			}
			j.depth++
		case '}', ']':
			if j.depth > 0 {
				j.depth--
			}
			switch {
			case j.inUnit && j.depth == j.base:
				unit := p[start : i+1]
				if len(j.head) > 0 || len(unit) > m.headCap {
					// Begun in an earlier write, or too long to parse
					// whole: the head and tail hold it.
					j.add(m, unit)
					unit = j.head
				}
				j.endUnit(m, unit)
			case j.array && j.depth == 0 && c == ']':
				// The streamed array closed: the response is whole.
				j.array = false
				m.terminal = true
			}
		}
	}
	if j.inUnit {
		j.add(m, p[start:])
	}
}

// indexQuoteOrBackslash returns the index of the first '"' or '\\' in b, or -1.
func indexQuoteOrBackslash(b []byte) int {
	q := bytes.IndexByte(b, '"')
	if q < 0 {
		q = len(b)
	}
	if k := bytes.IndexByte(b[:q], '\\'); k >= 0 {
		return k
	}
	if q == len(b) {
		return -1
	}
	return q
}

// add appends bytes of the current unit, within the head and tail caps.
func (j *jsonSplitter) add(m *Meter, b []byte) {
	if !j.over {
		if len(j.head)+len(b) <= m.headCap {
			j.head = append(j.head, b...)
			return
		}
		// Fill the head to the cap whatever the write sizes, so that what is
		// read from it does not depend on how the body was cut.
		room := m.headCap - len(j.head)
		j.head = append(j.head, b[:room]...)
		b = b[room:]
		j.over = true
		j.tail = appendTail(j.tail[:0], j.head, m.tailCap)
	}
	j.tail = appendTail(j.tail, b, m.tailCap)
}

// endUnit reads a complete unit: b, unless it was over the head cap. A
// unit whole within one write is read where it lies: copying it into the
// head first was a copy, and an allocation, per body.
func (j *jsonSplitter) endUnit(m *Meter, b []byte) {
	if !j.over {
		if v := m.parse(b); v != nil {
			m.f.object(m, v)
		} else {
			m.head(b)
			m.tail(lastN(b, m.tailCap))
		}
	} else {
		m.head(j.head)
		m.tail(lastN(j.tail, m.tailCap))
	}
	if _, ownEnd := m.f.(selfEnding); j.base == 0 && !ownEnd {
		// A whole top-level object is the whole response (Ollama sends a
		// sequence of them and says done:true itself).
		m.terminal = true
	}
	j.inUnit, j.over = false, false
	j.head, j.tail = j.head[:0], j.tail[:0]
}

// finish reads what it can of a unit the body cut short.
func (j *jsonSplitter) finish(m *Meter) {
	if !j.inUnit {
		return
	}
	m.head(j.head)
	if j.over {
		m.tail(lastN(j.tail, m.tailCap))
	} else {
		m.tail(lastN(j.head, m.tailCap))
	}
}

// lastN returns the last n bytes of b (all of b if shorter).
func lastN(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// appendTail appends b to buf keeping at least the last n bytes of
// everything appended so far and at most 2n, sliding within buf's storage.
// Read the tail with lastN(buf, n).
func appendTail(buf, b []byte, n int) []byte {
	if len(b) >= n {
		return append(buf[:0], b[len(b)-n:]...)
	}
	if len(buf)+len(b) > 2*n {
		keep := n - len(b)
		k := copy(buf, buf[len(buf)-keep:])
		buf = buf[:k]
	}
	return append(buf, b...)
}

// lineSplitter cuts a body into lines (NDJSON), each parsed as one object.
// A line longer than Meter.headCap is skipped.
type lineSplitter struct {
	buf  []byte
	over bool
}

func (l *lineSplitter) write(m *Meter, p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.add(m, p)
			return
		}
		if len(l.buf) == 0 && !l.over && i <= m.headCap {
			// Whole within this write: read where it lies, as a JSON unit is.
			readLine(m, p[:i])
		} else {
			l.add(m, p[:i])
			l.line(m)
		}
		p = p[i+1:]
	}
}

func (l *lineSplitter) add(m *Meter, b []byte) {
	if l.over {
		return
	}
	if len(l.buf)+len(b) > m.headCap {
		l.over, l.buf = true, l.buf[:0]
		return
	}
	l.buf = append(l.buf, b...)
}

// line reads the complete line held.
func (l *lineSplitter) line(m *Meter) {
	if !l.over {
		readLine(m, l.buf)
	}
	l.buf, l.over = l.buf[:0], false
}

// readLine reads one complete line.
func readLine(m *Meter, line []byte) {
	if b := bytes.TrimSpace(line); len(b) > 0 {
		if v := m.parse(b); v != nil {
			m.f.object(m, v)
		}
	}
}

// finish reads a last line without a line end.
func (l *lineSplitter) finish(m *Meter) { l.line(m) }
