package ledger

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// orderedRecords returns calls whose sort values tie often (same cost,
// same tokens, same start), with unpriced and usage-less ones mixed in.
func orderedRecords() []Record {
	recs := mixedRecords()
	for i := range recs {
		r := &recs[i]
		r.InputTokens = int64(100 * (i % 4))
		r.OutputTokens = int64(10 * (i % 5))
		r.Duration = time.Duration(i%6) * time.Second
		if r.CostUSD != nil {
			r.CostUSD = f64(float64(i%3) / 100)
		}
	}
	return recs
}

// allRows reads every row, in insertion order.
func allRows(t *testing.T, db *DB) []Row {
	t.Helper()
	rows, more, err := db.RowsSince(context.Background(), Filter{}, 0, MaxPageSize)
	if err != nil || more {
		t.Fatalf("all rows: more %v, %v", more, err)
	}
	return rows
}

func seqs(rows []Row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.Seq
	}
	return out
}

// TestPageOrdered pages through every order in small pages and checks the
// result is the whole filtered set sorted exactly as Order.Compare says,
// without repeats or gaps; and that paging the reversed order from a row
// yields the rows before it.
func TestPageOrdered(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustInsert(t, db, orderedRecords()...)
	ctx := context.Background()
	all := allRows(t, db)
	filters := map[string]Filter{
		"none":     {},
		"provider": {Provider: "anthropic"},
		"tag":      {Tag: "eval"},
		"since":    {Since: baseTime.Add(3 * time.Minute)},
	}
	for fname, f := range filters {
		var want []Row
		for _, r := range all {
			if matches(r, f) {
				want = append(want, r)
			}
		}
		for _, key := range []SortKey{SortStarted, SortCost, SortInput, SortOutput, SortDuration} {
			for _, asc := range []bool{false, true} {
				o := Order{Key: key, Asc: asc}
				t.Run(fmt.Sprintf("%s/%s/asc=%v", fname, key, asc), func(t *testing.T) {
					sorted := slices.Clone(want)
					slices.SortFunc(sorted, o.Compare)
					sizes := []int{4, 100}
					if fname == "none" {
						sizes = append(sizes, 1)
					}
					for _, size := range sizes {
						var got []Row
						cur := OrderCursor{}
						for {
							rows, more, err := db.PageOrdered(ctx, f, o, cur, size)
							if err != nil {
								t.Fatal(err)
							}
							got = append(got, rows...)
							if !more {
								break
							}
							cur = o.After(rows[len(rows)-1])
						}
						if !slices.Equal(seqs(got), seqs(sorted)) {
							t.Fatalf("size %d:\n got %v\nwant %v", size, seqs(got), seqs(sorted))
						}
					}
					if len(sorted) < 3 {
						return
					}
					mid := len(sorted) / 2
					back, _, err := db.PageOrdered(ctx, f, o.Reverse(), o.Reverse().After(sorted[mid]), 1000)
					if err != nil {
						t.Fatal(err)
					}
					before := slices.Clone(sorted[:mid])
					slices.Reverse(before)
					if !slices.Equal(seqs(back), seqs(before)) {
						t.Fatalf("reverse from %d:\n got %v\nwant %v", mid, seqs(back), seqs(before))
					}
				})
			}
		}
	}
}

// matches applies f to a row the way Filter.where does in SQL (for the
// fields these tests use).
func matches(r Row, f Filter) bool {
	switch {
	case !f.Since.IsZero() && r.StartedAt.Before(f.Since):
		return false
	case !f.Until.IsZero() && !r.StartedAt.Before(f.Until):
		return false
	case f.Provider != "" && r.Provider != f.Provider:
		return false
	case f.Tag != "" && !slices.Contains(r.Tags, f.Tag):
		return false
	}
	return true
}

func TestOrderCompareUnknownsLast(t *testing.T) {
	t.Parallel()
	priced := Row{Seq: 1, Record: Record{HasUsage: true, InputTokens: 0, CostUSD: f64(0)}}
	unpriced := Row{Seq: 2, Record: Record{HasUsage: true, InputTokens: 5}}
	noUsage := Row{Seq: 3, Record: Record{CostUSD: f64(math.NaN())}}
	tests := []struct {
		key    SortKey
		a, b   Row
		before bool // a before b, largest first
	}{
		{SortCost, priced, unpriced, true},
		{SortCost, unpriced, noUsage, false}, // both unknown: seq decides (3 first)
		{SortInput, priced, noUsage, true},
		{SortInput, unpriced, priced, true},
		{SortOutput, noUsage, priced, false},
	}
	for _, tt := range tests {
		if got := (Order{Key: tt.key}).Compare(tt.a, tt.b) < 0; got != tt.before {
			t.Errorf("%s: seq %d before seq %d = %v, want %v", tt.key, tt.a.Seq, tt.b.Seq, got, tt.before)
		}
	}
	if _, _, err := mustOpen(t).PageOrdered(context.Background(), Filter{}, Order{Key: "nope"}, OrderCursor{}, 1); err == nil {
		t.Error("unknown sort key: no error")
	}
}

// TestRowsSince checks that exactly the calls written after a seq come
// back, oldest written first, filtered, with More and CountSince agreeing.
func TestRowsSince(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	recs := mixedRecords()
	mustInsert(t, db, recs[:10]...)
	ctx := context.Background()
	mark, err := db.MaxSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, db, recs[10:]...)
	tests := []struct {
		name  string
		f     Filter
		limit int
		want  int
		more  bool
	}{
		{"all", Filter{}, 100, 20, false},
		{"limited", Filter{}, 7, 7, true},
		{"exact", Filter{}, 20, 20, false},
		{"provider", Filter{Provider: "openai"}, 100, 6, false},
		{"window", Filter{Since: baseTime.Add(8 * time.Minute)}, 100, 6, false},
		{"tag", Filter{Tag: "eval"}, 100, 13, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, more, err := db.RowsSince(ctx, tt.f, mark, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.want || more != tt.more {
				t.Fatalf("got %d rows, more %v; want %d, %v", len(rows), more, tt.want, tt.more)
			}
			for i, r := range rows {
				if r.Seq <= mark || (i > 0 && r.Seq <= rows[i-1].Seq) || !matches(r, tt.f) {
					t.Fatalf("row %d: seq %d (mark %d), %+v", i, r.Seq, mark, r.Record)
				}
			}
			n, err := db.CountSince(ctx, tt.f, mark)
			if err != nil {
				t.Fatal(err)
			}
			if tt.limit >= 100 && n != int64(tt.want) {
				t.Fatalf("CountSince = %d, want %d", n, tt.want)
			}
		})
	}
}

// TestTimeline checks each bucket against Totals over the bucket's own
// window, and the total against Totals over the filter, for raw
// (sub-quarter-hour) and rollup steps, including widening to fit.
func TestTimeline(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	var recs []Record
	for i := range 200 {
		r := sampleRecord(i)
		r.StartedAt = baseTime.Add(time.Duration(i*7) * time.Minute).Add(time.Duration(i) * time.Millisecond)
		r.CostUSD = f64(float64(i%7) / 1000)
		if i%5 == 0 {
			r.Provider = "anthropic"
		}
		if i%11 == 0 {
			r.CostUSD = nil
		}
		recs = append(recs, r)
	}
	mustInsert(t, db, recs...)
	ctx := context.Background()
	tests := []struct {
		name     string
		f        Filter
		step     time.Duration
		max      int
		wantStep time.Duration
	}{
		{"raw minutes", Filter{Since: baseTime.Add(time.Hour)}, time.Minute, 10000, time.Minute},
		{"raw too many", Filter{Since: baseTime.Add(time.Hour)}, time.Minute, 10, 0},
		{"raw all", Filter{Provider: "anthropic"}, time.Minute, 2000, time.Minute},
		{"raw all too many", Filter{}, time.Minute, 100, 0},
		{"quarter", Filter{}, 15 * time.Minute, 1000, 15 * time.Minute},
		{"widened", Filter{}, 0, 10, 0},
		{"hour since", Filter{Since: baseTime.Add(90 * time.Minute), Provider: "anthropic"}, time.Hour, 1000, time.Hour},
		{"bounded", Filter{Since: baseTime.Add(2 * time.Hour), Until: baseTime.Add(5 * time.Hour)}, 20 * time.Minute, 1000, 30 * time.Minute},
		{"partial edges", Filter{Since: baseTime.Add(17 * time.Minute), Until: baseTime.Add(4*time.Hour + 7*time.Minute)}, time.Hour, 1000, time.Hour},
		{"tag", Filter{Tag: "eval", Since: baseTime.Add(5 * time.Minute)}, time.Hour, 1000, time.Hour},
		{"status", Filter{Status: 200, Provider: "anthropic"}, time.Hour, 1000, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl, err := db.Timeline(ctx, tt.f, tt.step, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantStep != 0 && tl.Step != tt.wantStep {
				t.Fatalf("step %v, want %v", tl.Step, tt.wantStep)
			}
			if len(tl.Buckets) > tt.max {
				t.Fatalf("%d buckets, max %d", len(tl.Buckets), tt.max)
			}
			if tl.Start.UnixMilli()%tl.Step.Milliseconds() != 0 {
				t.Fatalf("start %v not a multiple of %v", tl.Start, tl.Step)
			}
			checkTimeline(t, db, tt.f, tl)
		})
	}
	t.Run("empty ledger", func(t *testing.T) {
		tl, err := mustOpen(t).Timeline(ctx, Filter{}, time.Minute, 100)
		if err != nil || tl.Total.Calls != 0 || len(tl.Buckets) != 0 || !tl.Start.IsZero() {
			t.Fatalf("%+v, %v", tl, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		since := baseTime.Add(1000 * time.Hour)
		for _, step := range []time.Duration{time.Minute, time.Hour} {
			tl, err := db.Timeline(ctx, Filter{Since: since}, step, 100)
			if err != nil {
				t.Fatal(err)
			}
			if tl.Total.Calls != 0 || tl.Step != step || tl.Start.After(since) || !tl.End().After(since) {
				t.Fatalf("step %v: %+v", step, tl)
			}
		}
	})
}

func checkTimeline(t *testing.T, db *DB, f Filter, tl Timeline) {
	t.Helper()
	want, err := db.Totals(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTotals(tl.Total, want) {
		t.Fatalf("total %+v\nwant %+v", tl.Total, want)
	}
	// Each bucket against the calls that fall in it, counted here.
	buckets := make([]Bucket, len(tl.Buckets))
	for _, r := range allRows(t, db) {
		if !matches(r, f) {
			continue
		}
		i := int(r.StartedAt.Sub(tl.Start) / tl.Step)
		if r.StartedAt.Before(tl.Start) || i >= len(buckets) {
			t.Fatalf("call at %v outside the timeline [%v, %v)", r.StartedAt, tl.Start, tl.End())
		}
		buckets[i].Calls++
		if r.CostUSD != nil {
			buckets[i].CostUSD += *r.CostUSD
		}
	}
	for i := range buckets {
		if b := tl.Buckets[i]; b.Calls != buckets[i].Calls || math.Abs(b.CostUSD-buckets[i].CostUSD) > 1e-12 {
			t.Fatalf("bucket %d from %v: %+v, want %+v", i, tl.Start.Add(time.Duration(i)*tl.Step), b, buckets[i])
		}
	}
}

func sameTotals(a, b Totals) bool {
	return a.Calls == b.Calls && a.InputTokens == b.InputTokens && a.OutputTokens == b.OutputTokens &&
		a.CachedInputTokens == b.CachedInputTokens && a.ReasoningTokens == b.ReasoningTokens &&
		a.CacheWriteTokens == b.CacheWriteTokens && math.Abs(a.CostUSD-b.CostUSD) < 1e-12 &&
		a.Unpriced == b.Unpriced && a.NoUsage == b.NoUsage && a.Errors == b.Errors &&
		a.First.Equal(b.First) && a.Last.Equal(b.Last)
}

// TestTotalsOf checks the one-call totals against what the ledger sums for
// the same call stored alone.
func TestTotalsOf(t *testing.T) {
	t.Parallel()
	base := sampleRecord(1)
	cases := map[string]func(r *Record){
		"priced":   func(r *Record) {},
		"unpriced": func(r *Record) { r.CostUSD = nil },
		"nan cost": func(r *Record) { r.CostUSD = f64(math.NaN()) },
		"no usage": func(r *Record) { r.HasUsage = false; r.Outcome = OutcomeNoUsage },
		"error":    func(r *Record) { r.HasUsage, r.CostUSD, r.Outcome = false, nil, OutcomeUpstreamError },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			db := mustOpen(t)
			r := base
			mod(&r)
			mustInsert(t, db, r)
			want, err := db.Totals(context.Background(), Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if got := TotalsOf(r); !sameTotals(got, want) {
				t.Fatalf("TotalsOf %+v\nledger  %+v", got, want)
			}
		})
	}
}
