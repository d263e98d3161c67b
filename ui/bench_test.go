package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

const benchRows = 1_000_000

var benchModels = []struct{ provider, model string }{
	{"openai", "gpt-5.4"}, {"openai", "gpt-5.4-mini"}, {"openai", "gpt-4.1"},
	{"anthropic", "claude-sonnet-4-6"}, {"anthropic", "claude-opus-4-7"}, {"anthropic", "claude-haiku-4-5"},
	{"gemini", "gemini-2.5-pro"}, {"gemini", "gemini-3.5-flash"}, {"local", "llama3.1:8b"},
}

// benchCall is call i of a ledger spread evenly over the 90 days before
// testNow, in sessions as real traffic comes: runs of about a hundred
// calls share a model, of about four hundred a client. Nine models (one
// unpriced), four clients, tags and x-vh-* headers on a third, an error in
// fifty.
func benchCall(i int) ledger.Record {
	m := benchModels[(i/97)%len(benchModels)]
	const every = 90 * 24 * time.Hour / benchRows // 7.776 s
	start := testNow.Add(-time.Duration(benchRows-i) * every)
	r := ledger.Record{
		ID:         fmt.Sprintf("0193b000-%04x-7000-8000-%012x", i>>16&0xffff, i),
		StartedAt:  start,
		FinishedAt: start.Add(2 * time.Second),
		Provider:   m.provider, API: "openai", Endpoint: "chat_completions", Mode: ledger.ModeBaseURL,
		Method: "POST", Host: "api.example.com", Path: "/v1/chat/completions",
		Model: m.model, Stream: i%2 == 0, Status: 200, Outcome: ledger.OutcomeComplete,
		HasUsage: true, InputTokens: int64(1000 + i%5000), CachedInputTokens: int64(i % 800),
		OutputTokens: int64(100 + i%700), ReasoningTokens: int64(i % 50),
		CostUSD: f64(float64(i%1000) / 100000), CostSource: ledger.CostFromTable,
		TTFB: 300 * time.Millisecond, Duration: 2 * time.Second,
		RequestID: fmt.Sprintf("req_%d", i), ResponseID: fmt.Sprintf("chatcmpl-%d", i),
		Client:   []string{"OpenAI/Python 1.99.0", "Anthropic/JS 0.60.0", "claude-cli/2.1.0", "curl/8.5.0"}[(i/389)%4],
		UsageRaw: json.RawMessage(fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d}`, 1000+i%5000, 100+i%700)),
	}
	if m.provider == "local" {
		r.CostUSD, r.CostSource = nil, ""
	}
	if i%3 == 0 {
		r.Tags = []string{"eval", fmt.Sprintf("run-%d", i%7)}
		r.VHHeaders = map[string]string{"x-vh-run": fmt.Sprintf("r%d", i%100)}
	}
	if i%50 == 0 {
		r.Outcome, r.Status, r.HasUsage, r.CostUSD, r.CostSource = ledger.OutcomeUpstreamError, 529, false, nil, ""
	}
	return r
}

// benchLedger writes benchRows calls into a new ledger in dir through
// DB.Insert, in large batches.
func benchLedger(b *testing.B, dir string) string {
	path := filepath.Join(dir, "conduit.db")
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	batch := make([]ledger.Record, 0, 20_000)
	for i := range benchRows {
		batch = append(batch, benchCall(i))
		if len(batch) == cap(batch) {
			if err := db.Insert(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.Logf("wrote %d calls in %v", benchRows, time.Since(start).Round(time.Second))
	return path
}

// BenchmarkDashboard1M times what the dashboard asks of a million-call
// ledger: opening it (the read-only open plus the first snapshot: a page,
// the window's totals and timeline, the rate, the sync counts), a refresh
// after ten new calls, and deeper reads the user can ask for.
func BenchmarkDashboard1M(b *testing.B) {
	path := benchLedger(b, b.TempDir())
	ctx := context.Background()
	opts := Options{now: func() time.Time { return testNow }, Location: time.UTC, Sync: true}
	next := benchRows // ids of the calls the refreshes add (sub-benchmarks run more than once)
	for _, win := range []Window{WindowAll, WindowDay, WindowHour} {
		q := query{window: win, order: ledger.Order{Key: ledger.SortStarted}}
		w := wants{q: q, qgen: 1, follow: true}
		b.Run("open/window="+win.String(), func(b *testing.B) {
			var toRows time.Duration
			for range b.N {
				start := time.Now()
				db, err := ledger.OpenReadOnly(path)
				if err != nil {
					b.Fatal(err)
				}
				m := newModel(db, newMailbox(w), &opts)
				// The first snapshot holds the calls, before the totals.
				shown := make(chan time.Time, 1)
				go func() { <-m.out; shown <- time.Now() }()
				m.step(ctx, w)
				if m.cur.err != nil || len(m.cur.rows) == 0 || !m.cur.totalsOK {
					b.Fatalf("err %v, %d rows", m.cur.err, len(m.cur.rows))
				}
				toRows += (<-shown).Sub(start)
				db.Close()
			}
			b.ReportMetric(float64(toRows.Microseconds())/1000/float64(b.N), "ms-to-rows")
		})
		b.Run("refresh/window="+win.String(), func(b *testing.B) {
			wdb, err := ledger.Open(path, ledger.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer wdb.Close()
			m := newModel(openRO(b, path), newMailbox(w), &opts)
			m.step(ctx, w)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				recs := make([]ledger.Record, 10)
				for j := range recs {
					recs[j] = benchCall(next)
					recs[j].StartedAt = testNow.Add(-time.Second)
					next++
				}
				if err := wdb.Insert(ctx, recs); err != nil {
					b.Fatal(err)
				}
				before := m.cur.maxSeq
				m.idleUntil = time.Time{} // measure every refresh, unthrottled
				b.StartTimer()
				m.step(ctx, w)
				if m.cur.maxSeq != before+10 {
					b.Fatalf("refresh saw seq %d, want %d (err %v)", m.cur.maxSeq, before+10, m.cur.err)
				}
			}
		})
	}
	db := openRO(b, path)
	for _, tt := range []struct {
		name string
		run  func() error
	}{
		{"sync-counts", func() error { _, err := db.SyncCounts(ctx); return err }},
		{"groups-by-model/window=all", func() error { _, err := db.Groups(ctx, ledger.ByModel, ledger.Filter{}, time.UTC); return err }},
		{"sort-by-cost/window=24h", func() error {
			_, _, err := db.PageOrdered(ctx, ledger.Filter{Since: testNow.Add(-24 * time.Hour)}, ledger.Order{Key: ledger.SortCost}, ledger.OrderCursor{}, pageSize)
			return err
		}},
		{"sort-by-cost/window=all", func() error {
			_, _, err := db.PageOrdered(ctx, ledger.Filter{}, ledger.Order{Key: ledger.SortCost}, ledger.OrderCursor{}, pageSize)
			return err
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for range b.N {
				if err := tt.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
