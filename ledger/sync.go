package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// syncStateSQL is migration 3: the outcome of the latest Valohai LLM sync
// attempts, shared by every process that syncs or shows the sync (the
// proxy's sender, `conduit sync`, the dashboard, `conduit report`), and an
// index to count the calls whose sending failed.
const syncStateSQL = `
-- One row (id = 1), written by whoever sends. Never holds the Valohai key:
-- the senders remove it from error texts before storing them.
CREATE TABLE sync_state (
	id            INTEGER PRIMARY KEY CHECK (id = 1),
	last_sent_at  INTEGER, -- Unix ms of the last accepted batch; NULL: none yet
	last_error    TEXT,    -- the last failure's description; NULL: none yet
	last_error_at INTEGER, -- Unix ms of that failure
	failures      INTEGER NOT NULL DEFAULT 0 -- failed attempts since the last success
) STRICT;

-- Counting failing calls (eligible, unsent, at least one failed attempt)
-- without reading the table.
CREATE INDEX calls_sync_failing ON calls (started_at)
	WHERE synced_at IS NULL AND has_usage = 1 AND vh_headers IS NOT NULL AND sync_attempts > 0;
`

// eligible is the condition for a call the Valohai LLM sync sends: it has
// usage and at least one x-vh-* header (Valohai links records to its runs
// through them; vh_headers is NULL when a call had none), and it is a call,
// not another kind of request. The partial indexes (as rebuilt by
// migration 4) repeat it exactly, so that the queries below read only them.
const eligible = "has_usage = 1 AND vh_headers IS NOT NULL AND kind = 'call'"

// SyncEligible is eligible for a record not yet stored: whether the sync
// will send it once written.
func SyncEligible(r *Record) bool {
	if !r.HasUsage || storedKind(r.Kind) != KindCall {
		return false
	}
	for k := range r.VHHeaders {
		if IsVHHeader(k) {
			return true
		}
	}
	return false
}

// syncKindSQL is migration 4's part for the sync: only calls (Record.Kind)
// are sent, so the sync's partial indexes are rebuilt with the kind in
// their condition (which eligible repeats).
const syncKindSQL = `
DROP INDEX calls_unsynced;
CREATE INDEX calls_unsynced ON calls (started_at)
	WHERE synced_at IS NULL AND has_usage = 1 AND vh_headers IS NOT NULL AND kind = 'call';
DROP INDEX calls_synced;
CREATE INDEX calls_synced ON calls (synced_at)
	WHERE synced_at IS NOT NULL AND has_usage = 1 AND vh_headers IS NOT NULL AND kind = 'call';
DROP INDEX calls_sync_failing;
CREATE INDEX calls_sync_failing ON calls (started_at)
	WHERE synced_at IS NULL AND has_usage = 1 AND vh_headers IS NOT NULL AND kind = 'call' AND sync_attempts > 0;
`

// Unsynced returns up to limit calls eligible for the Valohai LLM sync and
// not yet sent, oldest first (by start time, then by insertion): calls with
// usage and at least one x-vh-* header. limit is clamped to
// [1, MaxPageSize]. The rows are the caller's.
func (db *DB) Unsynced(ctx context.Context, limit int) ([]Row, error) {
	return db.UnsyncedAfter(ctx, Cursor{}, limit)
}

// UnsyncedAfter is Unsynced from a position, to page through every unsent
// call without marking any (a dry run): after is the last row of the
// previous page (Cursor{StartedAt: r.StartedAt.UnixMilli(), Seq: r.Seq}),
// in this oldest-first order; the zero Cursor starts at the oldest call.
func (db *DB) UnsyncedAfter(ctx context.Context, after Cursor, limit int) ([]Row, error) {
	limit = min(max(limit, 1), MaxPageSize)
	q := "SELECT " + rowColumns + " FROM calls WHERE synced_at IS NULL AND " + eligible
	args := []any{}
	if !after.IsZero() {
		q += " AND started_at >= ? AND (started_at > ? OR seq > ?)"
		args = append(args, after.StartedAt, after.StartedAt, after.Seq)
	}
	q += " ORDER BY started_at, seq LIMIT ?"
	rows, err := db.read.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("ledger unsynced calls: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger unsynced calls: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger unsynced calls: %w", err)
	}
	return out, nil
}

// MarkSynced records that Valohai LLM accepted the calls with the given ids
// at time at. Ids not in the ledger are ignored. It fails with ErrReadOnly
// on a read-only DB.
func (db *DB) MarkSynced(ctx context.Context, ids []string, at time.Time) error {
	return db.updateSync(ctx, ids, "synced_at = ?, sync_attempts = sync_attempts + 1", at.UnixMilli())
}

// MarkSyncFailed counts a failed attempt to send the calls with the given
// ids; they stay unsynced.
func (db *DB) MarkSyncFailed(ctx context.Context, ids []string) error {
	return db.updateSync(ctx, ids, "sync_attempts = sync_attempts + 1")
}

func (db *DB) updateSync(ctx context.Context, ids []string, set string, setArgs ...any) error {
	w, err := db.writer()
	if err != nil {
		return err
	}
	const chunk = 500
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger mark synced: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		args := append([]any{}, setArgs...)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		q := "UPDATE calls SET " + set + " WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("ledger mark synced: %w", err)
		}
		ids = ids[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger mark synced: %w", err)
	}
	return nil
}

// SyncCounts reports how many eligible calls are waiting to be sent, how
// many were sent, and how many of the waiting ones failed at least once
// (Failing ⊆ Pending).
type SyncCounts struct {
	Pending, Sent, Failing int64
}

// SyncCounts counts eligible calls by sync state. The counts read only
// partial indexes, so they stay cheap on a large ledger.
func (db *DB) SyncCounts(ctx context.Context) (SyncCounts, error) {
	var c SyncCounts
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM calls WHERE synced_at IS NULL AND `+eligible+`),
		(SELECT count(*) FROM calls WHERE synced_at IS NOT NULL AND `+eligible+`),
		(SELECT count(*) FROM calls WHERE synced_at IS NULL AND `+eligible+` AND sync_attempts > 0)`).
		Scan(&c.Pending, &c.Sent, &c.Failing)
	if err != nil {
		return SyncCounts{}, fmt.Errorf("ledger sync counts: %w", err)
	}
	return c, nil
}

// MaxSyncErrorLen bounds the error text NoteSyncResult stores, in bytes.
const MaxSyncErrorLen = 500

// SyncState is the outcome of the latest Valohai LLM sync attempts, as
// recorded by NoteSyncResult. The zero value means nothing was ever
// attempted.
type SyncState struct {
	LastSentAt  time.Time // the last accepted batch (UTC); zero: none
	LastError   string    // the last failure; "" if none was ever noted
	LastErrorAt time.Time // when it happened (UTC); zero: never
	// Failures counts the attempts that failed since the last success:
	// 0 means the latest attempt succeeded (LastError is then history).
	Failures int64
}

// SyncState reads the sync outcome NoteSyncResult keeps. A ledger where no
// sync was attempted gives the zero SyncState.
func (db *DB) SyncState(ctx context.Context) (SyncState, error) {
	var (
		st            SyncState
		sentAt, errAt sql.NullInt64
		lastErr       sql.NullString
	)
	err := db.read.QueryRowContext(ctx,
		"SELECT last_sent_at, last_error, last_error_at, failures FROM sync_state WHERE id = 1").
		Scan(&sentAt, &lastErr, &errAt, &st.Failures)
	if errors.Is(err, sql.ErrNoRows) {
		return SyncState{}, nil
	}
	if err != nil {
		return SyncState{}, fmt.Errorf("ledger sync state: %w", err)
	}
	if sentAt.Valid {
		st.LastSentAt = fromMillis(sentAt.Int64)
	}
	if errAt.Valid {
		st.LastErrorAt = fromMillis(errAt.Int64)
	}
	st.LastError = lastErr.String
	return st, nil
}

// NoteSyncResult records the outcome of one attempt to send a batch at
// time at: success when errText is "", else a failure described by
// errText (cut to MaxSyncErrorLen bytes). The caller removes anything
// secret from errText first: it is stored as given. It fails with
// ErrReadOnly on a read-only DB.
func (db *DB) NoteSyncResult(ctx context.Context, at time.Time, errText string) error {
	w, err := db.writer()
	if err != nil {
		return err
	}
	if errText == "" {
		_, err = w.ExecContext(ctx, `INSERT INTO sync_state (id, last_sent_at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET last_sent_at = excluded.last_sent_at, failures = 0`, at.UnixMilli())
	} else {
		_, err = w.ExecContext(ctx, `INSERT INTO sync_state (id, last_error, last_error_at, failures) VALUES (1, ?, ?, 1)
			ON CONFLICT (id) DO UPDATE SET last_error = excluded.last_error,
				last_error_at = excluded.last_error_at, failures = failures + 1`,
			truncateUTF8(errText, MaxSyncErrorLen), at.UnixMilli())
	}
	if err != nil {
		return fmt.Errorf("ledger note sync result: %w", err)
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
