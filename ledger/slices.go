package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// Slice is the totals of the calls that share every dimension a scope can
// select on: provider, model, client, project and outcome (and, from
// Slices with tag sets, the same set of tags). A reader that matches calls
// by its own rules (the budgets' globs) matches slices instead, and so
// reads a few hundred rows where there are many thousand calls.
type Slice struct {
	Provider string
	Model    string // "" when unknown
	Client   string // "" when none
	Project  string // "" when none
	Outcome  string
	// Tags is the calls' set of tags (no repeats, in first-seen order; nil
	// when they have none). Set only by Slices with tagSets; nil
	// otherwise.
	Tags []string
	Totals
}

// Slices sums the calls matching f per slice. Without tagSets the whole
// quarter hours of the window come from the rollups, the partial ones at
// its edges from the calls (as Totals does). With tagSets every slice
// also holds one set of tags, which only the calls themselves know: the
// window is read from the calls, a row per distinct combination. The order
// of the slices is unspecified; the slice is the caller's.
func (db *DB) Slices(ctx context.Context, f Filter, tagSets bool) ([]Slice, error) {
	tx, err := db.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger slices: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	parts := planAggregate(f)
	if tagSets {
		parts = rawPlan(f)
	}
	type key struct{ provider, model, client, project, outcome, tags string }
	acc := map[key]*rollupAcc{}
	for _, p := range parts {
		q, args := slicesQuery(f, p, tagSets)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("ledger slices: %w", err)
		}
		for rows.Next() {
			var k key
			t, err := scanTotals(rows, &k.provider, &k.model, &k.client, &k.project, &k.outcome, &k.tags)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("ledger slices: %w", err)
			}
			if t.Calls == 0 {
				continue
			}
			a := acc[k]
			if a == nil {
				a = &rollupAcc{}
				acc[k] = a
			}
			a.t.add(t, &a.comp)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("ledger slices: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("ledger slices: %w", err)
		}
	}
	out := make([]Slice, 0, len(acc))
	for k, a := range acc {
		s := Slice{Provider: k.provider, Model: k.model, Client: k.client, Project: k.project, Outcome: k.outcome, Totals: a.t}
		s.CostUSD += a.comp
		if k.tags != "" {
			var tags []string
			if json.Unmarshal([]byte(k.tags), &tags) == nil {
				s.Tags = slices.Clip(normTags(tags))
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// slicesQuery renders one part of Slices: the slice's dimensions, then
// the totals columns in scanTotals order.
func slicesQuery(f Filter, p aggPart, tagSets bool) (string, []any) {
	if p.rollup {
		table := "rollup"
		if f.Tag != "" {
			table = "rollup_tags"
		}
		where, args := rollupWhere(f, p)
		return "SELECT provider, model, client, project, outcome, '', " + rollupAggColumns +
			" FROM " + table + " WHERE " + where + " GROUP BY 1, 2, 3, 4, 5", args
	}
	rf := f
	rf.Since, rf.Until = timeFromMillis(p.lo, openLo), timeFromMillis(p.hi, openHi)
	where, args := rf.where()
	tags := "''"
	if tagSets {
		tags = "coalesce(calls.tags, '')"
	}
	return "SELECT calls.provider, coalesce(calls.model, ''), coalesce(calls.client, ''), coalesce(calls.project, ''), calls.outcome, " +
		tags + ", " + totalsColumns + " FROM calls WHERE " + where + " GROUP BY 1, 2, 3, 4, 5, 6", args
}
