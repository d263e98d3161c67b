package ledger

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUsageJSON guards the usage column: a broken usage object is stored
// as NULL, a valid one as it came.
func TestUsageJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		want      any
	}{
		{"valid", `{"prompt_tokens":12}`, `{"prompt_tokens":12}`},
		{"truncated", `{"prompt_tokens":12`, nil},
		{"empty", ``, nil},
	} {
		if got := usageJSON(json.RawMessage(tc.raw)); got != tc.want {
			t.Errorf("%s: usageJSON(%q) = %v, want %v", tc.name, tc.raw, got, tc.want)
		}
	}
}

// chunkRecords returns n records in chunks that alternate between calls
// sharing where they came from and went (insertSharedSQL) and calls that
// share less, each record distinct in the columns bound per row.
func chunkRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := sampleRecord(i)
		r.InputTokens += int64(i)
		r.RequestID = fmt.Sprintf("req_%d", i)
		r.Tags = []string{fmt.Sprintf("t%d", i%3)}
		if i/insertChunk%2 == 1 {
			r.Model = fmt.Sprintf("gpt-4.%d", i%4)
			r.Project = []string{"", "web"}[i%2]
			r.Path = fmt.Sprintf("/v1/chat/completions?n=%d", i%3)
			if i%2 == 1 {
				r.Truncated = []string{"error"}
			}
		}
		recs[i] = r
	}
	return recs
}

// checkStored fails unless every record in want is stored as it is and the
// rollups agree with the calls.
func checkStored(t *testing.T, db *DB, want []Record) {
	t.Helper()
	ctx := context.Background()
	for _, w := range want {
		got, ok, err := db.Get(ctx, w.ID)
		if err != nil || !ok {
			t.Fatalf("record %s: found %v, %v", w.ID, ok, err)
		}
		if diff := recordDiff(got.Record, w); diff != "" {
			t.Fatal(diff)
		}
	}
	for _, by := range []GroupBy{"", ByModel, ByTag, ByProject} {
		got, err := db.aggregate(ctx, by, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		calls, err := aggregateParts(ctx, db.read, by, Filter{}, rawPlan(Filter{}))
		if err != nil {
			t.Fatal(err)
		}
		if g, c := aggString(t, got), aggString(t, calls); g != c {
			t.Fatalf("by %q: rollups\n%s\ncalls\n%s", by, g, c)
		}
	}
	calls := 0 // Totals counts calls, not the other kinds
	for _, w := range want {
		if storedKind(w.Kind) == KindCall {
			calls++
		}
	}
	if tot, _ := db.Totals(ctx, Filter{}); tot.Calls != int64(calls) {
		t.Fatalf("calls = %d, want %d", tot.Calls, calls)
	}
}

// TestInsertChunks: the chunked statements, the shared one among them,
// store each row's own values, and the batch's tail one by one.
func TestInsertChunks(t *testing.T) {
	db := mustOpen(t)
	recs := chunkRecords(4*insertChunk + 5)
	mustInsert(t, db, recs...)
	checkStored(t, db, recs)
}

// TestInsertChunkPartlyStored: a chunk holding calls stored already, and a
// call twice, stores and counts each call once, the first of the two.
func TestInsertChunkPartlyStored(t *testing.T) {
	db := mustOpen(t)
	recs := chunkRecords(3 * insertChunk)
	mustInsert(t, db, recs[2], recs[insertChunk+5])
	again := slices.Clone(recs)
	twice := recs[insertChunk+7]
	twice.InputTokens += 1000
	again[insertChunk+9] = twice
	again[1].ID = recs[0].ID // a new call with a stored call's id
	mustInsert(t, db, again...)
	want := slices.Delete(slices.Clone(recs), insertChunk+9, insertChunk+10)
	want = slices.Delete(want, 1, 2)
	checkStored(t, db, want)
}

// TestInsertChunkRefused: a chunk the database refuses for one record's
// sake fails naming that record, and writes nothing.
func TestInsertChunkRefused(t *testing.T) {
	db := mustOpen(t)
	if _, err := db.write.Exec(`CREATE TRIGGER refuse_poison BEFORE INSERT ON calls WHEN NEW.model = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned record'); END`); err != nil {
		t.Fatal(err)
	}
	recs := chunkRecords(2 * insertChunk)
	recs[insertChunk+3].Model = "poison"
	err := db.Insert(context.Background(), recs)
	if err == nil || !strings.Contains(err.Error(), recs[insertChunk+3].ID) || isTransient(err) {
		t.Fatalf("err = %v, want the poisoned record's refusal", err)
	}
	if tot, _ := db.Totals(context.Background(), Filter{}); tot.Calls != 0 {
		t.Fatalf("calls = %d after a refused batch", tot.Calls)
	}
}

// shareableVariants change, per shareable column, a record's value in it
// (and only there, but for has_usage, which also clears the counts).
var shareableVariants = map[string]func(r *Record, i int){
	"provider": func(r *Record, i int) { r.Provider = fmt.Sprint("p", i) },
	"api":      func(r *Record, i int) { r.API = "anthropic" },
	"endpoint": func(r *Record, i int) { r.Endpoint = "responses" },
	"mode":     func(r *Record, i int) { r.Mode = ModeForward },
	"method":   func(r *Record, i int) { r.Method = "PUT" },
	"host":     func(r *Record, i int) { r.Host = fmt.Sprint("h", i, ".example") },
	"path":     func(r *Record, i int) { r.Path = fmt.Sprint("/v1/x/", i) },
	"model":    func(r *Record, i int) { r.Model = fmt.Sprint("m-", i) },
	"stream":   func(r *Record, i int) { r.Stream = !r.Stream },
	"status":   func(r *Record, i int) { r.Status = 0 },
	"outcome":  func(r *Record, i int) { r.Outcome = OutcomeIncomplete },
	"error":    func(r *Record, i int) { r.Error = fmt.Sprint("boom ", i) },
	"has_usage": func(r *Record, i int) {
		*r = Record{ID: r.ID, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Provider: r.Provider, API: r.API,
			Endpoint: r.Endpoint, Mode: r.Mode, Method: r.Method, Host: r.Host, Path: r.Path, Model: r.Model,
			Stream: r.Stream, Status: r.Status, Outcome: r.Outcome, TTFB: r.TTFB, Duration: r.Duration,
			RequestID: r.RequestID, ResponseID: r.ResponseID, Client: r.Client, VHHeaders: r.VHHeaders,
			Tags: r.Tags, UsageRaw: r.UsageRaw}
	},
	"cache_write_tokens":    func(r *Record, i int) { r.CacheWriteTokens = int64(i) },
	"cache_write_5m_tokens": func(r *Record, i int) { r.CacheWrite5mTokens = int64(i) },
	"cache_write_1h_tokens": func(r *Record, i int) { r.CacheWrite1hTokens = int64(i) },
	"provider_cost_usd":     func(r *Record, i int) { r.ProviderCostUSD = f64(float64(i) / 1000) },
	"cost_source":           func(r *Record, i int) { r.CostSource = CostFromOverride },
	"client":                func(r *Record, i int) { r.Client = fmt.Sprint("ua/", i) },
	"vh_headers":            func(r *Record, i int) { r.VHHeaders = map[string]string{"x-vh-run": fmt.Sprint(i)} },
	"tags":                  func(r *Record, i int) { r.Tags = []string{fmt.Sprint("t", i)} },
	"synced_at":             func(r *Record, i int) { at := baseTime.Add(time.Duration(i) * time.Hour); r.SyncedAt = &at },
	"kind":                  func(r *Record, i int) { r.Kind = KindOther },
	"project":               func(r *Record, i int) { r.Project = fmt.Sprint("proj", i) },
	"session":               func(r *Record, i int) { r.Session = fmt.Sprint("s", i) },
	"connection_id":         func(r *Record, i int) { r.ConnectionID = fmt.Sprint("ws", i) },
	"price_version":         func(r *Record, i int) { r.PriceVersion = fmt.Sprint("v", i) },
	"cost_note":             func(r *Record, i int) { r.CostNote = fmt.Sprint("note ", i) },
	"usage_detail":          func(r *Record, i int) { r.Detail = &UsageDetail{AudioInputTokens: int64(i)} },
	"truncated":             func(r *Record, i int) { r.Truncated = []string{"path"} },
}

// TestInsertChunksSharedSets: chunks whose rows share every shareable
// column but one, a different one each time, store each row's own values,
// whether written with a statement sharing exactly their columns, or
// (once more sets than maxSharedStmts have been met) one sharing fewer,
// or one replacing an idle statement. Every third chunk varies nothing.
func TestInsertChunksSharedSets(t *testing.T) {
	db := mustOpen(t)
	if len(shareableVariants) != len(shareable) {
		t.Fatalf("%d variants for %d shareable columns", len(shareableVariants), len(shareable))
	}
	chunks := 3 * (len(shareable) + sharedIdle/2)
	recs := make([]Record, 0, chunks*insertChunk)
	for k := range chunks {
		col := shareable[k%len(shareable)]
		for i := range insertChunk {
			n := len(recs)
			r := sampleRecord(n)
			r.InputTokens += int64(n)
			if k%3 != 2 && i%3 == 1 {
				shareableVariants[col](&r, n)
			}
			recs = append(recs, r)
		}
	}
	for b := recs; len(b) > 0; {
		n := min(len(b), 10*insertChunk+3)
		mustInsert(t, db, b[:n]...)
		b = b[n:]
	}
	checkStored(t, db, recs)
	if n := len(db.insert.shared.list); n != maxSharedStmts {
		t.Errorf("%d shared statements kept, want %d", n, maxSharedStmts)
	}
}

// fakeStmt is a prepared statement that is never executed.
type fakeStmt struct{ driver.Stmt }

func (fakeStmt) ExecContext(context.Context, []driver.NamedValue) (driver.Result, error) {
	return nil, errors.New("not executed")
}
func (fakeStmt) Close() error { return nil }

// TestSharedStmtsPick: a new set of shared columns gets its statement
// while there is room; then a chunk falls back to the kept set sharing the
// most of its columns, until one has gone unused for sharedIdle chunks and
// is replaced. A chunk of another row count gets its own statement in the
// set it picks, not a set of its own.
func TestSharedStmtsPick(t *testing.T) {
	var s sharedStmts
	var prepared []string
	prep := func(q string) (driver.StmtExecContext, error) {
		prepared = append(prepared, q)
		return fakeStmt{}, nil
	}
	for i := range maxSharedStmts {
		m := uint64(1)<<(i+1) | 1
		if st, got := s.pick(m, insertChunk, prep); st == nil || got != m {
			t.Fatalf("pick(%b) = %v, %b", m, st, got)
		}
	}
	if len(prepared) != maxSharedStmts {
		t.Fatalf("%d statements prepared, want %d", len(prepared), maxSharedStmts)
	}
	if st, got := s.pick(0, insertChunk, prep); st != nil || got != 0 {
		t.Errorf("pick(0) = %v, %b, want none", st, got)
	}
	// Full: the best kept subset, nothing prepared.
	if _, got := s.pick(0b111, insertChunk, prep); got != 0b011 && got != 0b101 {
		t.Errorf("pick(111) shares %b, want 11 or 101", got)
	}
	if st, got := s.pick(1<<40, insertChunk, prep); st != nil || got != 0 {
		t.Errorf("pick(1<<40) = %v, %b, want none", st, got)
	}
	if len(prepared) != maxSharedStmts {
		t.Fatalf("%d statements prepared with no room, want %d", len(prepared), maxSharedStmts)
	}
	// All but the last kept stay in use; the last goes idle and is replaced.
	for range sharedIdle {
		for i := range maxSharedStmts - 1 {
			s.pick(uint64(1)<<(i+1)|1, insertChunk, prep)
		}
	}
	if st, got := s.pick(0b111, insertChunk, prep); st == nil || got != 0b111 {
		t.Errorf("pick(111) after an idle statement = %v, %b, want its own", st, got)
	}
	if len(prepared) != maxSharedStmts+1 || len(s.list) != maxSharedStmts {
		t.Errorf("%d prepared, %d kept, want %d, %d", len(prepared), len(s.list), maxSharedStmts+1, maxSharedStmts)
	}
	last := prepared[len(prepared)-1]
	if !strings.Contains(last, "SELECT ?,?,?, v.* FROM (VALUES") || strings.Count(last, "),(") != insertChunk-1 {
		t.Errorf("statement %s does not bind 3 shared columns once for %d rows", last, insertChunk)
	}
	for range 2 {
		if st, got := s.pick(0b111, 4, prep); st == nil || got != 0b111 {
			t.Errorf("pick(111) of 4 rows = %v, %b, want its own", st, got)
		}
	}
	if len(prepared) != maxSharedStmts+2 || len(s.list) != maxSharedStmts {
		t.Errorf("%d prepared, %d kept after a 4-row chunk twice, want %d, %d", len(prepared), len(s.list), maxSharedStmts+2, maxSharedStmts)
	}
	if last := prepared[len(prepared)-1]; strings.Count(last, "),(") != 3 {
		t.Errorf("statement %s is not for 4 rows", last)
	}
}

// TestChunkRows: a batch is written in whole chunks, then one statement
// per bit of what is left, never more rows than are left, and only in
// the row counts a sizedStmts holds.
func TestChunkRows(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []int
	}{
		{1, []int{1}}, {2, []int{2}}, {3, []int{2, 1}}, {7, []int{4, 2, 1}}, {8, []int{8}},
		{15, []int{8, 4, 2, 1}}, {16, []int{16}}, {17, []int{16, 1}}, {40, []int{16, 16, 8}},
		{47, []int{16, 16, 8, 4, 2, 1}},
	} {
		var got []int
		for left := c.n; left > 0; {
			k := chunkRows(left, insertChunk)
			if k < 1 || k > left || k&(k-1) != 0 {
				t.Fatalf("chunkRows(%d) = %d", left, k)
			}
			got = append(got, k)
			left -= k
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%d rows are written as %v, want %v", c.n, got, c.want)
		}
	}
	if insertChunk&(insertChunk-1) != 0 || rollupChunk&(rollupChunk-1) != 0 {
		t.Errorf("chunks of %d and %d rows: not powers of two", insertChunk, rollupChunk)
	}
}

// callRows returns every stored call, each column of it but seq (which
// follows the order rows were written in) as text.
func callRows(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.read.Query("SELECT * FROM calls ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, c := range cols {
			if c != "seq" {
				fmt.Fprintf(&b, "%s=%#v ", c, vals[i])
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInsertTails: a batch of every length up to two chunks and one more,
// written in one Insert (whole chunks, then the tail statements, shared
// and not), stores exactly the rows the same records store written one at
// a time, with the rollups agreeing; a record with implausible counts
// among them is stored sanitized either way.
func TestInsertTails(t *testing.T) {
	batched, single := mustOpen(t), mustOpen(t)
	var all []Record
	for n := 1; n <= 2*insertChunk+1; n++ {
		recs := chunkRecords(n)
		for i := range recs {
			recs[i].ID = fmt.Sprintf("0193a000-%04d-7000-8000-%012d", n, i)
		}
		if n%5 == 0 {
			recs[n/2].OutputTokens = -1
		}
		mustInsert(t, batched, recs...)
		for _, r := range recs {
			mustInsert(t, single, r)
		}
		if got, want := callRows(t, batched), callRows(t, single); !slices.Equal(got, want) {
			t.Fatalf("a batch of %d stores\n%s\nwritten one at a time\n%s", n,
				strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		all = append(all, recs...)
	}
	for i := range all {
		all[i].Sanitize()
	}
	checkStored(t, batched, all)
}
