package ledger

import (
	"context"
	"fmt"
	"math"
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

// SortKeys lists the sort keys in the order a dashboard cycles through them.
var SortKeys = []SortKey{SortStarted, SortCost, SortInput, SortOutput, SortDuration}

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

// Timeline is the calls matching a filter, summed per time step: what a
// sparkline of spend over a window draws.
type Timeline struct {
	// Start is the start of the first bucket (UTC; a multiple of Step
	// since the Unix epoch). Zero when no call matched.
	Start time.Time
	// Step is the width of each bucket.
	Step time.Duration
	// Buckets are the sums per step, oldest first: bucket i covers
	// [Start+i*Step, Start+(i+1)*Step). Steps without calls are zero.
	Buckets []Totals
	// Total sums every matching call, once.
	Total Totals
}

// End returns the end of the last bucket (Start when there are none).
func (tl *Timeline) End() time.Time {
	return tl.Start.Add(time.Duration(len(tl.Buckets)) * tl.Step)
}

// Timeline sums the calls matching f per step of time. A step below a
// quarter hour is kept only when the window (from Since, or the oldest
// call, to Until, or the newest call) fits maxBuckets such steps; those
// come from the calls themselves (an index range scan of the window). Otherwise the step
// is a multiple of a quarter hour, widened as needed so that at most
// maxBuckets buckets span the calls, and the sums come from the rollups
// like Totals (plus the window's partial edges from the calls), so a
// timeline over a million calls reads a few thousand summary rows. step 0
// lets the window decide; maxBuckets below 1 means 1. The Buckets run from
// the bucket holding f.Since (or the oldest matching call) to the one
// holding the newest matching call; a caller that wants them to reach
// "now" pads with Extend.
func (db *DB) Timeline(ctx context.Context, f Filter, step time.Duration, maxBuckets int) (Timeline, error) {
	maxBuckets = max(maxBuckets, 1)
	const quarter = timeBucketMillis * int64(time.Millisecond)
	tx, err := db.snapshot(ctx)
	if err != nil {
		return Timeline{}, fmt.Errorf("ledger timeline: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	if step > 0 && step < time.Duration(quarter) {
		// Fine steps only over a short span: the window's, or (without
		// a Since) the whole ledger's, read from the start-time index.
		var first, last *int64
		// Two subqueries: SQLite reads a lone min() or max() from the
		// index's ends, but scans the index for both in one SELECT.
		if err := tx.QueryRowContext(ctx, "SELECT (SELECT min(started_at) FROM calls), (SELECT max(started_at) FROM calls)").Scan(&first, &last); err != nil {
			return Timeline{}, fmt.Errorf("ledger timeline: %w", err)
		}
		stepMs := max(step.Milliseconds(), 1)
		if last != nil {
			lo, hi := *first, *last+1
			if !f.Since.IsZero() {
				lo = f.Since.UnixMilli()
			}
			if !f.Until.IsZero() {
				hi = f.Until.UnixMilli()
			}
			if (hi-lo)/stepMs < int64(maxBuckets) {
				return timelineRaw(ctx, tx, f, stepMs)
			}
		} else if !f.Since.IsZero() {
			return timelineRaw(ctx, tx, f, stepMs)
		}
	}

	res, err := aggregateIn(ctx, tx, ByDay, f)
	if err != nil {
		return Timeline{}, fmt.Errorf("ledger timeline: %w", err)
	}
	if len(res.byBucket) == 0 {
		tl := Timeline{Step: max(roundUp(step, time.Duration(quarter)), time.Duration(quarter))}
		if !f.Since.IsZero() {
			tl.Extend(f.Since)
		}
		return tl, nil
	}
	loQ, hiQ := int64(math.MaxInt64), int64(math.MinInt64)
	for b := range res.byBucket {
		loQ, hiQ = min(loQ, b), max(hiQ, b)
	}
	if !f.Since.IsZero() {
		loQ = min(loQ, floorDiv(f.Since.UnixMilli(), timeBucketMillis))
	}
	// Steps of whole quarter hours, at least step, few enough to fit.
	perStep := max(ceilDiv(int64(step), quarter), 1)
	if need := ceilDiv(hiQ-loQ+1, int64(maxBuckets)); need > perStep {
		perStep = need
	}
	stepMs := perStep * timeBucketMillis
	startMs := floorDiv(loQ*timeBucketMillis, stepMs) * stepMs
	n := (hiQ*timeBucketMillis-startMs)/stepMs + 1
	accs := make([]rollupAcc, n)
	var total rollupAcc
	for b, a := range res.byBucket {
		i := (b*timeBucketMillis - startMs) / stepMs
		t := a.t
		t.CostUSD += a.comp
		accs[i].t.add(t, &accs[i].comp)
		total.t.add(t, &total.comp)
	}
	return finishTimeline(startMs, stepMs, accs, total), nil
}

// timelineRaw sums f's calls per stepMs straight from the calls.
func timelineRaw(ctx context.Context, q querier, f Filter, stepMs int64) (Timeline, error) {
	where, args := f.where()
	rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT calls.started_at / %d, %s FROM calls WHERE %s GROUP BY 1", stepMs, totalsColumns, where), args...)
	if err != nil {
		return Timeline{}, fmt.Errorf("ledger timeline: %w", err)
	}
	defer rows.Close()
	byStep := map[int64]Totals{}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for rows.Next() {
		var k int64
		t, err := scanTotals(rows, &k)
		if err != nil {
			return Timeline{}, fmt.Errorf("ledger timeline: %w", err)
		}
		byStep[k] = t
		lo, hi = min(lo, k), max(hi, k)
	}
	if err := rows.Err(); err != nil {
		return Timeline{}, fmt.Errorf("ledger timeline: %w", err)
	}
	if !f.Since.IsZero() {
		lo = min(lo, floorDiv(f.Since.UnixMilli(), stepMs))
	}
	if len(byStep) == 0 {
		tl := Timeline{Step: time.Duration(stepMs) * time.Millisecond}
		if !f.Since.IsZero() {
			tl.Extend(f.Since)
		}
		return tl, nil
	}
	accs := make([]rollupAcc, hi-lo+1)
	var total rollupAcc
	for k, t := range byStep {
		accs[k-lo].t.add(t, &accs[k-lo].comp)
		total.t.add(t, &total.comp)
	}
	return finishTimeline(lo*stepMs, stepMs, accs, total), nil
}

func finishTimeline(startMs, stepMs int64, accs []rollupAcc, total rollupAcc) Timeline {
	tl := Timeline{
		Start:   fromMillis(startMs),
		Step:    time.Duration(stepMs) * time.Millisecond,
		Buckets: make([]Totals, len(accs)),
		Total:   total.t,
	}
	tl.Total.CostUSD += total.comp
	for i, a := range accs {
		tl.Buckets[i] = a.t
		tl.Buckets[i].CostUSD += a.comp
	}
	return tl
}

func roundUp(d, m time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + m - 1) / m * m
}

// Extend adds empty buckets until the timeline covers t. A timeline with
// no Start yet starts at t's bucket.
func (tl *Timeline) Extend(t time.Time) {
	if tl.Step <= 0 {
		return
	}
	if tl.Start.IsZero() {
		stepMs := tl.Step.Milliseconds()
		tl.Start = fromMillis(floorDiv(t.UnixMilli(), stepMs) * stepMs)
	}
	for !t.Before(tl.End()) {
		tl.Buckets = append(tl.Buckets, Totals{})
	}
}

// Add counts a call into the timeline, as the ledger would count it once
// written (the caller checks that r matches the timeline's filter):
// adding the calls written since a Timeline was computed keeps it exact
// without reading the window again. Buckets are added to reach r; a call
// before Start goes into the Total only.
func (tl *Timeline) Add(r Record) {
	one := TotalsOf(r)
	var comp float64
	tl.Total.add(one, &comp)
	tl.Total.CostUSD += comp
	if tl.Step <= 0 {
		return
	}
	tl.Extend(r.StartedAt)
	if r.StartedAt.Before(tl.Start) {
		return
	}
	i := int(r.StartedAt.Sub(tl.Start) / tl.Step)
	comp = 0
	tl.Buckets[i].add(one, &comp)
	tl.Buckets[i].CostUSD += comp
}

// TotalsOf returns the totals of the single call r, as Totals and the
// rollups count it: tokens only when it had usage, its cost only when
// priced (else Unpriced or NoUsage), and Errors for an upstream error.
func TotalsOf(r Record) Totals {
	one := Totals{Calls: 1, First: r.StartedAt, Last: r.StartedAt}
	if r.HasUsage {
		one.InputTokens, one.CachedInputTokens, one.CacheWriteTokens = r.InputTokens, r.CachedInputTokens, r.CacheWriteTokens
		one.OutputTokens, one.ReasoningTokens = r.OutputTokens, r.ReasoningTokens
		if c, ok := finite(r.CostUSD).(float64); ok {
			one.CostUSD = c
		} else {
			one.Unpriced = 1
		}
	} else {
		one.NoUsage = 1
	}
	if r.Outcome == OutcomeUpstreamError {
		one.Errors = 1
	}
	return one
}
