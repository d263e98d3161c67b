package ledger

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/valohai/conduit/jsonvalid"
)

// insertColumns are the columns a Record fills, in insertSQL's order.
const insertColumns = `id, started_at, finished_at, provider, api, endpoint, mode, method, host, path,
	model, stream, status, outcome, error, has_usage, input_tokens, cached_input_tokens,
	cache_write_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens,
	reasoning_tokens, provider_cost_usd, cost_usd, cost_source, ttfb_ms, duration_ms,
	request_id, response_id, client, vh_headers, tags, usage, synced_at,
	kind, project, session, connection_id, price_version, cost_note, usage_detail, truncated`

const insertArgs = 43

// insertChunk is the most calls one statement writes. Most of a row's cost
// in the driver is the statement's own round (the context watcher, step,
// halt, reset), paid once per statement instead of per row; a chunk is
// also the longest stretch the insert loop runs without yielding its P,
// so it stays small (see chunkInsert.write). A power of two (chunkRows).
const insertChunk = 16

// chunkRows is how many of n rows (n >= 1) the next statement writes: a
// whole chunk of them while there is one, then the largest power of two
// at most n. The rows after the last whole chunk then take one statement
// per bit of their count (7: 4+2+1) rather than one each, which is most
// of what a short batch costs, and only log2(chunk)+1 statements are ever
// prepared.
func chunkRows(n, chunk int) int {
	if n >= chunk {
		return chunk
	}
	return 1 << (bits.Len(uint(n)) - 1)
}

// sizedStmts is one statement in the row counts chunkRows picks, each
// prepared when first needed: a quiet proxy's short batches use few.
type sizedStmts struct {
	sql func(rows int) string
	st  []driver.StmtExecContext // st[i] writes 1<<i rows; nil: not prepared yet
}

// get returns the statement for rows (a power of two), prepared with prep
// if it is not yet.
func (s *sizedStmts) get(rows int, prep func(string) (driver.StmtExecContext, error)) (driver.StmtExecContext, error) {
	i := bits.TrailingZeros(uint(rows))
	for len(s.st) <= i {
		s.st = append(s.st, nil)
	}
	if s.st[i] == nil {
		st, err := prep(s.sql(rows))
		if err != nil {
			return nil, fmt.Errorf("prepare a %d-row statement: %w", rows, err)
		}
		s.st[i] = st
	}
	return s.st[i], nil
}

func (s *sizedStmts) close() error {
	var errs []error
	for _, st := range s.st {
		if st != nil {
			errs = append(errs, st.(driver.Stmt).Close())
		}
	}
	s.st = nil
	return errors.Join(errs...)
}

// shareable are the columns a chunk's rows often hold the same value in:
// where a call came from and went (one client's calls share them, as most
// chunks do), how it ended, and the columns mostly NULL or zero. A chunk
// binds the ones its rows all share once (see sharedStmts); the others
// (ids, times, token counts, costs, the usage object) differ from call to
// call and are never looked at.
var shareable = []string{"provider", "api", "endpoint", "mode", "method", "host", "path",
	"model", "stream", "status", "outcome", "error", "has_usage", "cache_write_tokens",
	"cache_write_5m_tokens", "cache_write_1h_tokens", "provider_cost_usd", "cost_source",
	"client", "vh_headers", "tags", "synced_at", "kind", "project", "session", "connection_id",
	"price_version", "cost_note", "usage_detail", "truncated"}

// shareableMask has the bit 1<<j set for each shareable column, j its
// insertColumns position.
var shareableMask = func() (m uint64) {
	cols := strings.Split(insertColumns, ",")
	if len(cols) != insertArgs || insertArgs > 64 {
		panic("ledger: insertArgs is not the number of insertColumns, or too many for a mask")
	}
	for j, c := range cols {
		if slices.Contains(shareable, strings.TrimSpace(c)) {
			m |= 1 << j
		}
	}
	return m
}()

// insertSharedSQL is insertRows(rows) for calls that share the values of
// the columns in mask (bit j: insertColumns position j): they are bound
// once, in the select list, and each row of the VALUES holds only the
// others, so a chunk of one client's calls binds about half as many
// parameters. Every parameter is a plain "?", numbered in the order it
// appears (numbered references would make the driver look each name up).
// An upsert's SELECT needs its WHERE, lest ON CONFLICT parse as a join's.
func insertSharedSQL(mask uint64, rows int) string {
	var sh, own []string
	for j, c := range strings.Split(insertColumns, ",") {
		if mask&(1<<j) != 0 {
			sh = append(sh, strings.TrimSpace(c))
		} else {
			own = append(own, strings.TrimSpace(c))
		}
	}
	return "INSERT INTO calls (" + strings.Join(sh, ", ") + ", " + strings.Join(own, ", ") + ") SELECT " +
		strings.TrimSuffix(strings.Repeat("?,", len(sh)), ",") + ", v.* FROM (VALUES " +
		paramRows(rows, len(own)) + ") AS v WHERE true ON CONFLICT (id) DO NOTHING"
}

// maxSharedStmts bounds the sets of shared columns whose insertSharedSQL
// statements are kept: the few sets a proxy's traffic shows. Preparing one
// costs about as much as writing a chunk or two, so a set met once is not
// worth one; sharedStmts.pick falls back to a kept set sharing fewer.
const maxSharedStmts = 8

// sharedIdle is how many chunks a kept set must have gone unused before a
// new set of shared columns may replace it.
const sharedIdle = 64

// sharedStmt is a set of shared columns and its prepared insertSharedSQL
// statements, one per row count.
type sharedStmt struct {
	mask uint64
	st   sizedStmts
	used uint64 // sharedStmts.chunks when last picked
}

// sharedStmts are the write connection's prepared insertSharedSQL
// statements, for at most maxSharedStmts sets of columns.
type sharedStmts struct {
	list   []sharedStmt
	chunks uint64 // chunks picked for so far
}

// pick returns the statement to write a chunk of rows (a power of two)
// that share the columns in mask with: mask's, prepared now (with prep) if
// there is room or a kept set has gone idle, or else that of the kept set
// sharing the most of those columns (nil: none, the unshared statement
// then), and the mask it shares.
func (s *sharedStmts) pick(mask uint64, rows int, prep func(string) (driver.StmtExecContext, error)) (driver.StmtExecContext, uint64) {
	s.chunks++
	best, lru := -1, -1
	for i := range s.list {
		e := &s.list[i]
		if e.mask == mask {
			e.used = s.chunks
			// A statement that cannot be prepared is only a missed
			// saving: the chunk is written without sharing.
			if st, err := e.st.get(rows, prep); err == nil {
				return st, mask
			}
			return nil, 0
		}
		if e.mask&^mask == 0 && (best < 0 || bits.OnesCount64(e.mask) > bits.OnesCount64(s.list[best].mask)) {
			best = i
		}
		if lru < 0 || e.used < s.list[lru].used {
			lru = i
		}
	}
	if mask != 0 && (len(s.list) < maxSharedStmts || s.list[lru].used+sharedIdle < s.chunks) {
		// One that cannot be prepared: the chunk is written with a set
		// sharing less.
		e := sharedStmt{mask: mask, st: sizedStmts{sql: func(rows int) string { return insertSharedSQL(mask, rows) }},
			used: s.chunks}
		if st, err := e.st.get(rows, prep); err == nil {
			if len(s.list) < maxSharedStmts {
				s.list = append(s.list, sharedStmt{})
				lru = len(s.list) - 1
			} else {
				_ = s.list[lru].st.close()
			}
			s.list[lru] = e
			return st, mask
		}
	}
	if best < 0 {
		return nil, 0
	}
	e := &s.list[best]
	e.used = s.chunks
	if st, err := e.st.get(rows, prep); err == nil {
		return st, e.mask
	}
	return nil, 0
}

// close closes the kept statements.
func (s *sharedStmts) close() error {
	var errs []error
	for i := range s.list {
		errs = append(errs, s.list[i].st.close())
	}
	*s = sharedStmts{}
	return errors.Join(errs...)
}

// newestIDs lists the ids of the newest rows, newest first: those a
// multi-row insert just wrote, since each new row's seq is above every
// stored one.
const newestIDs = "SELECT id FROM calls ORDER BY seq DESC LIMIT ?"

// insertRows inserts n calls. A record whose id is already stored is
// skipped, so re-writing a batch after an ambiguous failure (a commit that
// succeeded but reported an error) stores each call once.
func insertRows(n int) string {
	return "INSERT INTO calls (" + insertColumns + ") VALUES " + paramRows(n, insertArgs) +
		" ON CONFLICT (id) DO NOTHING"
}

// Insert writes recs in one transaction: all of them or, on error, none.
// Records whose ID is already in the ledger are skipped. Most callers use a
// Writer instead, which batches and retries.
func (db *DB) Insert(ctx context.Context, recs []Record) error {
	w, err := db.writer()
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	conn, err := w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("write %d records to ledger %s: %w", len(recs), db.path, err)
	}
	defer conn.Close()
	// Below database/sql: the driver's own statement, prepared once per
	// connection, executed with argument slices reused across rows. This
	// halves the per-row overhead of the proxy's only write path.
	err = conn.Raw(func(dc any) error { return db.insertRaw(ctx, dc, recs) })
	if err != nil {
		return fmt.Errorf("write %d records to ledger %s: %w", len(recs), db.path, err)
	}
	return nil
}

// rawInsert holds the write connection's prepared statements.
type rawInsert struct {
	conn   any        // the driver connection they belong to
	calls  sizedStmts // insertRows
	shared sharedStmts
	rollup rollupStmts
	roll   rollupBatch
	// A chunk's arguments, reused from one batch to the next.
	args  []any
	named []driver.NamedValue
}

func (r *rawInsert) close() error {
	errs := []error{r.calls.close(), r.shared.close(), r.rollup.rows.close(), r.rollup.tags.close()}
	*r = rawInsert{}
	return errors.Join(errs...)
}

// useConn makes db.insert hold dc's statements: none prepared yet when
// the write connection is a new one.
func (db *DB) useConn(dc any) {
	if db.insert.conn == dc {
		return
	}
	_ = db.insert.close()
	db.insert = rawInsert{conn: dc, calls: sizedStmts{sql: insertRows},
		rollup: rollupStmts{rows: sizedStmts{sql: rollupUpsert}, tags: sizedStmts{sql: rollupTagsUpsert}}}
	db.insert.roll.reset()
}

// prepareExec prepares q on c as a statement that can ExecContext.
func prepareExec(ctx context.Context, c driver.ConnPrepareContext, q string) (driver.StmtExecContext, error) {
	st, err := c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	se, ok := st.(driver.StmtExecContext)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("sqlite driver statement %T lacks ExecContext", st)
	}
	return se, nil
}

func (db *DB) insertRaw(ctx context.Context, dc any, recs []Record) (err error) {
	c, ok := dc.(interface {
		driver.ConnBeginTx
		driver.ConnPrepareContext
	})
	if !ok {
		return fmt.Errorf("sqlite driver connection %T lacks BeginTx/PrepareContext", dc)
	}
	db.insertMu.Lock()
	defer db.insertMu.Unlock()
	db.useConn(dc)
	tx, err := c.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	roll := &db.insert.roll
	defer roll.reset()
	prep := func(q string) (driver.StmtExecContext, error) { return prepareExec(ctx, c, q) }
	ins := chunkInsert{ctx: ctx, conn: dc, plain: &db.insert.calls, shared: &db.insert.shared, roll: roll,
		args: db.insert.args, named: db.insert.named, prep: prep}
	defer func() {
		// Kept for the next batch, without holding on to this one's values.
		clear(ins.args[:cap(ins.args)])
		clear(ins.named[:cap(ins.named)])
		db.insert.args, db.insert.named = ins.args[:0], ins.named[:0]
	}()
	for len(recs) > 0 {
		n := chunkRows(len(recs), insertChunk)
		if err := ins.write(recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}
	if err := roll.write(ctx, &db.insert.rollup, prep); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// chunkInsert writes a batch's calls one statement at a time, reusing its
// argument slices from one statement to the next.
type chunkInsert struct {
	ctx    context.Context
	conn   any         // the driver connection, to ask which rows were written
	plain  *sizedStmts // insertRows
	shared *sharedStmts
	prep   func(string) (driver.StmtExecContext, error) // prepares a statement on conn
	roll   *rollupBatch
	args   []any
	named  []driver.NamedValue
	stored [insertChunk]*Record // recs as stored
	clean  [insertChunk]Record  // sanitized copies of implausible records
}

// write inserts recs (as many as chunkRows picks) with one statement, and
// counts in the rollups those that were not stored already.
func (c *chunkInsert) write(recs []Record) error {
	c.args = c.args[:0]
	for i := range recs {
		rec := &recs[i]
		if !rec.PlausibleCounts() {
			// Stored as invalid usage, never summed; the caller's record
			// is left as it was.
			c.clean[i] = *rec
			c.clean[i].Sanitize()
			rec = &c.clean[i]
		}
		c.stored[i] = rec
		var prev []any
		if i > 0 {
			prev = c.args[(i-1)*insertArgs:]
		}
		c.args = appendRecordArgsLike(c.args, prev, rec)
	}
	// A batch is milliseconds of CPU without a blocking call, so the
	// scheduler would let it hold its P throughout: with GOMAXPROCS at 2,
	// the proxy's goroutines that became runnable meanwhile (a call's next
	// hop) would queue behind it. Yielding once per chunk bounds their wait
	// to one chunk. Not once per row: on the background thread (locked to
	// its goroutine) every yield hands the P to another thread and back,
	// two context switches, which cost 12-20 µs of CPU per record.
	runtime.Gosched()
	c.named = c.named[:0]
	var st driver.StmtExecContext
	var mask uint64
	if len(recs) > 1 {
		st, mask = c.shared.pick(c.sharedMask(), len(recs), c.prep)
	}
	if st == nil {
		var err error
		if st, err = c.plain.get(len(recs), c.prep); err != nil {
			return err
		}
	}
	if mask != 0 {
		for j, a := range c.args[:insertArgs] {
			if mask&(1<<j) != 0 {
				c.named = append(c.named, driver.NamedValue{Ordinal: len(c.named) + 1, Value: a})
			}
		}
		for j, a := range c.args {
			if mask&(1<<(j%insertArgs)) == 0 {
				c.named = append(c.named, driver.NamedValue{Ordinal: len(c.named) + 1, Value: a})
			}
		}
	} else {
		for j, a := range c.args {
			c.named = append(c.named, driver.NamedValue{Ordinal: j + 1, Value: a})
		}
	}
	res, err := st.ExecContext(c.ctx, c.named)
	if err != nil {
		if len(recs) == 1 || isTransient(err) {
			return fmt.Errorf("record %s: %w", recs[0].ID, err)
		}
		// The statement wrote none of its rows. One at a time, they fail
		// (or are written) as they would alone, and the error names the
		// record refused.
		for i := range recs {
			if err := c.write(recs[i : i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	n, err := res.RowsAffected()
	if err != nil || n == int64(len(recs)) {
		for _, rec := range c.stored[:len(recs)] {
			c.roll.add(rec)
		}
		return nil
	}
	if n == 0 {
		return nil
	}
	// Some calls were stored already (a batch written twice), and are not
	// counted twice: count those among the rows just written.
	written, err := c.newest(n)
	if err != nil {
		return fmt.Errorf("find which of records %s to %s were written: %w", recs[0].ID, recs[len(recs)-1].ID, err)
	}
	for _, rec := range c.stored[:len(recs)] {
		if _, ok := written[rec.ID]; ok {
			delete(written, rec.ID) // a later row with the same id was skipped
			c.roll.add(rec)
		}
	}
	return nil
}

// sharedMask returns the shareable columns (as shareableMask) in which
// every row of c.args has the first row's value.
func (c *chunkInsert) sharedMask() uint64 {
	mask := shareableMask
	for r := insertArgs; r < len(c.args) && mask != 0; r += insertArgs {
		for m := mask; m != 0; m &= m - 1 {
			j := bits.TrailingZeros64(m)
			if c.args[r+j] != c.args[j] {
				mask &^= 1 << j
			}
		}
	}
	return mask
}

// newest returns the ids of the n newest rows.
func (c *chunkInsert) newest(n int64) (map[string]struct{}, error) {
	q, ok := c.conn.(driver.QueryerContext)
	if !ok {
		return nil, fmt.Errorf("sqlite driver connection %T lacks QueryContext", c.conn)
	}
	rows, err := q.QueryContext(c.ctx, newestIDs, []driver.NamedValue{{Ordinal: 1, Value: n}})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := make(map[string]struct{}, n)
	dest := make([]driver.Value, 1)
	for {
		if err := rows.Next(dest); err != nil {
			if errors.Is(err, io.EOF) {
				return ids, nil
			}
			return nil, err
		}
		switch id := dest[0].(type) {
		case string:
			ids[id] = struct{}{}
		case []byte:
			ids[string(id)] = struct{}{}
		}
	}
}

// appendRecordArgs appends r's values in insertColumns order.
func appendRecordArgs(args []any, r *Record) []any { return appendRecordArgsLike(args, nil, r) }

// at is the insertColumns position of the columns appendRecordArgsLike
// reuses.
var at = func() (at struct {
	provider, api, endpoint, mode, method, host, path, model, outcome, costSource, client int
}) {
	cols := strings.Split(insertColumns, ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	for _, c := range []struct {
		p    *int
		name string
	}{{&at.provider, "provider"}, {&at.api, "api"}, {&at.endpoint, "endpoint"}, {&at.mode, "mode"},
		{&at.method, "method"}, {&at.host, "host"}, {&at.path, "path"}, {&at.model, "model"},
		{&at.outcome, "outcome"}, {&at.costSource, "cost_source"}, {&at.client, "client"}} {
		*c.p = slices.Index(cols, c.name)
	}
	return at
}()

// appendRecordArgsLike is appendRecordArgs reusing the boxed strings of
// prev (another row's arguments) that r repeats: a chunk's rows mostly
// repeat the first's provider, model, client and path, and boxing each
// allocates.
func appendRecordArgsLike(args, prev []any, r *Record) []any {
	// same returns the argument for string s in column j.
	same := func(j int, s string) any {
		if j < len(prev) {
			if p, ok := prev[j].(string); ok && p == s {
				return prev[j]
			}
		}
		return s
	}
	nullSame := func(j int, s string) any {
		if s == "" {
			return nil
		}
		return same(j, s)
	}
	var tokens [7]any // NULL unless the call had usage
	if r.HasUsage {
		tokens = [7]any{r.InputTokens, r.CachedInputTokens, r.CacheWriteTokens,
			r.CacheWrite5mTokens, r.CacheWrite1hTokens, r.OutputTokens, r.ReasoningTokens}
	}
	var ttfb any
	if r.TTFB > 0 {
		ttfb = r.TTFB.Milliseconds()
	}
	var status any
	if r.Status != 0 {
		status = int64(r.Status)
	}
	var synced any
	if r.SyncedAt != nil {
		synced = r.SyncedAt.UnixMilli()
	}
	args = append(args,
		r.ID, r.StartedAt.UnixMilli(), r.FinishedAt.UnixMilli(),
		same(at.provider, r.Provider), same(at.api, r.API), same(at.endpoint, r.Endpoint),
		same(at.mode, r.Mode), same(at.method, r.Method), same(at.host, r.Host),
		same(at.path, scrubPath(r.Path)), nullSame(at.model, r.Model), boolInt(r.Stream), status,
		same(at.outcome, r.Outcome), nullString(r.Error), boolInt(r.HasUsage))
	args = append(args, tokens[:]...)
	return append(args,
		finite(r.ProviderCostUSD), finite(r.CostUSD), nullSame(at.costSource, r.CostSource),
		ttfb, max(r.Duration, 0).Milliseconds(),
		nullString(r.RequestID), nullString(r.ResponseID), nullSame(at.client, r.Client),
		vhHeadersJSON(r.VHHeaders), tagsJSON(r.Tags), usageJSON(r.UsageRaw), synced,
		kindArg(r.Kind), nullString(r.Project), nullString(r.Session),
		nullString(r.ConnectionID), nullString(r.PriceVersion), nullString(r.CostNote),
		detailJSON(r.Detail), truncatedArg(r.Truncated))
}

// truncatedArg stores the names of the cut fields comma-separated, or NULL.
func truncatedArg(fields []string) any {
	if len(fields) == 0 {
		return nil
	}
	return strings.Join(fields, ",")
}

// storedKind is the kind a record is stored under: "" is a call.
func storedKind(k string) string {
	if k == "" {
		return KindCall
	}
	return k
}

// kindArg is storedKind as a statement argument, boxed without an
// allocation for the known kinds (this runs for every row written).
func kindArg(k string) any {
	switch k {
	case "", KindCall:
		return KindCall
	case KindOther:
		return KindOther
	}
	return k
}

// detailJSON encodes d, or NULL when there is none.
func detailJSON(d *UsageDetail) any {
	if d == nil {
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil // cannot happen: only integers and strings
	}
	return string(b)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// finite stores a cost, or NULL for none or for a value that is not a
// number (SQLite would store NaN as NULL anyway; be explicit).
func finite(f *float64) any {
	if f == nil || math.IsNaN(*f) || math.IsInf(*f, 0) {
		return nil
	}
	return *f
}

// vhHeadersJSON encodes the x-vh-* headers as a JSON object with sorted
// keys, or NULL when there are none. Defensively, only x-vh-* names are
// kept: nothing else a request carried can reach the ledger this way.
func vhHeadersJSON(h map[string]string) any {
	if len(h) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		if IsVHHeader(k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	b := make([]byte, 0, 64)
	b = append(b, '{')
	prev := ""
	for _, k := range keys {
		lk := strings.ToLower(k)
		if lk == prev {
			continue // the same header in another case: keep one
		}
		if prev != "" {
			b = append(b, ',')
		}
		prev = lk
		b = appendJSONString(b, []byte(lk))
		b = append(b, ':')
		b = appendJSONString(b, []byte(h[k]))
	}
	return string(append(b, '}'))
}

// tagsJSON encodes tags as a JSON array, dropping empty and repeated ones,
// or NULL when none remain.
func tagsJSON(tags []string) any {
	keep := normTags(tags)
	if len(keep) == 0 {
		return nil
	}
	b := make([]byte, 0, 32)
	b = append(b, '[')
	for i, t := range keep {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, []byte(t))
	}
	return string(append(b, ']'))
}

// usageJSON stores the provider's usage object if it is valid JSON, else
// NULL (a truncated object would break every reader that parses it).
func usageJSON(raw json.RawMessage) any {
	if len(raw) == 0 || !jsonvalid.Valid(raw) {
		return nil
	}
	return string(raw)
}

// secretQueryParams are query parameters whose values are credentials.
// The proxy removes them before building a Record; the ledger
// redacts them again so that a slip there cannot put a key at rest.
var secretQueryParams = []string{"key", "api_key", "api-key", "apikey", "x-goog-api-key", "access_token"}

// scrubPath redacts credential query values in a request path.
func scrubPath(p string) string {
	i := strings.IndexByte(p, '?')
	if i < 0 {
		return p
	}
	q := p[i+1:]
	lower := strings.ToLower(q)
	found := strings.Contains(q, "%") // an escaped name: check properly
	for _, name := range secretQueryParams {
		if strings.Contains(lower, name+"=") {
			found = true
			break
		}
	}
	if !found {
		return p
	}
	parts := strings.Split(q, "&")
	for j, part := range parts {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if slices.Contains(secretQueryParams, strings.ToLower(name)) {
			parts[j] = name + "=REDACTED"
		}
	}
	return p[:i+1] + strings.Join(parts, "&")
}

// fromMillis converts a stored Unix-ms time to a UTC time.Time.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
