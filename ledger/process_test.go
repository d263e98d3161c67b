package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// The test binary doubles as the other process of the multi-process tests:
// with LEDGER_TEST_HELPER set, TestMain runs that helper instead of the
// tests.
func TestMain(m *testing.M) {
	switch os.Getenv("LEDGER_TEST_HELPER") {
	case "reader":
		os.Exit(helperReader())
	case "writer":
		os.Exit(helperWriter())
	}
	code := m.Run()
	cleanupBenchLedger()
	os.Exit(code)
}

func helperCommand(t *testing.T, mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"LEDGER_TEST_HELPER=" + mode}, env...)...)
	cmd.Stderr = &testLogWriter{t: t, prefix: mode + ": "}
	return cmd
}

type testLogWriter struct {
	t      *testing.T
	prefix string
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s%s", w.prefix, p)
	return len(p), nil
}

type readerReport struct {
	Reads      int    `json:"reads"`
	Changes    int    `json:"changes"`
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error"`
	Calls      int64  `json:"calls"`
}

// helperReader reads the ledger at LEDGER_TEST_PATH read-only, as the
// dashboard and report would, until it holds LEDGER_TEST_WANT calls or its
// stdin closes, and prints what it saw as JSON. The test closes stdin once
// every write has committed, so one more read must see them all: a fixed
// deadline here failed the test whenever a loaded machine took longer than
// it to write the burst.
func helperReader() int {
	path := os.Getenv("LEDGER_TEST_PATH")
	want, _ := strconv.ParseInt(os.Getenv("LEDGER_TEST_WANT"), 10, 64)
	db, err := OpenReadOnly(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db.Close()
	ctx := context.Background()
	var rep readerReport
	fail := func(err error) {
		rep.Errors++
		if rep.FirstError == "" {
			rep.FirstError = err.Error()
		}
	}
	writesDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(writesDone)
	}()
	var lastVersion int64 = -1
	for {
		var last bool
		select {
		case <-writesDone:
			last = true
		default:
		}
		rep.Reads++
		v, err := db.DataVersion(ctx)
		if err != nil {
			fail(err)
			if last {
				break
			}
			continue
		}
		if v == lastVersion && !last {
			runtime.Gosched()
			continue
		}
		lastVersion = v
		rep.Changes++
		if tot, err := db.Totals(ctx, Filter{}); err != nil {
			fail(err)
		} else {
			rep.Calls = tot.Calls
		}
		if _, err := db.Page(ctx, Filter{}, Cursor{}, 50); err != nil {
			fail(err)
		}
		if _, err := db.Groups(ctx, ByModel, Filter{}, nil); err != nil {
			fail(err)
		}
		if rep.Calls >= want || last {
			break
		}
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	if rep.Calls < want {
		return 1
	}
	return 0
}

// TestReaderProcessWhileWriting: another process reads the ledger
// throughout a burst of writes, with zero errors.
func TestReaderProcessWhileWriting(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test")
	}
	db := mustOpen(t)
	const n = 5_000
	cmd := helperCommand(t, "reader", "LEDGER_TEST_PATH="+db.Path(), "LEDGER_TEST_WANT="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	writesDone, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer writesDone.Close() // a test failing early still lets the reader end
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(db, WriterOptions{})
	for i := range n {
		r := sampleRecord(i)
		r.ID = fmt.Sprintf("rw-%d", i)
		w.Add(r)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	writesDone.Close()
	var rep readerReport
	if err := json.NewDecoder(out).Decode(&rep); err != nil {
		t.Fatalf("reader output: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("reader: %v (%+v)", err, rep)
	}
	t.Logf("reader: %+v", rep)
	if rep.Errors != 0 {
		t.Errorf("reader saw %d errors, first: %s", rep.Errors, rep.FirstError)
	}
	if rep.Calls != n {
		t.Errorf("reader saw %d calls, want %d", rep.Calls, n)
	}
}

// helperWriter writes calls through a Writer into LEDGER_TEST_PATH as fast
// as the queue takes them, forever, printing the id of every call whose
// batch committed (from OnWritten, after the commit). The test kills it.
func helperWriter() int {
	db, err := Open(os.Getenv("LEDGER_TEST_PATH"), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	w := NewWriter(db, WriterOptions{OnWritten: func(recs []Record) {
		for _, r := range recs {
			out.WriteString(r.ID)
			out.WriteByte('\n')
		}
		if err := out.Flush(); err != nil {
			os.Exit(3) // the test stopped listening
		}
	}})
	for i := 0; ; i++ {
		for w.Stats().Queued > 2*DefaultBatchSize {
			runtime.Gosched()
		}
		r := sampleRecord(i)
		r.ID = fmt.Sprintf("kill-%d", i)
		w.Add(r)
	}
}

// TestSIGKILLUnderLoad: a writer process killed mid-stream leaves a ledger
// that opens cleanly, passes SQLite's integrity check, and holds every call
// whose batch had committed.
func TestSIGKILLUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process test")
	}
	path := filepath.Join(t.TempDir(), "conduit.db")
	cmd := helperCommand(t, "writer", "LEDGER_TEST_PATH="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := map[string]bool{}
	sc := bufio.NewScanner(out)
	// Only whole lines: the kill can cut the helper's last write to the
	// pipe mid-id, and a cut id ("kil", "kill-") names no call.
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if atEOF && len(data) > 0 && bytes.IndexByte(data, '\n') < 0 {
			return len(data), nil, nil
		}
		return bufio.ScanLines(data, atEOF)
	})
	for len(committed) < 3_000 && sc.Scan() {
		committed[sc.Text()] = true
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	// Ids printed before the kill committed too.
	for sc.Scan() {
		committed[sc.Text()] = true
	}
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	if len(committed) < 3_000 {
		t.Fatalf("writer reported only %d commits before exiting: %v", len(committed), err)
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer db.Close()
	var check string
	if err := db.write.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	rows, err := db.read.Query("SELECT id FROM calls")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		stored[id] = true
	}
	rows.Close()
	var missing []string
	for id := range committed {
		if !stored[id] {
			missing = append(missing, id)
		}
	}
	t.Logf("committed before kill: %d; stored: %d", len(committed), len(stored))
	if len(missing) > 0 {
		t.Errorf("%d committed calls missing after SIGKILL: %q", len(missing), missing[:min(len(missing), 5)])
	}
	if len(stored) < len(committed) {
		t.Errorf("stored %d < committed %d", len(stored), len(committed))
	}
}
