package pricing

import (
	"fmt"
	"math"
	"strings"
)

// The catalogs of the two user-given sources: [pricing."<prefix>"]
// overrides and the LiteLLM-format pricing file. Their model names are
// prefixes matched at a word boundary, as they always were.

// tier is one set of rates in picodollars per token.
type tier struct {
	input, cached, write5m, write1h, output int64
}

// entry is one priced model (or prefix) in one source.
type entry struct {
	base tier
	// cachedGiven reports that the source stated the cached-input rate
	// (overrides of non-Anthropic models borrow it, see Rates).
	cachedGiven bool
	// longAbove > 0: calls with more input tokens use long instead.
	longAbove int64
	long      tier
	// Multipliers for Anthropic usage fields (0: not applicable).
	geoUS, speedFast float64
}

// catalog is one source's entries by key.
type catalog struct {
	byKey map[string]*entry
	// version names the pricing file's content ("sha256:…", the first 12
	// hex digits), recorded with the calls it priced; "" for overrides.
	version string
}

// find returns the entry for model: an exact key, else the longest key that
// is a prefix of it ending at a word boundary (see matchable). It also
// tries the name with a "models/" or "<vendor>/" prefix removed and in
// lower case. A nil catalog finds nothing.
func (c *catalog) find(model string) *entry {
	_, e := c.lookup(model)
	return e
}

// findKey returns the key that prices model, "" if none.
func (c *catalog) findKey(model string) string {
	k, _ := c.lookup(model)
	return k
}

func (c *catalog) lookup(model string) (string, *entry) {
	if c == nil || len(c.byKey) == 0 {
		return "", nil
	}
	for _, m := range candidates(model) {
		for i := len(m); i > 0; i-- {
			if !matchable(m, i) {
				continue
			}
			if e := c.byKey[m[:i]]; e != nil {
				return m[:i], e
			}
		}
	}
	return "", nil
}

// candidates lists the spellings of a model name to look up, best first.
func candidates(model string) []string {
	out := []string{model}
	add := func(s string) {
		if s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	add(strings.ToLower(model))
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		add(model[i+1:])
		add(strings.ToLower(model[i+1:]))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// matchable reports whether m[:i] may be used as a key for m: the whole
// name, a prefix followed by a separator (gpt-4.1 for gpt-4.1-2025-04-14,
// claude-sonnet-4-5 for claude-sonnet-4-5@20250929), or a prefix that itself
// ends in punctuation (an override such as "gpt-" matches anything after it).
// A prefix followed by a letter, digit or '.' does not match: gpt-5 must not
// price gpt-5.4, nor gpt-4 gpt-4o.
func matchable(m string, i int) bool {
	if i == len(m) {
		return true
	}
	if !isWordByte(m[i-1]) {
		return true
	}
	return !isWordByte(m[i]) && m[i] != '.'
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// toUnits converts a rate in USD per million tokens to picodollars per
// token, rejecting values that cannot be a price.
func toUnits(usdPerMTok float64, what string) (int64, error) {
	if math.IsNaN(usdPerMTok) || math.IsInf(usdPerMTok, 0) || usdPerMTok < 0 || usdPerMTok > maxRate {
		return 0, fmt.Errorf("%s: %v is not a price in USD per 1M tokens (0 to %g)", what, usdPerMTok, float64(maxRate))
	}
	return int64(math.Round(usdPerMTok * unitsPerUSDPerMTok)), nil
}

// derive fills the rates of t that were not given, from its input rate and
// the family's rules.
func derive(t *tier, family string, cachedGiven, w5Given, w1Given bool) {
	if !cachedGiven {
		if family == apiAnthropic {
			t.cached = roundDiv(t.input, 10)
		} else {
			t.cached = t.input
		}
	}
	if !w5Given {
		t.write5m = roundDiv(t.input*5, 4)
	}
	if !w1Given {
		t.write1h = t.input * 2
	}
}

// roundDiv divides non-negative a by b, rounding half up.
func roundDiv(a, b int64) int64 { return (a + b/2) / b }

func overrideEntry(prefix string, r Rates) (*entry, error) {
	if prefix == "" {
		return nil, fmt.Errorf(`pricing override: empty model prefix (use [pricing."<prefix>"])`)
	}
	what := func(field string) string { return fmt.Sprintf("pricing.%q.%s", prefix, field) }
	e := &entry{}
	var err error
	if e.base.input, err = toUnits(r.Input, what("input")); err != nil {
		return nil, err
	}
	if e.base.output, err = toUnits(r.Output, what("output")); err != nil {
		return nil, err
	}
	opt := func(v *float64, field string, dst *int64) (bool, error) {
		if v == nil {
			return false, nil
		}
		u, err := toUnits(*v, what(field))
		*dst = u
		return true, err
	}
	var w5, w1 bool
	if e.cachedGiven, err = opt(r.CachedInput, "cached_input", &e.base.cached); err != nil {
		return nil, err
	}
	if w5, err = opt(r.CacheWrite5m, "cache_write_5m", &e.base.write5m); err != nil {
		return nil, err
	}
	if w1, err = opt(r.CacheWrite1h, "cache_write_1h", &e.base.write1h); err != nil {
		return nil, err
	}
	// The family is only known per call; cached derives at Price time for
	// non-Anthropic calls. Anthropic's 0.1 × input is filled here and
	// replaced at Price time for other APIs (see Price).
	derive(&e.base, apiAnthropic, e.cachedGiven, w5, w1)
	return e, nil
}

// tableRates is one set of rates as the pricing file gives them, in USD
// per million tokens (nil: not given).
type tableRates struct {
	Input        *float64 `json:"input"`
	CachedInput  *float64 `json:"cached_input"`
	CacheWrite5m *float64 `json:"cache_write_5m"`
	CacheWrite1h *float64 `json:"cache_write_1h"`
	Output       *float64 `json:"output"`
}

func (r tableRates) tier(family, what string) (tier, bool, error) {
	var t tier
	if r.Input == nil || r.Output == nil {
		return t, false, fmt.Errorf("%s: input and output rates are required", what)
	}
	var err error
	if t.input, err = toUnits(*r.Input, what+" input"); err != nil {
		return t, false, err
	}
	if t.output, err = toUnits(*r.Output, what+" output"); err != nil {
		return t, false, err
	}
	set := func(v *float64, field string, dst *int64) bool {
		if v == nil || err != nil {
			return false
		}
		*dst, err = toUnits(*v, what+" "+field)
		return true
	}
	c := set(r.CachedInput, "cached_input", &t.cached)
	w5 := set(r.CacheWrite5m, "cache_write_5m", &t.write5m)
	w1 := set(r.CacheWrite1h, "cache_write_1h", &t.write1h)
	if err != nil {
		return t, false, err
	}
	derive(&t, family, c, w5, w1)
	return t, c, nil
}
