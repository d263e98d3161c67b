package ledger

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// hardeningSQL is migration 5: the table of records the database refused,
// and the record's note of the fields cut at their caps.
const hardeningSQL = `
-- A record the database refused for what it holds (not for being busy,
-- locked or full) is kept here instead of being retried forever, so the
-- calls after it are written; conduit export --set-aside lists them.
CREATE TABLE set_aside (
	seq     INTEGER PRIMARY KEY,
	id      TEXT    NOT NULL UNIQUE, -- the record's id
	at      INTEGER NOT NULL,        -- Unix ms when it was set aside
	error   TEXT    NOT NULL,        -- why the database refused it
	record  TEXT    NOT NULL         -- the record as JSON (Go field names)
) STRICT;

ALTER TABLE calls ADD COLUMN truncated TEXT; -- fields cut at their caps, comma-separated; NULL: none
`

// isTransient reports whether a write failed because of the database or
// its surroundings rather than the records: busy or locked, out of memory
// or disk, read-only, an I/O error, a file that went away, or anything that
// is not an SQLite error at all (a cancelled context, a closed
// connection). Retrying such a batch later can succeed; any other error
// (a constraint, a type the column refuses, an overflow) is the records'
// own and fails the same way every time.
func isTransient(err error) bool {
	var se interface{ Code() int }
	if !errors.As(err, &se) {
		return true
	}
	switch se.Code() & 0xff {
	case 5, 6, // SQLITE_BUSY, SQLITE_LOCKED
		7, 9, // SQLITE_NOMEM, SQLITE_INTERRUPT
		8, 13, // SQLITE_READONLY, SQLITE_FULL
		10, 11, 14, 15, 26, // SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_CANTOPEN, SQLITE_PROTOCOL, SQLITE_NOTADB
		17: // SQLITE_SCHEMA
		return true
	}
	return false
}

// SetAside keeps rec, which the database refused with reason, in the
// set-aside table (once per id; a second call for the same id does
// nothing). Secrets are kept out as on insert: the path is scrubbed again
// and only x-vh-* headers are kept.
func (db *DB) SetAside(ctx context.Context, rec Record, reason error) error {
	w, err := db.writer()
	if err != nil {
		return err
	}
	b, err := setAsideJSON(rec)
	if err != nil {
		return fmt.Errorf("set aside record %s: %w", rec.ID, err)
	}
	_, err = w.ExecContext(ctx, `INSERT INTO set_aside (id, at, error, record) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, rec.ID, time.Now().UnixMilli(), reason.Error(), string(b))
	if err != nil {
		return fmt.Errorf("set aside record %s in ledger %s: %w", rec.ID, db.path, err)
	}
	return nil
}

// setAsideJSON encodes rec for the set-aside table. What JSON cannot hold
// is made so: a usage object that is not JSON becomes a string, costs that
// are not finite numbers are left out.
func setAsideJSON(rec Record) ([]byte, error) {
	rec.Path = scrubPath(rec.Path)
	vh := map[string]string{}
	for k, v := range rec.VHHeaders {
		if IsVHHeader(k) {
			vh[k] = v
		}
	}
	rec.VHHeaders = vh
	if len(rec.UsageRaw) > 0 && !json.Valid(rec.UsageRaw) {
		s, _ := json.Marshal(string(rec.UsageRaw))
		rec.UsageRaw = s
	}
	for _, c := range []**float64{&rec.CostUSD, &rec.ProviderCostUSD} {
		if *c != nil && (math.IsNaN(**c) || math.IsInf(**c, 0)) {
			*c = nil
		}
	}
	return json.Marshal(rec)
}

// ExportSetAside writes every set-aside record to w as JSON Lines, oldest
// first: {"id", "set_aside_at" (RFC 3339 UTC), "error", "record"}. It
// returns how many it wrote. A ledger without the table (older than this
// binary's schema) has none.
func (db *DB) ExportSetAside(ctx context.Context, w io.Writer) (int64, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT id, at, error, record FROM set_aside ORDER BY seq")
	if err != nil {
		return 0, fmt.Errorf("ledger %s: set-aside records: %w", db.path, err)
	}
	defer rows.Close()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	var n int64
	for rows.Next() {
		var (
			id, reason, record string
			at                 int64
		)
		if err := rows.Scan(&id, &at, &reason, &record); err != nil {
			return n, fmt.Errorf("ledger %s: set-aside records: %w", db.path, err)
		}
		line := struct {
			ID     string          `json:"id"`
			At     string          `json:"set_aside_at"`
			Error  string          `json:"error"`
			Record json.RawMessage `json:"record"`
		}{id, fromMillis(at).Format("2006-01-02T15:04:05.000Z07:00"), reason, json.RawMessage(record)}
		if err := enc.Encode(line); err != nil {
			return n, fmt.Errorf("ledger export: write: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("ledger %s: set-aside records: %w", db.path, err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("ledger export: write: %w", err)
	}
	return n, nil
}
