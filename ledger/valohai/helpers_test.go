package valohai

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

const testKey = "vh-SECRET-KEY-0123456789"

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func mustOpen(tb testing.TB) *ledger.DB {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "conduit.db"))
}

func mustOpenPath(tb testing.TB, path string) *ledger.DB {
	tb.Helper()
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func f64(v float64) *float64 { return &v }

// eligibleRecord returns a call the sync sends, started i seconds after t0.
func eligibleRecord(i int) ledger.Record {
	start := t0.Add(time.Duration(i) * time.Second)
	return ledger.Record{
		ID:        fmt.Sprintf("0193a000-0000-7000-8000-%012d", i),
		StartedAt: start, FinishedAt: start.Add(time.Second),
		Provider: "openai", API: "openai", Endpoint: "chat_completions", Mode: ledger.ModeBaseURL,
		Method: "POST", Host: "api.openai.com", Path: "/v1/chat/completions",
		Model: "gpt-4.1", Status: 200, Outcome: ledger.OutcomeComplete,
		HasUsage: true, InputTokens: 1200, OutputTokens: 300,
		CostUSD: f64(0.0045), CostSource: ledger.CostFromTable,
		Duration:  time.Second,
		RequestID: "req_abc", ResponseID: "chatcmpl-123",
		VHHeaders: map[string]string{"x-vh-run": fmt.Sprintf("r%d", i)},
		UsageRaw:  json.RawMessage(`{"prompt_tokens":1200,"completion_tokens":300}`),
	}
}

// insertEligible inserts n eligible records, numbered from first, and
// returns them.
func insertEligible(tb testing.TB, db *ledger.DB, first, n int) []ledger.Record {
	tb.Helper()
	recs := make([]ledger.Record, n)
	for i := range recs {
		recs[i] = eligibleRecord(first + i)
	}
	if err := db.Insert(context.Background(), recs); err != nil {
		tb.Fatal(err)
	}
	return recs
}

func counts(tb testing.TB, db *ledger.DB) ledger.SyncCounts {
	tb.Helper()
	c, err := db.SyncCounts(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// ingestRequest is one POST the fake ingest server received.
type ingestRequest struct {
	Method, Path, Auth, ContentType string
	Body                            []byte
	IDs                             []string
}

// ingest is a fake Valohai LLM ingest endpoint on loopback. respond, if
// set, answers request n (from 0); otherwise it answers 200.
type ingest struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []ingestRequest
	respond func(n int, w http.ResponseWriter, r *http.Request)
	arrived chan int // the index of each request, once received
}

func newIngest(tb testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *ingest {
	tb.Helper()
	in := &ingest{respond: respond, arrived: make(chan int, 1000)}
	in.Server = httptest.NewServer(http.HandlerFunc(in.serve))
	tb.Cleanup(in.Close)
	return in
}

// newStuckIngest is an ingest endpoint that never answers: each request
// waits until the client gives up or the test ends.
func newStuckIngest(tb testing.TB) *ingest {
	tb.Helper()
	release := make(chan struct{})
	in := newIngest(tb, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	tb.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	return in
}

func (in *ingest) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := ingestRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
		ContentType: r.Header.Get("Content-Type"), Body: body}
	var items []struct {
		TransitID string `json:"transit_id"`
	}
	_ = json.Unmarshal(body, &items)
	for _, it := range items {
		req.IDs = append(req.IDs, it.TransitID)
	}
	in.mu.Lock()
	n := len(in.reqs)
	in.reqs = append(in.reqs, req)
	in.mu.Unlock()
	in.arrived <- n
	if in.respond != nil {
		in.respond(n, w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (in *ingest) requests() []ingestRequest {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]ingestRequest(nil), in.reqs...)
}

// sentIDs returns every transit id received, in order.
func (in *ingest) sentIDs() []string {
	var out []string
	for _, r := range in.requests() {
		out = append(out, r.IDs...)
	}
	return out
}

// waitRequests waits until n requests have arrived in all.
func (in *ingest) waitRequests(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for len(in.requests()) < n {
		select {
		case <-in.arrived:
		case <-deadline:
			tb.Fatalf("%d requests arrived, want %d", len(in.requests()), n)
		}
	}
}

func (in *ingest) client() *Client {
	return &Client{URL: in.URL, APIKey: testKey, Now: func() time.Time { return t0 }}
}

// hijackClose drops the connection without an answer.
func hijackClose(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// fakeClock is a ledger.Clock whose time moves only when a test calls
// Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced when a timer is created
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	ch   chan time.Time
	dead bool // fired or stopped
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0, changed: make(chan struct{})} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) ledger.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.dead = true
		t.ch <- c.now
	} else {
		c.timers = append(c.timers, t)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.dead
	t.dead = true
	return was
}

// advanceTo moves time to at and fires the timers that became due.
func (c *fakeClock) advanceTo(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
	live := c.timers[:0]
	for _, t := range c.timers {
		if t.dead {
			continue
		}
		if !t.at.After(c.now) {
			t.dead = true
			t.ch <- c.now
			continue
		}
		live = append(live, t)
	}
	c.timers = live
}

// waitTimer blocks until a live timer is set for exactly at: the goroutine
// that set it is then waiting for it. It fails the test after a generous
// bound, naming the timers that are set instead.
func (c *fakeClock) waitTimer(tb testing.TB, at time.Time) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		var set []string
		for _, t := range c.timers {
			if t.dead {
				continue
			}
			if t.at.Equal(at) {
				c.mu.Unlock()
				return
			}
			set = append(set, "t0+"+t.at.Sub(t0).String())
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("no timer set for t0+%s; set: %v", at.Sub(t0), set)
		}
	}
}
