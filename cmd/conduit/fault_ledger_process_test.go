//go:build unix

package main

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/internal/tmpfs"
)

// The conduit binary's log lines the ledger faults must produce. The
// tests wait on the proxy's state (its /metrics, the ledger's rows) and
// read the log only once the proxy has exited, when it is complete.
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

// metricsOn is the config that serves /metrics, where the tests read the
// ledger writer's state.
const metricsOn = "[metrics]\nenabled = true\n"

// waitLedgerFailing waits until the proxy's /metrics says its ledger
// writer is failing, with records waiting for a retry.
func waitLedgerFailing(t *testing.T, c *conduitProc) {
	t.Helper()
	const line = "conduit_ledger_failing 1"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + c.addr + "/metrics"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if slices.Contains(strings.Split(string(body), "\n"), line) {
				return
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no %q in /metrics within 30 s:\n%s", line, c.out.String())
		}
	}
}

// stopAndCheck waits for every call made to be in the ledger, stops
// Conduit gracefully, checks that each call is there exactly once, and
// that the log has each of logs.
func stopAndCheck(t *testing.T, w *world, c *conduitProc, l *load, logs ...*regexp.Regexp) {
	t.Helper()
	sent, _, _ := l.snapshot()
	waitRows(t, w.db, sent)
	if err := c.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("conduit: %v\n%s", err, c.out.String())
	}
	rows := ledgerRows(t, w.db)
	if stored := checkNothingLost(t, l, rows); stored != sent {
		t.Errorf("stored %d of %d calls", stored, sent)
	}
	out := c.out.String()
	for _, re := range logs {
		if m := re.FindStringSubmatch(out); m == nil {
			t.Errorf("the log has no %q:\n%s", re, out)
		} else if len(m) > 1 {
			t.Logf("conduit logged: %s", m[1])
		}
	}
}

// TestProcessLedgerLocked guards a ledger that another process (this
// test) holds a write transaction on while the proxy runs: calls still
// succeed, the proxy logs the failure loudly, and every record lands once
// the lock is released.
func TestProcessLedgerLocked(t *testing.T) {
	t.Parallel()
	fake := fakeprovider.New(fakeprovider.Options{})
	t.Cleanup(fake.Close)
	w := newWorld(t, worldOptions{handler: fake, extraCfg: metricsOn})
	c := startConduit(t, w)
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
	waitLedgerFailing(t, c)
	if _, err := lock.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	stopAndCheck(t, w, c, l, logCannotWrite, logWriteAgain)
}

// TestProcessLedgerReadOnlyAtStart guards a proxy started while its
// ledger's file system is read-only: it serves anyway, says so, and writes
// every record once the file system is writable again.
func TestProcessLedgerReadOnlyAtStart(t *testing.T) {
	t.Parallel()
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
	w := newWorld(t, worldOptions{handler: fake, dbPath: filepath.Join(dir, "ledger", "conduit.db"), noStateFile: true, extraCfg: metricsOn})
	c := startConduit(t, w)
	l := newLoad(w, c.addr, 1)
	faultCalls(t, w, c, l, 30)
	waitLedgerFailing(t, c)
	if ok {
		tmpfs.SetReadOnly(t, dir, false)
	} else if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stopAndCheck(t, w, c, l, logCannotOpen, logCannotWrite, logOpened, logWriteAgain)
}

// TestProcessLedgerDiskFull guards a ledger whose disk fills up while the
// proxy runs (a real small tmpfs): calls still succeed, the SQLITE_FULL
// failure is logged, and every record lands once space is freed.
func TestProcessLedgerDiskFull(t *testing.T) {
	t.Parallel()
	dir, ok := tmpfs.Mount(t, 4<<20)
	if !ok {
		t.Skip("cannot mount a tmpfs here: the disk-full case runs only in the ledger package, against an injected SQLITE_FULL")
	}
	t.Logf("disk-full case on a real 4 MiB tmpfs at %s", dir)
	fake := fakeprovider.New(fakeprovider.Options{})
	t.Cleanup(fake.Close)
	w := newWorld(t, worldOptions{handler: fake, dbPath: filepath.Join(dir, "conduit.db"), extraCfg: metricsOn})
	c := startConduit(t, w)
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
	waitLedgerFailing(t, c)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	stopAndCheck(t, w, c, l, logCannotWrite, logWriteAgain)
}
