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

// validJSONCases are documents validJSON must judge as json.Valid does:
// usage objects as providers send them, and the ways one can be broken.
var validJSONCases = []string{
	`{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0}}`,
	`{"input_tokens":1,"output_tokens":-0,"service_tier":"standard","server_tool_use":{"web_search_requests":1.5e3}}`,
	`{"a":[1,2.0,-3e-2,true,false,null,"\u00e9\n\"\\"]}`,
	` {"a": 1} `, `[]`, `{}`, `0`, `"s"`, `null`,
	`{"prompt_tokens":12,"completion_tokens":3`, // truncated
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":+1}`, `{"a":-}`,
	`{"a":1,}`, `{"a" 1}`, `{a:1}`, `{'a':1}`, `{"a":1}}`, `{"a":1} x`,
	`{"a":"\x01"}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":"é日本"}`, "{\"a\":\"\xff\"}",
	"\"\x02\\b\"", "{\"a\":\"\t\"}", "{\"a\":\t1}", // control characters, in and out of strings
	`{"a":tru}`, `{"a":nul}`, `{"a":NaN}`, ``, ` `, "{\"a\":1}\x00",
}

// TestValidJSON guards the usage column's check: validJSON agrees with
// json.Valid on every case, so a usage object stored before is stored
// still, and a broken one is still NULL.
func TestValidJSON(t *testing.T) {
	t.Parallel()
	for _, in := range validJSONCases {
		if got, want := validJSON([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid says %v", in, got, want)
		}
	}
	if usageJSON(json.RawMessage(`{"prompt_tokens":12`)) != nil {
		t.Error("a truncated usage object is stored, want NULL")
	}
}

// FuzzValidJSON: validJSON and json.Valid agree on any input nested less
// deeply than fastjson's limit.
func FuzzValidJSON(f *testing.F) {
	for _, in := range validJSONCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if strings.Count(string(in), "[")+strings.Count(string(in), "{") > 250 {
			return
		}
		if got, want := validJSON(in), json.Valid(in); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", in, got, want)
		}
	})
}

// BenchmarkValidJSON compares the usage column's check with json.Valid on
// an OpenAI usage object.
func BenchmarkValidJSON(b *testing.B) {
	raw := []byte(`{"prompt_tokens":1234,"completion_tokens":567,"total_tokens":1801,"prompt_tokens_details":{"cached_tokens":512,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":64,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
	for _, bc := range []struct {
		name  string
		valid func([]byte) bool
	}{{"validJSON", validJSON}, {"json.Valid", json.Valid}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if !bc.valid(raw) {
					b.Fatal("invalid")
				}
			}
		})
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
// while there is room; then a chunk falls back to the kept statement
// sharing the most of its columns, until one has gone unused for
// sharedIdle chunks and is replaced.
func TestSharedStmtsPick(t *testing.T) {
	var s sharedStmts
	var prepared []string
	prep := func(q string) (driver.StmtExecContext, error) {
		prepared = append(prepared, q)
		return fakeStmt{}, nil
	}
	for i := range maxSharedStmts {
		m := uint64(1)<<(i+1) | 1
		if st, got := s.pick(m, prep); st == nil || got != m {
			t.Fatalf("pick(%b) = %v, %b", m, st, got)
		}
	}
	if len(prepared) != maxSharedStmts {
		t.Fatalf("%d statements prepared, want %d", len(prepared), maxSharedStmts)
	}
	if st, got := s.pick(0, prep); st != nil || got != 0 {
		t.Errorf("pick(0) = %v, %b, want none", st, got)
	}
	// Full: the best kept subset, nothing prepared.
	if _, got := s.pick(0b111, prep); got != 0b011 && got != 0b101 {
		t.Errorf("pick(111) shares %b, want 11 or 101", got)
	}
	if st, got := s.pick(1<<40, prep); st != nil || got != 0 {
		t.Errorf("pick(1<<40) = %v, %b, want none", st, got)
	}
	if len(prepared) != maxSharedStmts {
		t.Fatalf("%d statements prepared with no room, want %d", len(prepared), maxSharedStmts)
	}
	// All but the last kept stay in use; the last goes idle and is replaced.
	for range sharedIdle {
		for i := range maxSharedStmts - 1 {
			s.pick(uint64(1)<<(i+1)|1, prep)
		}
	}
	if st, got := s.pick(0b111, prep); st == nil || got != 0b111 {
		t.Errorf("pick(111) after an idle statement = %v, %b, want its own", st, got)
	}
	if len(prepared) != maxSharedStmts+1 || len(s.list) != maxSharedStmts {
		t.Errorf("%d prepared, %d kept, want %d, %d", len(prepared), len(s.list), maxSharedStmts+1, maxSharedStmts)
	}
	if !strings.Contains(prepared[len(prepared)-1], "SELECT ?,?,?, v.* FROM (VALUES") {
		t.Errorf("statement %s does not bind 3 shared columns once", prepared[len(prepared)-1])
	}
}
