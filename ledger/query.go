package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Row is a Record as read back from the ledger, with its position.
type Row struct {
	// Seq is the row's insertion number: larger is written later. It
	// breaks ties between calls started in the same millisecond.
	Seq int64
	Record
}

// Filter selects calls. The zero Filter selects every record of kind
// KindCall; set fields must all match.
type Filter struct {
	// Since and Until bound started_at: Since <= started_at < Until. A zero
	// time leaves that side open.
	Since, Until time.Time
	Provider     string // the [providers.<key>] key, exactly
	Model        string // exactly
	Client       string // User-Agent, exactly
	Tag          string // calls carrying this tag
	Outcome      string // one of the Outcome* constants
	Status       int    // HTTP status; 0: any
	Project      string // exactly
	Session      string // exactly
	// IncludeOther selects records of every kind (KindOther too), not
	// only calls.
	IncludeOther bool
	// Glob holds a pattern per field, each of which must match as well
	// as the exact fields above.
	Glob Globs
	// Text, when set, selects the calls with Text in their provider,
	// model, client, project, session or any tag (ignoring ASCII case):
	// a search box's substring. It reads the calls, not the rollups.
	Text string
}

// Globs are patterns in SQLite's GLOB syntax (* any run, ? one character,
// [abc] [a-z] [^x] a class; case-sensitive), one per field; "" matches
// anything. A field the call lacks matches as "". A Tag pattern matches a
// call when any of its tags does, and reads the calls, not the rollups.
type Globs struct {
	Provider, Model, Client, Tag, Project, Session string
}

// IsZero reports whether g selects every call.
func (g Globs) IsZero() bool { return g == Globs{} }

// needsCalls reports whether f can only be answered from the calls: the
// rollups hold no tag sets, nor one row per call for a tag pattern that
// several of a call's tags may match.
func (f Filter) needsCalls() bool { return f.Text != "" || f.Glob.Tag != "" }

// lowerASCII folds A-Z only, as SQLite's lower() does, so that a search
// and the column it is compared with fold alike.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// where renders f as a SQL condition on table calls (alias-free) and its
// arguments. It always returns a usable clause ("1" for no filter).
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		add("calls.started_at >= ?", f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		add("calls.started_at < ?", f.Until.UnixMilli())
	}
	if f.Provider != "" {
		add("calls.provider = ?", f.Provider)
	}
	if f.Model != "" {
		add("calls.model = ?", f.Model)
	}
	if f.Client != "" {
		add("calls.client = ?", f.Client)
	}
	if f.Outcome != "" {
		add("calls.outcome = ?", f.Outcome)
	}
	if f.Status != 0 {
		add("calls.status = ?", f.Status)
	}
	if f.Project != "" {
		add("calls.project = ?", f.Project)
	}
	if f.Session != "" {
		add("calls.session = ?", f.Session)
	}
	if !f.IncludeOther {
		conds = append(conds, "calls.kind = '"+KindCall+"'")
	}
	if f.Tag != "" {
		add("EXISTS (SELECT 1 FROM json_each(calls.tags) AS ft WHERE ft.value = ?)", f.Tag)
	}
	for _, g := range []struct{ col, pattern string }{
		{"provider", f.Glob.Provider}, {"model", f.Glob.Model}, {"client", f.Glob.Client},
		{"project", f.Glob.Project}, {"session", f.Glob.Session},
	} {
		if g.pattern != "" {
			add("coalesce(calls."+g.col+", '') GLOB ?", g.pattern)
		}
	}
	if f.Glob.Tag != "" {
		add("EXISTS (SELECT 1 FROM json_each(coalesce(calls.tags, '[]')) AS gt WHERE gt.value GLOB ?)", f.Glob.Tag)
	}
	if f.Text != "" {
		t := lowerASCII(f.Text)
		conds = append(conds, "(instr(lower(coalesce(calls.provider, '')), ?) > 0 OR instr(lower(coalesce(calls.model, '')), ?) > 0"+
			" OR instr(lower(coalesce(calls.client, '')), ?) > 0 OR instr(lower(coalesce(calls.project, '')), ?) > 0"+
			" OR instr(lower(coalesce(calls.session, '')), ?) > 0"+
			" OR EXISTS (SELECT 1 FROM json_each(coalesce(calls.tags, '[]')) AS xt WHERE instr(lower(xt.value), ?) > 0))")
		args = append(args, t, t, t, t, t, t)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

// rowColumns are the columns scanRow reads, in order.
const rowColumns = `calls.seq, calls.id, calls.started_at, calls.finished_at, calls.provider,
	calls.api, calls.endpoint, calls.mode, calls.method, calls.host, calls.path, calls.model,
	calls.stream, calls.status, calls.outcome, calls.error, calls.has_usage,
	calls.input_tokens, calls.cached_input_tokens, calls.cache_write_tokens,
	calls.cache_write_5m_tokens, calls.cache_write_1h_tokens, calls.output_tokens,
	calls.reasoning_tokens, calls.provider_cost_usd, calls.cost_usd, calls.cost_source,
	calls.ttfb_ms, calls.duration_ms, calls.request_id, calls.response_id, calls.client,
	calls.vh_headers, calls.tags, calls.usage, calls.synced_at, calls.kind, calls.project,
	calls.session, calls.connection_id, calls.price_version, calls.cost_note,
	calls.usage_detail, calls.truncated`

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanRow(s scanner) (Row, error) {
	var (
		r                                    Row
		started, finished, duration          int64
		model, errText, costSource           sql.NullString
		reqID, respID, client                sql.NullString
		vh, tags, usage                      sql.NullString
		project, session, connID             sql.NullString
		priceVersion, costNote, detail       sql.NullString
		truncated                            sql.NullString
		status, ttfb, synced                 sql.NullInt64
		stream, hasUsage                     int64
		in, cached, write, w5, w1, out, reas sql.NullInt64
		provCost, cost                       sql.NullFloat64
	)
	err := s.Scan(&r.Seq, &r.ID, &started, &finished, &r.Provider, &r.API, &r.Endpoint,
		&r.Mode, &r.Method, &r.Host, &r.Path, &model, &stream, &status, &r.Outcome,
		&errText, &hasUsage, &in, &cached, &write, &w5, &w1, &out, &reas, &provCost,
		&cost, &costSource, &ttfb, &duration, &reqID, &respID, &client, &vh, &tags,
		&usage, &synced, &r.Kind, &project, &session, &connID, &priceVersion, &costNote, &detail, &truncated)
	if err != nil {
		return Row{}, err
	}
	r.StartedAt, r.FinishedAt = fromMillis(started), fromMillis(finished)
	r.Model, r.Error, r.CostSource = model.String, errText.String, costSource.String
	r.RequestID, r.ResponseID, r.Client = reqID.String, respID.String, client.String
	r.Stream, r.HasUsage = stream != 0, hasUsage != 0
	r.Status = int(status.Int64)
	r.InputTokens, r.CachedInputTokens, r.CacheWriteTokens = in.Int64, cached.Int64, write.Int64
	r.CacheWrite5mTokens, r.CacheWrite1hTokens = w5.Int64, w1.Int64
	r.OutputTokens, r.ReasoningTokens = out.Int64, reas.Int64
	if provCost.Valid {
		v := provCost.Float64
		r.ProviderCostUSD = &v
	}
	if cost.Valid {
		v := cost.Float64
		r.CostUSD = &v
	}
	r.TTFB = time.Duration(ttfb.Int64) * time.Millisecond
	r.Duration = time.Duration(duration) * time.Millisecond
	if vh.Valid {
		_ = json.Unmarshal([]byte(vh.String), &r.VHHeaders)
	}
	if tags.Valid {
		_ = json.Unmarshal([]byte(tags.String), &r.Tags)
	}
	if usage.Valid {
		r.UsageRaw = json.RawMessage(usage.String)
	}
	if synced.Valid {
		t := fromMillis(synced.Int64)
		r.SyncedAt = &t
	}
	r.Project, r.Session, r.ConnectionID = project.String, session.String, connID.String
	r.PriceVersion, r.CostNote = priceVersion.String, costNote.String
	if truncated.String != "" {
		r.Truncated = strings.Split(truncated.String, ",")
	}
	if detail.Valid {
		var d UsageDetail
		if json.Unmarshal([]byte(detail.String), &d) == nil {
			r.Detail = &d
		}
	}
	return r, nil
}

// Cursor marks a position in newest-first order: the last row of a page.
// The zero Cursor is the start (the newest call).
type Cursor struct {
	StartedAt int64 // Unix ms
	Seq       int64
}

// IsZero reports whether c is the start.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// Page is one page of calls, newest first.
type Page struct {
	Rows []Row
	// Next continues after the last row; valid when More is set.
	Next Cursor
	// More reports that older matching calls exist.
	More bool
}

// MaxPageSize bounds a page.
const MaxPageSize = 10_000

// Page returns up to limit calls matching f, newest first (by started_at,
// then by seq), starting after cursor. It seeks by key (no OFFSET), so a
// page deep in a large ledger costs as little as the first, and rows added
// meanwhile never shift the pages that follow. limit is clamped to
// 1..MaxPageSize. The returned rows are the caller's.
func (db *DB) Page(ctx context.Context, f Filter, after Cursor, limit int) (Page, error) {
	limit = min(max(limit, 1), MaxPageSize)
	where, args := f.where()
	if !after.IsZero() {
		where += " AND (calls.started_at, calls.seq) < (?, ?)"
		args = append(args, after.StartedAt, after.Seq)
	}
	args = append(args, limit+1)
	q := "SELECT " + rowColumns + " FROM calls WHERE " + where +
		" ORDER BY calls.started_at DESC, calls.seq DESC LIMIT ?"
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("ledger page: %w", err)
	}
	defer rows.Close()
	var p Page
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return Page{}, fmt.Errorf("ledger page: %w", err)
		}
		if len(p.Rows) == limit {
			p.More = true
			break
		}
		p.Rows = append(p.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("ledger page: %w", err)
	}
	if n := len(p.Rows); n > 0 {
		last := p.Rows[n-1]
		p.Next = Cursor{StartedAt: last.StartedAt.UnixMilli(), Seq: last.Seq}
	}
	return p, nil
}

// Get returns the call with the given id, or ok false.
func (db *DB) Get(ctx context.Context, id string) (r Row, ok bool, err error) {
	row := db.read.QueryRowContext(ctx, "SELECT "+rowColumns+" FROM calls WHERE id = ?", id)
	r, err = scanRow(row)
	if err == sql.ErrNoRows {
		return Row{}, false, nil
	}
	if err != nil {
		return Row{}, false, fmt.Errorf("ledger get %s: %w", id, err)
	}
	return r, true, nil
}

// Totals sums calls. Token sums cover calls with usage; CostUSD covers
// priced calls only, so read it together with Unpriced.
type Totals struct {
	Calls             int64
	InputTokens       int64 // cache reads and writes included
	CachedInputTokens int64
	CacheWriteTokens  int64
	OutputTokens      int64 // reasoning included
	ReasoningTokens   int64
	CostUSD           float64
	// Unpriced counts calls with usage but no known price: CostUSD leaves
	// them out.
	Unpriced int64
	// NoUsage counts calls that carried no usage (errors, endpoints without
	// usage): their tokens and cost are unknown.
	NoUsage int64
	// Errors counts the calls that failed: outcome upstream_error, or
	// budget_refused (answered 429 by Conduit, never sent upstream).
	Errors int64
	// First and Last are the earliest and latest started_at (zero when
	// Calls is 0).
	First, Last time.Time
}

// Priced is how many calls of t have a cost.
func (t Totals) Priced() int64 { return t.Calls - t.NoUsage - t.Unpriced }

// CostKnown reports whether t's cost means anything: at least one call in
// it is priced. A group of only unpriced or usage-less calls has no known
// cost, which is shown as such, never as $0.
func (t Totals) CostKnown() bool { return t.Priced() > 0 }

// totalsColumns aggregates calls into Totals's fields, in scanTotals order.
const totalsColumns = `count(*),
	coalesce(sum(calls.input_tokens), 0), coalesce(sum(calls.cached_input_tokens), 0),
	coalesce(sum(calls.cache_write_tokens), 0), coalesce(sum(calls.output_tokens), 0),
	coalesce(sum(calls.reasoning_tokens), 0), coalesce(sum(calls.cost_usd), 0.0),
	coalesce(sum(` + unpricedSQL + `), 0),
	coalesce(sum(calls.has_usage = 0), 0),
	coalesce(sum(calls.outcome IN ('upstream_error', 'budget_refused')), 0),
	min(calls.started_at), max(calls.started_at)`

func scanTotals(s scanner, extra ...any) (Totals, error) {
	var t Totals
	var first, last sql.NullInt64
	dest := append(extra, &t.Calls, &t.InputTokens, &t.CachedInputTokens, &t.CacheWriteTokens,
		&t.OutputTokens, &t.ReasoningTokens, &t.CostUSD, &t.Unpriced, &t.NoUsage, &t.Errors,
		&first, &last)
	if err := s.Scan(dest...); err != nil {
		return Totals{}, err
	}
	if first.Valid {
		t.First, t.Last = fromMillis(first.Int64), fromMillis(last.Int64)
	}
	return t, nil
}

// Totals sums the calls matching f. Whole quarter hours come from the
// rollups (so a total over a million calls reads a few thousand rows), the
// window's partial edges from the calls; costs are summed with
// compensation, so the total is as exact as the rows.
func (db *DB) Totals(ctx context.Context, f Filter) (Totals, error) {
	res, err := db.aggregate(ctx, "", f)
	if err != nil {
		return Totals{}, fmt.Errorf("ledger totals: %w", err)
	}
	return res.totals(), nil
}

// totals returns the single group of an ungrouped aggregate.
func (res *aggResult) totals() Totals {
	a := res.byKey[""]
	if a == nil {
		return Totals{}
	}
	t := a.t
	t.CostUSD += a.comp
	return t
}

func timeFromMillis(ms, sentinel int64) time.Time {
	if ms == sentinel {
		return time.Time{}
	}
	return fromMillis(ms)
}

// Add adds o's calls to t, as the ledger's own sums would count them.
func (t *Totals) Add(o Totals) {
	var comp float64
	t.add(o, &comp)
	t.CostUSD += comp
}

// add merges o into t (for folding groups), carrying the cost sum's
// compensation in comp.
func (t *Totals) add(o Totals, comp *float64) {
	if t.Calls == 0 || (!o.First.IsZero() && o.First.Before(t.First)) {
		t.First = o.First
	}
	if o.Last.After(t.Last) {
		t.Last = o.Last
	}
	t.Calls += o.Calls
	t.InputTokens = satAdd(t.InputTokens, o.InputTokens)
	t.CachedInputTokens = satAdd(t.CachedInputTokens, o.CachedInputTokens)
	t.CacheWriteTokens = satAdd(t.CacheWriteTokens, o.CacheWriteTokens)
	t.OutputTokens = satAdd(t.OutputTokens, o.OutputTokens)
	t.ReasoningTokens = satAdd(t.ReasoningTokens, o.ReasoningTokens)
	t.CostUSD, *comp = neumaierAdd(t.CostUSD, *comp, o.CostUSD)
	t.Unpriced += o.Unpriced
	t.NoUsage += o.NoUsage
	t.Errors += o.Errors
}

// neumaierAdd adds x to the running sum s with compensation c; the exact
// sum is s+c.
func neumaierAdd(s, c, x float64) (float64, float64) {
	t := s + x
	if abs(s) >= abs(x) {
		c += (s - t) + x
	} else {
		c += (x - t) + s
	}
	return t, c
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
