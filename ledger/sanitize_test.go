package ledger

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSanitizeCounts guards the bound on token counts: a count no call can
// have makes the usage invalid (as the parsers record it), keeps the raw
// usage, names the count, and leaves nothing to sum or price; counts at the
// bound, and records without usage, are left as they are.
func TestSanitizeCounts(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

// TestSanitizeCaps guards the field caps: each variable field from the
// wire is cut to its cap at a UTF-8 boundary and named in Truncated, once;
// the caller's tags and headers are not modified; fields within their caps
// are left alone.
func TestSanitizeCaps(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("é", n/2+1) } // 2 bytes a rune: a cut may fall inside one
	tags := []string{"a", long(MaxTagBytes)}
	vh := map[string]string{"x-vh-run": long(MaxVHValueBytes)}
	r := sampleRecord(1)
	r.Path, r.Error, r.Model, r.Client = "/v1/"+long(1<<20), long(MaxErrorBytes), long(MaxModelBytes), long(MaxClientBytes)
	r.RequestID, r.Project = long(MaxIDBytes), long(MaxIDBytes)
	r.Tags, r.VHHeaders = tags, vh
	r.UsageRaw = []byte(`{"input_tokens":1,"pad":"` + strings.Repeat("x", MaxUsageRawBytes) + `"}`)
	r.Sanitize()
	for _, c := range []struct {
		field string
		got   string
		limit int
	}{
		{"path", r.Path, MaxPathBytes}, {"error", r.Error, MaxErrorBytes}, {"model", r.Model, MaxModelBytes},
		{"client", r.Client, MaxClientBytes}, {"request_id", r.RequestID, MaxIDBytes}, {"project", r.Project, MaxIDBytes},
		{"tags", r.Tags[1], MaxTagBytes}, {"vh_headers", r.VHHeaders["x-vh-run"], MaxVHValueBytes},
	} {
		if len(c.got) > c.limit || len(c.got) < c.limit-1 || !utf8.ValidString(c.got) {
			t.Errorf("%s: %d bytes (valid UTF-8: %v), cap %d", c.field, len(c.got), utf8.ValidString(c.got), c.limit)
		}
		if !slices.Contains(r.Truncated, c.field) {
			t.Errorf("%s cut but not in Truncated %v", c.field, r.Truncated)
		}
	}
	if r.UsageRaw != nil || !slices.Contains(r.Truncated, "usage") {
		t.Errorf("usage past its cap kept (%d bytes), truncated %v", len(r.UsageRaw), r.Truncated)
	}
	if len(tags[1]) <= MaxTagBytes || len(vh["x-vh-run"]) <= MaxVHValueBytes {
		t.Error("the caller's tags or headers were modified")
	}
	n := len(r.Truncated)
	r.Sanitize()
	if len(r.Truncated) != n {
		t.Errorf("a second Sanitize noted again: %v", r.Truncated)
	}
	if r.size() > 16<<10 {
		t.Errorf("a capped record counts %d bytes", r.size())
	}

	ok := sampleRecord(2)
	ok.Sanitize()
	if ok.Truncated != nil || ok.Path != sampleRecord(2).Path {
		t.Errorf("a record within its caps changed: %v", ok.Truncated)
	}
}

// TestTruncatedStoredAndExported guards the record's note of its cut
// fields through the ledger: written, read back and exported.
func TestTruncatedStoredAndExported(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	w := NewWriter(db, WriterOptions{})
	r := sampleRecord(1)
	r.Path = "/v1/" + strings.Repeat("p", 3*MaxPathBytes)
	w.Add(r)
	w.Add(sampleRecord(2))
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, ok, err := db.Get(ctx, r.ID)
	if err != nil || !ok || !slices.Equal(got.Truncated, []string{"path"}) || len(got.Path) != MaxPathBytes {
		t.Fatalf("read back: %v %v, truncated %v, path %d bytes", ok, err, got.Truncated, len(got.Path))
	}
	var jsonl, csvOut bytes.Buffer
	if _, err := db.Export(ctx, &jsonl, JSONL, Filter{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(jsonl.String()), "\n")
	if !strings.HasSuffix(lines[0], `,"truncated":["path"]}`) || !strings.HasSuffix(lines[1], `,"truncated":[]}`) {
		t.Errorf("JSONL truncated fields:\n%s\n%s", lines[0][len(lines[0])-40:], lines[1][len(lines[1])-40:])
	}
	if _, err := db.Export(ctx, &csvOut, CSV, Filter{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(rows[0], "truncated"); i != len(rows[0])-1 || rows[1][i] != "path" || rows[2][i] != "" {
		t.Errorf("CSV truncated column %d: %v", i, rows[0])
	}
}
