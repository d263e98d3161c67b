package ui

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Printable returns s with everything a terminal would act on rather than
// show replaced by a visible escape, so that a string from the wire (a
// model name, a client, a tag, a path, an error message) can be written to
// a terminal as it is: it can neither move the cursor, clear the screen,
// set the clipboard (OSC 52), nor reorder the text around it.
//
// Escaped, in Go's notation: C0 controls and DEL ("\x1b", "\n", "\t"),
// C1 controls ("\u009b"), the bidirectional embeddings, overrides and
// isolates U+202A–U+202E and U+2066–U+2069 and the marks U+200E, U+200F
// and U+061C ("\u202e"), and bytes that are not UTF-8 ("\xff": some
// terminals read a lone 0x9b as a control sequence). Everything else,
// backslashes and non-ASCII letters included, is kept. A string with
// nothing to escape is returned as it is, without copying.
//
// It is for display only: the ledger and exports keep what was received.
func Printable(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if c < utf8.RuneSelf || r == utf8.RuneError && size == 1 || unsafeRune(r) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case r < 0x20 || r == 0x7f:
			b.WriteString(c0Escape(byte(r)))
		case unsafeRune(r):
			b.WriteString(`\u`)
			b.WriteString(hex4(r))
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether r (at or above U+0080) is a C1 control or a
// bidirectional formatting character.
func unsafeRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 ||
		r == 0x200e || r == 0x200f || r == 0x061c
}

// c0Escape is the escape of a C0 control or DEL: the usual letter escapes
// where Go has one, else "\xNN".
func c0Escape(c byte) string {
	switch c {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\v':
		return `\v`
	}
	return `\x` + hex2(c)
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

func hex4(r rune) string {
	s := strconv.FormatInt(int64(r), 16)
	return strings.Repeat("0", 4-len(s)) + s
}
