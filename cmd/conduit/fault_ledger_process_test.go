//go:build unix

package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/internal/tmpfs"
)

// The conduit binary's log lines the ledger faults must produce.
var (
	logCannotWrite = regexp.MustCompile(`level=ERROR msg="ledger: cannot write call records; keeping them queued and retrying".*err="([^"]*)`)
	logWriteAgain  = regexp.MustCompile(`level=WARN msg="ledger: writing call records again"`)
	logCannotOpen  = regexp.MustCompile(`level=ERROR msg="ledger: cannot open it; proxying anyway`)
	logOpened      = regexp.MustCompile(`level=WARN msg="ledger: opened at last`)
)

// faultCalls makes n base-URL calls that must all succeed, tagged
// name-<i>.
func faultCalls(t *testing.T, w *world, c *conduitProc, l *load, n int) {
	t.Helper()
	for range n {
		l.call(context.Background(), loadKinds[2], nil)
	}
	if sent, ok, _ := l.snapshot(); ok != sent {
		t.Fatalf("%d of %d calls failed while the ledger was failing: recording broke proxying", sent-ok, sent)
	}
}

// stopAndCheck stops Conduit gracefully and checks that every call made
// is in the ledger exactly once.
func stopAndCheck(t *testing.T, w *world, c *conduitProc, l *load) {
	t.Helper()
	if err := c.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("conduit: %v\n%s", err, c.out.String())
	}
	rows := ledgerRows(t, w.db)
	sent, _, _ := l.snapshot()
	if stored := checkNothingLost(t, l, rows); stored != sent {
		t.Errorf("stored %d of %d calls", stored, sent)
	}
}

// TestProcessLedgerLocked guards a ledger that another process (this
// test) holds a write transaction on while the proxy runs: calls still
// succeed, the proxy logs the failure loudly, and every record lands once
// the lock is released.
func TestProcessLedgerLocked(t *testing.T) {
	fake := fakeprovider.New(fakeprovider.Options{})
	t.Cleanup(fake.Close)
	w := newWorld(t, worldOptions{handler: fake})
	c := startConduit(t, w.cfg)
	l := newLoad(w, c.addr, 1)
	faultCalls(t, w, c, l, 1)
	waitRows(t, w.db, 1)

	other, err := sql.Open("sqlite", "file:"+w.db+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	faultCalls(t, w, c, l, 40)
	m := c.out.wait(t, logCannotWrite, 30*time.Second)
	t.Logf("while locked, conduit logged: %s", m[1])
	if _, err := lock.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	c.out.wait(t, logWriteAgain, 30*time.Second)
	stopAndCheck(t, w, c, l)
}

// TestProcessLedgerReadOnlyAtStart guards a proxy started while its
// ledger's file system is read-only: it serves anyway, says so, and writes
// every record once the file system is writable again.
func TestProcessLedgerReadOnlyAtStart(t *testing.T) {
	dir, ok := tmpfs.Mount(t, 16<<20)
	if !ok {
		if os.Geteuid() == 0 {
			t.Skip("cannot mount a tmpfs here, and root ignores a read-only mode: no way to make the ledger read-only (the ledger package's tests inject the error instead)")
		}
		dir = t.TempDir()
		t.Log("read-only case on a directory made read-only with chmod (no tmpfs could be mounted)")
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("read-only case on a real tmpfs at %s, mounted read-only", dir)
		tmpfs.SetReadOnly(t, dir, true)
	}
	fake := fakeprovider.New(fakeprovider.Options{})
	t.Cleanup(fake.Close)
	w := newWorld(t, worldOptions{handler: fake, dbPath: filepath.Join(dir, "ledger", "conduit.db")})
	c := startConduit(t, w.cfg)
	c.out.wait(t, logCannotOpen, 10*time.Second)
	l := newLoad(w, c.addr, 1)
	faultCalls(t, w, c, l, 30)
	c.out.wait(t, logCannotWrite, 30*time.Second)
	if ok {
		tmpfs.SetReadOnly(t, dir, false)
	} else if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.out.wait(t, logOpened, 30*time.Second)
	c.out.wait(t, logWriteAgain, 30*time.Second)
	stopAndCheck(t, w, c, l)
}

// TestProcessLedgerDiskFull guards a ledger whose disk fills up while the
// proxy runs (a real small tmpfs): calls still succeed, the SQLITE_FULL
// failure is logged, and every record lands once space is freed.
func TestProcessLedgerDiskFull(t *testing.T) {
	dir, ok := tmpfs.Mount(t, 4<<20)
	if !ok {
		t.Skip("cannot mount a tmpfs here: the disk-full case runs only in the ledger package, against an injected SQLITE_FULL")
	}
	t.Logf("disk-full case on a real 4 MiB tmpfs at %s", dir)
	fake := fakeprovider.New(fakeprovider.Options{})
	t.Cleanup(fake.Close)
	w := newWorld(t, worldOptions{handler: fake, dbPath: filepath.Join(dir, "conduit.db")})
	c := startConduit(t, w.cfg)
	l := newLoad(w, c.addr, 1)
	faultCalls(t, w, c, l, 1)
	waitRows(t, w.db, 1)
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
	faultCalls(t, w, c, l, 200)
	m := c.out.wait(t, logCannotWrite, 30*time.Second)
	t.Logf("with the disk full, conduit logged: %s", m[1])
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	c.out.wait(t, logWriteAgain, 30*time.Second)
	stopAndCheck(t, w, c, l)
}
