package budgets

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestGlob guards the scope patterns: path.Match's syntax, '*' and '?'
// reaching across '/', and malformed patterns refused.
func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"anthropic", "anthropic", true},
		{"anthropic", "anthropic2", false},
		{"claude-opus-*", "claude-opus-4-1", true},
		{"claude-opus-*", "claude-sonnet-4-5", false},
		{"claude-cli/*", "claude-cli/2.0.1 (external, cli)", true},
		{"*llama*", "accounts/fireworks/models/llama-v3p1-70b", true},
		{"a?c", "a/c", true},
		{"gpt-4?", "gpt-4o", true},
		{"gpt-4?", "gpt-4", false},
		{"gpt-[34]*", "gpt-3.5-turbo", true},
		{"gpt-[^34]*", "gpt-3.5-turbo", false},
		{"gpt-[^34]*", "gpt-5", true},
		{"[a-c]x", "bx", true},
		{`team\*`, "team*", true},
		{`team\*`, "teams", false},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"**a*", "bbba", true},
		{"*a*b*c*", "xaxbxcx", true},
		{"*a*b*c*", "xaxcxbx", false},
		{"é*", "été", true},
		{"?t?", "été", true},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tt.pattern, err)
		}
		if got := g.match(tt.s); got != tt.want {
			t.Errorf("%q matching %q = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
	for _, bad := range []string{"a[", "[]", "[a-]", `x\`, "[^]"} {
		if _, err := compileGlob(bad); !errors.Is(err, path.ErrBadPattern) {
			t.Errorf("%q: %v, want path.ErrBadPattern", bad, err)
		}
	}
}

// FuzzGlob guards the matcher against path.Match, whose syntax it takes:
// on strings without '/' (where the two are meant to differ) they agree
// on every pattern, malformed ones included, and the matcher never
// panics.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"claude-*", "claude-opus"}, {"[a-z]?*", "abc"}, {`\*x`, "*x"}, {"[^a-c]", "d"}, {"*a*a*a*", "aaaa"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		g, err := compileGlob(pattern)
		want, werr := path.Match(pattern, s)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: compile error %v, path.Match error %v", pattern, err, werr)
		}
		if err != nil {
			return
		}
		got := g.match(s)
		if strings.Contains(s, "/") || !utf8.ValidString(s) {
			return
		}
		if got != want {
			t.Fatalf("%q matching %q = %v, path.Match says %v", pattern, s, got, want)
		}
	})
}
