package budgets

import (
	"fmt"
	"time"
)

// Period is how long a budget's spend accumulates before it starts again
// from zero: a calendar day, ISO week (from Monday) or month in the
// tracker's time zone.
type Period string

// The periods a budget can have.
const (
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// Periods lists the valid periods, for errors and help.
var Periods = []Period{Day, Week, Month}

// ParsePeriod parses "day", "week" or "month".
func ParsePeriod(s string) (Period, error) {
	for _, p := range Periods {
		if s == string(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown period %q: want day, week or month", s)
}

// Bounds returns the period that holds t in loc: start <= t < end, both
// in loc. A day is from its first instant to the next day's first
// instant, so it lasts 23 or 25 hours across a daylight-saving change,
// and where a change skips midnight the day starts when the clocks
// resume. A nil loc is UTC.
func (p Period) Bounds(t time.Time, loc *time.Location) (start, end time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	switch p {
	case Week:
		back := (int(t.In(loc).Weekday()) + 6) % 7 // days since Monday
		return startOfDay(y, m, d-back, loc), startOfDay(y, m, d-back+7, loc)
	case Month:
		return startOfDay(y, m, 1, loc), startOfDay(y, m+1, 1, loc)
	default:
		return startOfDay(y, m, d, loc), startOfDay(y, m, d+1, loc)
	}
}

// Label names the period that starts at start, as people and webhooks
// read it: "2026-01-05" (day), "2026-W02" (week), "2026-01" (month).
func (p Period) Label(start time.Time) string {
	switch p {
	case Week:
		y, w := start.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	case Month:
		return start.Format("2006-01")
	default:
		return start.Format("2006-01-02")
	}
}

// startOfDay returns the first instant of the local date y-m-d (which
// time.Date normalises: day 32 is the next month's first) in loc.
// time.Date gives local midnight, but where a daylight-saving change
// skips midnight it may give an instant of the day before; then the day
// begins when that zone's offset ends. A date that a zone skips entirely
// (Samoa, 2011-12-30) starts and ends at the next day's first instant.
func startOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	for range 4 { // a zone changes offset at most a few times a day
		ly, lm, ld := t.Date()
		if !time.Date(ly, lm, ld, 0, 0, 0, 0, time.UTC).Before(want) {
			return t
		}
		_, end := t.ZoneBounds()
		if !end.After(t) {
			break
		}
		t = end
	}
	return t
}
