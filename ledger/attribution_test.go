package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMigrateFromV3: a ledger written by the previous schema (version 3:
// calls without the migration 4 columns, rollups without kind, project or
// session) opens with every row and every rollup total intact, its
// unmetered requests backfilled as kind other, and STRICT tables kept.
func TestMigrateFromV3(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conduit.db")
	raw, err := sql.Open("sqlite", dsn(path, "rwc", "_pragma=journal_mode(WAL)"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Migration 1, the rows, then migrations 2 and 3 (whose backfill fills
	// the old rollups): a v3 ledger as the previous Conduit left it.
	if _, err := tx.Exec(migrations[0].sql); err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range 40 {
		r := sampleRecord(i)
		r.StartedAt = baseTime.Add(time.Duration(i) * 7 * time.Minute)
		switch i % 4 {
		case 1:
			r.Endpoint, r.Method, r.Path = "", "GET", "/v1/models" // not metered
			r.HasUsage, r.CostUSD, r.CostSource, r.UsageRaw = false, nil, "", nil
		case 2:
			r.Endpoint = "count_tokens" // not metered either
		case 3:
			r.Outcome, r.Status, r.HasUsage, r.CostUSD = OutcomeUpstreamError, 500, false, nil
		}
		if !r.HasUsage { // the ledger keeps no counts for these
			r.InputTokens, r.CachedInputTokens, r.OutputTokens, r.ReasoningTokens = 0, 0, 0, 0
		}
		recs = append(recs, r)
	}
	if err := insertLegacyTx(ctx, tx, recs); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[1:3] {
		if _, err := tx.Exec(m.sql); err != nil {
			t.Fatalf("migration %d: %v", m.version, err)
		}
	}
	if _, err := tx.Exec("PRAGMA user_version = 3"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var oldTotals Totals
	if oldTotals, err = scanTotals(raw.QueryRow("SELECT " + rollupAggColumns + " FROM rollup")); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := userVersion(ctx, db.write); v != SchemaVersion {
		t.Fatalf("user_version %d, SchemaVersion %d", v, SchemaVersion)
	}
	for _, want := range recs {
		got, ok, err := db.Get(ctx, want.ID)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", want.ID, ok, err)
		}
		want.Kind = KindCall
		if want.Endpoint == "" || want.Endpoint == "count_tokens" {
			want.Kind = KindOther
		}
		if diff := recordDiff(got.Record, want); diff != "" {
			t.Error(diff)
		}
	}
	// The rebuilt rollups hold what the old ones did, split by kind.
	all, err := db.Totals(ctx, Filter{IncludeOther: true})
	if err != nil {
		t.Fatal(err)
	}
	if all != oldTotals {
		t.Errorf("rollups after migration %+v\nbefore %+v", all, oldTotals)
	}
	calls, _ := db.Totals(ctx, Filter{})
	if calls.Calls != 20 {
		t.Errorf("%d calls after migration, want 20 (the others apart)", calls.Calls)
	}
	for _, f := range []Filter{{}, {IncludeOther: true}} {
		for _, by := range []GroupBy{"", ByModel, ByTag, ByDay, ByProject} {
			got, _ := db.aggregate(ctx, by, f)
			want, _ := aggregateParts(ctx, db.read, by, f, rawPlan(f))
			if g, w := aggString(t, got), aggString(t, want); g != w {
				t.Errorf("by %q, %+v:\n got %s\nwant %s", by, f, g, w)
			}
		}
	}
	var strict int
	if err := db.read.QueryRow(`SELECT count(*) FROM pragma_table_list
		WHERE name IN ('calls', 'rollup', 'rollup_tags', 'sync_state') AND strict = 1`).Scan(&strict); err != nil || strict != 4 {
		t.Errorf("%d of 4 tables STRICT, %v", strict, err)
	}
	// A new row after the migration goes through the new insert path.
	next := sampleRecord(100)
	next.Project = "web"
	mustInsert(t, db, next)
	if tot, _ := db.Totals(ctx, Filter{Project: "web"}); tot.Calls != 1 {
		t.Errorf("project total %d after migration, want 1", tot.Calls)
	}
}

// TestAttributionRoundTrip: every field migration 4 added survives a write
// and a read, and "none" is stored as NULL (no detail, empty strings).
func TestAttributionRoundTrip(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	full := sampleRecord(1)
	full.Kind, full.Project, full.Session = KindCall, "web", "0193f000-run"
	full.ConnectionID, full.PriceVersion, full.CostNote = "ws-1", "genai-prices 0.0.40", "audio output unpriced"
	full.Detail = &UsageDetail{
		AudioInputTokens: 11, AudioOutputTokens: 12, ImageInputTokens: 13, ImageOutputTokens: 14,
		Iterations: []Iteration{
			{Type: "compaction", InputTokens: 700, CachedInputTokens: 100, CacheWriteTokens: 30,
				CacheWrite5mTokens: 10, CacheWrite1hTokens: 20, OutputTokens: 90},
			{Type: "advisor_message", Model: "claude-opus-4-7", InputTokens: 500, OutputTokens: 210},
		},
	}
	other := sampleRecord(2)
	other.Kind, other.Endpoint, other.Method = KindOther, "", "GET"
	emptyDetail := sampleRecord(3)
	emptyDetail.Detail = &UsageDetail{}
	none := sampleRecord(4) // Kind "", no attribution, nil Detail
	mustInsert(t, db, full, other, emptyDetail, none)

	ctx := context.Background()
	for _, want := range []Record{full, other, emptyDetail, none} {
		got, ok, err := db.Get(ctx, want.ID)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if diff := recordDiff(got.Record, want); diff != "" {
			t.Error(diff)
		}
	}
	var kind string
	var nulls int
	err := db.read.QueryRow(`SELECT kind, (project IS NULL) + (session IS NULL) + (connection_id IS NULL)
		+ (price_version IS NULL) + (cost_note IS NULL) + (usage_detail IS NULL)
		FROM calls WHERE id = ?`, none.ID).Scan(&kind, &nulls)
	if err != nil || kind != KindCall || nulls != 6 {
		t.Errorf("none stored as kind %q with %d of 6 NULLs, %v", kind, nulls, err)
	}
	var detail string
	if err := db.read.QueryRow("SELECT usage_detail FROM calls WHERE id = ?", emptyDetail.ID).Scan(&detail); err != nil || detail != "{}" {
		t.Errorf("empty detail stored as %q, %v", detail, err)
	}
}

// kindRecords returns 6 calls and 3 other requests, over two projects and
// three sessions, all with usage and x-vh-* headers (so the others would
// be synced if the sync did not leave them out).
func kindRecords() []Record {
	var out []Record
	for i := range 9 {
		r := sampleRecord(i)
		r.StartedAt = baseTime.Add(time.Duration(i) * 20 * time.Minute)
		r.Project = []string{"web", "api", ""}[i%3]
		r.Session = []string{"s1", "s2", "s3"}[i/3]
		if i%3 == 2 {
			r.Kind, r.Endpoint, r.Method, r.Path = KindOther, "", "GET", "/v1/models"
			r.Project = "web"
		}
		out = append(out, r)
	}
	return out
}

// TestKindsCountedApart: every query that counts or lists calls leaves the
// other requests out unless the filter includes them.
func TestKindsCountedApart(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustInsert(t, db, kindRecords()...)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		f    Filter
		want int64
	}{
		{"default", Filter{}, 6},
		{"include other", Filter{IncludeOther: true}, 9},
		{"project web, default", Filter{Project: "web"}, 3},
		{"project web, include other", Filter{Project: "web", IncludeOther: true}, 6},
		// Inside one quarter hour: read from the calls, not the rollups.
		{"raw window", Filter{Since: baseTime.Add(40 * time.Minute), Until: baseTime.Add(41 * time.Minute)}, 0},
		{"raw window, include other", Filter{Since: baseTime.Add(40 * time.Minute), Until: baseTime.Add(41 * time.Minute), IncludeOther: true}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			counts := map[string]int64{}
			tot, err := db.Totals(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			counts["Totals"] = tot.Calls
			p, _ := db.Page(ctx, tt.f, Cursor{}, 100)
			counts["Page"] = int64(len(p.Rows))
			rows, _, _ := db.PageOrdered(ctx, tt.f, Order{Key: SortCost}, OrderCursor{}, 100)
			counts["PageOrdered"] = int64(len(rows))
			rows, _, _ = db.RowsSince(ctx, tt.f, 0, 100)
			counts["RowsSince"] = int64(len(rows))
			counts["CountSince"], _ = db.CountSince(ctx, tt.f, 0)
			groups, _ := db.Groups(ctx, ByModel, tt.f, nil)
			for _, g := range groups {
				counts["Groups"] += g.Calls
			}
			rep, _ := db.Report(ctx, BySession, tt.f, nil)
			counts["Report"] = rep.Total.Calls
			tl, _ := db.Timeline(ctx, tt.f, 0, 50)
			counts["Timeline.Total"] = tl.Total.Calls
			for _, b := range tl.Buckets {
				counts["Timeline buckets"] += b.Calls
			}
			var buf bytes.Buffer
			counts["Export"], _ = db.Export(ctx, &buf, JSONL, tt.f)
			for name, got := range counts {
				if got != tt.want {
					t.Errorf("%s counts %d, want %d", name, got, tt.want)
				}
			}
			if tt.f.IncludeOther && tt.want > 0 && !strings.Contains(buf.String(), `"kind":"other"`) {
				t.Errorf("export including others has no kind other:\n%s", buf.String())
			}
		})
	}

	// The sync never sends other requests.
	unsent, err := db.Unsynced(ctx, 100)
	if err != nil || len(unsent) != 6 {
		t.Fatalf("%d unsynced, %v; want the 6 calls", len(unsent), err)
	}
	for _, r := range unsent {
		if r.Kind != KindCall {
			t.Errorf("sync queue holds %s of kind %q", r.ID, r.Kind)
		}
	}
	if c, err := db.SyncCounts(ctx); err != nil || c.Pending != 6 {
		t.Errorf("sync counts %+v, %v; want 6 pending", c, err)
	}
}

// TestProjectSessionFilters: exact-match filters and groupings by project
// and session, answered the same from the rollups (whole quarter hours)
// and from the calls (a ragged window).
func TestProjectSessionFilters(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustInsert(t, db, kindRecords()...)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		f    Filter
		want []string // ids, by index in kindRecords
	}{
		{"project", Filter{Project: "api"}, []string{"1", "4", "7"}},
		{"session", Filter{Session: "s2"}, []string{"3", "4"}},
		{"project and session", Filter{Project: "web", Session: "s3"}, []string{"6"}},
		{"other's project", Filter{Project: "web", Session: "s3", IncludeOther: true}, []string{"6", "8"}},
		{"no such project", Filter{Project: "we"}, nil},
		{"ragged window", Filter{Project: "api", Since: baseTime.Add(time.Minute)}, []string{"1", "4", "7"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := db.Page(ctx, tt.f, Cursor{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range p.Rows {
				got = append(got, strings.TrimLeft(r.ID[len(r.ID)-3:], "0"))
			}
			slices.Sort(got)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Page: %v, want %v", got, tt.want)
			}
			if tot, _ := db.Totals(ctx, tt.f); tot.Calls != int64(len(tt.want)) {
				t.Errorf("Totals: %d, want %d", tot.Calls, len(tt.want))
			}
		})
	}

	for _, tt := range []struct {
		by   GroupBy
		f    Filter
		want string // key=calls, in the groups' order
	}{
		{ByProject, Filter{}, "api=3 web=3"},
		{ByProject, Filter{IncludeOther: true}, "web=6 api=3"},
		{BySession, Filter{}, "s1=2 s2=2 s3=2"},
		{BySession, Filter{Project: "web"}, "s1=1 s2=1 s3=1"},
		{BySession, Filter{Since: baseTime.Add(20 * time.Minute), Until: baseTime.Add(101 * time.Minute)}, "s2=2 s1=1"},
		{ByProject, Filter{Session: "s9"}, ""},
	} {
		groups, err := db.Groups(ctx, tt.by, tt.f, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range groups {
			got = append(got, g.Key+"="+itoa(g.Calls))
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("by %s %+v: %v, want %s", tt.by, tt.f, got, tt.want)
		}
		raw, _ := aggregateParts(ctx, db.read, tt.by, tt.f, rawPlan(tt.f))
		if fromRollups, _ := db.aggregate(ctx, tt.by, tt.f); aggString(t, fromRollups) != aggString(t, raw) {
			t.Errorf("by %s %+v: rollups %s, calls %s", tt.by, tt.f, aggString(t, fromRollups), aggString(t, raw))
		}
	}
	for _, s := range []string{"project", "session"} {
		if by, err := ParseGroupBy(s); err != nil || string(by) != s {
			t.Errorf("ParseGroupBy(%q) = %q, %v", s, by, err)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
