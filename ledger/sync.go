package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Unsynced returns up to limit calls eligible for the Valohai LLM sync and
// not yet sent, oldest first: calls with usage and at least one x-vh-*
// header. The rows are the caller's.
func (db *DB) Unsynced(ctx context.Context, limit int) ([]Row, error) {
	limit = min(max(limit, 1), MaxPageSize)
	rows, err := db.read.QueryContext(ctx, "SELECT "+rowColumns+` FROM calls
		WHERE synced_at IS NULL AND has_usage = 1 AND vh_headers IS NOT NULL
		ORDER BY started_at, seq LIMIT ?`, limit)
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

// SyncCounts reports how many eligible calls are waiting to be sent and
// how many were sent.
type SyncCounts struct {
	Pending, Sent int64
}

// SyncCounts counts eligible calls by sync state. Both counts read only
// partial indexes, so they stay cheap on a large ledger.
func (db *DB) SyncCounts(ctx context.Context) (SyncCounts, error) {
	var c SyncCounts
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM calls WHERE synced_at IS NULL AND has_usage = 1 AND vh_headers IS NOT NULL),
		(SELECT count(*) FROM calls WHERE synced_at IS NOT NULL AND has_usage = 1 AND vh_headers IS NOT NULL)`).
		Scan(&c.Pending, &c.Sent)
	if err != nil {
		return SyncCounts{}, fmt.Errorf("ledger sync counts: %w", err)
	}
	return c, nil
}
