package loadgen

import (
	"bytes"
	"io"
	"time"
)

// EventTimes reads an event stream from r to its end and returns, for each
// event, the time its last byte arrived (the read that completed it), and
// the time the first byte arrived. Events end at a blank line; the streams
// measured here use LF line ends only ("\n\n"), as the fake provider
// writes them. buf is the read buffer (at least 1 byte); now is the clock.
// The error is r's, io.EOF excluded.
func EventTimes(r io.Reader, buf []byte, now func() time.Time) (first time.Time, events []time.Time, err error) {
	var prevLF bool
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			t := now()
			if first.IsZero() {
				first = t
			}
			for range countEventEnds(buf[:n], &prevLF) {
				events = append(events, t)
			}
		}
		if rerr == io.EOF {
			return first, events, nil
		}
		if rerr != nil {
			return first, events, rerr
		}
	}
}

// countEventEnds returns how many events end in p (a line feed right
// after a line feed), carrying in prevLF whether the last byte seen was a
// line feed that did not end an event.
func countEventEnds(p []byte, prevLF *bool) int {
	ends := 0
	for len(p) > 0 {
		if *prevLF && p[0] == '\n' {
			ends++
			*prevLF = false
			p = p[1:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			*prevLF = false
			return ends
		}
		*prevLF = true
		p = p[i+1:]
	}
	return ends
}
