package ui

import (
	"time"

	"github.com/valohai/conduit/ledger"
)

// extendTimeline adds empty buckets until tl covers t, so that the spend
// line reaches now. A timeline with no Start yet starts at t's bucket (a
// multiple of Step since the Unix epoch, as the ledger's buckets are). It
// does nothing without a Step.
func extendTimeline(tl *ledger.Timeline, t time.Time) {
	if tl.Step <= 0 {
		return
	}
	if tl.Start.IsZero() {
		stepMs := tl.Step.Milliseconds()
		ms := t.UnixMilli()
		start := ms / stepMs * stepMs
		if start > ms { // a negative ms rounds towards zero: floor it
			start -= stepMs
		}
		tl.Start = time.UnixMilli(start).UTC()
	}
	for !t.Before(tl.End()) {
		tl.Buckets = append(tl.Buckets, ledger.Bucket{})
	}
}

// addToTimeline counts a call into tl, as the ledger would count it once
// written (the caller checks that r matches the timeline's filter): adding
// the calls written since a Timeline was read keeps it exact without
// reading the window again. Buckets are added to reach r; a call before
// Start goes into the Total only.
func addToTimeline(tl *ledger.Timeline, r ledger.Record) {
	one := ledger.TotalsOf(r)
	tl.Total.Add(one)
	if tl.Step <= 0 {
		return
	}
	extendTimeline(tl, r.StartedAt)
	if r.StartedAt.Before(tl.Start) {
		return
	}
	b := &tl.Buckets[int(r.StartedAt.Sub(tl.Start)/tl.Step)]
	b.Calls++
	b.CostUSD += one.CostUSD
}
