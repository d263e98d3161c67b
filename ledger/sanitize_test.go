package ledger

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestSanitizeCounts guards the bound on token counts: a count no call can
// have makes the usage invalid (as the parsers record it), keeps the raw
// usage, names the count, and leaves nothing to sum or price; counts at the
// bound, and records without usage, are left as they are.
func TestSanitizeCounts(t *testing.T) {
	tests := []struct {
		name    string
		set     func(r *Record)
		invalid string // "": unchanged
	}{
		{"plausible", func(r *Record) {}, ""},
		{"at the bound", func(r *Record) { r.InputTokens = MaxTokenCount }, ""},
		{"no usage", func(r *Record) { r.HasUsage, r.InputTokens = false, math.MaxInt64 }, ""},
		{"past the bound", func(r *Record) { r.OutputTokens = MaxTokenCount + 1 }, "output_tokens 10000000001"},
		{"max int64", func(r *Record) { r.InputTokens = math.MaxInt64 }, "input_tokens 9223372036854775807"},
		{"negative", func(r *Record) { r.CachedInputTokens = -1 }, "cached_input_tokens -1"},
		{"negative cache write split", func(r *Record) { r.CacheWrite1hTokens = -3 }, "cache_write_1h_tokens -3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleRecord(1)
			tt.set(&r)
			before := r
			r.Sanitize()
			if tt.invalid == "" {
				if !reflect.DeepEqual(r, before) {
					t.Errorf("changed: %+v", r)
				}
				return
			}
			if r.HasUsage || r.InputTokens != 0 || r.OutputTokens != 0 || r.CostUSD != nil || r.CostSource != "" ||
				r.Outcome != OutcomeInvalidUsage || !strings.Contains(r.Error, tt.invalid) || string(r.UsageRaw) != string(before.UsageRaw) {
				t.Errorf("sanitized to %+v", r)
			}
			again := r
			again.Sanitize()
			if !reflect.DeepEqual(again, r) {
				t.Errorf("not idempotent: %+v", again)
			}
		})
	}
}

func TestSatAdd(t *testing.T) {
	for _, tt := range []struct{ a, b, want int64 }{
		{1, 2, 3},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MaxInt64 / 2, math.MaxInt64/2 + 2, math.MaxInt64},
		{math.MinInt64, -1, math.MinInt64},
		{math.MaxInt64, math.MinInt64, -1},
	} {
		if got := satAdd(tt.a, tt.b); got != tt.want {
			t.Errorf("satAdd(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
