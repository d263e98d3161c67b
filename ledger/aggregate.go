package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"slices"
)

// aggPart is one piece of an aggregate query: whole buckets from a rollup,
// or calls in a time range.
type aggPart struct {
	rollup bool
	// rollup: buckets [b0, b1); calls: started_at in [from, to) ms. The
	// math.MinInt64 / math.MaxInt64 sentinels leave a side open.
	lo, hi int64
}

const (
	openLo = math.MinInt64
	openHi = math.MaxInt64
)

// planAggregate splits f's window into rollup buckets and raw edges.
// Filters the rollups cannot answer (HTTP status) read only calls.
func planAggregate(f Filter) []aggPart {
	from, to := int64(openLo), int64(openHi)
	if !f.Since.IsZero() {
		from = f.Since.UnixMilli()
	}
	if !f.Until.IsZero() {
		to = f.Until.UnixMilli()
	}
	if f.Status != 0 || f.needsCalls() || from >= to {
		return rawPlan(f)
	}
	b0, b1 := int64(openLo), int64(openHi)
	if from != openLo {
		b0 = ceilDiv(from, timeBucketMillis)
	}
	if to != openHi {
		b1 = floorDiv(to, timeBucketMillis)
	}
	if b0 != openLo && b1 != openHi && b0 >= b1 {
		return []aggPart{{lo: from, hi: to}} // inside one bucket
	}
	parts := []aggPart{{rollup: true, lo: b0, hi: b1}}
	if b0 != openLo && from < b0*timeBucketMillis {
		parts = append(parts, aggPart{lo: from, hi: b0 * timeBucketMillis})
	}
	if b1 != openHi && b1*timeBucketMillis < to {
		parts = append(parts, aggPart{lo: b1 * timeBucketMillis, hi: to})
	}
	return parts
}

// rawPlan reads f's whole window from the calls.
func rawPlan(f Filter) []aggPart {
	p := aggPart{lo: openLo, hi: openHi}
	if !f.Since.IsZero() {
		p.lo = f.Since.UnixMilli()
	}
	if !f.Until.IsZero() {
		p.hi = f.Until.UnixMilli()
	}
	return []aggPart{p}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// aggResult is an aggregate's groups: by key for the non-time groupings (a
// single "" key for plain totals), by bucket for the time ones.
type aggResult struct {
	byKey    map[string]*rollupAcc
	byBucket map[int64]*rollupAcc
}

func (r *aggResult) merge(key string, bucket int64, t Totals, timeKeyed bool) {
	if t.Calls == 0 {
		return
	}
	var a *rollupAcc
	if timeKeyed {
		if a = r.byBucket[bucket]; a == nil {
			a = &rollupAcc{}
			r.byBucket[bucket] = a
		}
	} else {
		if a = r.byKey[key]; a == nil {
			a = &rollupAcc{}
			r.byKey[key] = a
		}
	}
	a.t.add(t, &a.comp)
}

// sum folds every group into one total, in key (or bucket) order so that
// the cost's rounding is the same each time. It is the plain total only
// for groupings that put each call in one group (not ByTag).
func (r *aggResult) sum() Totals {
	var total Totals
	var comp float64
	add := func(a *rollupAcc) {
		total.add(a.t, &comp)
		total.CostUSD, comp = neumaierAdd(total.CostUSD, comp, a.comp)
	}
	for _, k := range slices.Sorted(maps.Keys(r.byKey)) {
		add(r.byKey[k])
	}
	for _, b := range slices.Sorted(maps.Keys(r.byBucket)) {
		add(r.byBucket[b])
	}
	total.CostUSD += comp
	return total
}

// querier runs queries: the read pool, or a read transaction when several
// queries must see one snapshot.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// snapshot begins a read transaction: its queries all see the ledger as of
// its first one. The caller must Rollback it.
func (db *DB) snapshot(ctx context.Context) (*sql.Tx, error) {
	return db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
}

// aggregate sums the calls matching f, grouped by by ("" for plain
// totals), reading whole quarter hours from the rollups and the rest from
// the calls.
func (db *DB) aggregate(ctx context.Context, by GroupBy, f Filter) (*aggResult, error) {
	tx, err := db.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	return aggregateIn(ctx, tx, by, f)
}

func aggregateIn(ctx context.Context, q querier, by GroupBy, f Filter) (*aggResult, error) {
	parts := planAggregate(f)
	if by == ByTag && f.Tag != "" {
		// The calls carrying one tag, split by all their tags: only the
		// calls know which tags go together.
		parts = rawPlan(f)
	}
	return aggregateParts(ctx, q, by, f, parts)
}

// aggregateParts runs parts with q (all of them in one snapshot when q is a
// transaction) and merges their results.
func aggregateParts(ctx context.Context, q querier, by GroupBy, f Filter, parts []aggPart) (*aggResult, error) {
	timeKeyed := by == ByDay || by == ByHour
	res := &aggResult{byKey: map[string]*rollupAcc{}, byBucket: map[int64]*rollupAcc{}}
	for _, p := range parts {
		query, args := aggregateQuery(by, f, p)
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var key string
			var bucket int64
			var dest any = &key
			if timeKeyed {
				dest = &bucket
			}
			t, err := scanTotals(rows, dest)
			if err != nil {
				rows.Close()
				return nil, err
			}
			res.merge(key, bucket, t, timeKeyed)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// rollupWhere renders the WHERE clause that selects part p's quarter-hour
// buckets matching f from the rollup tables.
func rollupWhere(f Filter, p aggPart) (string, []any) {
	where, args := "1", []any(nil)
	cond := func(c string, v any) {
		where += " AND " + c
		args = append(args, v)
	}
	if p.lo != openLo {
		cond("bucket >= ?", p.lo)
	}
	if p.hi != openHi {
		cond("bucket < ?", p.hi)
	}
	for _, c := range []struct{ col, v string }{
		{"provider", f.Provider}, {"model", f.Model}, {"client", f.Client},
		{"outcome", f.Outcome}, {"tag", f.Tag}, {"project", f.Project}, {"session", f.Session},
	} {
		if c.v != "" {
			cond(c.col+" = ?", c.v)
		}
	}
	for _, c := range []struct{ col, pattern string }{
		{"provider", f.Glob.Provider}, {"model", f.Glob.Model}, {"client", f.Glob.Client},
		{"project", f.Glob.Project}, {"session", f.Glob.Session},
	} {
		if c.pattern != "" {
			cond(c.col+" GLOB ?", c.pattern)
		}
	}
	if !f.IncludeOther {
		where += " AND kind = '" + KindCall + "'"
	}
	return where, args
}

// rollupBucketSums sums rollup rows as rollupAggColumns does, named as the
// rollup's columns, for bucketSumsAggColumns to sum again.
const rollupBucketSums = `sum(calls) AS calls, sum(input_tokens) AS input_tokens,
	sum(cached_input_tokens) AS cached_input_tokens, sum(cache_write_tokens) AS cache_write_tokens,
	sum(output_tokens) AS output_tokens, sum(reasoning_tokens) AS reasoning_tokens,
	sum(cost_usd) AS cost_usd, sum(unpriced) AS unpriced, sum(no_usage) AS no_usage,
	sum(errors + (outcome = 'budget_refused') * calls) AS errors,
	min(first_ms) AS first_ms, max(last_ms) AS last_ms`

// bucketSumsAggColumns aggregates rollupBucketSums rows, in scanTotals
// order (their errors already count refused calls).
const bucketSumsAggColumns = `coalesce(sum(calls), 0), coalesce(sum(input_tokens), 0),
	coalesce(sum(cached_input_tokens), 0), coalesce(sum(cache_write_tokens), 0),
	coalesce(sum(output_tokens), 0), coalesce(sum(reasoning_tokens), 0),
	coalesce(sum(cost_usd), 0.0), coalesce(sum(unpriced), 0), coalesce(sum(no_usage), 0),
	coalesce(sum(errors), 0), min(first_ms), max(last_ms)`

// aggregateQuery renders one part's SQL: the group key, then the totals
// columns in scanTotals order.
func aggregateQuery(by GroupBy, f Filter, p aggPart) (string, []any) {
	if p.rollup {
		table := "rollup"
		if by == ByTag || f.Tag != "" {
			table = "rollup_tags"
		}
		var key string
		switch by {
		case ByModel:
			key = "model"
		case ByProvider:
			key = "provider"
		case ByClient:
			key = "client"
		case ByTag:
			key = "tag"
		case ByProject:
			key = "project"
		case BySession:
			key = "session"
		case ByDay, ByHour:
			key = "bucket"
		default:
			key = "''"
		}
		where, args := rollupWhere(f, p)
		if by == ByTag {
			// Sorting every row by tag was most of a tag report's time.
			// The table's key begins (bucket, tag): summing each bucket's
			// rows per tag first needs no sort, and leaves far fewer rows
			// to sort.
			q := "SELECT tag, " + bucketSumsAggColumns + " FROM (SELECT tag, " + rollupBucketSums +
				" FROM rollup_tags WHERE " + where + " GROUP BY bucket, tag) GROUP BY tag"
			return q, args
		}
		q := "SELECT " + key + ", " + rollupAggColumns + " FROM " + table + " WHERE " + where
		if key != "''" {
			q += " GROUP BY " + key
		}
		return q, args
	}

	rf := f
	rf.Since, rf.Until = timeFromMillis(p.lo, openLo), timeFromMillis(p.hi, openHi)
	where, args := rf.where()
	from := "calls"
	var key string
	switch by {
	case ByModel:
		key = "coalesce(calls.model, '')"
	case ByProvider:
		key = "calls.provider"
	case ByClient:
		key = "coalesce(calls.client, '')"
	case ByTag:
		key = "coalesce(t.value, '')"
		from = "calls LEFT JOIN json_each(calls.tags) AS t"
	case ByProject:
		key = "coalesce(calls.project, '')"
	case BySession:
		key = "coalesce(calls.session, '')"
	case ByDay, ByHour:
		key = fmt.Sprintf("calls.started_at / %d", timeBucketMillis)
	default:
		key = "''"
	}
	q := "SELECT " + key + ", " + totalsColumns + " FROM " + from + " WHERE " + where
	if key != "''" {
		q += " GROUP BY 1"
	}
	return q, args
}
