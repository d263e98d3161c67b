package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// mustOpen opens a fresh ledger in a temporary directory. Every test of
// the package that needs a ledger opens its own, and none sets the
// environment or a package variable: that is what lets them all call
// t.Parallel, so one's waits on SQLite's locks and on helper processes
// overlap another's work.
func mustOpen(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(filepath.Join(tb.TempDir(), "conduit.db"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func mustInsert(tb testing.TB, db *DB, recs ...Record) {
	tb.Helper()
	if err := db.Insert(context.Background(), recs); err != nil {
		tb.Fatal(err)
	}
}

var baseTime = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func f64(v float64) *float64 { return &v }

// sampleRecord returns a complete record: usage, cost, headers, tags.
func sampleRecord(i int) Record {
	start := baseTime.Add(time.Duration(i) * time.Second)
	return Record{
		ID:         fmt.Sprintf("0193a000-0000-7000-8000-%012d", i),
		StartedAt:  start,
		FinishedAt: start.Add(1500 * time.Millisecond),
		Provider:   "openai", API: "openai", Endpoint: "chat_completions", Mode: ModeBaseURL,
		Method: "POST", Host: "api.openai.com", Path: "/v1/chat/completions",
		Model: "gpt-4.1", Stream: true, Status: 200, Outcome: OutcomeComplete,
		HasUsage: true, InputTokens: 1200, CachedInputTokens: 200, CacheWriteTokens: 0,
		OutputTokens: 300, ReasoningTokens: 50,
		CostUSD: f64(0.0045), CostSource: CostFromTable,
		TTFB: 250 * time.Millisecond, Duration: 1500 * time.Millisecond,
		RequestID: "req_abc", ResponseID: "chatcmpl-123", Client: "OpenAI/Python 1.99.0",
		VHHeaders: map[string]string{"x-vh-run": "r1"},
		Tags:      []string{"eval"},
		UsageRaw:  json.RawMessage(`{"prompt_tokens":1200,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":200}}`),
	}
}

// fakeClock is a Clock whose time moves only when a test calls Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced when a timer is created
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	ch      chan time.Time
	stopped bool
	fired   bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: baseTime, changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.fired = true
		t.ch <- c.now
	}
	c.timers = append(c.timers, t)
	close(c.changed)
	c.changed = make(chan struct{})
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// Advance moves time forward and fires the timers that became due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	live := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped || t.fired {
			continue
		}
		if !t.at.After(c.now) {
			t.fired = true
			t.ch <- c.now
			continue
		}
		live = append(live, t)
	}
	c.timers = live
}

// waitTimer blocks until a live timer is set to fire at time at, which
// means the goroutine that set it is waiting for it. It fails the test
// after a generous bound.
func (c *fakeClock) waitTimer(tb testing.TB, at time.Time) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for _, t := range c.timers {
			if !t.stopped && !t.fired && t.at.Equal(at) {
				c.mu.Unlock()
				return
			}
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("no timer set for %v (now %v)", at, c.Now())
		}
	}
}

// recordDiff compares records field by field (pointers by value, times by
// instant) and describes the first differences, or returns "". A want with
// no Kind is a call, as the ledger stores it.
func recordDiff(got, want Record) string {
	want.Kind = storedKind(want.Kind)
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) == string(w) {
		return ""
	}
	return fmt.Sprintf("record differs:\n got %s\nwant %s", g, w)
}

// legacyColumns are the columns of calls in schema versions 1 to 3, a
// prefix of insertColumns (migration 4 added the rest at the end).
const legacyColumns = `id, started_at, finished_at, provider, api, endpoint, mode, method, host, path,
	model, stream, status, outcome, error, has_usage, input_tokens, cached_input_tokens,
	cache_write_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens,
	reasoning_tokens, provider_cost_usd, cost_usd, cost_source, ttfb_ms, duration_ms,
	request_id, response_id, client, vh_headers, tags, usage, synced_at`

// insertLegacyTx inserts recs as a Conduit before migration 4 did, into a
// ledger of schema version 1 to 3 (without updating any rollup).
func insertLegacyTx(ctx context.Context, tx *sql.Tx, recs []Record) error {
	n := len(strings.Split(legacyColumns, ","))
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO calls ("+legacyColumns+") VALUES ("+
		strings.TrimSuffix(strings.Repeat("?,", n), ",")+")")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range recs {
		if _, err := stmt.ExecContext(ctx, appendRecordArgs(nil, &recs[i])[:n]...); err != nil {
			return fmt.Errorf("record %s: %w", recs[i].ID, err)
		}
	}
	return nil
}

// cleanupBenchLedger removes the shared benchmark ledger, if one was made.
var cleanupBenchLedger = func() {}
