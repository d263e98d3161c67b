package ledger

// The ledger's part of the fault-injection suite: a real SQLite
// file that another connection locks, that fills its disk, or that sits on
// a read-only file system. Whatever the fault, records wait in the Writer's
// queue, the failure is logged loudly, and every record lands once the
// ledger recovers. The disk cases use a real small tmpfs where the machine
// allows mounting one (fault_linux_test.go) and say so; elsewhere they run
// against an injected failing write and say that instead.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/internal/tmpfs"
)

// logWatch is a log sink a test can wait on for a line.
type logWatch struct {
	mu   sync.Mutex
	buf  strings.Builder
	cond *sync.Cond
}

func newLogWatch() *logWatch {
	w := &logWatch{}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.cond.Broadcast()
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor blocks until the log holds s, failing the test after 20 s.
func (w *logWatch) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.AfterFunc(20*time.Second, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for !strings.Contains(w.buf.String(), s) {
		if time.Since(start) >= 20*time.Second {
			t.Fatalf("no log line %q within 20 s; log:\n%s", s, w.buf.String())
		}
		w.cond.Wait()
	}
}

func (w *logWatch) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

// faultWriter starts a Writer on db with quick retries and a watched log.
func faultWriter(t *testing.T, db *DB, write func(context.Context, []Record) error) (*Writer, *logWatch) {
	t.Helper()
	logs := newLogWatch()
	w := NewWriter(db, WriterOptions{
		Logger:   logs.logger(),
		MaxDelay: 5 * time.Millisecond,
		RetryMin: 5 * time.Millisecond,
		RetryMax: 50 * time.Millisecond,
		Write:    write,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	return w, logs
}

// faultRecords are n records with ids prefixed by name.
func faultRecords(name string, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = sampleRecord(i)
		out[i].ID = fmt.Sprintf("%s-%04d", name, i)
	}
	return out
}

// checkLanded asserts that every record is in the ledger exactly once and
// the file is sound.
func checkLanded(t *testing.T, db *DB, recs []Record) {
	t.Helper()
	var check string
	if err := db.write.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	for _, r := range recs {
		var n int
		if err := db.read.QueryRow("SELECT count(*) FROM calls WHERE id = ?", r.ID).Scan(&n); err != nil || n != 1 {
			t.Fatalf("record %s stored %d times (%v)", r.ID, n, err)
		}
	}
}

// TestFaultLedgerLocked guards a ledger another connection holds a write
// transaction on (a sqlite3 shell left open, a backup tool): the Writer's
// batches fail after the busy timeout, are logged once and retried; the
// records wait in the queue, and all land, once each, when the lock goes.
func TestFaultLedgerLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conduit.db")
	db, err := Open(path, Options{BusyTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	other, err := sql.Open("sqlite", dsn(path, "rw", "_txlock=immediate"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	lock, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	w, logs := faultWriter(t, db, nil)
	recs := faultRecords("locked", 300)
	for _, r := range recs {
		w.Add(r)
	}
	logs.waitFor(t, "cannot write call records; keeping them queued and retrying")
	if st := w.Stats(); !st.Failing || st.Queued != len(recs) || st.Dropped != 0 || !strings.Contains(st.LastError, "locked") {
		t.Errorf("while locked: %+v", st)
	}
	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		t.Fatalf("flush after the lock went: %v", err)
	}
	logs.waitFor(t, "writing call records again")
	checkLanded(t, db, recs)
}

// TestFaultLedgerDiskFull guards a ledger whose disk fills up: writes fail
// with SQLITE_FULL, records wait, and land once space is freed.
func TestFaultLedgerDiskFull(t *testing.T) {
	t.Parallel()
	dir, real := tmpfs.Mount(t, 2<<20)
	if !real {
		t.Log("no tmpfs could be mounted here: running the disk-full case against an injected SQLITE_FULL write")
		injectedFault(t, "database or disk is full (13)")
		return
	}
	t.Logf("disk-full case on a real 2 MiB tmpfs at %s", dir)
	path := filepath.Join(dir, "conduit.db")
	db, err := Open(path, Options{BusyTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Fill the file system to the last byte.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	w, logs := faultWriter(t, db, nil)
	recs := faultRecords("full", 200)
	for _, r := range recs {
		w.Add(r)
	}
	logs.waitFor(t, "cannot write call records; keeping them queued and retrying")
	if st := w.Stats(); !st.Failing || st.Dropped != 0 || !strings.Contains(st.LastError, "full") {
		t.Errorf("while full: %+v", st)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("flush after space was freed: %v", err)
	}
	checkLanded(t, db, recs)
}

// TestFaultLedgerReadOnlyFS guards a ledger on a file system that is
// read-only when Conduit starts: Open fails with an error naming the file
// and the cause (the proxy then keeps retrying; see cmd/conduit), and opens
// once the file system is writable again.
func TestFaultLedgerReadOnlyFS(t *testing.T) {
	t.Parallel()
	dir, real := tmpfs.Mount(t, 4<<20)
	if !real {
		t.Log("no tmpfs could be mounted here: running the read-only case against an injected SQLITE_READONLY write")
		injectedFault(t, "attempt to write a readonly database (8)")
		return
	}
	t.Logf("read-only case on a real tmpfs at %s, remounted read-only", dir)
	path := filepath.Join(dir, "conduit.db")
	tmpfs.SetReadOnly(t, dir, true)
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("Open on a read-only file system: %v", err)
	}
	tmpfs.SetReadOnly(t, dir, false)
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open once writable: %v", err)
	}
	defer db.Close()
	mustInsert(t, db, sampleRecord(1))
}

// injectedFault runs the fault cases' common course against a write that
// fails with msg until released: records wait, the failure is logged, and
// all land after.
func injectedFault(t *testing.T, msg string) {
	db := mustOpen(t)
	var mu sync.Mutex
	failing := true
	w, logs := faultWriter(t, db, func(ctx context.Context, recs []Record) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return errors.New(msg)
		}
		return db.Insert(ctx, recs)
	})
	recs := faultRecords("injected", 100)
	for _, r := range recs {
		w.Add(r)
	}
	logs.waitFor(t, "cannot write call records; keeping them queued and retrying")
	mu.Lock()
	failing = false
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checkLanded(t, db, recs)
}
