package ui

import (
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/budgets"
	"github.com/valohai/conduit/ledger"
)

// status is a budget's status at spent of limit.
func status(name string, spent, limit float64, unpriced int64) budgets.Status {
	return budgets.Status{
		Budget:   budgets.Budget{Name: name, LimitUSD: limit, Period: "day", WarnAt: []float64{0.5, 0.8}},
		SpentUSD: spent, Fraction: spent / limit, Unpriced: unpriced,
	}
}

// withSpend is the fixture with today's and the month's spend and the
// given budgets read.
func withSpend(bs ...budgets.Status) *snapshot {
	s := fixtureSnap()
	s.spendOK = true
	s.today = ledger.Totals{Calls: 5, CostUSD: 12.75}
	s.month = ledger.Totals{Calls: 6, CostUSD: 40.5}
	s.budgets = bs
	return s
}

// TestSpendGauges: the header shows today's and the month's spend and a
// gauge per budget, green under the first warning, amber past it, red at
// the limit, with %, $spent/$limit and the unpriced calls flagged.
func TestSpendGauges(t *testing.T) {
	th := defaultTheme()
	s := withSpend(status("daily", 3, 10, 0), status("weekly", 6, 10, 2), status("monthly", 12.5, 10, 0))
	sim := drawScreen(t, s, testView(), 160, 45, th)
	l := lineWith(screenText(sim), "Today ")
	for _, want := range []string{"Today $12.75", "Month $40.50", "daily ▕", "30% $3.00/$10", "60% $6.00/$10 +2 unpriced", "125% $12.50/$10"} {
		if !strings.Contains(l, want) {
			t.Errorf("spend line %q lacks %q", l, want)
		}
	}
	for _, tt := range []struct {
		sub  string
		want tcell.Style
	}{{"30%", th.GaugeOK}, {"60%", th.GaugeWarn}, {"125%", th.GaugeOver}, {"+2 unpriced", th.Unpriced}} {
		if got := cellAt(t, sim, tt.sub); got != tt.want {
			t.Errorf("%s: style %v, want %v", tt.sub, got, tt.want)
		}
	}
	// A full gauge for the budget past its limit, a third of one under it.
	if !strings.Contains(l, "▕██████████▏ 125%") || !strings.Contains(l, "▕███       ▏ 30%") {
		t.Errorf("gauge bars in %q", l)
	}

	// At 80 columns not all fit: the one over its limit is shown first,
	// the others counted.
	l = lineWith(screenText(drawScreen(t, s, testView(), 80, 24, th)), "Today ")
	if !strings.Contains(l, "│ monthly ▕██████████▏ 125% $12.50/$10") || !strings.Contains(l, "+2 more") || width(l) > 80 {
		t.Errorf("80 columns: %q", l)
	}

	// No budgets configured: the header says nothing about budgets.
	l = lineWith(screenText(drawScreen(t, withSpend(), testView(), 160, 45, th)), "Today ")
	if strings.ContainsAny(l, "│▕%") || !strings.Contains(l, "Month $40.50") {
		t.Errorf("without budgets: %q", l)
	}
}

func TestLimitUSD(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{{10, "$10"}, {1500, "$1,500"}, {0.15, "$0.15"}, {0.3, "$0.30"}, {2.5, "$2.50"}, {0.0125, "$0.0125"},
		{0.29, "$0.29"}, {0.07, "$0.07"}, {0.57, "$0.57"}, {0.58, "$0.58"}} {
		if got := limitUSD(tt.v); got != tt.want {
			t.Errorf("limitUSD(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
