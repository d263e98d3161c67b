package budgets

import (
	"path"
	"unicode/utf8"
)

// glob is a compiled scope pattern. The syntax is path.Match's — '*' any
// run of characters, '?' any one, '[a-z]' and '[^0-9]' classes, '\' to
// escape — with one difference: '*' and '?' match '/' too. Scope values
// are not paths: a User-Agent ("claude-cli/2.0.1 (external, cli)") or a
// model ("accounts/fireworks/models/llama-v3p1-70b") has slashes that a
// pattern such as "*llama*" is meant to reach across.
type glob struct {
	src   string
	atoms []atom
	lit   bool // no wildcard: matches src exactly
}

type atomKind uint8

const (
	atomLit atomKind = iota
	atomAny
	atomStar
	atomClass
)

type atom struct {
	kind   atomKind
	r      rune      // atomLit
	neg    bool      // atomClass: [^…]
	ranges [][2]rune // atomClass: lo-hi pairs
}

// compileGlob checks and compiles a pattern; a malformed one (an unclosed
// class, a trailing backslash) is path.ErrBadPattern.
func compileGlob(p string) (*glob, error) {
	// path.Match checks the whole pattern, whatever it matches: one
	// syntax, one checker, shared with the config's validation.
	if _, err := path.Match(p, ""); err != nil {
		return nil, err
	}
	g := &glob{src: p, lit: true}
	for i := 0; i < len(p); {
		switch p[i] {
		case '*':
			g.lit = false
			if n := len(g.atoms); n == 0 || g.atoms[n-1].kind != atomStar {
				g.atoms = append(g.atoms, atom{kind: atomStar})
			}
			i++
		case '?':
			g.lit = false
			g.atoms = append(g.atoms, atom{kind: atomAny})
			i++
		case '[':
			g.lit = false
			a, n := parseClass(p[i+1:])
			g.atoms = append(g.atoms, a)
			i += 1 + n
		case '\\':
			r, n := utf8.DecodeRuneInString(p[i+1:])
			g.atoms = append(g.atoms, atom{kind: atomLit, r: r})
			i += 1 + n
		default:
			r, n := utf8.DecodeRuneInString(p[i:])
			g.atoms = append(g.atoms, atom{kind: atomLit, r: r})
			i += n
		}
	}
	if g.lit {
		g.atoms = nil
		g.src = unescape(p)
	}
	return g, nil
}

// parseClass reads a class after its '[' (path.Match has checked its
// syntax) and returns it and the bytes it took, ']' included.
func parseClass(s string) (atom, int) {
	a := atom{kind: atomClass}
	i := 0
	if i < len(s) && s[i] == '^' {
		a.neg = true
		i++
	}
	for {
		if s[i] == ']' && len(a.ranges) > 0 {
			return a, i + 1
		}
		lo, n := classRune(s[i:])
		i += n
		hi := lo
		if s[i] == '-' {
			hi, n = classRune(s[i+1:])
			i += 1 + n
		}
		a.ranges = append(a.ranges, [2]rune{lo, hi})
	}
}

func classRune(s string) (rune, int) {
	if s[0] == '\\' {
		r, n := utf8.DecodeRuneInString(s[1:])
		return r, 1 + n
	}
	return utf8.DecodeRuneInString(s)
}

func unescape(p string) string {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' {
			i++
		}
		out = append(out, p[i])
	}
	return string(out)
}

func (a *atom) matches(r rune) bool {
	switch a.kind {
	case atomLit:
		return r == a.r
	case atomAny:
		return true
	case atomClass:
		in := false
		for _, rg := range a.ranges {
			if rg[0] <= r && r <= rg[1] {
				in = true
				break
			}
		}
		return in != a.neg
	}
	return false
}

// match reports whether s matches the whole pattern. With one atom per
// character and '*' the only repetition, backtracking to the last star is
// enough, so a match costs at most len(pattern)×len(s) steps.
func (g *glob) match(s string) bool {
	if g.lit {
		return s == g.src
	}
	p := g.atoms
	pi, si := 0, 0
	star, starSi := -1, 0
	for si < len(s) {
		if pi < len(p) && p[pi].kind == atomStar {
			star, starSi = pi, si
			pi++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[si:])
		if pi < len(p) && p[pi].matches(r) {
			pi++
			si += n
			continue
		}
		if star < 0 {
			return false
		}
		_, n = utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		pi, si = star+1, starSi
	}
	for pi < len(p) && p[pi].kind == atomStar {
		pi++
	}
	return pi == len(p)
}
