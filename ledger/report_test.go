package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func reportFixture(t *testing.T) Report {
	t.Helper()
	db := mustOpen(t)
	var recs []Record
	for i := range 1500 {
		r := sampleRecord(i)
		r.CostUSD = f64(1.5)
		recs = append(recs, r)
	}
	cheap := sampleRecord(5000)
	cheap.Model, cheap.CostUSD = "gpt-5-nano", f64(0.0000295)
	unpriced := sampleRecord(5001)
	unpriced.Model, unpriced.CostUSD, unpriced.CostSource = "llama3.1:8b", nil, ""
	failed := sampleRecord(5002)
	failed.Model, failed.HasUsage, failed.CostUSD, failed.Outcome = "", false, nil, OutcomeUpstreamError
	mustInsert(t, db, append(recs, cheap, unpriced, failed)...)
	rep, err := db.Report(context.Background(), ByModel, Filter{Since: baseTime.Add(-time.Hour)}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestReport guards the query behind `conduit report`: groups with their
// sums, the total counting every call once, unpriced calls and calls
// without usage counted apart from the priced sums.
func TestReport(t *testing.T) {
	t.Parallel()
	rep := reportFixture(t)
	if rep.By != ByModel || !rep.Since.Equal(baseTime.Add(-time.Hour)) || rep.Location != time.UTC {
		t.Errorf("report header %+v", rep)
	}
	byKey := map[string]Totals{}
	for _, g := range rep.Groups {
		byKey[g.Key] = g.Totals
	}
	if g := byKey["gpt-4.1"]; g.Calls != 1500 || g.InputTokens != 1_800_000 || g.CostUSD != 2250 || !g.CostKnown() {
		t.Errorf("gpt-4.1: %+v", g)
	}
	if g := byKey["llama3.1:8b"]; g.Calls != 1 || g.Unpriced != 1 || g.CostKnown() {
		t.Errorf("unpriced group: %+v", g)
	}
	if g := byKey[""]; g.Calls != 1 || g.NoUsage != 1 || g.Errors != 1 || g.CostKnown() {
		t.Errorf("failed group: %+v", g)
	}
	if tot := rep.Total; tot.Calls != 1503 || tot.Unpriced != 1 || tot.NoUsage != 1 || tot.Priced() != 1501 {
		t.Errorf("total: %+v", tot)
	}
}

// TestReportTagTotal: calls with several tags count under each tag, but
// once in the total.
func TestReportTagTotal(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	r := sampleRecord(1)
	r.Tags = []string{"a", "b"}
	mustInsert(t, db, r)
	rep, err := db.Report(context.Background(), ByTag, Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Groups) != 2 || rep.Total.Calls != 1 {
		t.Errorf("groups %+v total %d", rep.Groups, rep.Total.Calls)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 15, 30, 0, 0, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "1.5d", want: now.Add(-36 * time.Hour)},
		{in: "2w", want: now.Add(-14 * 24 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "2026-11-01", want: time.Date(2026, 11, 1, 0, 0, 0, 0, berlin)},
		{in: "2026-11-01T14:00", want: time.Date(2026, 11, 1, 14, 0, 0, 0, berlin)},
		{in: "2026-11-01 14:00:05", want: time.Date(2026, 11, 1, 14, 0, 5, 0, berlin)},
		{in: "2026-11-01T14:00:00Z", want: time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC)},
		{in: "2026-11-01T14:00:00+02:00", want: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)},
		{in: "", err: "empty time"},
		{in: "yesterday", err: `invalid time "yesterday": want a duration`},
		{in: "90", err: "missing unit"},
		{in: "5x", err: `unknown unit "x"`},
		{in: "2026-13-01", err: "invalid time"},
		{in: "9999999999d", err: "more than 100 years"},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now, berlin)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTime(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestReportTotalMatchesTotals: whichever grouping a report has, and over
// aligned and unaligned windows and filters, its total is every matching
// call counted once, as Totals counts them (groupings other than tags take
// it from their groups; tags, where a call can be in several, query it).
func TestReportTotalMatchesTotals(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	db := mustOpen(t)
	mustInsert(t, db, randomRecords(rng, 600)...)
	ctx := context.Background()
	at := func(minutes int) time.Time { return baseTime.Add(time.Duration(minutes) * time.Minute) }
	windows := [][2]time.Time{{}, {at(15), at(90)}, {at(7).Add(1234 * time.Millisecond), at(200)}, {{}, at(133)}}
	filters := []Filter{{}, {Provider: "openai"}, {Tag: "a"}, {IncludeOther: true}, {Status: 500},
		{Glob: Globs{Model: "gpt-*"}}}
	for _, w := range windows {
		for _, f := range filters {
			f.Since, f.Until = w[0], w[1]
			want, err := db.Totals(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, by := range append(GroupBys, ByHour) {
				rep, err := db.Report(ctx, by, f, time.UTC)
				if err != nil {
					t.Fatal(err)
				}
				if g, w := fmt.Sprintf("%+v", roundCost(rep.Total)), fmt.Sprintf("%+v", roundCost(want)); g != w {
					t.Errorf("by %s, filter %+v:\n got %s\nwant %s", by, f, g, w)
				}
			}
		}
	}
}
