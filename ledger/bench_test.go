package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/internal/cputime"
)

var benchModels = []struct{ provider, api, model string }{
	{"openai", "openai", "gpt-5.4"}, {"openai", "openai", "gpt-5.4-mini"}, {"openai", "openai", "gpt-4.1"},
	{"anthropic", "anthropic", "claude-sonnet-4-6"}, {"anthropic", "anthropic", "claude-opus-4-7"},
	{"anthropic", "anthropic", "claude-haiku-4-5"}, {"gemini", "gemini", "gemini-2.5-pro"},
	{"gemini", "gemini", "gemini-3.5-flash"}, {"local", "ollama", "llama3.1:8b"},
}

// benchRecord is a realistic call: i spreads calls over models, clients,
// tags and 90 days.
func benchRecord(i int) Record {
	m := benchModels[i%len(benchModels)]
	start := baseTime.Add(-time.Duration(i%(90*24*60)) * time.Minute).Add(time.Duration(i%997) * time.Millisecond)
	r := Record{
		ID:         fmt.Sprintf("0193b%03x-%04x-7%03x-8000-%012x", i%4096, i%65536, i%4096, i),
		StartedAt:  start,
		FinishedAt: start.Add(2 * time.Second),
		Provider:   m.provider, API: m.api, Endpoint: "chat_completions", Mode: ModeBaseURL,
		Method: "POST", Host: "api.example.com", Path: "/v1/chat/completions",
		Model: m.model, Stream: i%2 == 0, Status: 200, Outcome: OutcomeComplete,
		HasUsage: true, InputTokens: int64(1000 + i%5000), CachedInputTokens: int64(i % 800),
		OutputTokens: int64(100 + i%700), ReasoningTokens: int64(i % 50),
		CostUSD: f64(float64(i%1000) / 100000), CostSource: CostFromTable,
		TTFB: 300 * time.Millisecond, Duration: 2 * time.Second,
		RequestID: fmt.Sprintf("req_%d", i), ResponseID: fmt.Sprintf("chatcmpl-%d", i),
		Client:   []string{"OpenAI/Python 1.99.0", "Anthropic/JS 0.60.0", "claude-cli/2.1.0", "curl/8.5.0"}[i%4],
		UsageRaw: json.RawMessage(fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d},"completion_tokens_details":{"reasoning_tokens":%d}}`, 1000+i%5000, 100+i%700, 1100+i%5000+i%700, i%800, i%50)),
	}
	if i%9 == 8 {
		r.CostUSD, r.CostSource = nil, ""
	}
	if i%3 == 0 {
		r.Tags = []string{"eval", fmt.Sprintf("run-%d", i%7)}
		r.VHHeaders = map[string]string{"x-vh-run": fmt.Sprintf("r%d", i%100)}
	}
	if i%50 == 0 {
		r.Outcome, r.Status, r.HasUsage, r.CostUSD, r.CostSource = OutcomeUpstreamError, 529, false, nil, ""
	}
	return r
}

// BenchmarkWriterSustained measures records per second through the Writer
// into a real ledger file, from the first Add to the end of Close. "varied"
// rotates every call through 9 models, 4 clients and 8 tag sets (the worst
// case for the rollups: ~80 summary rows touched per batch); "session" is
// one agent's burst: one model and client, as most real traffic is.
func BenchmarkWriterSustained(b *testing.B) {
	b.Run("varied", func(b *testing.B) { benchWriter(b, benchRecord) })
	b.Run("session", func(b *testing.B) {
		benchWriter(b, func(i int) Record {
			r := benchRecord(i * len(benchModels) * 12) // same model, client and tags
			r.RequestID, r.ResponseID = fmt.Sprintf("req_%d", i), fmt.Sprintf("chatcmpl-%d", i)
			return r
		})
	})
}

func benchWriter(b *testing.B, gen func(int) Record) {
	db, err := Open(filepath.Join(b.TempDir(), "conduit.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	recs := make([]Record, 4096)
	for i := range recs {
		recs[i] = gen(i)
	}
	// As in production, ids (UUIDv7) and start times grow with time.
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("0193c000-%04x-7000-8000-%012x", i>>16&0xffff, i)
	}
	// The whole run is queued before the writer catches up: neither bound
	// may drop a record, or the run measures less than b.N.
	w := NewWriter(db, WriterOptions{QueueSize: max(b.N, DefaultQueueSize), QueueBytes: math.MaxInt64})
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	start := time.Now()
	for i := range b.N {
		r := recs[i%len(recs)]
		r.ID = ids[i]
		r.StartedAt = baseTime.Add(time.Duration(i) * time.Millisecond)
		w.Add(r)
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	cpu := cputime.Process() - cpu0
	b.StopTimer()
	if s := w.Stats(); s.Dropped != 0 || s.Written != int64(b.N) {
		b.Fatalf("stats %+v", s)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	// The machine is shared: CPU time per record is the steadier figure.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
}

const benchLedgerRows = 1_000_000

var (
	benchLedgerOnce sync.Once
	benchLedgerPath string
	benchLedgerErr  error
)

// benchLedger returns the path of a ledger holding benchLedgerRows calls,
// generated once per test binary run in a single transaction.
func benchLedger(b *testing.B) string {
	benchLedgerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "conduit-ledger-bench-")
		if err != nil {
			benchLedgerErr = err
			return
		}
		cleanupBenchLedger = func() { os.RemoveAll(dir) }
		benchLedgerPath = filepath.Join(dir, "conduit.db")
		start := time.Now()
		benchLedgerErr = generateLedger(benchLedgerPath, benchLedgerRows)
		b.Logf("generated %d rows in %v", benchLedgerRows, time.Since(start).Round(time.Millisecond))
	})
	if benchLedgerErr != nil {
		b.Fatal(benchLedgerErr)
	}
	return benchLedgerPath
}

func generateLedger(path string, n int) error {
	db, err := Open(path, Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	// Through the proxy's own write path (rollups updated as it goes), in
	// large batches.
	ctx := context.Background()
	batch := make([]Record, 0, 4096)
	for i := range n {
		batch = append(batch, benchRecord(i))
		if len(batch) == cap(batch) || i == n-1 {
			if err := db.Insert(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	_, err = db.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// BenchmarkReport1M runs `conduit report`'s queries over a million calls,
// as a separate read-only process would.
func BenchmarkReport1M(b *testing.B) {
	path := benchLedger(b)
	db, err := OpenReadOnly(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, by := range []GroupBy{ByModel, ByProvider, ByDay, ByClient, ByTag} {
		b.Run("by="+string(by), func(b *testing.B) {
			for range b.N {
				rep, err := db.Report(ctx, by, Filter{}, time.UTC)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Total.Calls != benchLedgerRows {
					b.Fatalf("total %d", rep.Total.Calls)
				}
			}
		})
	}
	b.Run("by=model/last-7d", func(b *testing.B) {
		for range b.N {
			if _, err := db.Report(ctx, ByModel, Filter{Since: baseTime.Add(-7 * 24 * time.Hour)}, time.UTC); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDashboardQueries1M times what a dashboard refresh asks of a
// million-call ledger: the first page, a deep page, window totals.
func BenchmarkDashboardQueries1M(b *testing.B) {
	path := benchLedger(b)
	db, err := OpenReadOnly(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	b.Run("open", func(b *testing.B) {
		for range b.N {
			d, err := OpenReadOnly(path)
			if err != nil {
				b.Fatal(err)
			}
			d.Close()
		}
	})
	b.Run("first-page", func(b *testing.B) {
		for range b.N {
			if _, err := db.Page(ctx, Filter{}, Cursor{}, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
	deep := Cursor{StartedAt: baseTime.Add(-60 * 24 * time.Hour).UnixMilli(), Seq: 1 << 40}
	b.Run("deep-page", func(b *testing.B) {
		for range b.N {
			if _, err := db.Page(ctx, Filter{}, deep, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("filtered-page", func(b *testing.B) {
		for range b.N {
			if _, err := db.Page(ctx, Filter{Provider: "gemini", Tag: "eval"}, Cursor{}, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, w := range []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour} {
		b.Run("totals-"+w.String(), func(b *testing.B) {
			for range b.N {
				if _, err := db.Totals(ctx, Filter{Since: baseTime.Add(-w)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("totals-all", func(b *testing.B) {
		for range b.N {
			if _, err := db.Totals(ctx, Filter{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("data-version", func(b *testing.B) {
		for range b.N {
			if _, err := db.DataVersion(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkExport1M streams every call as JSONL.
func BenchmarkExport1M(b *testing.B) {
	path := benchLedger(b)
	db, err := OpenReadOnly(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for range b.N {
		var cw countWriter
		n, err := db.Export(context.Background(), &cw, JSONL, Filter{})
		if err != nil || n != benchLedgerRows {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkInsertBatches measures the CPU DB.Insert spends per record at
// the batch sizes a Writer sends: 1 and 7 (a quiet proxy, each batch cut
// short by MaxDelay), one chunk (16), and 40 (two chunks and a tail). An
// op is one record, so ns/op and allocs/op are per record; the records
// are one session's (benchWriter's "session"), as most batches are.
func BenchmarkInsertBatches(b *testing.B) {
	for _, n := range []int{1, 7, 16, 40} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "conduit.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			recs := make([]Record, b.N)
			for i := range recs {
				r := benchRecord(i % 4096 * len(benchModels) * 12)
				r.ID = fmt.Sprintf("0193c000-%04x-7000-8000-%012x", i>>16&0xffff, i)
				r.RequestID, r.ResponseID = fmt.Sprintf("req_%d", i), fmt.Sprintf("chatcmpl-%d", i)
				r.StartedAt = baseTime.Add(time.Duration(i) * time.Millisecond)
				recs[i] = r
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			for i := 0; i < len(recs); i += n {
				if err := db.Insert(ctx, recs[i:min(i+n, len(recs))]); err != nil {
					b.Fatal(err)
				}
			}
			cpu := cputime.Process() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/record")
		})
	}
}
