package pricing

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/valohai/conduit/ledger/pricing/internal/book"
)

// A matcher is one compiled genai-prices match rule, evaluated on a
// lower-cased model name as genai-prices evaluates it
// (packages/js/src/engine.ts matchLogic): equals, starts_with, ends_with
// and contains compare case-insensitively; regex is case-sensitive.
type matcher struct {
	op   matchOp
	s    string // lower-cased operand
	re   *regexp.Regexp
	subs []*matcher
}

type matchOp int

const (
	opEquals matchOp = iota
	opStartsWith
	opEndsWith
	opContains
	opRegex
	opOr
	opAnd
	opNot
)

func compileMatch(m book.Match) (*matcher, error) {
	lit := func(op matchOp, s string) (*matcher, error) { return &matcher{op: op, s: strings.ToLower(s)}, nil }
	list := func(op matchOp, ms []book.Match) (*matcher, error) {
		out := &matcher{op: op}
		for _, sub := range ms {
			c, err := compileMatch(sub)
			if err != nil {
				return nil, err
			}
			out.subs = append(out.subs, c)
		}
		return out, nil
	}
	switch {
	case m.Equals != nil:
		return lit(opEquals, *m.Equals)
	case m.StartsWith != nil:
		return lit(opStartsWith, *m.StartsWith)
	case m.EndsWith != nil:
		return lit(opEndsWith, *m.EndsWith)
	case m.Contains != nil:
		return lit(opContains, *m.Contains)
	case m.Regex != nil:
		re, err := regexp.Compile(*m.Regex)
		if err != nil {
			return nil, fmt.Errorf("regex %q: %w", *m.Regex, err)
		}
		return &matcher{op: opRegex, re: re}, nil
	case m.Or != nil:
		return list(opOr, m.Or)
	case m.And != nil:
		return list(opAnd, m.And)
	case m.Not != nil:
		return list(opNot, []book.Match{*m.Not})
	}
	return nil, fmt.Errorf("empty match rule")
}

// match is the rule as genai-prices reads it.
func (m *matcher) match(name string) bool {
	switch m.op {
	case opEquals:
		return name == m.s
	case opStartsWith:
		return strings.HasPrefix(name, m.s)
	case opEndsWith:
		return strings.HasSuffix(name, m.s)
	case opContains:
		return strings.Contains(name, m.s)
	case opRegex:
		return m.re.MatchString(name)
	case opOr:
		for _, s := range m.subs {
			if s.match(name) {
				return true
			}
		}
		return false
	case opAnd:
		for _, s := range m.subs {
			if !s.match(name) {
				return false
			}
		}
		return true
	case opNot:
		return !m.subs[0].match(name)
	}
	return false
}

// exact reports whether the rule names name outright: one of its equals
// operands is name (and, under an and, the other conditions hold).
func (m *matcher) exact(name string) bool {
	switch m.op {
	case opEquals:
		return name == m.s
	case opOr:
		for _, s := range m.subs {
			if s.exact(name) {
				return true
			}
		}
	case opAnd:
		return m.match(name) && m.anySub(func(s *matcher) bool { return s.exact(name) })
	}
	return false
}

// guarded is match, but a rule that matches only part of name (a prefix,
// suffix, substring or regular expression) counts only when the rest of
// the name is a snapshot date, version suffix, alias or platform prefix
// (see plainRest). So starts_with "gemini-2.5-flash" prices
// gemini-2.5-flash-001 but not gemini-2.5-flash-lite, and contains
// "gpt-4o" prices openai/gpt-4o but not gpt-4o-mini: a different model
// never takes another's price through a loose rule.
func (m *matcher) guarded(name string) bool {
	switch m.op {
	case opEquals:
		return name == m.s
	case opStartsWith:
		return strings.HasPrefix(name, m.s) && plainRest(name, 0, len(m.s))
	case opEndsWith:
		return strings.HasSuffix(name, m.s) && plainRest(name, len(name)-len(m.s), len(name))
	case opContains:
		for from := 0; ; {
			i := strings.Index(name[from:], m.s)
			if i < 0 {
				return false
			}
			if plainRest(name, from+i, from+i+len(m.s)) {
				return true
			}
			from += i + 1
		}
	case opRegex:
		loc := m.re.FindStringIndex(name)
		return loc != nil && plainRest(name, loc[0], loc[1])
	case opOr:
		return m.anySub(func(s *matcher) bool { return s.guarded(name) })
	case opAnd:
		// Every condition holds, and the positive ones that locate the
		// name in the text pass the guard; negations only exclude.
		if !m.match(name) {
			return false
		}
		positive := false
		for _, s := range m.subs {
			if s.op == opNot {
				continue
			}
			positive = true
			if s.guarded(name) {
				return true
			}
		}
		return !positive
	case opNot:
		return m.match(name)
	}
	return false
}

func (m *matcher) anySub(f func(*matcher) bool) bool {
	for _, s := range m.subs {
		if f(s) {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z'
}

// plainRest reports whether name[start:end] is the model a rule names and
// what lies around it says nothing about which model it is.
//
// The match must not start or end inside a word: "gpt-4o" in "gpt-4o1"
// or "claude-opus-4-1" in "claude-opus-4-10" is a different model. Before
// it may stand platform prefixes (platformPrefix: us., global.,
// anthropic., models/, …); after it only snapshot suffixes
// (snapshotSuffix: dates, -v1:0, -latest, -001) and, for a fine-tuned
// model (ft:…), its organisation and job suffix. A word such as -mini,
// -lite, -image, -preview or -8b, or a bare version number (-5, .1),
// means another model, which the rule does not price.
func plainRest(name string, start, end int) bool {
	if start > 0 && start < len(name) && isAlnum(name[start-1]) && isAlnum(name[start]) {
		return false
	}
	// A match ending inside a word (a regular expression's \d took
	// one digit of a date) is judged by the whole word.
	if end > start && end < len(name) && isAlnum(name[end-1]) && isAlnum(name[end]) {
		i := strings.LastIndexFunc(name[start:end], func(r rune) bool { return r < 0x80 && !isAlnum(byte(r)) })
		if i < 0 {
			return false
		}
		end = start + i
	} else if end > start && end < len(name) && !isAlnum(name[end-1]) && isAlnum(name[end]) {
		// A rule ending in a separator ("ft:gpt-4o-2024-"): the
		// separator belongs to what follows.
		end--
	}
	return onlyPlatformPrefixes(name[:start]) && onlySnapshotSuffixes(name[end:], true, strings.HasPrefix(name, "ft:"))
}

// platformPrefix is one prefix that places a model (a cloud region, the
// model's vendor on a router or a cloud, an API path) without naming
// another one.
var platformPrefix = regexp.MustCompile(`^(?:` +
	`(?:us|eu|apac|global|jp|au|ca|in|us-gov|regional)\.` +
	`|(?:anthropic|amazon|meta|mistral|openai|google|deepseek|qwen|cohere|ai21|writer|nvidia|moonshotai|minimax|x-ai|xai)[./]` +
	`|models/|publishers/[a-z0-9_.-]+/models/|accounts/[a-z0-9_.-]+/models/` +
	`)`)

func onlyPlatformPrefixes(s string) bool {
	for s != "" {
		loc := platformPrefix.FindStringIndex(s)
		if loc == nil {
			return false
		}
		s = s[loc[1]:]
	}
	return true
}

// snapshotSuffix is one suffix that names a snapshot or an alias of the
// same model: -2025-04-14, -20250929, @20251001, -0613 (month and day),
// -2507 (year and month), -09-2025, -05-20, -latest, Bedrock's -v1:0 / :0
// version markers, and -001 (group 13), which is a snapshot of a Gemini
// model but a model of its own in OpenAI's davinci-002.
var snapshotSuffix = regexp.MustCompile(`^(?:` +
	`[-_@.](\d{4})-(\d{2})-(\d{2})` + // 1-3 YYYY-MM-DD
	`|[-_@.](\d{4})(\d{2})(\d{2})` + // 4-6 YYYYMMDD
	`|-(\d{2})-(\d{4})` + // 7-8 MM-YYYY
	`|-(\d{2})-(\d{2})` + // 9-10 MM-DD
	`|[-@](\d{2})(\d{2})` + // 11-12 MMDD or YYMM
	`|([-@]0\d\d)` + // 13: a version number
	`|[-@]latest` +
	`|-v\d+(?::\d+)?$` +
	`|:\d+$` +
	`)`)

// onlySnapshotSuffixes reports whether s is nothing but snapshot
// suffixes. versions admits version numbers (-001): true when a source
// rule already named the model, false when Conduit strips suffixes itself.
// fineTune admits a fine-tuned model's :org:name:id.
func onlySnapshotSuffixes(s string, versions, fineTune bool) bool {
	for s != "" {
		if fineTune && s[0] == ':' {
			// ft:<base>:<org>:<name>:<id>: the rest names the
			// customer's copy of the base model.
			return true
		}
		m := snapshotSuffix.FindStringSubmatchIndex(s)
		if m == nil || !plausibleDate(s, m) || (!versions && m[26] >= 0) {
			return false
		}
		s = s[m[1]:]
	}
	return true
}

// plausibleDate checks the date a snapshotSuffix match read, so that a
// context size such as -8192 or a year-less number is not taken for one.
func plausibleDate(s string, m []int) bool {
	group := func(i int) int {
		if m[2*i] < 0 {
			return -1
		}
		n := 0
		for _, c := range s[m[2*i]:m[2*i+1]] {
			n = n*10 + int(c-'0')
		}
		return n
	}
	month := func(v int) bool { return v >= 1 && v <= 12 }
	day := func(v int) bool { return v >= 1 && v <= 31 }
	date := func(y, m, d int) bool {
		return y >= 2000 && y <= 2099 && month(m) && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() == d
	}
	switch {
	case group(1) >= 0:
		return date(group(1), group(2), group(3))
	case group(4) >= 0:
		return date(group(4), group(5), group(6))
	case group(7) >= 0:
		return month(group(7)) && group(8) >= 2000 && group(8) <= 2099
	case group(9) >= 0:
		return month(group(9)) && day(group(10))
	case group(11) >= 0:
		a, b := group(11), group(12)
		return month(a) && day(b) || a >= 23 && a <= 39 && month(b)
	}
	return true
}

// nameVariants lists the spellings of a lower-cased model name to look up,
// the name itself first: genai-prices' own retry with a compact date
// spelled out (-20250929 → -2025-09-29), then the name without its
// platform prefixes, then without its snapshot suffixes one by one, so
// that us.anthropic.claude-sonnet-4-5-20250929-v1:0 also tries
// claude-sonnet-4-5-20250929 and claude-sonnet-4-5.
func nameVariants(name string) []string {
	out := []string{name}
	add := func(s string) {
		if s == "" {
			return
		}
		for _, v := range out {
			if v == s {
				return
			}
		}
		out = append(out, s)
	}
	add(compactDate.ReplaceAllStringFunc(name, spellDate))
	bases := []string{name}
	for s := name; ; {
		loc := platformPrefix.FindStringIndex(s)
		if loc == nil || loc[1] == len(s) {
			break
		}
		s = s[loc[1]:]
		bases = append(bases, s)
	}
	for _, b := range bases {
		add(b)
		for _, cut := range snapshotCuts(b) {
			add(b[:cut])
		}
	}
	return out
}

// snapshotCuts returns where the snapshot suffixes of s begin, last first:
// for claude-sonnet-4-5-20250929-v1:0 the offsets of "-v1:0" and of
// "-20250929-v1:0". The suffixes are read left to right from the earliest
// point where all that follows is snapshot suffixes, so a date is never
// cut in two.
func snapshotCuts(s string) []int {
	for i := 1; i < len(s); i++ {
		if isAlnum(s[i]) || !isAlnum(s[i-1]) || !onlySnapshotSuffixes(s[i:], false, false) {
			continue
		}
		cuts := []int{i}
		for rest := s[i:]; ; {
			m := snapshotSuffix.FindStringIndex(rest)
			if m == nil || m[1] == len(rest) {
				break
			}
			rest = rest[m[1]:]
			cuts = append(cuts, len(s)-len(rest))
		}
		for l, r := 0, len(cuts)-1; l < r; l, r = l+1, r-1 {
			cuts[l], cuts[r] = cuts[r], cuts[l]
		}
		return cuts
	}
	return nil
}

// compactDate is a -YYYYMMDD date inside a name, as genai-prices spells it
// out before its second lookup (its engine's date fallback).
var compactDate = regexp.MustCompile(`-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?:$|[-:])`)

func spellDate(m string) string {
	tail := ""
	if c := m[len(m)-1]; c == '-' || c == ':' {
		tail, m = m[len(m)-1:], m[:len(m)-1]
	}
	spelled := m[1:5] + "-" + m[5:7] + "-" + m[7:9]
	if t, err := time.Parse(time.DateOnly, spelled); err != nil || t.Format(time.DateOnly) != spelled {
		return m + tail // not a real date (20250231): genai-prices leaves it
	}
	return "-" + spelled + tail
}
