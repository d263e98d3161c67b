package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rivo/uniseg"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui/numfmt"
)

// groupDigits formats n with thousands separators: 1234567 → "1,234,567",
// as every count Conduit shows people.
func groupDigits(n int64) string { return numfmt.Count(n) }

// compactNum formats n in at most about five characters: 999, 12.3k, 4.56M.
func compactNum(n int64) string {
	abs := n
	if abs < 0 {
		abs = -abs
	}
	for _, u := range []struct {
		div  float64
		unit string
	}{{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}} {
		if float64(abs) >= u.div {
			v := float64(n) / u.div
			switch {
			case abs >= int64(u.div*100):
				return fmt.Sprintf("%.0f%s", v, u.unit)
			case abs >= int64(u.div*10):
				return fmt.Sprintf("%.1f%s", v, u.unit)
			}
			return fmt.Sprintf("%.2f%s", v, u.unit)
		}
	}
	return strconv.FormatInt(n, 10)
}

// tokens formats a token count for a table cell: "-" when the call carried
// no usage (unknown is never shown as 0).
func tokens(has bool, n int64) string {
	if !has {
		return "-"
	}
	return groupDigits(n)
}

// unpricedMark is what the cost cell shows for a call with usage but no
// known price: visibly not $0.
const unpricedMark = "unpriced"

// costCell formats a call's cost: dollars, "unpriced", or "-" when the
// call carried no usage.
func costCell(r *ledger.Row) string {
	switch {
	case r.CostUSD != nil:
		return numfmt.USD(*r.CostUSD)
	case r.HasUsage:
		return unpricedMark
	}
	return "-"
}

// duration formats a latency compactly: <1ms, 850ms, 1.23s, 12.3s, 2m05s,
// 1h02m ("-" if negative).
func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// ttfb formats a time to first byte, which the ledger keeps in whole
// milliseconds: a first byte within the millisecond is "0ms", not "-".
func ttfb(d time.Duration) string {
	if d < time.Millisecond {
		return "0ms"
	}
	return duration(d)
}

// ago formats how long before now t was: "now", "12s ago", "3m ago",
// "2h ago", "5d ago". A t in the future (clock skew) reads "now".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// clock formats a call's start for the table's absolute-time mode.
func clock(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Jan 02 15:04:05")
}

// width is the number of terminal cells s takes.
func width(s string) int { return uniseg.StringWidth(s) }

// truncate shortens s to at most w cells, ending in "…" when cut.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if width(s) <= w {
		return s
	}
	var b strings.Builder
	used := 0
	state := -1
	rest := s
	for rest != "" {
		var g string
		var gw int
		g, rest, gw, state = uniseg.FirstGraphemeClusterInString(rest, state)
		if used+gw > w-1 {
			break
		}
		b.WriteString(g)
		used += gw
	}
	return b.String() + "…"
}

// pad returns s truncated or padded with spaces to exactly w cells, on the
// right (left-aligned) or the left (right-aligned).
func pad(s string, w int, right bool) string {
	s = truncate(s, w)
	gap := w - width(s)
	if gap <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", gap) + s
	}
	return s + strings.Repeat(" ", gap)
}
