package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// Repriced says what Reprice changed (or, in a dry run, would change).
type Repriced struct {
	Calls   int64 // calls the filter selected
	Changed int64 // calls whose cost, cost source, price version or note changed
	// NewlyPriced were unpriced and now have a cost; NoLongerPriced the
	// reverse.
	NewlyPriced, NoLongerPriced int64
	// Before and After are the selected calls' total cost in USD, priced
	// calls only.
	Before, After float64
}

// repriceUpdate is one call's new cost fields.
type repriceUpdate struct {
	seq                       int64
	cost, source, version, nt any
}

// Reprice recomputes the cost of every call f selects: price is given each
// stored record and sets its CostUSD, CostSource, PriceVersion and CostNote
// (as pricing.Pricer.Price does). Unless dryRun, the calls that changed are
// rewritten and the rollups rebuilt, all in one write transaction, so that
// reports never see half a repricing; a proxy writing meanwhile waits for
// it (bounded by its busy timeout, its records then retried). A dry run only
// reads, and works on a read-only DB. Calls already sent to Valohai LLM are
// not sent again.
func (db *DB) Reprice(ctx context.Context, f Filter, price func(*Record), dryRun bool) (Repriced, error) {
	var res Repriced
	var q querier
	var tx *sql.Tx
	if dryRun {
		snap, err := db.snapshot(ctx)
		if err != nil {
			return res, fmt.Errorf("reprice ledger %s: %w", db.path, err)
		}
		defer func() { _ = snap.Rollback() }()
		q = snap
	} else {
		w, err := db.writer()
		if err != nil {
			return res, err
		}
		if tx, err = w.BeginTx(ctx, nil); err != nil {
			return res, fmt.Errorf("reprice ledger %s: %w", db.path, err)
		}
		defer func() { _ = tx.Rollback() }()
		q = tx
	}
	where, args := f.where()
	rows, err := q.QueryContext(ctx, "SELECT "+rowColumns+" FROM calls WHERE "+where+" ORDER BY calls.seq", args...)
	if err != nil {
		return res, fmt.Errorf("reprice ledger %s: read calls: %w", db.path, err)
	}
	var updates []repriceUpdate
	var before, after, cb, ca float64
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return res, fmt.Errorf("reprice ledger %s: read calls: %w", db.path, err)
		}
		res.Calls++
		old := r.Record
		price(&r.Record)
		if old.CostUSD != nil {
			before, cb = neumaierAdd(before, cb, *old.CostUSD)
		}
		if r.CostUSD != nil {
			after, ca = neumaierAdd(after, ca, *r.CostUSD)
		}
		if sameCost(old.CostUSD, r.CostUSD) && old.CostSource == r.CostSource && old.PriceVersion == r.PriceVersion && old.CostNote == r.CostNote {
			continue
		}
		res.Changed++
		switch {
		case old.CostUSD == nil && r.CostUSD != nil:
			res.NewlyPriced++
		case old.CostUSD != nil && r.CostUSD == nil:
			res.NoLongerPriced++
		}
		updates = append(updates, repriceUpdate{seq: r.Seq, cost: finite(r.CostUSD),
			source: nullString(r.CostSource), version: nullString(r.PriceVersion), nt: nullString(r.CostNote)})
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("reprice ledger %s: read calls: %w", db.path, err)
	}
	rows.Close()
	res.Before, res.After = before+cb, after+ca
	if dryRun || len(updates) == 0 {
		return res, nil
	}
	stmt, err := tx.PrepareContext(ctx, "UPDATE calls SET cost_usd = ?, cost_source = ?, price_version = ?, cost_note = ? WHERE seq = ?")
	if err != nil {
		return res, fmt.Errorf("reprice ledger %s: %w", db.path, err)
	}
	defer stmt.Close()
	for _, u := range updates {
		if _, err := stmt.ExecContext(ctx, u.cost, u.source, u.version, u.nt, u.seq); err != nil {
			return res, fmt.Errorf("reprice ledger %s: call %d: %w", db.path, u.seq, err)
		}
	}
	if err := rebuildRollups(ctx, tx); err != nil {
		return res, fmt.Errorf("reprice ledger %s: %w", db.path, err)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("reprice ledger %s: commit: %w", db.path, err)
	}
	return res, nil
}

func sameCost(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b || (math.IsNaN(*a) && math.IsNaN(*b))
}

// UnpricedModel is one model whose calls have usage but no cost.
type UnpricedModel struct {
	Provider, Host, Model     string
	Calls                     int64
	InputTokens, OutputTokens int64
	Last                      time.Time // the newest such call's start
	Note                      string    // a cost note of these calls ("" if none was recorded)
}

// Unpriced lists the models of the calls f selects that have usage but no
// cost, per provider key, upstream host and model, most calls first.
func (db *DB) Unpriced(ctx context.Context, f Filter) ([]UnpricedModel, error) {
	where, args := f.where()
	rows, err := db.read.QueryContext(ctx, `SELECT provider, host, coalesce(model, ''), count(*),
		coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), max(started_at), coalesce(max(cost_note), '')
		FROM calls WHERE `+where+` AND `+unpricedSQL+`
		GROUP BY 1, 2, 3 ORDER BY 4 DESC, 3, 1, 2`, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: unpriced models: %w", db.path, err)
	}
	defer rows.Close()
	var out []UnpricedModel
	for rows.Next() {
		var m UnpricedModel
		var last int64
		if err := rows.Scan(&m.Provider, &m.Host, &m.Model, &m.Calls, &m.InputTokens, &m.OutputTokens, &last, &m.Note); err != nil {
			return nil, fmt.Errorf("ledger %s: unpriced models: %w", db.path, err)
		}
		m.Last = fromMillis(last)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger %s: unpriced models: %w", db.path, err)
	}
	return out, nil
}
