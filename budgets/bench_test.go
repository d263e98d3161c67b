package budgets

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// benchBudgets are five budgets of every scope kind, three enforced.
func benchBudgets() []Budget {
	return []Budget{
		{Name: "day", LimitUSD: 1e9, Period: Day, WarnAt: []float64{0.5, 0.8}, Enforce: true},
		{Name: "opus", LimitUSD: 1e9, Period: Week, Enforce: true, Scope: Scope{Model: "claude-opus-*", Client: "claude-cli/*"}},
		{Name: "team", LimitUSD: 1e9, Period: Month, Scope: Scope{Tag: "team:*"}},
		{Name: "web", LimitUSD: 1e9, Period: Day, Enforce: true, Scope: Scope{Project: "web*", Provider: "anthropic"}},
		{Name: "month", LimitUSD: 1e9, Period: Month},
	}
}

// BenchmarkTrackerAdmit is the cost a budget adds to each call before it
// goes upstream.
func BenchmarkTrackerAdmit(b *testing.B) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	tr, err := NewTracker(Options{Budgets: benchBudgets(), Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	rec := priced(now, 0, func(r *ledger.Record) { r.Tags = []string{"a", "team:search"} })
	b.ReportAllocs()
	for b.Loop() {
		if tr.Admit(rec) != nil {
			b.Fatal("refused")
		}
	}
}

// BenchmarkTrackerObserve is the cost of counting a recorded call.
func BenchmarkTrackerObserve(b *testing.B) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	tr, err := NewTracker(Options{Budgets: benchBudgets(), Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	rec := priced(now, 0.001, func(r *ledger.Record) { r.Tags = []string{"a", "team:search"} })
	b.ReportAllocs()
	for b.Loop() {
		tr.Observe(rec)
	}
}

// BenchmarkTrackerLoad is the proxy's start (and `conduit budget`): the
// five budgets counted from a ledger of 200,000 calls over the month, from
// the rollups; and with a tag pattern matching two tags that calls carry
// together, which reads the month's calls.
func BenchmarkTrackerLoad(b *testing.B) {
	now := time.Date(2026, 1, 28, 9, 7, 0, 0, time.UTC)
	db, err := ledger.Open(filepath.Join(b.TempDir(), "conduit.db"), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 200_000
	batch := make([]ledger.Record, 0, 5000)
	models := []string{"claude-opus-4-1", "claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro"}
	projects := []string{"web", "api", "", "webshop"}
	tagged := int64(0)
	for i := range n {
		at := now.Add(-time.Duration(float64(i) / n * float64(27*24*time.Hour)))
		batch = append(batch, priced(at, 0.001, func(r *ledger.Record) {
			r.Model, r.Project = models[i%4], projects[i/4%4]
			switch i % 3 {
			case 0:
				tagged++
				r.Tags = []string{"team:search", "x"}
			case 1:
				tagged++
				r.Tags = []string{"team:search", "team:ads"}
			}
		}))
		if len(batch) == cap(batch) {
			if err := db.Insert(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for _, bc := range []struct {
		name string
		tag  string
	}{{"rollups", "team:s*"}, {"calls", "team:*"}} {
		bs := benchBudgets()
		bs[2].Scope.Tag = bc.tag
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				st, err := Read(context.Background(), db, bs, time.UTC, now)
				if err != nil || st[4].Calls != n || st[2].Calls != tagged {
					b.Fatalf("%v, %+v", err, st)
				}
			}
		})
	}
}
