package ui

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s with everything a terminal would act on rather than
// show replaced by a visible escape, so that a string from the wire (a
// model name, a client, a tag, a path, an error message) can be written to
// a terminal as it is: it can neither move the cursor, clear the screen,
// set the clipboard (OSC 52), nor reorder the text around it.
//
// Escaped, in Go's notation: C0 controls and DEL ("\x1b", "\n", "\t"),
// C1 controls ("\u009b"), invisible format characters ("\u202e"): the
// bidirectional embeddings, overrides, isolates and marks, zero-width
// spaces, the byte order mark and the line and paragraph separators (so
// that "gpt-4o\u200b" cannot pass for "gpt-4o"), and bytes that are not
// UTF-8 ("\xff": some terminals read a lone 0x9b as a control sequence).
// Kept are the zero-width joiner and non-joiner and the tag characters,
// which emoji and scripts need, and everything else, backslashes and
// non-ASCII letters included. A string with nothing to escape is returned
// as it is, without copying.
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
			b.WriteString(runeEscape(r))
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether r (at or above U+0080) is a C1 control, an
// invisible format character other than the joiners and tags, or a line
// or paragraph separator.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f, r == 0x2028, r == 0x2029:
		return true
	case r == 0x200c || r == 0x200d || r >= 0xe0020 && r <= 0xe007f:
		return false
	}
	return r >= 0xad && unicode.Is(unicode.Cf, r)
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

// runeEscape is Go's escape of r: "\uXXXX", or "\UXXXXXXXX" past U+FFFF.
func runeEscape(r rune) string {
	prefix, digits := `\u`, 4
	if r > 0xffff {
		prefix, digits = `\U`, 8
	}
	s := strconv.FormatInt(int64(r), 16)
	return prefix + strings.Repeat("0", digits-len(s)) + s
}
