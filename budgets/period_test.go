package budgets

import (
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no time zone %s here: %v", name, err)
	}
	return loc
}

// TestPeriodBounds guards calendar periods in local time, daylight-saving
// changes included: a day is 23 or 25 hours when the clocks change, a day
// whose midnight is skipped starts when the clocks resume, a day a zone
// skipped entirely is never a period, weeks start on Monday (ISO) and
// months on the 1st.
func TestPeriodBounds(t *testing.T) {
	t.Parallel()
	helsinki := mustZone(t, "Europe/Helsinki")
	saoPaulo := mustZone(t, "America/Sao_Paulo")
	apia := mustZone(t, "Pacific/Apia")
	newYork := mustZone(t, "America/New_York")
	at := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		p          Period
		loc        *time.Location
		t          time.Time
		start, end string // RFC 3339 in loc
		hours      float64
	}{
		{"plain day", Day, helsinki, at(helsinki, "2026-01-05 14:30"), "2026-01-05T00:00:00+02:00", "2026-01-06T00:00:00+02:00", 24},
		{"first instant", Day, helsinki, at(helsinki, "2026-01-05 00:00"), "2026-01-05T00:00:00+02:00", "2026-01-06T00:00:00+02:00", 24},
		{"last instant", Day, helsinki, at(helsinki, "2026-01-06 00:00").Add(-time.Nanosecond), "2026-01-05T00:00:00+02:00", "2026-01-06T00:00:00+02:00", 24},
		{"spring forward: 23 h", Day, helsinki, at(helsinki, "2026-03-29 12:00"), "2026-03-29T00:00:00+02:00", "2026-03-30T00:00:00+03:00", 23},
		{"fall back: 25 h", Day, helsinki, at(helsinki, "2026-10-25 12:00"), "2026-10-25T00:00:00+03:00", "2026-10-26T00:00:00+02:00", 25},
		{"fall back, in the repeated hour", Day, helsinki, time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), "2026-10-25T00:00:00+03:00", "2026-10-26T00:00:00+02:00", 25},
		{"midnight skipped: the day starts at 01:00", Day, saoPaulo, at(saoPaulo, "2018-11-04 12:00"), "2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00", 23},
		{"the day before a skipped midnight", Day, saoPaulo, at(saoPaulo, "2018-11-03 23:30"), "2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00", 24},
		{"a skipped day is never a period", Day, apia, time.Date(2011, 12, 30, 10, 0, 0, 0, time.UTC), "2011-12-31T00:00:00+14:00", "2012-01-01T00:00:00+14:00", 24},
		{"week from Monday", Week, helsinki, at(helsinki, "2026-01-07 09:00"), "2026-01-05T00:00:00+02:00", "2026-01-12T00:00:00+02:00", 168},
		{"week: Sunday is its last day", Week, helsinki, at(helsinki, "2026-01-11 23:59"), "2026-01-05T00:00:00+02:00", "2026-01-12T00:00:00+02:00", 168},
		{"week: Monday starts the next", Week, helsinki, at(helsinki, "2026-01-12 00:00"), "2026-01-12T00:00:00+02:00", "2026-01-19T00:00:00+02:00", 168},
		{"week across the spring change", Week, helsinki, at(helsinki, "2026-03-29 12:00"), "2026-03-23T00:00:00+02:00", "2026-03-30T00:00:00+03:00", 167},
		{"week across a year", Week, helsinki, at(helsinki, "2027-01-01 12:00"), "2026-12-28T00:00:00+02:00", "2027-01-04T00:00:00+02:00", 168},
		{"month", Month, helsinki, at(helsinki, "2026-02-14 12:00"), "2026-02-01T00:00:00+02:00", "2026-03-01T00:00:00+02:00", 672},
		{"month across the fall change", Month, newYork, at(newYork, "2026-11-30 23:00"), "2026-11-01T00:00:00-04:00", "2026-12-01T00:00:00-05:00", 721},
		{"December", Month, time.UTC, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 744},
		{"nil location is UTC", Day, nil, time.Date(2026, 1, 5, 23, 0, 0, 0, helsinki), "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z", 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := tt.p.Bounds(tt.t, tt.loc)
			if got := start.Format(time.RFC3339); got != tt.start {
				t.Errorf("start %s, want %s", got, tt.start)
			}
			if got := end.Format(time.RFC3339); got != tt.end {
				t.Errorf("end %s, want %s", got, tt.end)
			}
			if h := end.Sub(start).Hours(); h != tt.hours {
				t.Errorf("%v hours, want %v", h, tt.hours)
			}
			if tt.t.Before(start) || !tt.t.Before(end) {
				t.Errorf("%s is not in [%s, %s)", tt.t, start, end)
			}
		})
	}
}

// TestPeriodsTile guards roll-over: walking any zone hour by hour through
// a year, each period ends where the next begins, and every instant is in
// the period Bounds gives for it.
func TestPeriodsTile(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Europe/Helsinki", "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"} {
		loc := mustZone(t, name)
		for _, p := range Periods {
			tm := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
			_, end := p.Bounds(tm, loc)
			for range 24 * 366 {
				tm = tm.Add(time.Hour)
				s, e := p.Bounds(tm, loc)
				if tm.Before(s) || !tm.Before(e) {
					t.Fatalf("%s %s: %s not in [%s, %s)", name, p, tm, s, e)
				}
				if !s.Equal(end) && !e.Equal(end) {
					t.Fatalf("%s %s: a period starts at %s, the one before ended at %s", name, p, s, end)
				}
				end = e
			}
		}
	}
}

func TestPeriodLabel(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for p, want := range map[Period]string{Day: "2026-01-05", Week: "2026-W02", Month: "2026-01"} {
		if got := p.Label(start); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	if _, err := ParsePeriod("fortnight"); err == nil {
		t.Error("fortnight parsed")
	}
}
