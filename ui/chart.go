package ui

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valohai/conduit/ledger"
)

// The spend chart sums the timeline into buckets of local time whose size
// follows the window alone (per hour over a day, per day over a month),
// never the terminal's width: a wider terminal draws wider bars.

// chartUnit is the size of one chart bucket: n minutes, hours, days or
// months, counted in local time.
type chartUnit struct {
	n    int
	kind byte // 'm' minutes, 'h' hours, 'd' days, 'M' months
}

// chartUnitOf is the chart's bucket for a window; over all time it follows
// the span shown: days up to two months, then weeks, then months.
func chartUnitOf(w Window, span time.Duration) chartUnit {
	switch w {
	case WindowHour:
		return chartUnit{5, 'm'}
	case WindowToday, WindowDay, windowDate:
		return chartUnit{1, 'h'}
	case WindowWeek:
		return chartUnit{6, 'h'}
	case WindowMonth:
		return chartUnit{1, 'd'}
	}
	switch {
	case span <= 2*24*time.Hour:
		return chartUnit{1, 'h'}
	case span <= 62*24*time.Hour:
		return chartUnit{1, 'd'}
	case span <= 420*24*time.Hour:
		return chartUnit{7, 'd'}
	}
	return chartUnit{1, 'M'}
}

// floor is the start of the bucket holding t. Weeks start on Monday.
func (u chartUnit) floor(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	y, mo, d := t.Date()
	switch u.kind {
	case 'm':
		return time.Date(y, mo, d, t.Hour(), t.Minute()-t.Minute()%u.n, 0, 0, loc)
	case 'h':
		return time.Date(y, mo, d, t.Hour()-t.Hour()%u.n, 0, 0, 0, loc)
	case 'd':
		if u.n == 7 {
			d -= (int(t.Weekday()) + 6) % 7
		}
		return time.Date(y, mo, d, 0, 0, 0, 0, loc)
	}
	return time.Date(y, mo, 1, 0, 0, 0, 0, loc)
}

// next is the start of the bucket after the one starting at t.
func (u chartUnit) next(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	y, mo, d := t.Date()
	switch u.kind {
	case 'm':
		return t.Add(time.Duration(u.n) * time.Minute)
	case 'h':
		return time.Date(y, mo, d, t.Hour()+u.n, 0, 0, 0, loc)
	case 'd':
		return time.Date(y, mo, d+u.n, 0, 0, 0, 0, loc)
	}
	return time.Date(y, mo+time.Month(u.n), 1, 0, 0, 0, 0, loc)
}

// name is the unit as the chart's caption says it: "per 5m", "per day".
func (u chartUnit) name() string {
	switch {
	case u.kind == 'm':
		return "per " + strconv.Itoa(u.n) + "m"
	case u.kind == 'h' && u.n == 1:
		return "per hour"
	case u.kind == 'h':
		return "per " + strconv.Itoa(u.n) + "h"
	case u.kind == 'd' && u.n == 7:
		return "per week"
	case u.kind == 'd':
		return "per day"
	}
	return "per month"
}

// label is the time axis's label for the bucket starting at t, and
// whether the bucket is one the axis labels every stride buckets.
func (u chartUnit) label(t time.Time, loc *time.Location, stride int) (string, bool) {
	t = t.In(loc)
	switch u.kind {
	case 'm':
		return t.Format("15:04"), (t.Hour()*60+t.Minute())/u.n%stride == 0
	case 'h':
		if u.n*stride >= 24 {
			return t.Format("Mon 2"), t.Hour() == 0 && (t.YearDay()-1)%max(u.n*stride/24, 1) == 0
		}
		return t.Format("15:04"), t.Hour()/u.n%stride == 0
	case 'd':
		if u.n == 7 {
			_, wk := t.ISOWeek()
			return t.Format("Jan 2"), (wk-1)%stride == 0
		}
		return t.Format("Jan 2"), (t.Day()-1)%stride == 0
	}
	return t.Format("Jan 06"), (int(t.Month())-1)%stride == 0
}

// strides are the label spacings tried, fewest buckets first; each keeps
// labels on round times (every 15 minutes, 3 hours, week, quarter).
func (u chartUnit) strides() []int {
	switch u.kind {
	case 'm':
		return []int{1, 2, 3, 6, 12}
	case 'h':
		if u.n == 6 {
			return []int{4, 8, 12, 28}
		}
		return []int{1, 2, 3, 6, 12, 24}
	case 'd':
		if u.n == 7 {
			return []int{1, 2, 4, 13, 26}
		}
		return []int{1, 2, 7, 14}
	}
	return []int{1, 2, 3, 6, 12}
}

// maxChartBuckets bounds the chart whatever the window and ledger.
const maxChartBuckets = 400

// chartData is the timeline summed into chart buckets.
type chartData struct {
	unit   chartUnit
	starts []time.Time // each bucket's start, oldest first
	vals   []float64   // spend per bucket (calls when nothing is priced)
	spend  bool
}

// chartOf sums tl into the window's chart buckets, from the window's start
// (or the timeline's) to its end, now for a live window.
func chartOf(tl ledger.Timeline, q query, since, until, now time.Time, loc *time.Location) chartData {
	from, to := since, until
	if from.IsZero() {
		from = tl.Start
	}
	switch {
	case !to.IsZero():
	case q.live():
		to = now.Add(time.Nanosecond) // the bucket holding now is the last
	default:
		to = tl.End()
	}
	d := chartData{unit: chartUnitOf(q.window, to.Sub(from)), spend: tl.Total.CostUSD > 0}
	if from.IsZero() || !to.After(from) {
		return d
	}
	for t := d.unit.floor(from, loc); t.Before(to); t = d.unit.next(t, loc) {
		d.starts = append(d.starts, t)
	}
	if n := len(d.starts); n > maxChartBuckets {
		d.starts = d.starts[n-maxChartBuckets:]
	}
	d.vals = make([]float64, len(d.starts))
	for i, b := range tl.Buckets {
		t := tl.Start.Add(time.Duration(i) * tl.Step)
		j := sort.Search(len(d.starts), func(k int) bool { return d.starts[k].After(t) }) - 1
		if j < 0 {
			continue
		}
		if d.spend {
			d.vals[j] += b.CostUSD
		} else {
			d.vals[j] += float64(b.Calls)
		}
	}
	return d
}

// niceCeil is the smallest 1, 2, 2.5 or 5 times a power of ten at or above
// v: the value axis's top.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if c := m * p; c >= v*(1-1e-9) {
			return c
		}
	}
	return 10 * p
}

// axisLabel is a value axis tick: dollars ("$0.25", "$2.5k") or a count.
func axisLabel(v float64, dollars bool) string {
	unit := ""
	switch {
	case v >= 1e6:
		v, unit = v/1e6, "M"
	case v >= 1e3:
		v, unit = v/1e3, "k"
	}
	// Rounded first: a tick such as 2.5 × 0.01 is not exact in binary.
	s := strconv.FormatFloat(math.Round(v*1e9)/1e9, 'f', -1, 64)
	if dollars {
		return "$" + s + unit
	}
	return s + unit
}

// chartRows is how many rows the chart takes on a screen h rows high: bars
// and a time axis, fewer on a short terminal, none on a tiny one.
func chartRows(h int) int {
	switch {
	case h < 18:
		return 0
	case h < 36:
		return 5
	}
	return 9
}

// barLevels are the eighths of a cell a bar's top can fill, lowest first.
var barLevels = []rune(" ▁▂▃▄▅▆▇█")

// drawChart draws the spend chart in rows [y0, y0+rows): a value axis in
// dollars on the left (0, the middle and a round top), the bars, and a
// labelled time axis under them. Buckets are as wide as the width allows
// (at most four cells, with a gap); when they cannot all fit, the newest
// are shown.
func drawChart(c canvas, s *snapshot, e env, y0, rows int) {
	th := e.th
	if rows < 2 || !s.totalsOK {
		return
	}
	d := chartOf(s.timeline, s.q, s.since, s.until, e.now, e.loc)
	if len(d.vals) == 0 {
		return
	}
	barRows := rows - 1
	peak := 0.0
	for _, v := range d.vals {
		peak = math.Max(peak, v)
	}
	top := niceCeil(peak)
	if !d.spend && top < 1 {
		top = 1
	}
	ticks := map[int]string{0: axisLabel(top, d.spend), barRows - 1: axisLabel(0, d.spend)}
	if barRows >= 4 {
		ticks[barRows/2] = axisLabel(top*float64(barRows-barRows/2)/float64(barRows), d.spend)
	}
	gutter := 0
	for _, l := range ticks {
		gutter = max(gutter, width(l))
	}
	caption := d.unit.name()
	if !d.spend {
		caption = "calls " + caption
	}
	gutter = max(gutter+2, width(caption)+1)
	x0 := 1 + gutter
	plotW := c.w - x0 - 1
	if plotW < 8 {
		return
	}
	vals, starts := d.vals, d.starts
	if len(vals) > plotW {
		vals, starts = vals[len(vals)-plotW:], starts[len(starts)-plotW:]
	}
	colW := min(plotW/len(vals), 4)
	barW := colW
	if colW >= 2 {
		barW = colW - 1 // a gap keeps neighbouring bars apart
	}
	for r := 0; r < barRows; r++ {
		y := y0 + r
		axis := "│"
		if l, ok := ticks[r]; ok {
			c.text(1, y, x0, pad(l, gutter-2, true), th.Muted)
			axis = "┤"
		}
		c.text(x0-1, y, x0, axis, th.Muted)
	}
	for i, v := range vals {
		x := x0 + i*colW
		eighths := int(math.Round(v / top * float64(barRows*8)))
		if v > 0 && eighths == 0 {
			eighths = 1 // a small spend is still visible
		}
		for r := 0; r < barRows; r++ {
			fromBottom := barRows - 1 - r
			n := min(max(eighths-fromBottom*8, 0), 8)
			if n == 0 {
				continue
			}
			c.text(x, y0+r, x+barW, strings.Repeat(string(barLevels[n]), barW), th.Chart)
		}
	}
	// The time axis: labels on round times, as many as fit with a gap.
	ay := y0 + barRows
	c.text(1, ay, x0, caption, th.Label)
	for _, stride := range d.unit.strides() {
		need := 0
		for _, t := range starts {
			if l, ok := d.unit.label(t, e.loc, stride); ok {
				need = max(need, width(l)+1)
			}
		}
		if need > stride*colW && stride != d.unit.strides()[len(d.unit.strides())-1] {
			continue
		}
		next := x0
		for i, t := range starts {
			l, ok := d.unit.label(t, e.loc, stride)
			x := x0 + i*colW
			if !ok || x < next || x+width(l) > c.w-1 {
				continue
			}
			c.text(x, ay, c.w-1, l, th.Muted)
			next = x + width(l) + 1
		}
		break
	}
}
