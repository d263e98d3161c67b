package ledger

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one step of the schema's history. Steps are applied in order,
// each in its own BEGIN IMMEDIATE transaction, and never edited once
// released: a change is a new step.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the schema's history. SchemaVersion is the last step's
// version.
var migrations = []migration{
	{1, "create calls", `
CREATE TABLE calls (
	-- Insertion order: the tiebreak of keyset pages and the "newest row"
	-- a poller compares.
	seq                   INTEGER PRIMARY KEY,
	id                    TEXT    NOT NULL UNIQUE, -- UUIDv7; the Valohai transit_id
	started_at            INTEGER NOT NULL,        -- Unix ms, UTC
	finished_at           INTEGER NOT NULL,        -- Unix ms, UTC
	provider              TEXT    NOT NULL,
	api                   TEXT    NOT NULL,
	endpoint              TEXT    NOT NULL,
	mode                  TEXT    NOT NULL,
	method                TEXT    NOT NULL,
	host                  TEXT    NOT NULL,
	path                  TEXT    NOT NULL,        -- query secrets removed
	model                 TEXT,                    -- NULL: unknown
	stream                INTEGER NOT NULL,        -- 0 or 1
	status                INTEGER,                 -- NULL: no response
	outcome               TEXT    NOT NULL,
	error                 TEXT,
	has_usage             INTEGER NOT NULL,        -- 0: token columns are NULL
	input_tokens          INTEGER,
	cached_input_tokens   INTEGER,
	cache_write_tokens    INTEGER,
	cache_write_5m_tokens INTEGER,
	cache_write_1h_tokens INTEGER,
	output_tokens         INTEGER,
	reasoning_tokens      INTEGER,
	provider_cost_usd     REAL,
	cost_usd              REAL,                    -- NULL: unpriced
	cost_source           TEXT,                    -- table | override | file | provider
	ttfb_ms               INTEGER,                 -- NULL: no response byte
	duration_ms           INTEGER NOT NULL,
	request_id            TEXT,
	response_id           TEXT,
	client                TEXT,
	vh_headers            TEXT,                    -- JSON object; NULL: none
	tags                  TEXT,                    -- JSON array; NULL: none
	usage                 TEXT,                    -- the provider's usage object, JSON
	synced_at             INTEGER,                 -- Unix ms; NULL: not sent to Valohai LLM
	sync_attempts         INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Time windows and newest-first pages: the rowid (seq) breaks ties, so
-- the index order is exactly the pages' order. Reports read the rollups
-- (migration 2) and come here only for the edges of their window.
CREATE INDEX calls_started ON calls (started_at);

-- The Valohai sync's queue: unsent calls with usage and x-vh-* headers,
-- oldest first.
CREATE INDEX calls_unsynced ON calls (started_at)
	WHERE synced_at IS NULL AND has_usage = 1 AND vh_headers IS NOT NULL;
`},
	{2, "add rollups", rollupV2SQL},
	{3, "add sync state", syncStateSQL},
	{4, "add attribution, kinds and price provenance", attributionSQL + syncKindSQL + rollupV4SQL},
	{5, "add set-aside records and truncation notes", hardeningSQL},
}

// attributionSQL is migration 4's new columns of calls. Added columns go
// at the end (ALTER TABLE keeps STRICT and every existing row).
const attributionSQL = `
ALTER TABLE calls ADD COLUMN kind          TEXT NOT NULL DEFAULT 'call'; -- call | other
ALTER TABLE calls ADD COLUMN project       TEXT; -- NULL: none
ALTER TABLE calls ADD COLUMN session       TEXT; -- NULL: none
ALTER TABLE calls ADD COLUMN connection_id TEXT; -- the WebSocket connection; NULL: plain HTTP
ALTER TABLE calls ADD COLUMN price_version TEXT; -- the price data's version; NULL: none
ALTER TABLE calls ADD COLUMN cost_note     TEXT; -- why (part of) the call is unpriced
ALTER TABLE calls ADD COLUMN usage_detail  TEXT; -- JSON of UsageDetail; NULL: none

-- Until now every request to an intercepted host was a call. Those that
-- were not metered (no endpoint, or a token count request) are others.
UPDATE calls SET kind = 'other' WHERE endpoint IN ('', 'count_tokens');
`

// SchemaVersion is the ledger schema this binary reads and writes.
var SchemaVersion = migrations[len(migrations)-1].version

// migrate brings the database up to SchemaVersion, every pending step in
// one BEGIN IMMEDIATE transaction that re-reads the version inside it: two
// processes opening a new ledger at once apply each step exactly once, and
// a reader opening it meanwhile sees the old version or the new one, never
// a step in between (it refused those as too old).
func migrate(ctx context.Context, db *sql.DB, path string) error {
	v, err := userVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read ledger %s schema version: %w", path, err)
	}
	if v > SchemaVersion {
		return &VersionError{Path: path, Have: v, Want: SchemaVersion}
	}
	if v == SchemaVersion {
		return nil
	}
	return applyMigrations(ctx, db, path)
}

func applyMigrations(ctx context.Context, db *sql.DB, path string) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("ledger %s migration: %w", path, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("ledger %s migration: %w", path, err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("ledger %s migration: %w", path, err)
	}
	if v > SchemaVersion {
		return &VersionError{Path: path, Have: v, Want: SchemaVersion}
	}
	for _, m := range migrations {
		if m.version <= v {
			continue // applied, here or by another process first
		}
		if _, err := conn.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("ledger %s migration %d (%s): %w", path, m.version, m.name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return fmt.Errorf("ledger %s migration: %w", path, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("ledger %s migration: %w", path, err)
	}
	return nil
}

func userVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}
