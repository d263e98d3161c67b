package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWriterAbsurdCountsDoNotStall guards the writer against counts no call
// can have: two calls whose input tokens add up past int64 (in one batch,
// and in two, which makes the rollup update overflow) are stored as invalid
// usage with their raw usage kept, nothing sums them, and the calls after
// them are written.
func TestWriterAbsurdCountsDoNotStall(t *testing.T) {
	t.Parallel()
	for _, split := range []bool{false, true} {
		name := "one batch"
		if split {
			name = "two batches"
		}
		t.Run(name, func(t *testing.T) {
			db := mustOpen(t)
			w, _ := faultWriter(t, db, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			huge := faultRecords("huge", 2)
			for i := range huge {
				huge[i].InputTokens = math.MaxInt64/2 + 1
			}
			later := faultRecords("later", 3)
			w.Add(huge[0])
			if split {
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			w.Add(huge[1])
			for _, r := range later {
				w.Add(r)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatalf("the writer stalled: %v (stats %+v)", err, w.Stats())
			}
			checkLanded(t, db, append(huge, later...))
			for _, r := range huge {
				got, ok, err := db.Get(context.Background(), r.ID)
				if err != nil || !ok {
					t.Fatal(ok, err)
				}
				if got.HasUsage || got.Outcome != OutcomeInvalidUsage || got.CostUSD != nil || string(got.UsageRaw) != string(r.UsageRaw) {
					t.Errorf("absurd call stored as %+v", got)
				}
			}
			tot, err := db.Totals(context.Background(), Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if tot.Calls != 5 || tot.InputTokens != 3*1200 || tot.NoUsage != 2 {
				t.Errorf("totals %+v: want 5 calls, the later calls' 3600 input tokens, 2 without usage", tot)
			}
		})
	}
}

// TestWriterSetsAsideRefusedRecord guards the writer against a record the
// database refuses for what it holds (here a trigger raising an error for
// one model, as a constraint would): the batch is split until that record
// is alone, it is set aside (logged, counted, exportable, not handed to
// OnWritten), and every other record of the batch and after it is written.
func TestWriterSetsAsideRefusedRecord(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	if _, err := db.write.Exec(`CREATE TRIGGER refuse_poison BEFORE INSERT ON calls WHEN NEW.model = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned record'); END`); err != nil {
		t.Fatal(err)
	}
	logs := newLogWatch()
	var mu sync.Mutex
	var handed []string
	w := NewWriter(db, WriterOptions{Logger: logs.logger(), BatchSize: 64, MaxDelay: time.Hour,
		OnWritten: func(recs []Record) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range recs {
				handed = append(handed, r.ID)
			}
		}})
	defer w.Close(context.Background())
	recs := faultRecords("batch", 64)
	recs[37].Model = "poison"
	for _, r := range recs {
		w.Add(r)
	}
	later := faultRecords("later", 3)
	for _, r := range later {
		w.Add(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("flush: %v (stats %+v)", err, w.Stats())
	}
	good := append(slices.Delete(slices.Clone(recs), 37, 38), later...)
	checkLanded(t, db, good)
	if _, ok, _ := db.Get(ctx, recs[37].ID); ok {
		t.Error("the refused record is in calls")
	}
	if st := w.Stats(); st.SetAside != 1 || st.Written != int64(len(good)) || st.Failing || st.Queued != 0 {
		t.Errorf("stats %+v: want 1 set aside, %d written", st, len(good))
	}
	logs.waitFor(t, "set it aside and writing the rest")
	if !strings.Contains(logs.String(), recs[37].ID) {
		t.Errorf("the log does not name the record:\n%s", logs.String())
	}
	mu.Lock()
	if len(handed) != len(good) || slices.Contains(handed, recs[37].ID) {
		t.Errorf("OnWritten got %d records (the refused one: %v)", len(handed), slices.Contains(handed, recs[37].ID))
	}
	mu.Unlock()

	var out bytes.Buffer
	n, err := db.ExportSetAside(ctx, &out)
	if err != nil || n != 1 {
		t.Fatalf("export: %d, %v", n, err)
	}
	var line struct {
		ID, Error  string
		SetAsideAt string `json:"set_aside_at"`
		Record     Record
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if line.ID != recs[37].ID || !strings.Contains(line.Error, "poisoned record") || line.SetAsideAt == "" ||
		line.Record.Model != "poison" || line.Record.InputTokens != recs[37].InputTokens {
		t.Errorf("exported %+v", line)
	}
}

// refusal is an SQLite error of the records' own (a constraint), as the
// driver reports one.
type refusal struct{}

func (refusal) Error() string { return "constraint failed (19)" }
func (refusal) Code() int     { return 19 }

// TestWriterIsolatesFew guards the cost of finding refused records: a
// batch is split in halves, so two refused records among 256 take a few
// dozen attempts, not one per record, and a passing failure while
// splitting (the database locked meanwhile) retries the batch without
// setting a record aside twice.
func TestWriterIsolatesFew(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	stored := map[string]int{}
	attempts, lockedOnce := 0, false
	var kept []string
	write := func(ctx context.Context, recs []Record) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 20 && !lockedOnce {
			lockedOnce = true
			return errors.New("database is locked") // passing: not an SQLite refusal
		}
		for _, r := range recs {
			if r.Model == "poison" {
				return refusal{}
			}
		}
		for _, r := range recs {
			stored[r.ID]++
		}
		return nil
	}
	aside := func(ctx context.Context, r Record, reason error) error {
		mu.Lock()
		defer mu.Unlock()
		kept = append(kept, r.ID)
		return nil
	}
	logs := &logBuffer{}
	w := NewWriter(nil, WriterOptions{Write: write, SetAside: aside, BatchSize: 256, MaxDelay: time.Hour,
		RetryMin: time.Millisecond, RetryMax: time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	recs := faultRecords("few", 256)
	recs[3].Model, recs[200].Model = "poison", "poison"
	for _, r := range recs {
		w.Add(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stored) != 254 {
		t.Errorf("%d records stored, want 254", len(stored))
	}
	slices.Sort(kept)
	if len(kept) != 2 || kept[0] != recs[3].ID || kept[1] != recs[200].ID {
		t.Errorf("set aside %v", kept)
	}
	if st := w.Stats(); st.SetAside != 2 || st.Written != 254 {
		t.Errorf("stats %+v", st)
	}
	// Both within dropLogEvery: one line, the count says the rest.
	if n := logs.count("set it aside"); n != 1 {
		t.Errorf("%d log lines for 2 records set aside at once, want 1", n)
	}
	if attempts > 60 {
		t.Errorf("%d write attempts to isolate 2 records among 256", attempts)
	}
	t.Logf("%d attempts", attempts)
}
