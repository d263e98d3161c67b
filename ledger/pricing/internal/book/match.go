package book

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Match is one genai-prices match rule: exactly one of its fields is set.
// Equals, StartsWith, EndsWith and Contains compare case-insensitively;
// Regex is an RE2 expression matched against the lower-cased name; Or, And
// and Not combine rules. Not does not exist in the source: the compiler
// writes it for the source's leading negative lookahead, which RE2 lacks.
type Match struct {
	Equals     *string `json:"equals,omitempty"`
	StartsWith *string `json:"starts_with,omitempty"`
	EndsWith   *string `json:"ends_with,omitempty"`
	Contains   *string `json:"contains,omitempty"`
	Regex      *string `json:"regex,omitempty"`
	Or         []Match `json:"or,omitempty"`
	And        []Match `json:"and,omitempty"`
	Not        *Match  `json:"not,omitempty"`
}

// UnmarshalJSON accepts exactly one known operator and fails on anything
// else, naming it.
func (m *Match) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("match: want an object: %w", err)
	}
	if len(raw) != 1 {
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		return fmt.Errorf("match: want exactly one operator, have %q", keys)
	}
	*m = Match{}
	for op, v := range raw {
		str := func(dst **string) error {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("match.%s: want a string", op)
			}
			*dst = &s
			return nil
		}
		list := func(dst *[]Match) error {
			dec := json.NewDecoder(bytes.NewReader(v))
			if err := dec.Decode(dst); err != nil {
				return fmt.Errorf("match.%s: %w", op, err)
			}
			if len(*dst) == 0 {
				return fmt.Errorf("match.%s: empty", op)
			}
			return nil
		}
		switch op {
		case "equals":
			return str(&m.Equals)
		case "starts_with":
			return str(&m.StartsWith)
		case "ends_with":
			return str(&m.EndsWith)
		case "contains":
			return str(&m.Contains)
		case "regex":
			return str(&m.Regex)
		case "or":
			return list(&m.Or)
		case "and":
			return list(&m.And)
		case "not":
			m.Not = new(Match)
			if err := json.Unmarshal(v, m.Not); err != nil {
				return fmt.Errorf("match.not: %w", err)
			}
			return nil
		default:
			return fmt.Errorf("match: unknown operator %q", op)
		}
	}
	return nil
}

// translate rewrites the source's regular expressions for RE2 and checks
// that each compiles. The source writes them for JavaScript; the only
// construct of it RE2 lacks that the data uses is a negative lookahead at
// the start, ^(?!X)Y, which means "not ^X, and ^Y". Any other lookaround
// or backreference is an error.
func translate(m Match) (Match, error) {
	switch {
	case m.Regex != nil:
		return translateRegex(*m.Regex)
	case m.Or != nil || m.And != nil:
		src, out := m.Or, &m.Or
		if m.And != nil {
			src, out = m.And, &m.And
		}
		list := make([]Match, len(src))
		for i, sub := range src {
			t, err := translate(sub)
			if err != nil {
				return Match{}, err
			}
			list[i] = t
		}
		*out = list
		return m, nil
	case m.Not != nil:
		t, err := translate(*m.Not)
		if err != nil {
			return Match{}, err
		}
		return Match{Not: &t}, nil
	}
	return m, nil
}

func translateRegex(re string) (Match, error) {
	if inner, rest, ok := leadingNegativeLookahead(re); ok {
		neg, err := checkedRegex("^(?:" + inner + ")")
		if err != nil {
			return Match{}, fmt.Errorf("regex %q: %w", re, err)
		}
		not := Match{Not: &neg}
		if rest == "" {
			return not, nil
		}
		pos, err := checkedRegex("^" + rest)
		if err != nil {
			return Match{}, fmt.Errorf("regex %q: %w", re, err)
		}
		return Match{And: []Match{not, pos}}, nil
	}
	m, err := checkedRegex(re)
	if err != nil {
		return Match{}, fmt.Errorf("regex %q: %w", re, err)
	}
	return m, nil
}

// checkedRegex refuses JavaScript constructs RE2 would read differently
// or not at all, then compiles re.
func checkedRegex(re string) (Match, error) {
	for _, bad := range []string{"(?=", "(?!", "(?<=", "(?<!", `\k<`} {
		if strings.Contains(re, bad) {
			return Match{}, fmt.Errorf("unsupported construct %q", bad)
		}
	}
	for i := 0; i+1 < len(re); i++ {
		if re[i] == '\\' {
			if c := re[i+1]; c >= '1' && c <= '9' {
				return Match{}, fmt.Errorf("unsupported backreference \\%c", c)
			}
			i++
		}
	}
	if _, err := regexp.Compile(re); err != nil {
		return Match{}, err
	}
	return Match{Regex: &re}, nil
}

// leadingNegativeLookahead splits ^(?!inner)rest.
func leadingNegativeLookahead(re string) (inner, rest string, ok bool) {
	const open = "^(?!"
	if !strings.HasPrefix(re, open) {
		return "", "", false
	}
	depth, class := 1, false
	for i := len(open); i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case class:
			if c == ']' {
				class = false
			}
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return re[len(open):i], re[i+1:], true
			}
		}
	}
	return "", "", false
}

// matchesPlain evaluates a source rule as genai-prices does, for the
// overlay's checks (regular expressions as written, lookarounds aside).
func (m Match) matchesPlain(name string) bool {
	name = strings.ToLower(name)
	switch {
	case m.Equals != nil:
		return name == strings.ToLower(*m.Equals)
	case m.StartsWith != nil:
		return strings.HasPrefix(name, strings.ToLower(*m.StartsWith))
	case m.EndsWith != nil:
		return strings.HasSuffix(name, strings.ToLower(*m.EndsWith))
	case m.Contains != nil:
		return strings.Contains(name, strings.ToLower(*m.Contains))
	case m.Regex != nil:
		t, err := translateRegex(*m.Regex)
		return err == nil && t.matchesCompiled(name)
	case m.Or != nil:
		for _, s := range m.Or {
			if s.matchesPlain(name) {
				return true
			}
		}
		return false
	case m.And != nil:
		for _, s := range m.And {
			if !s.matchesPlain(name) {
				return false
			}
		}
		return true
	case m.Not != nil:
		return !m.Not.matchesPlain(name)
	}
	return false
}

// matchesCompiled evaluates a translated rule (RE2 regular expressions).
func (m Match) matchesCompiled(name string) bool {
	if m.Regex != nil {
		return regexp.MustCompile(*m.Regex).MatchString(name)
	}
	return m.matchesPlain(name)
}
