package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// everyHour is a timeline of hourly buckets over the last days days, each
// with spend, for the chart tests.
func everyHour(days int) ledger.Timeline {
	start := testNow.Add(-time.Duration(days) * 24 * time.Hour).Truncate(time.Hour)
	tl := ledger.Timeline{Start: start, Step: time.Hour}
	for t := start; !t.After(testNow); t = t.Add(time.Hour) {
		tl.Buckets = append(tl.Buckets, ledger.Bucket{Calls: 1, CostUSD: 0.5})
		tl.Total.CostUSD += 0.5
		tl.Total.Calls++
	}
	return tl
}

// TestChartBuckets: the chart's buckets follow the window (per hour over a
// day, per 6 hours over a week, per day over a month), summing the
// timeline into them, whatever the screen's width.
func TestChartBuckets(t *testing.T) {
	for _, tt := range []struct {
		window Window
		days   int
		n      int
		name   string
		first  float64 // the first full bucket's spend
	}{
		{WindowDay, 2, 25, "per hour", 0.5},
		{WindowToday, 2, 13, "per hour", 0.5},
		{WindowWeek, 8, 29, "per 6h", 3},
		{WindowMonth, 31, 31, "per day", 12},
		{WindowHour, 1, 13, "per 5m", 0},
	} {
		t.Run(tt.window.String(), func(t *testing.T) {
			q := query{window: tt.window}
			since, until := q.bounds(testNow, time.UTC)
			d := chartOf(everyHour(tt.days), q, since, until, testNow, time.UTC)
			if len(d.vals) != tt.n || d.unit.name() != tt.name || !d.spend {
				t.Fatalf("%d buckets %s (spend %v), want %d %s", len(d.vals), d.unit.name(), d.spend, tt.n, tt.name)
			}
			if tt.first > 0 && d.vals[1] != tt.first {
				t.Errorf("bucket 1: %v, want %v (%v)", d.vals[1], tt.first, d.vals)
			}
			// Drawn at two widths: the same bars, one per bucket.
			for _, w := range []int{100, 160} {
				s := fixtureSnap()
				s.q, s.since, s.until, s.timeline = q, since, until, everyHour(tt.days)
				sim := drawScreen(t, s, testView(), w, 24, defaultTheme())
				lines := strings.Split(screenText(sim), "\n")
				bottom := lines[figureRows+chartRows(24)-2]
				if got := strings.Count(bottom, "█") + strings.Count(bottom, "▁"); got == 0 {
					t.Fatalf("width %d: no bars in %q", w, bottom)
				}
				if got := bars(bottom); tt.first > 0 && got != tt.n-1 && got != tt.n {
					t.Errorf("width %d: %d bars, want %d:\n%s", w, got, tt.n, strings.Join(lines[:10], "\n"))
				}
			}
		})
	}
}

// bars counts the runs of block characters in a line.
func bars(l string) int {
	n, in := 0, false
	for _, r := range l {
		block := strings.ContainsRune("▁▂▃▄▅▆▇█", r)
		if block && !in {
			n++
		}
		in = block
	}
	return n
}

// TestChartAxes: the value axis has a round top in dollars and $0; the
// time axis labels round times.
func TestChartAxes(t *testing.T) {
	s := fixtureSnap()
	s.q = query{window: WindowDay}
	s.since, s.until = s.q.bounds(testNow, time.UTC)
	s.timeline = everyHour(2)
	text := screenText(drawScreen(t, s, testView(), 100, 24, defaultTheme()))
	lines := strings.Split(text, "\n")
	chart := lines[figureRows : figureRows+chartRows(24)]
	for i, want := range []string{"$0.5 ┤", "│", "$0.25 ┤", "$0 ┤", "per hour"} {
		if !strings.Contains(chart[i], want) {
			t.Errorf("chart row %d %q lacks %q\n%s", i, chart[i], want, strings.Join(chart, "\n"))
		}
	}
	for _, want := range []string{"12:00", "14:00", "00:00"} {
		if !strings.Contains(chart[4], want) {
			t.Errorf("time axis %q lacks %q", chart[4], want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ v, want float64 }{
		{0, 1}, {0.3, 0.5}, {1, 1}, {1.2, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {12.75, 20}, {0.0042, 0.005}, {240, 250},
	} {
		if got := niceCeil(tt.v); got < tt.want*0.999999 || got > tt.want*1.000001 {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestAxisLabel(t *testing.T) {
	for _, tt := range []struct {
		v       float64
		dollars bool
		want    string
	}{
		{0, true, "$0"}, {0.025, true, "$0.025"}, {2.5 * 0.01, true, "$0.025"}, {20, true, "$20"},
		{2500, true, "$2.5k"}, {3e6, true, "$3M"}, {50, false, "50"},
	} {
		if got := axisLabel(tt.v, tt.dollars); got != tt.want {
			t.Errorf("axisLabel(%v, %v) = %q, want %q", tt.v, tt.dollars, got, tt.want)
		}
	}
}
