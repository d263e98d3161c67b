package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// lockedBuffer is a log sink written from the writer goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestProxyLedgerDeleted guards a ledger deleted under the running proxy
// (rm conduit.db*): the next batch notices, an error line names the path,
// the ledger is created anew there, and the calls after the deletion are
// in it.
func TestProxyLedgerDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conduit.db")
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	pl, err := openProxyLedger(logger, path)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	w := ledger.NewWriter(nil, ledger.WriterOptions{Write: pl.write, SetAside: pl.setAside, Logger: logger})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := func(id string) ledger.Record {
		now := time.Now().UTC()
		return ledger.Record{ID: id, StartedAt: now, FinishedAt: now, Provider: "openai", API: "openai",
			Mode: ledger.ModeBaseURL, Method: "POST", Host: "api.openai.com", Path: "/v1/chat/completions",
			Outcome: ledger.OutcomeComplete}
	}
	for i := range 3 {
		w.Add(rec(fmt.Sprintf("before-%d", i)))
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(path + "*")
	for _, m := range matches {
		if err := os.Remove(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		w.Add(rec(fmt.Sprintf("after-%d", i)))
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, path+" was deleted or replaced") {
		t.Errorf("no error line naming the path:\n%s", out)
	}
	db, err := ledger.OpenReadOnly(path)
	if err != nil {
		t.Fatalf("the ledger was not created anew: %v", err)
	}
	defer db.Close()
	for i := range 3 {
		if _, ok, err := db.Get(ctx, fmt.Sprintf("after-%d", i)); !ok || err != nil {
			t.Errorf("after-%d: not in the new ledger (%v)", i, err)
		}
	}
	if tot, err := db.Totals(ctx, ledger.Filter{}); err != nil || tot.Calls != 3 {
		t.Errorf("the new ledger holds %d calls (%v), want the 3 after the deletion", tot.Calls, err)
	}
}
