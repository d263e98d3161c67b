package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/valohai/conduit/ledger"
)

// proxyLedger is the proxy's ledger. One that cannot be opened when the
// proxy starts — a read-only or full file system, a lock held through a
// schema upgrade — does not keep the proxy from serving (recording never
// breaks proxying): calls go through, their records wait in the Writer's
// bounded queue, and every write attempt (with the Writer's backoff) tries
// to open the ledger again. A ledger this binary can never use
// (*ledger.VersionError) is still an error at start.
//
// Before each batch it checks that the file at the path is still the one it
// opened: a ledger deleted (rm conduit.db*) or replaced under the running
// proxy would otherwise swallow every later record silently. Then it logs
// an error naming the path, creates the ledger there anew and writes on.
type proxyLedger struct {
	path   string
	logger *slog.Logger

	mu sync.Mutex
	db *ledger.DB // nil until opened
	// retired are the ledgers found replaced, kept open until Close for
	// whoever still holds them (the Valohai LLM sender reads the one it
	// started with).
	retired []*ledger.DB
}

// openProxyLedger opens the ledger at path, or logs why it cannot yet and
// returns a proxyLedger that keeps trying.
func openProxyLedger(logger *slog.Logger, path string) (*proxyLedger, error) {
	l := &proxyLedger{path: path, logger: logger}
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		var ve *ledger.VersionError
		if errors.As(err, &ve) {
			return nil, err
		}
		logger.Error("ledger: cannot open it; proxying anyway: call records wait in memory and are written once it opens",
			"err", err, "queue_size", ledger.DefaultQueueSize)
		return l, nil
	}
	l.db = db
	return l, nil
}

// DB returns the open ledger, or nil while it could not be opened.
func (l *proxyLedger) DB() *ledger.DB {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.db
}

// write is the Writer's write function: it opens the ledger first if it
// is not open yet, or again if its file was deleted or replaced. An error
// leaves the batch queued for the next attempt.
func (l *proxyLedger) write(ctx context.Context, recs []ledger.Record) error {
	l.mu.Lock()
	if l.db != nil {
		replaced, err := l.db.Replaced()
		if err != nil {
			l.mu.Unlock()
			return err
		}
		if replaced {
			l.logger.Error("ledger: "+l.path+" was deleted or replaced while the proxy ran; creating it anew and writing the call records there "+
				"(the ones written since the change, and those before it, are not in the new file)", "path", l.path)
			l.retired = append(l.retired, l.db)
			l.db = nil
		}
	}
	if l.db == nil {
		db, err := ledger.Open(l.path, ledger.Options{})
		if err != nil {
			l.mu.Unlock()
			return err
		}
		l.db = db
		if len(l.retired) == 0 {
			l.logger.Warn("ledger: opened at last; writing the queued call records", "path", l.path)
		}
	}
	db := l.db
	l.mu.Unlock()
	return db.Insert(ctx, recs)
}

// setAside is the Writer's set-aside function: it keeps a record the
// database refused in the ledger's set-aside table.
func (l *proxyLedger) setAside(ctx context.Context, rec ledger.Record, reason error) error {
	l.mu.Lock()
	db := l.db
	l.mu.Unlock()
	if db == nil {
		return errors.New("the ledger is not open")
	}
	return db.SetAside(ctx, rec, reason)
}

// Close closes the ledger if it was opened, and any found replaced. Close
// the Writer first.
func (l *proxyLedger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, db := range append(l.retired, l.db) {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	l.retired, l.db = nil, nil
	return errors.Join(errs...)
}
