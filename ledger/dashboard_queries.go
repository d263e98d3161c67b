package ledger

import (
	"context"
	"fmt"
	"time"
)

// The queries in this file serve `conduit dashboard`, which keeps a window
// of calls on screen and refreshes it as the proxy writes: calls in any of a
// few orders, paged by key in both directions; the calls written since a
// given seq (so a refresh reads only what is new); and spend over time for
// its sparkline, from the rollups like Totals.

// SortKey names a column calls can be listed in order of (PageOrdered).
type SortKey string

// Sort keys. Unknown values (a call without usage has no token counts; an
// unpriced call no cost) rank below every known one.
const (
	SortStarted  SortKey = "started"  // start time
	SortCost     SortKey = "cost"     // cost in USD
	SortInput    SortKey = "input"    // input tokens
	SortOutput   SortKey = "output"   // output tokens
	SortDuration SortKey = "duration" // request received to response finished
)

// Order is an order of calls: a sort key and a direction. Ties are broken by
// seq in the same direction, so the order is total and a row's place in it
// never changes as rows are added. The zero Order is invalid; use
// Order{Key: SortStarted} for newest first.
type Order struct {
	Key SortKey
	Asc bool // false: largest (newest) first
}

// sortExpr is the SQL value calls are sorted by under k.
func (k SortKey) sortExpr() (string, error) {
	switch k {
	case SortStarted:
		return "calls.started_at", nil
	case SortCost:
		return "coalesce(calls.cost_usd, -1.0)", nil
	case SortInput:
		return "coalesce(calls.input_tokens, -1)", nil
	case SortOutput:
		return "coalesce(calls.output_tokens, -1)", nil
	case SortDuration:
		return "calls.duration_ms", nil
	}
	return "", fmt.Errorf("unknown sort key %q", k)
}

// sortValue is r's value under k, exactly as sortExpr computes it in SQL.
// Costs are float64, everything else int64.
func (k SortKey) sortValue(r *Row) any {
	switch k {
	case SortCost:
		if c, ok := finite(r.CostUSD).(float64); ok {
			return c
		}
		return -1.0
	case SortInput:
		if !r.HasUsage {
			return int64(-1)
		}
		return r.InputTokens
	case SortOutput:
		if !r.HasUsage {
			return int64(-1)
		}
		return r.OutputTokens
	case SortDuration:
		return max(r.Duration, 0).Milliseconds()
	}
	return r.StartedAt.UnixMilli()
}

// compareValues compares two sortValue results of the same key.
func compareValues(a, b any) int {
	switch a := a.(type) {
	case float64:
		return cmpAsc(a, b.(float64))
	case int64:
		return cmpAsc(a, b.(int64))
	}
	return 0
}

// Compare reports whether a comes before (-1), with (0, only the same seq)
// or after (+1) b in o, agreeing exactly with PageOrdered's SQL order. It
// lets a caller merge newly written rows into a list it paged earlier.
func (o Order) Compare(a, b Row) int {
	c := compareValues(o.Key.sortValue(&a), o.Key.sortValue(&b))
	if c == 0 {
		c = cmpAsc(a.Seq, b.Seq)
	}
	if !o.Asc {
		c = -c
	}
	return c
}

// Reverse returns o with the direction flipped.
func (o Order) Reverse() Order { return Order{Key: o.Key, Asc: !o.Asc} }

// OrderCursor marks a position in an Order: just past one row. The zero
// OrderCursor is the start of the order.
type OrderCursor struct {
	value any // the row's sort value; nil: the start
	seq   int64
}

// After returns the cursor just past r in o: a page after it starts with
// the row that follows r.
func (o Order) After(r Row) OrderCursor {
	return OrderCursor{value: o.Key.sortValue(&r), seq: r.Seq}
}

// IsZero reports whether c is the start of its order.
func (c OrderCursor) IsZero() bool { return c.value == nil }

// PageOrdered returns up to limit calls matching f in order o, starting
// just after cursor, and whether more follow. Paging by time (SortStarted)
// walks the start-time index and costs the same anywhere in the ledger;
// the other keys sort the calls f selects, so they cost in proportion to
// the window (a few hundred ms over a million calls: give them a bounded
// window, or call them rarely). Reversing the order pages back towards the
// start: PageOrdered(f, o.Reverse(), o.Reverse().After(first), n) returns
// the rows before first, nearest first. limit is clamped to
// 1..MaxPageSize. The rows are the caller's.
func (db *DB) PageOrdered(ctx context.Context, f Filter, o Order, after OrderCursor, limit int) (rows []Row, more bool, err error) {
	limit = min(max(limit, 1), MaxPageSize)
	expr, err := o.Key.sortExpr()
	if err != nil {
		return nil, false, fmt.Errorf("ledger page: %w", err)
	}
	where, args := f.where()
	cmp, dir := "<", "DESC"
	if o.Asc {
		cmp, dir = ">", "ASC"
	}
	if !after.IsZero() {
		where += " AND (" + expr + ", calls.seq) " + cmp + " (?, ?)"
		args = append(args, after.value, after.seq)
	}
	args = append(args, limit+1)
	q := "SELECT " + rowColumns + " FROM calls WHERE " + where +
		" ORDER BY " + expr + " " + dir + ", calls.seq " + dir + " LIMIT ?"
	rows, more, err = db.queryRows(ctx, q, args, limit)
	if err != nil {
		return nil, false, fmt.Errorf("ledger page by %s: %w", o.Key, err)
	}
	return rows, more, nil
}

// RowsSince returns up to limit calls matching f written after seq (Seq >
// seq), in the order they were written, and whether more were written. It
// reads only the rows past seq (the rowid range), however large the ledger
// and whatever f's window: a refresh that remembers MaxSeq reads just the
// new calls. The rows are the caller's.
func (db *DB) RowsSince(ctx context.Context, f Filter, seq int64, limit int) (rows []Row, more bool, err error) {
	limit = min(max(limit, 1), MaxPageSize)
	where, args := f.where()
	// NOT INDEXED keeps SQLite from walking the start-time index for f's
	// window: the rowid range is what bounds the work.
	q := "SELECT " + rowColumns + " FROM calls NOT INDEXED WHERE calls.seq > ? AND " + where +
		" ORDER BY calls.seq LIMIT ?"
	rows, more, err = db.queryRows(ctx, q, append(append([]any{seq}, args...), limit+1), limit)
	if err != nil {
		return nil, false, fmt.Errorf("ledger calls since %d: %w", seq, err)
	}
	return rows, more, nil
}

// CountSince counts the calls matching f written after seq, reading only
// the rows past seq.
func (db *DB) CountSince(ctx context.Context, f Filter, seq int64) (int64, error) {
	where, args := f.where()
	var n int64
	err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM calls NOT INDEXED WHERE calls.seq > ? AND "+where,
		append([]any{seq}, args...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("ledger count since %d: %w", seq, err)
	}
	return n, nil
}

// queryRows runs a row query whose last argument is limit+1 and reports
// whether the extra row came.
func (db *DB) queryRows(ctx context.Context, q string, args []any, limit int) ([]Row, bool, error) {
	rs, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rs.Close()
	var out []Row
	more := false
	for rs.Next() {
		if len(out) == limit {
			more = true
			break
		}
		r, err := scanRow(rs)
		if err != nil {
			return nil, false, err
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// Timeline is the calls matching a filter, counted and costed per time
// step: what a sparkline of spend over a window draws.
type Timeline struct {
	// Start is the start of the first bucket (UTC; a multiple of Step
	// since the Unix epoch). Zero when the ledger is empty and the filter
	// has no Since.
	Start time.Time
	// Step is the width of each bucket.
	Step time.Duration
	// Buckets are the sums per step, oldest first: bucket i covers
	// [Start+i*Step, Start+(i+1)*Step). Steps without calls are zero.
	Buckets []Bucket
	// Total sums every matching call, once, with every field of Totals.
	Total Totals
}

// Bucket is one step of a Timeline.
type Bucket struct {
	Calls   int64
	CostUSD float64 // priced calls only, as Totals.CostUSD
}

// End returns the end of the last bucket (Start when there are none).
func (tl *Timeline) End() time.Time {
	return tl.Start.Add(time.Duration(len(tl.Buckets)) * tl.Step)
}

// Timeline counts and costs the calls matching f per step of time, from
// the bucket holding f.Since (or the oldest call) to the one holding
// f.Until (or the newest call); a caller that wants the buckets to reach
// "now" pads it with empty buckets. A step below a quarter hour is kept only when
// that span fits maxBuckets such steps; those buckets come from the calls
// themselves (an index range scan of the window). Otherwise the step is a
// multiple of a quarter hour, widened as needed so that at most maxBuckets
// buckets span the window, and the sums come from the rollups like Totals
// (plus the window's partial edges from the calls): a timeline of a
// million calls reads a few tens of thousands of summary rows and returns
// a few hundred. step 0 lets the window decide; maxBuckets below 1 means 1.
// Total comes from the same snapshot of the ledger as the buckets.
func (db *DB) Timeline(ctx context.Context, f Filter, step time.Duration, maxBuckets int) (Timeline, error) {
	tl, err := db.timeline(ctx, f, step, max(maxBuckets, 1))
	if err != nil {
		return Timeline{}, fmt.Errorf("ledger timeline: %w", err)
	}
	return tl, nil
}

func (db *DB) timeline(ctx context.Context, f Filter, step time.Duration, maxBuckets int) (Timeline, error) {
	const quarter = time.Duration(timeBucketMillis) * time.Millisecond
	tx, err := db.snapshot(ctx)
	if err != nil {
		return Timeline{}, err
	}
	defer func() { _ = tx.Rollback() }()

	// The span: the window's ends, or the ledger's. Two subqueries, as
	// SQLite reads a lone min() or max() from the index's ends but scans
	// the whole index for both in one SELECT.
	var first, last *int64
	if err := tx.QueryRowContext(ctx, "SELECT (SELECT min(started_at) FROM calls), (SELECT max(started_at) FROM calls)").Scan(&first, &last); err != nil {
		return Timeline{}, err
	}
	var lo, hi int64 // [lo, hi) in Unix ms
	switch {
	case !f.Since.IsZero():
		lo = f.Since.UnixMilli()
	case first != nil:
		lo = *first
	}
	switch {
	case !f.Until.IsZero():
		hi = f.Until.UnixMilli()
	case last != nil:
		hi = max(*last+1, lo+1)
	default:
		hi = lo + 1
	}
	if last == nil && f.Since.IsZero() {
		// An empty ledger and no window: nothing to place.
		return Timeline{Step: max(roundUp(step, quarter), quarter)}, nil
	}

	// Fine steps over a short span come from the calls; anything else is
	// whole quarter hours, from the rollups.
	count := func(stepMs int64) int64 { return floorDiv(hi-1, stepMs) - floorDiv(lo, stepMs) + 1 }
	stepMs := max(step.Milliseconds(), 1)
	raw := step > 0 && step < quarter && count(stepMs) <= int64(maxBuckets)
	if !raw {
		perStep := max(ceilDiv(int64(step), int64(quarter)), 1)
		perStep = max(perStep, ceilDiv(hi-lo, timeBucketMillis*int64(maxBuckets)))
		for count(perStep*timeBucketMillis) > int64(maxBuckets) {
			perStep++ // the span straddles one more step than it fills
		}
		stepMs = perStep * timeBucketMillis
	}
	startMs := floorDiv(lo, stepMs) * stepMs
	tl := Timeline{
		Start:   fromMillis(startMs),
		Step:    time.Duration(stepMs) * time.Millisecond,
		Buckets: make([]Bucket, count(stepMs)),
	}
	comps := make([]float64, len(tl.Buckets))
	parts := rawPlan(f)
	if !raw {
		parts = planAggregate(f)
	}
	for _, p := range parts {
		q, args := timelineQuery(f, p, stepMs)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return Timeline{}, err
		}
		for rows.Next() {
			var k, calls int64
			var cost float64
			if err := rows.Scan(&k, &calls, &cost); err != nil {
				rows.Close()
				return Timeline{}, err
			}
			i := k - startMs/stepMs
			if i < 0 || i >= int64(len(tl.Buckets)) {
				continue // outside [Since, Until): cannot happen, be safe
			}
			tl.Buckets[i].Calls += calls
			tl.Buckets[i].CostUSD, comps[i] = neumaierAdd(tl.Buckets[i].CostUSD, comps[i], cost)
		}
		if err := rows.Close(); err != nil {
			return Timeline{}, err
		}
	}
	for i := range tl.Buckets {
		tl.Buckets[i].CostUSD += comps[i]
	}
	res, err := aggregateIn(ctx, tx, "", f)
	if err != nil {
		return Timeline{}, err
	}
	tl.Total = res.totals()
	return tl, nil
}

// timelineQuery renders one part of a timeline: the step number (Unix ms
// / stepMs), calls and cost, from the rollups (stepMs is then a whole
// number of quarter hours) or from the calls.
func timelineQuery(f Filter, p aggPart, stepMs int64) (string, []any) {
	if !p.rollup {
		rf := f
		rf.Since, rf.Until = timeFromMillis(p.lo, openLo), timeFromMillis(p.hi, openHi)
		where, args := rf.where()
		return fmt.Sprintf("SELECT calls.started_at / %d, count(*), coalesce(sum(calls.cost_usd), 0.0) FROM calls WHERE %s GROUP BY 1", stepMs, where), args
	}
	table := "rollup"
	if f.Tag != "" {
		table = "rollup_tags" // one row per call for a given tag
	}
	where, args := rollupWhere(f, p)
	return fmt.Sprintf("SELECT bucket / %d, coalesce(sum(calls), 0), coalesce(sum(cost_usd), 0.0) FROM %s WHERE %s GROUP BY 1",
		stepMs/timeBucketMillis, table, where), args
}

func roundUp(d, m time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + m - 1) / m * m
}

// TotalsOf returns the totals of the single call r, as Totals and the
// rollups count it: tokens only when it had usage, its cost only when
// priced (else Unpriced or NoUsage), and Errors for an upstream error or a
// call a budget refused.
func TotalsOf(r Record) Totals {
	one := Totals{Calls: 1, First: r.StartedAt, Last: r.StartedAt}
	if r.HasUsage {
		one.InputTokens, one.CachedInputTokens, one.CacheWriteTokens = r.InputTokens, r.CachedInputTokens, r.CacheWriteTokens
		one.OutputTokens, one.ReasoningTokens = r.OutputTokens, r.ReasoningTokens
		if r.Unpriced() {
			one.Unpriced = 1
		} else {
			one.CostUSD = *r.CostUSD
		}
	} else {
		one.NoUsage = 1
	}
	if r.Outcome == OutcomeUpstreamError || r.Outcome == OutcomeBudgetRefused {
		one.Errors = 1
	}
	return one
}
