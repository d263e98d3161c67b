package ledger

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
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

// Caps on a record's variable fields, which come from the wire: a record
// is at most a few tens of KiB whatever a client or provider sends, so the
// write queue's memory follows its length. A cut field is named in
// Record.Truncated.
const (
	MaxPathBytes     = 2 << 10  // the upstream path and query
	MaxUsageRawBytes = 64 << 10 // the provider's usage object: past it, it is dropped (cut JSON is no JSON)
	MaxErrorBytes    = 4 << 10  // the error text
	MaxModelBytes    = 512      // the model name
	MaxClientBytes   = 1 << 10  // the User-Agent
	MaxIDBytes       = 512      // request and response ids, project, session
	MaxTagBytes      = 256      // each tag
	MaxTags          = 64       // tags kept, the first ones
	MaxVHValueBytes  = 1 << 10  // each x-vh-* header value
	MaxVHHeaders     = 64       // x-vh-* headers kept, by name order
)

// Sanitize makes r safe to store, sum, queue and show, saying in r what it
// changed. Usage with a count no call can have becomes invalid usage, as
// the parsers record it (outcome invalid_usage, no counts, no cost; the raw
// usage object is kept, and Error names the count). Variable fields longer
// than their caps (MaxPathBytes, …) are cut, at a UTF-8 boundary, into new
// memory (a cut never pins the whole received string), and named in
// r.Truncated. r's maps and slices are replaced, never modified: the caller
// may share them. It is idempotent.
func (r *Record) Sanitize() {
	r.capFields()
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

// capFields cuts r's variable fields to their caps.
func (r *Record) capFields() {
	str := func(field string, s *string, limit int) {
		if len(*s) > limit {
			*s = strings.Clone(cutUTF8(*s, limit))
			r.noteTruncated(field)
		}
	}
	str("path", &r.Path, MaxPathBytes)
	str("error", &r.Error, MaxErrorBytes)
	str("model", &r.Model, MaxModelBytes)
	str("client", &r.Client, MaxClientBytes)
	str("request_id", &r.RequestID, MaxIDBytes)
	str("response_id", &r.ResponseID, MaxIDBytes)
	str("project", &r.Project, MaxIDBytes)
	str("session", &r.Session, MaxIDBytes)
	if len(r.UsageRaw) > MaxUsageRawBytes {
		r.UsageRaw = nil
		r.noteTruncated("usage")
	}
	if len(r.Tags) > MaxTags || slices.ContainsFunc(r.Tags, func(t string) bool { return len(t) > MaxTagBytes }) {
		tags := make([]string, 0, min(len(r.Tags), MaxTags))
		for _, t := range r.Tags[:min(len(r.Tags), MaxTags)] {
			if len(t) > MaxTagBytes {
				t = strings.Clone(cutUTF8(t, MaxTagBytes))
			}
			tags = append(tags, t)
		}
		r.Tags = tags
		r.noteTruncated("tags")
	}
	if len(r.VHHeaders) > MaxVHHeaders || mapAny(r.VHHeaders, func(v string) bool { return len(v) > MaxVHValueBytes }) {
		names := make([]string, 0, len(r.VHHeaders))
		for k := range r.VHHeaders {
			names = append(names, k)
		}
		slices.Sort(names)
		vh := make(map[string]string, min(len(names), MaxVHHeaders))
		for _, k := range names[:min(len(names), MaxVHHeaders)] {
			v := r.VHHeaders[k]
			if len(v) > MaxVHValueBytes {
				v = strings.Clone(cutUTF8(v, MaxVHValueBytes))
			}
			vh[k] = v
		}
		r.VHHeaders = vh
		r.noteTruncated("vh_headers")
	}
}

// noteTruncated adds field to r.Truncated once, in a new slice.
func (r *Record) noteTruncated(field string) {
	if slices.Contains(r.Truncated, field) {
		return
	}
	r.Truncated = append(r.Truncated[:len(r.Truncated):len(r.Truncated)], field)
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// end inside a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func mapAny(m map[string]string, f func(string) bool) bool {
	for _, v := range m {
		if f(v) {
			return true
		}
	}
	return false
}

// recordOverhead approximates a Record's fixed size and its allocations'
// headers, for the write queue's byte accounting.
const recordOverhead = 512

// size approximates the memory r holds: its fixed part and every string,
// slice and map it points to. The write queue bounds the sum.
func (r *Record) size() int {
	n := recordOverhead + len(r.ID) + len(r.Provider) + len(r.API) + len(r.Endpoint) + len(r.Mode) +
		len(r.Method) + len(r.Host) + len(r.Path) + len(r.Model) + len(r.Outcome) + len(r.Error) +
		len(r.CostSource) + len(r.RequestID) + len(r.ResponseID) + len(r.Client) + len(r.UsageRaw) +
		len(r.Kind) + len(r.Project) + len(r.Session) + len(r.ConnectionID) + len(r.PriceVersion) +
		len(r.CostNote)
	for _, t := range r.Tags {
		n += 16 + len(t)
	}
	for k, v := range r.VHHeaders {
		n += 48 + len(k) + len(v)
	}
	for _, f := range r.Truncated {
		n += 16 + len(f)
	}
	if r.Detail != nil {
		n += 64
		for _, it := range r.Detail.Iterations {
			n += 96 + len(it.Type) + len(it.Model)
		}
	}
	return n
}
