package parsers

import (
	"bytes"
	"encoding/json"
)

// This file holds the few byte-level JSON helpers the meters need where a
// full parse is impossible or unwanted: skipping values, locating a member
// of the top-level object, and finding a trailing object or string in the
// tail of an oversize body. They never panic on invalid or truncated input;
// they report failure instead.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] (a
// quote), or ok=false if it does not end within b.
func skipString(b []byte, i int) (end int, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(b), false
}

// skipValue returns the index just past the JSON value starting at b[i], or
// ok=false if it does not end within b. Containers are matched by depth
// with strings respected; literals and numbers run to the next delimiter.
func skipValue(b []byte, i int) (end int, ok bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				k, ok := skipString(b, j)
				if !ok {
					return len(b), false
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return len(b), false
	case '}', ']', ',', ':':
		return i, false
	}
	j := i
	for j < len(b) && !isSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ':' {
		j++
	}
	return j, j > i
}

// keyEquals reports whether the raw JSON string token tok (quotes included)
// spells key once unescaped.
func keyEquals(tok []byte, key string) bool {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == key
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		return false
	}
	return s == key
}

// member is one member of an object: the spans of its key token and value.
type member struct {
	keyStart, valStart, valEnd int
}

// visitTopLevel calls f for each member of the top-level object in b, in
// order, until f returns false or the object (or b) ends. It reports
// whether b starts with an object and every member visited was whole.
func visitTopLevel(b []byte, f func(key []byte, m member) bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	for i < len(b) {
		if b[i] == '}' {
			return true
		}
		if b[i] != '"' {
			return false
		}
		kEnd, ok := skipString(b, i)
		if !ok {
			return false
		}
		j := skipSpace(b, kEnd)
		if j >= len(b) || b[j] != ':' {
			return false
		}
		vStart := skipSpace(b, j+1)
		vEnd, ok := skipValue(b, vStart)
		if !ok {
			return false
		}
		if !f(b[i:kEnd], member{keyStart: i, valStart: vStart, valEnd: vEnd}) {
			return true
		}
		i = skipSpace(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return false
}

// findMember returns the first member named key of the top-level object.
func findMember(b []byte, key string) (m member, found bool) {
	visitTopLevel(b, func(k []byte, mm member) bool {
		if keyEquals(k, key) {
			m, found = mm, true
			return false
		}
		return true
	})
	return m, found
}

// escapedQuote reports whether the quote at b[i] is escaped (preceded by an
// odd number of backslashes), that is, inside a string.
func escapedQuote(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// findTailValue finds, in a window that may start anywhere inside a JSON
// document, the last member named key whose value starts with open ('{'
// for an object, '"' for a string) and ends within the window, and returns
// that value's bytes. A quoted key is recognised only where its quote is
// not escaped, so text inside strings does not match.
func findTailValue(tail []byte, key string, open byte) []byte {
	pat := make([]byte, 0, len(key)+2)
	pat = append(append(append(pat, '"'), key...), '"')
	end := len(tail)
	for {
		i := bytes.LastIndex(tail[:end], pat)
		if i < 0 {
			return nil
		}
		end = i
		if escapedQuote(tail, i) {
			continue
		}
		j := skipSpace(tail, i+len(pat))
		if j >= len(tail) || tail[j] != ':' {
			continue
		}
		j = skipSpace(tail, j+1)
		if j >= len(tail) || tail[j] != open {
			continue
		}
		vEnd, ok := skipValue(tail, j)
		if !ok {
			continue
		}
		return tail[j:vEnd]
	}
}

// appendQuoted appends s as a JSON string.
func appendQuoted(dst, s []byte) []byte {
	plain := true
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	q, _ := json.Marshal(string(s))
	return append(dst, q...)
}

// nestsPast reports whether the JSON text b nests objects and arrays more
// than limit levels deep (strings respected; b need not be valid JSON).
func nestsPast(b []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, ok := skipString(b, i)
			if !ok {
				return false
			}
			i = end - 1
		case '{', '[':
			if depth++; depth > limit {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
