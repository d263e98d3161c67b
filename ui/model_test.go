package ui

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// spread returns n calls from id base, started over the last n×7 minutes
// with varied costs and tokens (some unpriced, some without usage).
func spread(base, n int) []ledger.Record {
	var out []ledger.Record
	for i := range n {
		r := call(base+i, time.Duration((i*7)%(n*7))*time.Minute+time.Duration(base)*time.Second)
		r.InputTokens = int64((i * 37) % 500)
		r.CostUSD = f64(float64((i*13)%17) / 1000)
		switch i % 11 {
		case 3:
			r.CostUSD = nil
		case 7:
			r.HasUsage, r.CostUSD, r.Outcome = false, nil, ledger.OutcomeUpstreamError
		}
		if i%4 == 0 {
			r.Provider = "anthropic"
		}
		out = append(out, r)
	}
	return out
}

// testModel reads q from the ledger at path with small pages.
func testModel(t *testing.T, path string, w wants) *model {
	t.Helper()
	opts := Options{now: func() time.Time { return testNow }, Location: time.UTC}
	m := newModel(openRO(t, path), newMailbox(w), &opts)
	m.pages, m.keep = 10, 40
	m.step(context.Background(), w)
	m.publish()
	return m
}

// freshOrder is every call matching q, in q's order, read afresh.
func freshOrder(t *testing.T, path string, q query) []ledger.Row {
	t.Helper()
	rows, _, err := openRO(t, path).PageOrdered(context.Background(), q.ledgerFilter(testNow, time.UTC), q.order, ledger.OrderCursor{}, ledger.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkWindow checks that the loaded rows are a contiguous run of the
// fresh order starting at offset, and that the flags agree.
func checkWindow(t *testing.T, m *model, fresh []ledger.Row) {
	t.Helper()
	s := m.cur
	if len(s.rows) == 0 {
		t.Fatal("no rows loaded")
	}
	i := slices.IndexFunc(fresh, func(r ledger.Row) bool { return r.Seq == s.rows[0].Seq })
	if i < 0 || i+len(s.rows) > len(fresh) {
		t.Fatalf("first loaded row (seq %d) at %d of %d", s.rows[0].Seq, i, len(fresh))
	}
	if !slices.Equal(seqs(s.rows), seqs(fresh[i:i+len(s.rows)])) {
		t.Fatalf("loaded rows are not a run of the order:\n got %v\nwant %v", seqs(s.rows), seqs(fresh[i:i+len(s.rows)]))
	}
	if int64(i) != s.offset || s.atStart != (i == 0) || s.atEnd != (i+len(s.rows) == len(fresh)) {
		t.Fatalf("at %d of %d (%d loaded): offset %d atStart %v atEnd %v", i, len(fresh), len(s.rows), s.offset, s.atStart, s.atEnd)
	}
}

func seqs(rows []ledger.Row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.Seq
	}
	return out
}

// TestModelRefreshMatchesFresh writes calls while a model watches and
// checks, for several orders and windows, that the merged rows are exactly
// what a fresh read gives, and that the totals and new-call count agree.
func TestModelRefreshMatchesFresh(t *testing.T) {
	orders := []ledger.Order{{Key: ledger.SortStarted}, {Key: ledger.SortCost}, {Key: ledger.SortInput, Asc: true}, {Key: ledger.SortStarted, Asc: true}}
	for _, o := range orders {
		for _, win := range []Window{WindowAll, WindowDay} {
			for _, follow := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s-asc=%v/%s/follow=%v", o.Key, o.Asc, win, follow), func(t *testing.T) {
					t.Parallel() // each case has its own ledger and model
					path := testLedger(t, spread(0, 30)...)
					q := query{window: win, order: o, filter: ledger.Filter{}}
					w := wants{q: q, qgen: 1, follow: true}
					m := testModel(t, path, w)
					ctx := context.Background()
					if !follow {
						// Page down once, so the rows start deeper than
						// the first page... and back to a middle spot.
						w.follow, w.mark = false, m.cur.maxSeq
						w.older = m.cur.gen
						m.step(ctx, w)
						m.publish()
					}
					checkWindow(t, m, freshOrder(t, path, q))
					// Newer, older and in-between calls, some outside the
					// 24h window.
					appendCalls(t, path, spread(100, 25)...)
					m.step(ctx, w)
					fresh := freshOrder(t, path, q)
					checkWindow(t, m, fresh)
					if got, want := m.cur.timeline.Total.Calls, int64(len(fresh)); got != want {
						t.Fatalf("timeline has %d calls, ledger %d", got, want)
					}
					tl, err := openRO(t, path).Timeline(ctx, q.ledgerFilter(testNow, time.UTC), q.step(), timelineMax)
					if err != nil {
						t.Fatal(err)
					}
					if d := m.cur.timeline.Total.CostUSD - tl.Total.CostUSD; d > 1e-12 || d < -1e-12 || m.cur.timeline.Total.Unpriced != tl.Total.Unpriced {
						t.Fatalf("incremental totals %+v\nfresh %+v", m.cur.timeline.Total, tl.Total)
					}
					wantNew := int64(0)
					if !follow {
						for _, r := range fresh {
							if r.Seq > w.mark {
								wantNew++
							}
						}
					}
					if m.cur.newCount != wantNew {
						t.Fatalf("new count %d, want %d", m.cur.newCount, wantNew)
					}
				})
			}
		}
	}
}

// TestModelPaging pages down past the row cap, back up, to the end and
// back to the start, checking the loaded rows stay a bounded, exact run of
// the order.
func TestModelPaging(t *testing.T) {
	path := testLedger(t, spread(0, 120)...)
	q := query{window: WindowAll, order: ledger.Order{Key: ledger.SortCost}}
	fresh := freshOrder(t, path, q)
	w := wants{q: q, qgen: 1, follow: true}
	m := testModel(t, path, w)
	ctx := context.Background()
	w.follow = false
	for range 8 { // 8 pages down: more than keep (40) rows
		w.anchor = m.cur.rows[len(m.cur.rows)-1].Seq
		w.older = m.cur.gen
		m.step(ctx, w)
		m.publish()
		if len(m.cur.rows) > m.keep {
			t.Fatalf("%d rows loaded, cap %d", len(m.cur.rows), m.keep)
		}
		checkWindow(t, m, fresh)
	}
	if m.cur.atStart || m.cur.offset == 0 {
		t.Fatalf("still at the start after paging down: offset %d", m.cur.offset)
	}
	// Calls written now land before, inside and after the loaded run:
	// only those inside are merged, those before move the offset.
	appendCalls(t, path, spread(500, 40)...)
	m.step(ctx, w)
	m.publish()
	fresh = freshOrder(t, path, q)
	checkWindow(t, m, fresh)
	for range 3 {
		w.anchor = m.cur.rows[0].Seq
		w.newer = m.cur.gen
		m.step(ctx, w)
		m.publish()
		checkWindow(t, m, fresh)
	}
	w.tail++
	m.step(ctx, w)
	m.publish()
	checkWindow(t, m, fresh)
	if !m.cur.atEnd {
		t.Fatal("tail: not at the end")
	}
	w.head++
	m.step(ctx, w)
	checkWindow(t, m, fresh)
	if !m.cur.atStart {
		t.Fatal("head: not at the start")
	}
	// A request naming an old snapshot is not repeated.
	before := len(m.cur.rows)
	m.publish()
	w.older = m.cur.gen - 1
	m.step(ctx, w)
	if len(m.cur.rows) != before {
		t.Fatal("stale page request answered")
	}
}

// TestModelBurst writes more calls than one refresh merges: the model
// re-reads instead, and still matches a fresh read.
func TestModelBurst(t *testing.T) {
	path := testLedger(t, spread(0, 20)...)
	q := query{window: WindowAll, order: ledger.Order{Key: ledger.SortStarted}}
	w := wants{q: q, qgen: 1, follow: true}
	m := testModel(t, path, w)
	burst := make([]ledger.Record, 0, sinceLimit+5)
	for i := range sinceLimit + 5 {
		burst = append(burst, call(10_000+i, time.Duration(i)*time.Millisecond))
	}
	appendCalls(t, path, burst...)
	m.step(context.Background(), w)
	checkWindow(t, m, freshOrder(t, path, q))
	if m.cur.timeline.Total.Calls != int64(20+len(burst)) {
		t.Fatalf("totals %d calls", m.cur.timeline.Total.Calls)
	}
}

// TestModelSuggestions reads completions from the window, ignoring the
// filter.
func TestModelSuggestions(t *testing.T) {
	path := testLedger(t, fixture()...)
	q := query{window: WindowAll, order: ledger.Order{Key: ledger.SortStarted}, filter: ledger.Filter{Provider: "anthropic"}}
	w := wants{q: q, qgen: 1, follow: true}
	m := testModel(t, path, w)
	w.suggest++
	m.step(context.Background(), w)
	got := m.cur.suggest
	if !slices.Equal(got["provider"], []string{"openai", "anthropic"}) || !slices.Contains(got["model"], "gpt-4.1-mini") ||
		!slices.Equal(got["tag"], []string{"eval", "nightly"}) || len(got["client"]) != 1 {
		t.Fatalf("suggestions %v", got)
	}
}

// TestModelTimePasses moves the clock: a sliding window's re-read drops
// the calls it left behind and recounts its totals; a new day restarts
// "today".
func TestModelTimePasses(t *testing.T) {
	recs := []ledger.Record{call(1, 10*time.Minute), call(2, 50*time.Minute), call(3, 11*time.Hour)}
	path := testLedger(t, recs...)
	ctx := context.Background()
	for _, tt := range []struct {
		window  Window
		advance time.Duration
		before  int
		after   int
	}{
		{WindowHour, 20 * time.Minute, 2, 1},
		{WindowToday, 12*time.Hour + time.Minute, 3, 0}, // testNow is noon
	} {
		t.Run(tt.window.String(), func(t *testing.T) {
			now := testNow
			opts := Options{now: func() time.Time { return now }, Location: time.UTC}
			w := wants{q: query{window: tt.window, order: ledger.Order{Key: ledger.SortStarted}}, qgen: 1, follow: true}
			m := newModel(openRO(t, path), newMailbox(w), &opts)
			m.step(ctx, w)
			if len(m.cur.rows) != tt.before || m.cur.timeline.Total.Calls != int64(tt.before) {
				t.Fatalf("before: %d rows, %d calls", len(m.cur.rows), m.cur.timeline.Total.Calls)
			}
			now = now.Add(tt.advance)
			m.lastFull = time.Time{} // due for the periodic re-read
			m.step(ctx, w)
			if len(m.cur.rows) != tt.after || m.cur.timeline.Total.Calls != int64(tt.after) || !m.cur.atEnd {
				t.Fatalf("after %v: %d rows, %d calls, atEnd %v", tt.advance, len(m.cur.rows), m.cur.timeline.Total.Calls, m.cur.atEnd)
			}
		})
	}
}

// TestPublishedSnapshotImmutable guards the screen goroutine's copy: a
// published snapshot is read while the model refreshes (new calls counted
// into the timeline, merged into the rows), and must neither change nor
// share memory the model writes (-race reports a shared bucket).
func TestPublishedSnapshotImmutable(t *testing.T) {
	path := testLedger(t, call(1, 10*time.Minute), call(2, 5*time.Minute))
	w := wants{q: query{window: WindowDay, order: ledger.Order{Key: ledger.SortStarted}}, qgen: 1, follow: true}
	m := testModel(t, path, w)
	s := <-m.out
	if len(s.timeline.Buckets) == 0 || len(s.rows) != 2 {
		t.Fatalf("first snapshot: %d buckets, %d rows", len(s.timeline.Buckets), len(s.rows))
	}
	wantBuckets := slices.Clone(s.timeline.Buckets)
	wantRows := seqs(s.rows)
	wantTotal := s.timeline.Total

	stop := make(chan struct{})
	read := make(chan float64)
	go func() {
		// The screen goroutine: draws from s for as long as it likes.
		sum := 0.0
		for {
			for _, b := range s.timeline.Buckets {
				sum += b.CostUSD
			}
			for i := range s.rows {
				sum += float64(s.rows[i].Seq)
			}
			select {
			case <-stop:
				read <- sum
				return
			default:
			}
		}
	}()
	// A call in a bucket the snapshot already has, then a refresh.
	appendCalls(t, path, call(3, 5*time.Minute))
	m.idleUntil = time.Time{}
	if !m.step(context.Background(), w) {
		t.Fatal("the refresh saw no change")
	}
	m.publish()
	close(stop)
	<-read

	if !slices.Equal(s.timeline.Buckets, wantBuckets) {
		t.Errorf("published buckets changed after the refresh:\n got %v\nwant %v", s.timeline.Buckets, wantBuckets)
	}
	if !slices.Equal(seqs(s.rows), wantRows) || s.timeline.Total != wantTotal {
		t.Errorf("published rows or total changed: %v %+v", seqs(s.rows), s.timeline.Total)
	}
	if next := <-m.out; next.timeline.Total.Calls != 3 || len(next.rows) != 3 {
		t.Errorf("the next snapshot has %d calls, %d rows; want 3, 3", next.timeline.Total.Calls, len(next.rows))
	}
}

// TestSpendReadRetried: a failed read of the header's spend leaves it
// stale, so the next tick past spendEvery reads it again (it was marked
// fresh before the read and stayed wrong until more calls were written).
func TestSpendReadRetried(t *testing.T) {
	path := testLedger(t, spread(0, 5)...)
	opts := Options{now: func() time.Time { return testNow }, Location: time.UTC}
	db, err := ledger.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(db, newMailbox(wants{}), &opts)
	db.Close() // every read now fails
	m.spendStale = true
	m.readSpend(context.Background(), testNow)
	if !m.spendStale {
		t.Error("a failed spend read marked the spend fresh: it is not read again")
	}
}
