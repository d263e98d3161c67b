package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
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
// sharing their sessionColumns (insertShared) and calls that do not
// (insertMany), each record distinct in the columns bound per row.
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
	if tot, _ := db.Totals(ctx, Filter{}); tot.Calls != int64(len(want)) {
		t.Fatalf("calls = %d, want %d", tot.Calls, len(want))
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
