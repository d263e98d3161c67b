package ledger

import (
	"fmt"
	"math"
)

// MaxTokenCount bounds a plausible token count of one call: no call reads or
// writes ten billion tokens, and sums of counts this size cannot overflow
// int64 before there are about 900 million of them. The parsers apply the
// same bound to what providers send; the ledger applies it again to every
// record it is given.
const MaxTokenCount = 1e10

// implausibleCount returns the name and value of r's first token count that
// no call can have (negative, or beyond MaxTokenCount), or ok false.
func (r *Record) implausibleCount() (name string, n int64, ok bool) {
	for _, c := range [...]struct {
		name string
		n    int64
	}{
		{"input_tokens", r.InputTokens}, {"cached_input_tokens", r.CachedInputTokens},
		{"cache_write_tokens", r.CacheWriteTokens}, {"cache_write_5m_tokens", r.CacheWrite5mTokens},
		{"cache_write_1h_tokens", r.CacheWrite1hTokens}, {"output_tokens", r.OutputTokens},
		{"reasoning_tokens", r.ReasoningTokens},
	} {
		if c.n < 0 || c.n > MaxTokenCount {
			return c.name, c.n, true
		}
	}
	return "", 0, false
}

// PlausibleCounts reports whether every token count of r is one a call can
// have (always true without usage). Pricing and sums read only records for
// which it holds.
func (r *Record) PlausibleCounts() bool {
	if !r.HasUsage {
		return true
	}
	_, _, bad := r.implausibleCount()
	return !bad
}

// Sanitize makes r safe to store, sum and show, saying in r what it
// changed: usage with a count no call can have becomes invalid usage, as
// the parsers record it (outcome invalid_usage, no counts, no cost; the raw
// usage object is kept, and Error names the count). It is idempotent.
func (r *Record) Sanitize() {
	if name, n, bad := r.implausibleCount(); r.HasUsage && bad {
		r.HasUsage = false
		r.InputTokens, r.CachedInputTokens, r.CacheWriteTokens = 0, 0, 0
		r.CacheWrite5mTokens, r.CacheWrite1hTokens, r.OutputTokens, r.ReasoningTokens = 0, 0, 0, 0
		r.Detail = nil
		r.CostUSD, r.CostSource, r.PriceVersion, r.CostNote = nil, "", "", ""
		r.Outcome = OutcomeInvalidUsage
		r.Error = fmt.Sprintf("invalid usage: %s %d is not a count a call can have (0 to %.0f)", name, n, float64(MaxTokenCount))
	}
}

// satAdd adds two token sums, stopping at the int64 bounds rather than
// wrapping: a sum is never negative because it grew too large.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}
