package budgets

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/valohai/conduit/ui/numfmt"
)

// Status is one budget in its current period.
type Status struct {
	Budget Budget
	// PeriodStart and ResetsAt bound the current period, in the Tracker's
	// location: at ResetsAt the spend starts again from zero.
	PeriodStart, ResetsAt time.Time
	// SpentUSD sums the priced calls in scope that started in the period.
	SpentUSD float64
	// Calls counts the calls in scope that started in the period: priced,
	// unpriced, failed and refused.
	Calls int64
	// Unpriced counts the calls in scope with usage but no known price:
	// SpentUSD cannot include them, so show it next to the figure.
	Unpriced int64
	// Refused counts the calls in scope that a budget refused.
	Refused int64
	// Fraction is SpentUSD / Budget.LimitUSD (1 at the limit, more past it).
	Fraction float64
	// Crossed is the highest threshold reached this period: a WarnAt
	// fraction, or 1 once the limit is; 0: none yet. A reader polling
	// statuses alerts when it rises within the same period (PeriodStart).
	Crossed float64
}

// Level is how close a budget is to its limit: what a gauge's colour
// shows.
type Level int

// The levels, in order.
const (
	LevelOK      Level = iota // under the first warn_at fraction (or no spend)
	LevelWarning              // at or past the first warn_at fraction, under the limit
	LevelOver                 // at or past the limit
)

func (l Level) String() string {
	switch l {
	case LevelWarning:
		return "warning"
	case LevelOver:
		return "over"
	}
	return "ok"
}

// Over reports whether the spend has reached the limit.
func (s Status) Over() bool { return s.SpentUSD >= s.Budget.LimitUSD }

// Level returns the status's level.
func (s Status) Level() Level {
	switch {
	case s.Over():
		return LevelOver
	case len(s.Budget.WarnAt) > 0 && s.Fraction >= s.Budget.WarnAt[0]:
		return LevelWarning
	}
	return LevelOK
}

// Alert is a budget's spend crossing a threshold: once per threshold and
// period. A call that carries the spend past several at once alerts once,
// for the highest.
type Alert struct {
	// Status is the budget as of the call that crossed the threshold.
	Status
	// Threshold is the fraction crossed: a WarnAt value, or 1 for the
	// limit.
	Threshold float64
	At        time.Time
}

// Limit reports whether the alert is for reaching the limit itself.
func (a Alert) Limit() bool { return a.Threshold >= 1 }

// Title is a short headline for a notification.
func (a Alert) Title() string {
	if a.Limit() {
		return fmt.Sprintf("Conduit: budget %s reached its limit", a.Budget.Name)
	}
	return fmt.Sprintf("Conduit: budget %s at %s", a.Budget.Name, formatPercent(a.Threshold))
}

// Message says what happened, for the log line, the notification's body
// and the webhook's text.
func (a Alert) Message() string {
	var b strings.Builder
	if a.Limit() {
		fmt.Fprintf(&b, "budget %q reached its %s %s limit (%s spent)", a.Budget.Name, numfmt.USD(a.Budget.LimitUSD), a.Budget.Period, numfmt.USD(a.SpentUSD))
		if a.Budget.Enforce {
			fmt.Fprintf(&b, "; new calls in its scope are refused until %s", formatTime(a.ResetsAt))
		} else {
			fmt.Fprintf(&b, "; it is not enforced; it resets at %s", formatTime(a.ResetsAt))
		}
	} else {
		fmt.Fprintf(&b, "budget %q passed %s of its %s %s limit (%s spent); it resets at %s", a.Budget.Name, formatPercent(a.Threshold),
			numfmt.USD(a.Budget.LimitUSD), a.Budget.Period, numfmt.USD(a.SpentUSD), formatTime(a.ResetsAt))
	}
	if a.Unpriced > 0 {
		fmt.Fprintf(&b, " (%d unpriced calls not counted)", a.Unpriced)
	}
	return b.String()
}

func formatPercent(f float64) string {
	return strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
}

// formatTime is a local time as people read it: "2026-01-06 00:00 EET".
func formatTime(t time.Time) string { return t.Format("2006-01-02 15:04 MST") }

// roundUSD rounds to a millionth of a dollar, for logs.
func roundUSD(v float64) float64 { return math.Round(v*1e6) / 1e6 }
