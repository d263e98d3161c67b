package ui

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestPrintable guards what reaches a terminal from the wire: every
// control character, C1 control, bidi override and stray byte comes out as
// a visible escape, and ordinary text (non-ASCII letters, emoji,
// backslashes) as it was.
func TestPrintable(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "gpt-4o-mini", "gpt-4o-mini"},
		{"empty", "", ""},
		{"letters and emoji", "modèle-日本語-🙂", "modèle-日本語-🙂"},
		{"no-break space kept", "a\u00a0b", "a\u00a0b"},
		{"backslash kept", `C:\tools\x1b`, `C:\tools\x1b`},
		{"clear screen", "m\x1b[2J", `m\x1b[2J`},
		{"osc 52 clipboard", "m\x1b]52;c;ZXZpbA==\x07", `m\x1b]52;c;ZXZpbA==\a`},
		{"line breaks and tab", "a\nb\r\tc", `a\nb\r\tc`},
		{"nul and del", "a\x00b\x7f", `a\x00b\x7f`},
		{"c1 csi", "a\u009b2J", `a\u009b2J`},
		{"c1 next line", "a\u0085b", `a\u0085b`},
		{"bidi override", "invoice\u202eexe.pdf", `invoice\u202eexe.pdf`},
		{"bidi isolates", "\u2066a\u2069", `\u2066a\u2069`},
		{"bidi marks", "a\u200fb\u061c", `a\u200fb\u061c`},
		{"zero-width space", "gpt-4o\u200b", `gpt-4o\u200b`},
		{"byte order mark and soft hyphen", "\ufeffa\u00adb", `\ufeffa\u00adb`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"language tag past U+FFFF", "a\U000e0001", `a\U000e0001`},
		{"emoji joiner and flag tags kept", "👩\u200d💻 🏴\U000e0067\U000e0062\U000e007f", "👩\u200d💻 🏴\U000e0067\U000e0062\U000e007f"},
		{"lone 0x9b byte", "a\x9b2J", `a\x9b2J`},
		{"truncated utf-8", "ab\xe6\x97", `ab\xe6\x97`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Printable(tt.in)
			if got != tt.want {
				t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("result %q is not UTF-8", got)
			}
			if Printable(got) != got {
				t.Errorf("result %q is not stable under a second pass", got)
			}
		})
	}
}

// TestPrintableNoCopy guards the common case: a string with nothing to
// escape costs no allocation (it runs for every cell drawn).
func TestPrintableNoCopy(t *testing.T) {
	s := strings.Repeat("claude-sonnet-4-5 ünïcödé ", 4)
	if n := testing.AllocsPerRun(100, func() { _ = Printable(s) }); n != 0 {
		t.Errorf("%v allocations for a clean string, want 0", n)
	}
}

// FuzzPrintable: whatever the input, the output is valid UTF-8 holding no
// control or bidi character.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"gpt-4o", "\x1b[2J", "\u202e", "\xff\x9b", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Printable(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Printable(%q) = %q: not UTF-8", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || unsafeRune(r) {
				t.Fatalf("Printable(%q) = %q keeps %U", s, got, r)
			}
		}
	})
}
