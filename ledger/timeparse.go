package ledger

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime parses a --since / --until value relative to now:
//
//   - a duration back from now: "90m", "2h", "1h30m", "7d", "2w" (d is 24
//     hours, w 7 days);
//   - a date, meaning its midnight in loc: "2026-11-01";
//   - a local date and time in loc: "2026-11-01T14:00", "2026-11-01 14:00:05";
//   - an RFC 3339 time with its own offset: "2026-11-01T14:00:00Z",
//     "2026-11-01T14:00:00+02:00".
//
// loc nil means time.Local. The error names the value and the accepted forms.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.Local
	}
	v := strings.TrimSpace(s)
	if v == "" {
		return time.Time{}, fmt.Errorf("empty time: %s", timeForms)
	}
	if d, ok, err := parseAgo(v); ok {
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid duration %q: %v", s, err)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: %s", s, timeForms)
}

const timeForms = "want a duration back from now (90m, 2h, 7d), a date (2026-11-01), a local time (2026-11-01T14:00) or an RFC 3339 time (2026-11-01T14:00:00Z)"

// maxAgo bounds a duration back from now.
const maxAgo = 100 * 365 * 24 * time.Hour

// parseAgo parses a duration with the extra units d and w. ok reports that s
// looks like a duration at all (starts with a digit and ends with a unit
// letter), so that dates fall through to the date parsers.
func parseAgo(s string) (d time.Duration, ok bool, err error) {
	if s == "" || s[0] < '0' || s[0] > '9' || strings.ContainsAny(s, ":T ") || strings.Count(s, "-") > 0 {
		return 0, false, nil
	}
	last := s[len(s)-1]
	if last >= '0' && last <= '9' {
		return 0, true, fmt.Errorf("missing unit (use m, h, d or w)")
	}
	// Split off whole days and weeks, which time.ParseDuration lacks.
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, true, fmt.Errorf("expected a number followed by a unit")
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		var part time.Duration
		switch unit {
		case "d", "w":
			n, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, true, fmt.Errorf("bad number %q", num)
			}
			day := 24 * time.Hour
			if unit == "w" {
				day *= 7
			}
			if n*float64(day) > float64(maxAgo) {
				return 0, true, fmt.Errorf("more than 100 years back")
			}
			part = time.Duration(n * float64(day))
		default:
			p, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, true, fmt.Errorf("unknown unit %q (use s, m, h, d or w)", unit)
			}
			part = p
		}
		total += part
		if total > maxAgo {
			return 0, true, fmt.Errorf("more than 100 years back")
		}
	}
	return total, true, nil
}
