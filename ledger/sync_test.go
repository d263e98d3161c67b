package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSyncEligibility guards what the Valohai LLM sync sends: calls with
// usage and at least one x-vh-* header, whatever the header's case, and
// nothing else.
func TestSyncEligibility(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edit     func(r *Record)
		eligible bool
	}{
		{"usage and x-vh header", func(r *Record) {}, true},
		{"upper-case x-vh header", func(r *Record) { r.VHHeaders = map[string]string{"X-VH-Execution-Id": "e1"} }, true},
		{"no usage", func(r *Record) { r.HasUsage = false }, false},
		{"no headers", func(r *Record) { r.VHHeaders = nil }, false},
		{"empty headers", func(r *Record) { r.VHHeaders = map[string]string{} }, false},
		{"only other headers", func(r *Record) { r.VHHeaders = map[string]string{"authorization": "Bearer sk", "x-vhx": "1"} }, false},
		{"bare x-vh- prefix", func(r *Record) { r.VHHeaders = map[string]string{"x-vh-": "1"} }, false},
		{"usage but no raw usage object", func(r *Record) { r.UsageRaw = nil }, true},
		{"upstream error with usage", func(r *Record) { r.Outcome = OutcomeUpstreamError; r.Status = 500 }, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := context.Background()
			r := sampleRecord(i)
			tt.edit(&r)
			mustInsert(t, db, r)
			got, err := db.Unsynced(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) == 1) != tt.eligible {
				t.Errorf("Unsynced = %v, want eligible %v", ids(got), tt.eligible)
			}
			c, err := db.SyncCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := boolInt(tt.eligible); c.Pending != want {
				t.Errorf("Pending = %d, want %d", c.Pending, want)
			}
		})
	}
}

// TestUnsyncedAfterPages: paging with UnsyncedAfter visits every unsent
// call once, in Unsynced's oldest-first order, ties in start time broken
// by insertion, and skips sent ones.
func TestUnsyncedAfterPages(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	var recs []Record
	for i := range 8 {
		r := sampleRecord(i)
		r.StartedAt = baseTime.Add(time.Duration(i/3) * time.Second) // three per millisecond
		recs = append(recs, r)
	}
	// Insert newest first: the order comes from the start times, not the
	// insertion, except for ties.
	mustInsert(t, db, recs[6], recs[7], recs[3], recs[4], recs[5], recs[0], recs[1], recs[2])
	if err := db.MarkSynced(ctx, []string{recs[4].ID}, baseTime); err != nil {
		t.Fatal(err)
	}
	all, err := db.Unsynced(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{recs[0].ID, recs[1].ID, recs[2].ID, recs[3].ID, recs[5].ID, recs[6].ID, recs[7].ID}
	if fmt.Sprint(ids(all)) != fmt.Sprint(want) {
		t.Fatalf("Unsynced = %v\nwant %v", ids(all), want)
	}
	for _, size := range []int{1, 2, 3, 7, 100} {
		var got []string
		var after Cursor
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("page size %d: no end", size)
			}
			page, err := db.UnsyncedAfter(ctx, after, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, ids(page)...)
			last := page[len(page)-1]
			after = Cursor{StartedAt: last.StartedAt.UnixMilli(), Seq: last.Seq}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("page size %d: %v\nwant %v", size, got, want)
		}
	}
}

// TestSyncCountsFailing: a call whose sending failed counts as failing
// until it is sent; Failing is part of Pending.
func TestSyncCountsFailing(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	a, b, c := sampleRecord(1), sampleRecord(2), sampleRecord(3)
	mustInsert(t, db, a, b, c)
	steps := []struct {
		name string
		do   func() error
		want SyncCounts
	}{
		{"fresh", func() error { return nil }, SyncCounts{Pending: 3}},
		{"a and b failed", func() error { return db.MarkSyncFailed(ctx, []string{a.ID, b.ID}) }, SyncCounts{Pending: 3, Failing: 2}},
		{"a failed again", func() error { return db.MarkSyncFailed(ctx, []string{a.ID}) }, SyncCounts{Pending: 3, Failing: 2}},
		{"a sent", func() error { return db.MarkSynced(ctx, []string{a.ID}, baseTime) }, SyncCounts{Pending: 2, Sent: 1, Failing: 1}},
		{"b and c sent", func() error { return db.MarkSynced(ctx, []string{b.ID, c.ID}, baseTime) }, SyncCounts{Sent: 3}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := db.SyncCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != st.want {
			t.Errorf("%s: counts %+v, want %+v", st.name, got, st.want)
		}
	}
}

// TestSyncState: NoteSyncResult keeps the last success, the last error
// and the failures since the last success, for every process to read.
func TestSyncState(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	st, err := db.SyncState(ctx)
	if err != nil || st != (SyncState{}) {
		t.Fatalf("fresh ledger: %+v, %v", st, err)
	}
	t1, t2, t3 := baseTime, baseTime.Add(time.Minute), baseTime.Add(2*time.Minute)
	long := strings.Repeat("é", MaxSyncErrorLen) // two bytes each
	steps := []struct {
		at      time.Time
		errText string
		want    SyncState
	}{
		{t1, "HTTP 503", SyncState{LastError: "HTTP 503", LastErrorAt: t1, Failures: 1}},
		{t2, long, SyncState{LastError: long[:MaxSyncErrorLen], LastErrorAt: t2, Failures: 2}},
		{t3, "", SyncState{LastSentAt: t3, LastError: long[:MaxSyncErrorLen], LastErrorAt: t2}},
		{t3.Add(time.Second), "reset", SyncState{LastSentAt: t3, LastError: "reset", LastErrorAt: t3.Add(time.Second), Failures: 1}},
	}
	for i, s := range steps {
		if err := db.NoteSyncResult(ctx, s.at, s.errText); err != nil {
			t.Fatal(err)
		}
		got, err := db.SyncState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.want {
			t.Errorf("step %d: %+v\nwant %+v", i, got, s.want)
		}
	}

	// Another process sees it; a read-only handle cannot write it.
	ro, err := OpenReadOnly(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, _ := ro.SyncState(ctx); got.LastError != "reset" {
		t.Errorf("read-only view: %+v", got)
	}
	if err := ro.NoteSyncResult(ctx, t3, ""); !errors.Is(err, ErrReadOnly) {
		t.Errorf("NoteSyncResult on read-only: %v", err)
	}
}

func TestTruncateUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"aé", 2, "a"},
		{"aé", 3, "aé"},
		{"€", 2, ""},
	}
	for _, tt := range tests {
		if got := truncateUTF8(tt.s, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// TestSyncQueriesUseIndexes: the sync's queue, paging and counts read the
// partial indexes, never the whole calls table, so that they stay cheap on
// a ledger of millions of calls.
func TestSyncQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	queries := []struct {
		name, sql string
		args      []any
	}{
		{"unsynced", "SELECT seq FROM calls WHERE synced_at IS NULL AND " + eligible + " ORDER BY started_at, seq LIMIT 64", nil},
		{"unsynced after", "SELECT seq FROM calls WHERE synced_at IS NULL AND " + eligible +
			" AND started_at >= ? AND (started_at > ? OR seq > ?) ORDER BY started_at, seq LIMIT 64", []any{1, 1, 1}},
		{"pending", "SELECT count(*) FROM calls WHERE synced_at IS NULL AND " + eligible, nil},
		{"sent", "SELECT count(*) FROM calls WHERE synced_at IS NOT NULL AND " + eligible, nil},
		{"failing", "SELECT count(*) FROM calls WHERE synced_at IS NULL AND " + eligible + " AND sync_attempts > 0", nil},
	}
	for _, q := range queries {
		rows, err := db.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		t.Logf("%s: %s", q.name, joined)
		if !strings.Contains(joined, "INDEX calls_") || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("%s: plan %q reads no partial index or sorts", q.name, joined)
		}
	}
}
