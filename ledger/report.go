package ledger

import (
	"context"
	"fmt"
	"time"
)

// Report is the totals of calls per group plus an overall total.
type Report struct {
	By           GroupBy
	Since, Until time.Time // the filter's window; zero: open
	Groups       []Group
	// Total counts every call once, also under ByTag where a call with
	// several tags is in several groups.
	Total Totals
	// Location is where day keys and the window are shown.
	Location *time.Location
}

// Report computes the per-group and overall totals of the calls matching f,
// from one snapshot of the ledger (a proxy writing meanwhile cannot make
// them disagree). Day groups use loc (nil: UTC).
func (db *DB) Report(ctx context.Context, by GroupBy, f Filter, loc *time.Location) (Report, error) {
	if loc == nil {
		loc = time.UTC
	}
	if _, err := ParseGroupBy(string(by)); err != nil {
		return Report{}, fmt.Errorf("ledger report: %w", err)
	}
	tx, err := db.snapshot(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("ledger report: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	groups, err := aggregateIn(ctx, tx, by, f)
	if err != nil {
		return Report{}, fmt.Errorf("ledger report by %s: %w", by, err)
	}
	var total Totals
	if by == ByTag {
		// A call with several tags is in several groups: only a query of
		// its own counts it once.
		res, err := aggregateIn(ctx, tx, "", f)
		if err != nil {
			return Report{}, fmt.Errorf("ledger report totals: %w", err)
		}
		total = res.totals()
	} else {
		// Every other grouping puts each call in exactly one group: the
		// total is their sum, without reading the ledger a second time.
		total = groups.sum()
	}
	return Report{By: by, Since: f.Since, Until: f.Until, Groups: groups.groups(by, loc),
		Total: total, Location: loc}, nil
}
