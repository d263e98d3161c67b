package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
)

// The rollups keep running totals per quarter hour, so that reports and the
// dashboard's header read a few thousand summary rows instead of every call:
// a report over a million calls would otherwise spend seconds in SQLite's
// per-row aggregation. The Writer updates them in the same transaction as
// the calls, so they never disagree.
//
//	rollup       one row per (bucket, provider, model, client, outcome,
//	             kind, project, session)
//	rollup_tags  the same, per tag as well; a call counts once under each
//	             of its tags, or under tag "" when it has none
//
// bucket is started_at / timeBucketMillis. A query whose window does not
// start or end on a bucket boundary reads the partial buckets at its edges
// from the calls themselves. Filters the rollups cannot answer (HTTP
// status) read the calls. Migration 2 created them; migration 4 rebuilt
// them with kind, project and session (rollupV4SQL).

// rollupV2SQL is migration 2, as released: the first rollups, without
// kind, project or session.
const rollupV2SQL = `
CREATE TABLE rollup (
	bucket              INTEGER NOT NULL,
	provider            TEXT    NOT NULL,
	model               TEXT    NOT NULL, -- '' when unknown
	client              TEXT    NOT NULL, -- '' when none
	outcome             TEXT    NOT NULL,
	calls               INTEGER NOT NULL,
	input_tokens        INTEGER NOT NULL,
	cached_input_tokens INTEGER NOT NULL,
	cache_write_tokens  INTEGER NOT NULL,
	output_tokens       INTEGER NOT NULL,
	reasoning_tokens    INTEGER NOT NULL,
	cost_usd            REAL    NOT NULL, -- priced calls only
	unpriced            INTEGER NOT NULL,
	no_usage            INTEGER NOT NULL,
	errors              INTEGER NOT NULL,
	first_ms            INTEGER NOT NULL,
	last_ms             INTEGER NOT NULL,
	PRIMARY KEY (bucket, provider, model, client, outcome)
) STRICT, WITHOUT ROWID;

CREATE TABLE rollup_tags (
	bucket              INTEGER NOT NULL,
	tag                 TEXT    NOT NULL, -- '' for calls without tags
	provider            TEXT    NOT NULL,
	model               TEXT    NOT NULL,
	client              TEXT    NOT NULL,
	outcome             TEXT    NOT NULL,
	calls               INTEGER NOT NULL,
	input_tokens        INTEGER NOT NULL,
	cached_input_tokens INTEGER NOT NULL,
	cache_write_tokens  INTEGER NOT NULL,
	output_tokens       INTEGER NOT NULL,
	reasoning_tokens    INTEGER NOT NULL,
	cost_usd            REAL    NOT NULL,
	unpriced            INTEGER NOT NULL,
	no_usage            INTEGER NOT NULL,
	errors              INTEGER NOT NULL,
	first_ms            INTEGER NOT NULL,
	last_ms             INTEGER NOT NULL,
	PRIMARY KEY (bucket, tag, provider, model, client, outcome)
) STRICT, WITHOUT ROWID;

-- Counting sent calls (SyncCounts) without reading the table.
CREATE INDEX calls_synced ON calls (synced_at)
	WHERE synced_at IS NOT NULL AND has_usage = 1 AND vh_headers IS NOT NULL;

INSERT INTO rollup
SELECT started_at / 900000, provider, coalesce(model, ''), coalesce(client, ''), outcome,
	count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0),
	coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0),
	coalesce(sum(reasoning_tokens), 0), coalesce(sum(cost_usd), 0.0),
	sum(has_usage = 1 AND cost_usd IS NULL), sum(has_usage = 0),
	sum(outcome = 'upstream_error'), min(started_at), max(started_at)
FROM calls GROUP BY 1, 2, 3, 4, 5;

INSERT INTO rollup_tags
SELECT started_at / 900000, coalesce(t.value, ''), provider, coalesce(model, ''),
	coalesce(client, ''), outcome,
	count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0),
	coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0),
	coalesce(sum(reasoning_tokens), 0), coalesce(sum(cost_usd), 0.0),
	sum(has_usage = 1 AND cost_usd IS NULL), sum(has_usage = 0),
	sum(outcome = 'upstream_error'), min(started_at), max(started_at)
FROM calls LEFT JOIN (SELECT DISTINCT calls.seq AS cseq, j.value AS value
	FROM calls, json_each(calls.tags) AS j) AS t ON t.cseq = calls.seq
GROUP BY 1, 2, 3, 4, 5, 6;
`

// rollupV4SQL is migration 4's rebuild of the rollups: the same totals,
// with the call's kind, project and session as dimensions (” for none),
// backfilled from the calls.
const rollupV4SQL = `
DROP TABLE rollup;
DROP TABLE rollup_tags;

CREATE TABLE rollup (
	bucket              INTEGER NOT NULL,
	provider            TEXT    NOT NULL,
	model               TEXT    NOT NULL, -- '' when unknown
	client              TEXT    NOT NULL, -- '' when none
	outcome             TEXT    NOT NULL,
	kind                TEXT    NOT NULL,
	project             TEXT    NOT NULL, -- '' when none
	session             TEXT    NOT NULL, -- '' when none
	calls               INTEGER NOT NULL,
	input_tokens        INTEGER NOT NULL,
	cached_input_tokens INTEGER NOT NULL,
	cache_write_tokens  INTEGER NOT NULL,
	output_tokens       INTEGER NOT NULL,
	reasoning_tokens    INTEGER NOT NULL,
	cost_usd            REAL    NOT NULL, -- priced calls only
	unpriced            INTEGER NOT NULL,
	no_usage            INTEGER NOT NULL,
	errors              INTEGER NOT NULL,
	first_ms            INTEGER NOT NULL,
	last_ms             INTEGER NOT NULL,
	PRIMARY KEY (bucket, provider, model, client, outcome, kind, project, session)
) STRICT, WITHOUT ROWID;

CREATE TABLE rollup_tags (
	bucket              INTEGER NOT NULL,
	tag                 TEXT    NOT NULL, -- '' for calls without tags
	provider            TEXT    NOT NULL,
	model               TEXT    NOT NULL,
	client              TEXT    NOT NULL,
	outcome             TEXT    NOT NULL,
	kind                TEXT    NOT NULL,
	project             TEXT    NOT NULL,
	session             TEXT    NOT NULL,
	calls               INTEGER NOT NULL,
	input_tokens        INTEGER NOT NULL,
	cached_input_tokens INTEGER NOT NULL,
	cache_write_tokens  INTEGER NOT NULL,
	output_tokens       INTEGER NOT NULL,
	reasoning_tokens    INTEGER NOT NULL,
	cost_usd            REAL    NOT NULL,
	unpriced            INTEGER NOT NULL,
	no_usage            INTEGER NOT NULL,
	errors              INTEGER NOT NULL,
	first_ms            INTEGER NOT NULL,
	last_ms             INTEGER NOT NULL,
	PRIMARY KEY (bucket, tag, provider, model, client, outcome, kind, project, session)
) STRICT, WITHOUT ROWID;
` + rollupBackfillSQL

// rollupBackfillSQL fills the rollups (as of migration 4) from the calls
// table.
const rollupBackfillSQL = `
INSERT INTO rollup
SELECT started_at / 900000, provider, coalesce(model, ''), coalesce(client, ''), outcome,
	kind, coalesce(project, ''), coalesce(session, ''),
	count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0),
	coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0),
	coalesce(sum(reasoning_tokens), 0), coalesce(sum(cost_usd), 0.0),
	sum(` + unpricedSQL + `), sum(has_usage = 0),
	sum(outcome = 'upstream_error'), min(started_at), max(started_at)
FROM calls GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

INSERT INTO rollup_tags
SELECT started_at / 900000, coalesce(t.value, ''), provider, coalesce(model, ''),
	coalesce(client, ''), outcome, kind, coalesce(project, ''), coalesce(session, ''),
	count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0),
	coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0),
	coalesce(sum(reasoning_tokens), 0), coalesce(sum(cost_usd), 0.0),
	sum(` + unpricedSQL + `), sum(has_usage = 0),
	sum(outcome = 'upstream_error'), min(started_at), max(started_at)
FROM calls LEFT JOIN (SELECT DISTINCT calls.seq AS cseq, j.value AS value
	FROM calls, json_each(calls.tags) AS j) AS t ON t.cseq = calls.seq
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
`

// rollupAggColumns are the aggregates over rollup rows, in scanTotals order.
// A rollup row's errors column counts upstream errors, as it always has;
// its refused calls are its calls when its outcome is budget_refused (the
// rows are per outcome), so old ledgers count them too without a rebuild.
const rollupAggColumns = `coalesce(sum(calls), 0), coalesce(sum(input_tokens), 0),
	coalesce(sum(cached_input_tokens), 0), coalesce(sum(cache_write_tokens), 0),
	coalesce(sum(output_tokens), 0), coalesce(sum(reasoning_tokens), 0),
	coalesce(sum(cost_usd), 0.0), coalesce(sum(unpriced), 0), coalesce(sum(no_usage), 0),
	coalesce(sum(errors + (outcome = 'budget_refused') * calls), 0), min(first_ms), max(last_ms)`

// rollupUpdate adds a batch's sums to a rollup row. Token sums stop at the
// largest int64 (SQLite turns an integer sum that overflows into a REAL,
// which the STRICT INTEGER column would refuse): a sum never fails a write.
const rollupUpdate = ` DO UPDATE SET calls = calls + excluded.calls,
	input_tokens = min(input_tokens + excluded.input_tokens, 9223372036854775807),
	cached_input_tokens = min(cached_input_tokens + excluded.cached_input_tokens, 9223372036854775807),
	cache_write_tokens = min(cache_write_tokens + excluded.cache_write_tokens, 9223372036854775807),
	output_tokens = min(output_tokens + excluded.output_tokens, 9223372036854775807),
	reasoning_tokens = min(reasoning_tokens + excluded.reasoning_tokens, 9223372036854775807),
	cost_usd = cost_usd + excluded.cost_usd,
	unpriced = unpriced + excluded.unpriced,
	no_usage = no_usage + excluded.no_usage,
	errors = errors + excluded.errors,
	first_ms = min(first_ms, excluded.first_ms),
	last_ms = max(last_ms, excluded.last_ms)`

// rollupUpsert adds n rows' sums to the rollup.
func rollupUpsert(n int) string {
	return `INSERT INTO rollup (bucket, provider, model, client, outcome,
	kind, project, session,
	calls, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
	reasoning_tokens, cost_usd, unpriced, no_usage, errors, first_ms, last_ms)
	VALUES ` + paramRows(n, 20) + `
	ON CONFLICT (bucket, provider, model, client, outcome, kind, project, session)` + rollupUpdate
}

// rollupTagsUpsert adds n rows' sums to rollup_tags.
func rollupTagsUpsert(n int) string {
	return `INSERT INTO rollup_tags (bucket, tag, provider, model, client, outcome,
	kind, project, session,
	calls, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
	reasoning_tokens, cost_usd, unpriced, no_usage, errors, first_ms, last_ms)
	VALUES ` + paramRows(n, 21) + `
	ON CONFLICT (bucket, tag, provider, model, client, outcome, kind, project, session)` + rollupUpdate
}

// rollupChunk is the most rollup rows one upsert writes: a batch of varied
// calls touches dozens, and each statement's round costs about as much as
// binding its row. A power of two (chunkRows).
const rollupChunk = 16

// paramRows is n VALUES rows of cols parameters each.
func paramRows(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// rollupKey identifies a rollup row; tag is used for rollup_tags only.
type rollupKey struct {
	bucket                                int64
	tag, provider, model, client, outcome string
	kind, project, session                string
}

// rollupAcc accumulates one batch's contribution to a rollup row.
type rollupAcc struct {
	t    Totals
	comp float64 // Neumaier compensation of t.CostUSD
}

// rollupBatch accumulates a batch of inserted calls. The write connection
// keeps one from batch to batch (rawInsert.roll): its maps and slices are
// reused, not allocated and grown again for every batch.
type rollupBatch struct {
	rows, tags map[rollupKey]int // index in accs
	accs       []rollupAcc
	vals       []any               // one upsert's values
	args       []driver.NamedValue // and its arguments
}

// maxKeptRollupRows bounds the rollup rows a rollupBatch keeps room for
// between batches: more than the default batch size's worth of varied
// calls touch (BenchmarkWriterSustained's "varied": ~80 a batch), so a
// Writer's batches reuse it, and one huge Insert does not leave its maps
// behind.
const maxKeptRollupRows = 1024

// reset empties b for the next batch, dropping its references to this
// one's values.
func (b *rollupBatch) reset() {
	if b.rows == nil || len(b.accs) > maxKeptRollupRows {
		*b = rollupBatch{rows: map[rollupKey]int{}, tags: map[rollupKey]int{}}
		return
	}
	clear(b.rows)
	clear(b.tags)
	clear(b.accs)
	clear(b.vals[:cap(b.vals)])
	clear(b.args[:cap(b.args)])
	b.accs, b.vals, b.args = b.accs[:0], b.vals[:0], b.args[:0]
}

// add counts r, as stored (see appendRecordArgs).
func (b *rollupBatch) add(r *Record) {
	one := TotalsOf(*r)
	if r.Outcome == OutcomeBudgetRefused {
		one.Errors = 0 // the column counts upstream errors (see rollupAggColumns)
	}
	k := rollupKey{bucket: r.StartedAt.UnixMilli() / timeBucketMillis, provider: r.Provider,
		model: r.Model, client: r.Client, outcome: r.Outcome, kind: storedKind(r.Kind),
		project: r.Project, session: r.Session}
	b.put(b.rows, k, one)
	tags := normTags(r.Tags)
	if len(tags) == 0 {
		tags = []string{""}
	}
	for _, tag := range tags {
		k.tag = tag
		b.put(b.tags, k, one)
	}
}

func (b *rollupBatch) put(m map[rollupKey]int, k rollupKey, one Totals) {
	i, ok := m[k]
	if !ok {
		i = len(b.accs)
		b.accs = append(b.accs, rollupAcc{})
		m[k] = i
	}
	a := &b.accs[i]
	a.t.add(one, &a.comp)
}

// rollupStmts are the prepared upserts of the rollups: rollupUpsert and
// rollupTagsUpsert.
type rollupStmts struct {
	rows, tags sizedStmts
}

// write upserts the batch with st's statements, preparing those it lacks
// with prep.
func (b *rollupBatch) write(ctx context.Context, st *rollupStmts, prep func(string) (driver.StmtExecContext, error)) error {
	vals, args := b.vals[:0], b.args[:0]
	defer func() { b.vals, b.args = vals, args }()
	exec := func(stmts *sizedStmts, m map[rollupKey]int, withTag bool) error {
		left := len(m) // rows not yet written
		n, in := 0, 0  // rows the statement being filled writes, and holds so far
		for k, i := range m {
			if in == 0 {
				n = chunkRows(left, rollupChunk)
			}
			a := &b.accs[i]
			t := a.t
			vals = append(vals, k.bucket)
			if withTag {
				vals = append(vals, k.tag)
			}
			vals = append(vals, k.provider, k.model, k.client, k.outcome, kindArg(k.kind), k.project, k.session,
				t.Calls, t.InputTokens, t.CachedInputTokens, t.CacheWriteTokens, t.OutputTokens,
				t.ReasoningTokens, t.CostUSD+a.comp, t.Unpriced, t.NoUsage, t.Errors,
				t.First.UnixMilli(), t.Last.UnixMilli())
			if in++; in < n {
				continue
			}
			st, err := stmts.get(n, prep)
			if err != nil {
				return fmt.Errorf("update rollup: %w", err)
			}
			args = args[:0]
			for i, v := range vals {
				args = append(args, driver.NamedValue{Ordinal: i + 1, Value: v})
			}
			if _, err := st.ExecContext(ctx, args); err != nil {
				return fmt.Errorf("update rollup: %w", err)
			}
			vals, left, in = vals[:0], left-n, 0
		}
		return nil
	}
	if err := exec(&st.rows, b.rows, false); err != nil {
		return err
	}
	return exec(&st.tags, b.tags, true)
}

// normTags drops empty and repeated tags, keeping the first occurrence's
// order. The result may share tags's backing array only if unchanged.
func normTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	clean := true
	for i, t := range tags {
		if strings.TrimSpace(t) == "" || slices.Contains(tags[:i], t) {
			clean = false
			break
		}
	}
	if clean {
		return tags
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if strings.TrimSpace(t) != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// rebuildRollups recomputes the rollups from the calls, within tx.
func rebuildRollups(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}) error {
	for _, q := range []string{"DELETE FROM rollup", "DELETE FROM rollup_tags", rollupBackfillSQL} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rebuild rollups: %w", err)
		}
	}
	return nil
}
