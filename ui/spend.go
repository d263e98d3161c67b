package ui

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/valohai/conduit/budgets"
	"github.com/valohai/conduit/ui/numfmt"
)

// drawSpend is the header line that answers "too much?": today's and this
// month's spend over every call, then each configured budget as a gauge
// of its period's spend, coloured by its level (green under the first
// warning, amber past it, red at the limit), with its percentage, spend
// and limit, and its unpriced calls flagged (they cannot count). Without
// budgets it says nothing about them. As the terminal narrows the gauges
// shrink, then lose their bars, then the budgets furthest from their
// limits give way to a count.
func drawSpend(c canvas, s *snapshot, e env, y int) {
	th := e.th
	if !s.spendOK {
		return
	}
	x := c.text(1, y, c.w, "Today ", th.Label)
	x = c.text(x, y, c.w, numfmt.USD(s.today.CostUSD), th.Value)
	x = c.text(x, y, c.w, "  Month ", th.Label)
	x = c.text(x, y, c.w, numfmt.USD(s.month.CostUSD), th.Value)
	if s.budgetsErr != nil {
		c.text(x, y, c.w, "  budgets unreadable (see the log pane)", th.Error)
		return
	}
	if len(s.budgets) == 0 {
		return
	}
	room := c.w - x - 1
	// When not all fit, those nearest their limits are shown.
	urgent := slices.Clone(s.budgets)
	slices.SortStableFunc(urgent, func(a, b budgets.Status) int {
		return cmp.Or(cmp.Compare(b.Level(), a.Level()), cmp.Compare(b.Fraction, a.Fraction))
	})
	for n := len(s.budgets); n >= 1; n-- {
		list := s.budgets
		if n < len(list) {
			list = urgent
		}
		for _, barW := range []int{10, 6, 4, 0} {
			gs := make([]line, n)
			wd := 0
			for i, st := range list[:n] {
				gs[i] = gauge(st, barW)
				wd += 3 + gs[i].width()
			}
			more := ""
			if n < len(list) {
				more = fmt.Sprintf("  +%d more", len(list)-n)
				wd += width(more)
			}
			if wd > room && !(barW == 0 && n == 1) {
				continue
			}
			for _, g := range gs {
				x = c.text(x, y, c.w, " │ ", th.Muted)
				x = c.spans(x, y, c.w, g, th, th.Base)
			}
			c.text(x, y, c.w, more, th.Muted)
			return
		}
	}
}

// limitUSD is a budget's limit as it was written: whole dollars without
// cents ("$10"), whole cents without more decimals ("$0.15").
func limitUSD(v float64) string {
	switch {
	case math.Abs(v) >= 1e15 || math.IsNaN(v):
		return numfmt.USD(v)
	case v == math.Trunc(v):
		return "$" + numfmt.Count(int64(v))
	case v < 1 && math.Abs(v*100-math.Round(v*100)) < 1e-9: // 0.29*100 is 28.999999999999996
		return fmt.Sprintf("$%.2f", v)
	}
	return numfmt.USD(v)
}

// gauge renders one budget: "daily ▕████▌     ▏ 45% $4.50/$10.00 +2
// unpriced" with a bar barW cells wide (none for 0).
func gauge(st budgets.Status, barW int) line {
	r := roleGaugeOK
	switch st.Level() {
	case budgets.LevelWarning:
		r = roleGaugeWarn
	case budgets.LevelOver:
		r = roleGaugeOver
	}
	l := line{{st.Budget.Name + " ", roleLabel}}
	if barW > 0 {
		bar := hbar(math.Min(st.Fraction, 1), barW)
		l = append(l, span{"▕", roleMuted}, span{pad(bar, barW, false), r}, span{"▏", roleMuted})
	}
	pct := fmt.Sprintf("%.0f%%", math.Floor(st.Fraction*100))
	if barW > 0 {
		pct = " " + pct
	}
	l = append(l, span{pct, r}, span{" " + numfmt.USD(st.SpentUSD) + "/" + limitUSD(st.Budget.LimitUSD), roleGaugeValue})
	if st.Unpriced > 0 {
		l = append(l, span{fmt.Sprintf(" +%d unpriced", st.Unpriced), roleUnpriced})
	}
	return l
}

// width is how many cells the line takes.
func (l line) width() int {
	n := 0
	for _, sp := range l {
		n += width(sp.text)
	}
	return n
}
