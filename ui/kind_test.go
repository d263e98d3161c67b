package ui

import (
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// TestOtherTrafficHidden guards the dashboard's default: requests that
// were no model call (a model list, Bedrock's ListInferenceProfiles, a
// client's telemetry) are neither listed nor counted in the header totals.
func TestOtherTrafficHidden(t *testing.T) {
	recs := spread(0, 3)
	for i, path := range []string{"/v1/models", "/inference-profiles?type=SYSTEM_DEFINED"} {
		r := call(100+i, time.Minute)
		r.Kind, r.Endpoint, r.Method, r.Path, r.HasUsage, r.CostUSD = ledger.KindOther, "", "GET", path, false, nil
		recs = append(recs, r)
	}
	path := testLedger(t, recs...)
	w := wants{q: query{window: WindowAll, order: ledger.Order{Key: ledger.SortStarted}}, qgen: 1, follow: true}
	m := testModel(t, path, w)
	s := m.cur
	if len(s.rows) != 3 {
		t.Fatalf("%d rows listed, want the 3 calls", len(s.rows))
	}
	for _, r := range s.rows {
		if r.Kind != ledger.KindCall {
			t.Errorf("listed %s %s of kind %q", r.Method, r.Path, r.Kind)
		}
	}
	if !s.totalsOK || s.timeline.Total.Calls != 3 {
		t.Errorf("header counts %d calls (read: %v), want 3", s.timeline.Total.Calls, s.totalsOK)
	}
}
