package ledger

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// mixedRecords returns calls of several providers, models, clients, tags
// and outcomes, some started in the same millisecond.
func mixedRecords() []Record {
	var out []Record
	for i := range 30 {
		r := sampleRecord(i)
		r.StartedAt = baseTime.Add(time.Duration(i/3) * time.Minute) // 3 per start time
		switch i % 3 {
		case 0:
			r.Provider, r.API, r.Model, r.Client = "openai", "openai", "gpt-4.1", "OpenAI/Python"
			r.Tags = []string{"eval", "nightly"}
		case 1:
			r.Provider, r.API, r.Model, r.Client = "anthropic", "anthropic", "claude-sonnet-4-5", "Anthropic/JS"
			r.Tags = nil
			r.CostUSD = f64(0.01)
		case 2:
			r.Provider, r.API, r.Model, r.Client = "local", "ollama", "llama3.1:8b", ""
			r.Tags = []string{"eval"}
			r.CostUSD, r.CostSource = nil, "" // unpriced
		}
		if i%10 == 9 {
			r.Outcome, r.Status, r.HasUsage, r.CostUSD, r.CostSource = OutcomeUpstreamError, 500, false, nil, ""
		}
		out = append(out, r)
	}
	return out
}

// TestPageKeyset walks all pages with each page size and checks the
// concatenation is the full newest-first order, without repeats or gaps.
func TestPageKeyset(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	recs := mixedRecords()
	mustInsert(t, db, recs...)
	ctx := context.Background()

	all, err := db.Page(ctx, Filter{}, Cursor{}, 1000)
	if err != nil || all.More || len(all.Rows) != len(recs) {
		t.Fatalf("one page: %d rows, more %v, %v", len(all.Rows), all.More, err)
	}
	for i := 1; i < len(all.Rows); i++ {
		a, b := all.Rows[i-1], all.Rows[i]
		if a.StartedAt.Before(b.StartedAt) || (a.StartedAt.Equal(b.StartedAt) && a.Seq < b.Seq) {
			t.Fatalf("not newest first at %d", i)
		}
	}
	for _, size := range []int{1, 2, 3, 7, 29, 30} {
		var got []string
		cur := Cursor{}
		for pages := 0; ; pages++ {
			p, err := db.Page(ctx, Filter{}, cur, size)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Rows {
				got = append(got, r.ID)
			}
			if !p.More {
				break
			}
			if len(p.Rows) != size || pages > 100 {
				t.Fatalf("size %d: short page with More", size)
			}
			cur = p.Next
		}
		want := make([]string, len(all.Rows))
		for i, r := range all.Rows {
			want[i] = r.ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("size %d: pages %v\nwant %v", size, got, want)
		}
	}
}

// TestPageStableUnderInserts: calls written while paging (newer ones) do
// not shift the pages that follow.
func TestPageStableUnderInserts(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustInsert(t, db, mixedRecords()...)
	ctx := context.Background()
	p1, _ := db.Page(ctx, Filter{}, Cursor{}, 5)
	newer := sampleRecord(99)
	newer.StartedAt = baseTime.Add(time.Hour)
	mustInsert(t, db, newer)
	p2, _ := db.Page(ctx, Filter{}, p1.Next, 5)
	all, _ := db.Page(ctx, Filter{}, Cursor{}, 100)
	if all.Rows[0].ID != newer.ID {
		t.Fatal("newest call not first")
	}
	if p2.Rows[0].ID != all.Rows[6].ID {
		t.Errorf("second page starts at %s, want %s", p2.Rows[0].ID, all.Rows[6].ID)
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustInsert(t, db, mixedRecords()...)
	ctx := context.Background()
	tests := []struct {
		name string
		f    Filter
		want int64
	}{
		{"all", Filter{}, 30},
		{"provider", Filter{Provider: "anthropic"}, 10},
		{"model", Filter{Model: "gpt-4.1"}, 10},
		{"client", Filter{Client: "OpenAI/Python"}, 10},
		{"tag", Filter{Tag: "eval"}, 20},
		{"tag nightly", Filter{Tag: "nightly"}, 10},
		{"outcome", Filter{Outcome: OutcomeUpstreamError}, 3},
		{"status", Filter{Status: 500}, 3},
		{"since", Filter{Since: baseTime.Add(5 * time.Minute)}, 15},
		{"until", Filter{Until: baseTime.Add(5 * time.Minute)}, 15},
		{"window", Filter{Since: baseTime.Add(2 * time.Minute), Until: baseTime.Add(3 * time.Minute)}, 3},
		{"combined", Filter{Provider: "openai", Tag: "eval", Since: baseTime.Add(5 * time.Minute)}, 5},
		{"no match", Filter{Model: "nope"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tot, err := db.Totals(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if tot.Calls != tt.want {
				t.Errorf("Totals.Calls = %d, want %d", tot.Calls, tt.want)
			}
			p, err := db.Page(ctx, tt.f, Cursor{}, 100)
			if err != nil || int64(len(p.Rows)) != tt.want {
				t.Errorf("Page: %d rows, %v", len(p.Rows), err)
			}
			var buf countWriter
			n, err := db.Export(ctx, &buf, JSONL, tt.f)
			if err != nil || n != tt.want || buf.lines != int(tt.want) {
				t.Errorf("Export: %d rows, %d lines, %v", n, buf.lines, err)
			}
		})
	}
}

type countWriter struct{ lines int }

func (w *countWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' {
			w.lines++
		}
	}
	return len(p), nil
}

// TestTotals checks each sum against the records.
func TestTotals(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	recs := mixedRecords()
	mustInsert(t, db, recs...)
	var want Totals
	var comp float64
	for _, r := range recs {
		one := Totals{Calls: 1, First: r.StartedAt, Last: r.StartedAt}
		if r.HasUsage {
			one.InputTokens, one.CachedInputTokens, one.OutputTokens, one.ReasoningTokens =
				r.InputTokens, r.CachedInputTokens, r.OutputTokens, r.ReasoningTokens
			if r.CostUSD == nil {
				one.Unpriced = 1
			} else {
				one.CostUSD = *r.CostUSD
			}
		} else {
			one.NoUsage = 1
		}
		if r.Outcome == OutcomeUpstreamError {
			one.Errors = 1
		}
		want.add(one, &comp)
	}
	want.CostUSD += comp
	got, err := db.Totals(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Totals\n got %+v\nwant %+v", got, want)
	}
	if got.Unpriced != 9 || got.NoUsage != 3 || got.Errors != 3 {
		t.Errorf("unpriced %d, no usage %d, errors %d", got.Unpriced, got.NoUsage, got.Errors)
	}
}

// TestTotalsExactCostSum: a million-cent-fraction sum stays exact (SQLite
// sums floats with compensation).
func TestTotalsExactCostSum(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	var recs []Record
	for i := range 1000 {
		r := sampleRecord(i)
		r.CostUSD = f64(0.1)
		recs = append(recs, r)
	}
	mustInsert(t, db, recs...)
	got, _ := db.Totals(context.Background(), Filter{})
	if got.CostUSD != 100 {
		t.Errorf("sum of 1000 × 0.1 = %.17g, want exactly 100", got.CostUSD)
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustInsert(t, db, mixedRecords()...)
	ctx := context.Background()
	keys := func(gs []Group) map[string]int64 {
		m := map[string]int64{}
		for _, g := range gs {
			m[g.Key] = g.Calls
		}
		return m
	}
	tests := []struct {
		by   GroupBy
		want map[string]int64
	}{
		{ByModel, map[string]int64{"gpt-4.1": 10, "claude-sonnet-4-5": 10, "llama3.1:8b": 10}},
		{ByProvider, map[string]int64{"openai": 10, "anthropic": 10, "local": 10}},
		{ByClient, map[string]int64{"OpenAI/Python": 10, "Anthropic/JS": 10, "": 10}},
		{ByTag, map[string]int64{"eval": 20, "nightly": 10, "": 10}},
		{ByDay, map[string]int64{"2026-11-20": 30}},
	}
	for _, tt := range tests {
		t.Run(string(tt.by), func(t *testing.T) {
			gs, err := db.Groups(ctx, tt.by, Filter{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(gs); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("groups = %v, want %v", got, tt.want)
			}
		})
	}
	gs, _ := db.Groups(ctx, ByModel, Filter{}, nil)
	if gs[0].Key != "claude-sonnet-4-5" {
		t.Errorf("groups not by cost descending: %v", keys(gs))
	}
	if gs[len(gs)-1].Key != "llama3.1:8b" || gs[len(gs)-1].Unpriced != 9 {
		t.Errorf("unpriced group last with 9 unpriced: %+v", gs[len(gs)-1])
	}
}

// TestGroupsByLocalDay: days follow the requested time zone, across a DST
// change and a half-hour offset.
func TestGroupsByLocalDay(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	at := func(s string) Record {
		r := sampleRecord(len(s))
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		r.ID, r.StartedAt = s, ts
		return r
	}
	mustInsert(t, db,
		at("2026-03-08T04:59:00Z"), // New York: 7 Mar 23:59 EST
		at("2026-03-08T05:00:00Z"), // New York: 8 Mar 00:00 EST
		at("2026-03-09T03:59:00Z"), // New York: 8 Mar 23:59 EDT (after the change)
		at("2026-03-09T04:00:00Z"), // New York: 9 Mar 00:00 EDT
	)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	tests := []struct {
		loc  *time.Location
		want string
	}{
		{ny, "[2026-03-07:1 2026-03-08:2 2026-03-09:1]"},
		{time.UTC, "[2026-03-08:2 2026-03-09:2]"},
		{kolkata, "[2026-03-08:2 2026-03-09:2]"}, // +05:30: 10:29, 10:30, 09:29, 09:30
	}
	for _, tt := range tests {
		gs, err := db.Groups(context.Background(), ByDay, Filter{}, tt.loc)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range gs {
			got = append(got, fmt.Sprintf("%s:%d", g.Key, g.Calls))
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("%s: %v, want %s", tt.loc, got, tt.want)
		}
	}
	gs, _ := db.Groups(context.Background(), ByHour, Filter{}, time.UTC)
	if len(gs) != 4 || gs[0].Key != "2026-03-08 04:00" {
		t.Errorf("by hour: %+v", gs)
	}
}

func TestParseGroupBy(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"model", "Provider", " day ", "tag", "client", "hour"} {
		if _, err := ParseGroupBy(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseGroupBy("week"); err == nil {
		t.Error("week accepted")
	}
}

func TestSyncQueue(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	noVH := sampleRecord(1)
	noVH.VHHeaders = nil
	noUsage := sampleRecord(2)
	noUsage.HasUsage = false
	later, earlier := sampleRecord(4), sampleRecord(3)
	mustInsert(t, db, noVH, noUsage, later, earlier)

	got, err := db.Unsynced(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != earlier.ID || got[1].ID != later.ID {
		t.Fatalf("unsynced = %v, want [%s %s]", ids(got), earlier.ID, later.ID)
	}
	if c, _ := db.SyncCounts(ctx); c != (SyncCounts{Pending: 2}) {
		t.Errorf("counts = %+v", c)
	}
	if err := db.MarkSyncFailed(ctx, []string{earlier.ID}); err != nil {
		t.Fatal(err)
	}
	at := baseTime.Add(time.Hour)
	if err := db.MarkSynced(ctx, []string{earlier.ID, "not-there"}, at); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Unsynced(ctx, 10)
	if len(got) != 1 || got[0].ID != later.ID {
		t.Fatalf("after marking: %v", ids(got))
	}
	if c, _ := db.SyncCounts(ctx); c != (SyncCounts{Pending: 1, Sent: 1}) {
		t.Errorf("counts = %+v", c)
	}
	r, _, _ := db.Get(ctx, earlier.ID)
	if r.SyncedAt == nil || !r.SyncedAt.Equal(at) {
		t.Errorf("synced_at = %v", r.SyncedAt)
	}
	var attempts int
	db.read.QueryRow("SELECT sync_attempts FROM calls WHERE id = ?", earlier.ID).Scan(&attempts)
	if attempts != 2 {
		t.Errorf("sync_attempts = %d, want 2", attempts)
	}
}

func ids(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// TestTotalsCountRefusedAsErrors: a call a budget refused is a failed call
// in every total (rollups and raw rows alike), besides carrying no usage.
func TestTotalsCountRefusedAsErrors(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ok, refused, failed := sampleRecord(1), sampleRecord(2), sampleRecord(3)
	refused.Outcome, refused.Status, refused.HasUsage, refused.CostUSD = OutcomeBudgetRefused, 429, false, nil
	failed.Outcome, failed.Status, failed.HasUsage, failed.CostUSD = OutcomeUpstreamError, 502, false, nil
	mustInsert(t, db, ok, refused, failed)
	for name, f := range map[string]Filter{
		"rollups":  {},
		"raw rows": {Since: ok.StartedAt.Add(-time.Millisecond), Until: failed.StartedAt.Add(time.Millisecond)},
	} {
		tot, err := db.Totals(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if tot.Calls != 3 || tot.Errors != 2 || tot.NoUsage != 2 {
			t.Errorf("%s: %+v, want 3 calls, 2 errors, 2 without usage", name, tot)
		}
	}
}
