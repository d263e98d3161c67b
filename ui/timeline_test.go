package ui

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// TestTimelineAdd checks that adding the rows written since a timeline was
// read gives the timeline read afresh: buckets, start and totals.
func TestTimelineAdd(t *testing.T) {
	var recs []ledger.Record
	for i := range 30 {
		r := call(i, time.Duration(90-3*i)*time.Minute)
		switch i % 5 {
		case 1:
			r.CostUSD = nil // unpriced
		case 2:
			r.HasUsage, r.CostUSD, r.Outcome, r.Status = false, nil, ledger.OutcomeUpstreamError, 500
		case 3:
			r.CostUSD = f64(float64(i) / 100)
		}
		recs = append(recs, r)
	}
	for _, step := range []time.Duration{time.Minute, time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			path := testLedger(t, recs[:12]...)
			db := openRO(t, path)
			ctx := context.Background()
			f := ledger.Filter{Since: testNow.Add(-2 * time.Hour)}
			tl, err := db.Timeline(ctx, f, step, 1000)
			if err != nil {
				t.Fatal(err)
			}
			mark, _ := db.MaxSeq(ctx)
			appendCalls(t, path, recs[12:]...)
			rows, _, err := db.RowsSince(ctx, f, mark, 100)
			if err != nil || len(rows) != len(recs)-12 {
				t.Fatalf("%d rows since the mark, %v", len(rows), err)
			}
			for _, r := range rows {
				addToTimeline(&tl, r.Record)
			}
			fresh, err := db.Timeline(ctx, f, step, 1000)
			if err != nil {
				t.Fatal(err)
			}
			a, b := tl.Total, fresh.Total
			if a.Calls != b.Calls || a.InputTokens != b.InputTokens || a.Unpriced != b.Unpriced || a.NoUsage != b.NoUsage ||
				a.Errors != b.Errors || math.Abs(a.CostUSD-b.CostUSD) > 1e-12 || !a.Last.Equal(b.Last) {
				t.Fatalf("added %+v\nfresh %+v", a, b)
			}
			if !tl.Start.Equal(fresh.Start) || len(tl.Buckets) != len(fresh.Buckets) {
				t.Fatalf("added: %d buckets from %v, fresh: %d from %v", len(tl.Buckets), tl.Start, len(fresh.Buckets), fresh.Start)
			}
			for i := range tl.Buckets {
				if b, w := tl.Buckets[i], fresh.Buckets[i]; b.Calls != w.Calls || math.Abs(b.CostUSD-w.CostUSD) > 1e-12 {
					t.Fatalf("bucket %d: %+v, fresh %+v", i, b, w)
				}
			}
		})
	}
}

// TestExtendTimeline guards the padding to now: an empty timeline starts
// at the bucket holding t (on the epoch's grid), and buckets are added
// until t is covered.
func TestExtendTimeline(t *testing.T) {
	tl := ledger.Timeline{Step: 15 * time.Minute}
	at := time.Date(2026, 11, 20, 12, 7, 0, 0, time.UTC)
	extendTimeline(&tl, at)
	if want := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC); !tl.Start.Equal(want) || len(tl.Buckets) != 1 {
		t.Fatalf("start %v, %d buckets", tl.Start, len(tl.Buckets))
	}
	extendTimeline(&tl, at.Add(time.Hour))
	if len(tl.Buckets) != 5 || !at.Add(time.Hour).Before(tl.End()) {
		t.Fatalf("%d buckets to %v", len(tl.Buckets), tl.End())
	}
	none := ledger.Timeline{}
	extendTimeline(&none, at)
	if len(none.Buckets) != 0 || !none.Start.IsZero() {
		t.Errorf("a timeline without a step grew: %+v", none)
	}
}
