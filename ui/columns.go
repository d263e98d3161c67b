package ui

import (
	"strings"
	"time"

	"github.com/valohai/conduit/ledger"
)

// colID names a column of the calls table.
type colID int

const (
	colMark colID = iota // one cell: ! failed, ~ incomplete, x cancelled, · not an LLM call
	colTime
	colProvider
	colModel
	colStatus
	colInput
	colCached
	colCacheWrite
	colOutput
	colReasoning
	colCost
	colTTFB
	colDuration
	colTag
	colClient
)

// column describes a column of the calls table.
type column struct {
	id       colID
	title    string
	min, max int  // width in cells; max > min makes the column grow into spare room
	right    bool // numbers are right-aligned
	// drop orders the optional columns: as the terminal narrows, the
	// highest drop goes first; 0 is never dropped. The cost goes never,
	// the token counts last: they are what a cost is read against.
	drop int
	sort ledger.SortKey // the sort key it shows, if any
}

// columns are the calls table's columns, left to right. At 80 cells the
// table shows time, provider, model, input, output and cost (what the
// Rust Conduit showed); wider terminals add status, duration, TTFB, cache
// reads, reasoning, cache writes, tag and client, in that order.
var columns = []column{
	{id: colMark, min: 1, max: 1},
	{id: colTime, title: "Time", min: 8, max: 8, sort: ledger.SortStarted},
	{id: colProvider, title: "Provider", min: 9, max: 12, drop: 3},
	{id: colModel, title: "Model", min: 16, max: 40},
	{id: colStatus, title: "Status", min: 11, max: 11, drop: 4},
	{id: colInput, title: "Input", min: 9, max: 10, right: true, drop: 1, sort: ledger.SortInput},
	{id: colCached, title: "Cache rd", min: 9, max: 9, right: true, drop: 7},
	{id: colCacheWrite, title: "Cache wr", min: 9, max: 9, right: true, drop: 9},
	{id: colOutput, title: "Output", min: 9, max: 9, right: true, drop: 2, sort: ledger.SortOutput},
	{id: colReasoning, title: "Reason", min: 9, max: 9, right: true, drop: 8},
	{id: colCost, title: "Cost", min: 9, max: 10, right: true, sort: ledger.SortCost},
	{id: colTTFB, title: "TTFB", min: 7, max: 7, right: true, drop: 6},
	{id: colDuration, title: "Duration", min: 8, max: 8, right: true, drop: 5, sort: ledger.SortDuration},
	{id: colTag, title: "Tag", min: 8, max: 16, drop: 10},
	{id: colClient, title: "Client", min: 10, max: 28, drop: 11},
}

// placed is a column laid out at x with width w.
type placed struct {
	column
	x, w int
}

// layoutColumns fits the columns into width cells (one space between
// columns): optional columns are dropped, highest drop first, until the
// minimum widths fit (on a terminal too narrow even then, the model gives
// up cells rather than the cost); the spare room then grows the flexible
// columns evenly. absTime widens the time column for clock times; the
// column sorted by (sorted, "" for the default order) is kept, and
// widened to keep its arrow.
func layoutColumns(width int, absTime bool, sorted ledger.SortKey) []placed {
	cols := make([]column, len(columns))
	copy(cols, columns)
	if absTime {
		cols[colTime].min, cols[colTime].max = 15, 15
	}
	for i, c := range cols {
		if sorted != "" && c.sort == sorted {
			titled := len(c.title) + 2 // " ↓"; the titles are ASCII
			cols[i].min, cols[i].max = max(c.min, titled), max(c.max, titled)
			cols[i].drop = 0 // and kept: the order on screen says what it is
		}
	}
	need := func(cs []column) int {
		n := len(cs) - 1
		for _, c := range cs {
			n += c.min
		}
		return n
	}
	for need(cols) > width {
		worst := -1
		for i, c := range cols {
			if c.drop > 0 && (worst < 0 || c.drop > cols[worst].drop) {
				worst = i
			}
		}
		if worst < 0 {
			break
		}
		cols = append(cols[:worst:worst], cols[worst+1:]...)
	}
	widths := make([]int, len(cols))
	spare := width - need(cols)
	for i, c := range cols {
		widths[i] = c.min
		if c.id == colModel && spare < 0 {
			widths[i] = max(c.min+spare, 4)
		}
	}
	// Spare room goes round the wordy columns (model, tags, client) a
	// cell at a time, so the tags and the client grow with the model
	// rather than after it, then round the others; what is left once each
	// is at its max widens the model.
	wordy := func(c column) bool { return c.id == colModel || c.id == colTag || c.id == colClient }
	for _, want := range []func(c column) bool{wordy, func(column) bool { return true }} {
		for grew := true; spare > 0 && grew; {
			grew = false
			for i, c := range cols {
				if spare > 0 && widths[i] < c.max && want(c) {
					widths[i]++
					spare--
					grew = true
				}
			}
		}
	}
	for i, c := range cols {
		if c.id == colModel && spare > 0 {
			widths[i] += spare
			spare = 0
		}
	}
	out := make([]placed, len(cols))
	x := 0
	for i, c := range cols {
		out[i] = placed{column: c, x: x, w: widths[i]}
		x += widths[i] + 1
	}
	return out
}

// cellText is a call's value for a column, and the value a data bar
// measures (negative: no bar).
func cellText(c colID, r *ledger.Row, now time.Time, loc *time.Location, relTime bool) (string, float64) {
	has := r.HasUsage
	num := func(n int64) float64 {
		if !has {
			return -1
		}
		return float64(n)
	}
	switch c {
	case colMark:
		if r.Kind == ledger.KindOther {
			return "·", -1 // not an LLM call: shown only when asked (a)
		}
		switch r.Outcome {
		case ledger.OutcomeUpstreamError:
			return "!", -1
		case ledger.OutcomeIncomplete:
			return "~", -1
		case ledger.OutcomeClientCancelled:
			return "x", -1
		}
		return " ", -1
	case colTime:
		if relTime {
			return ago(now, r.StartedAt), -1
		}
		return clock(r.StartedAt, loc), -1
	case colProvider:
		return Printable(r.Provider), -1
	case colModel:
		if r.Model == "" && r.Kind == ledger.KindOther {
			return Printable(strings.TrimSpace(r.Method + " " + r.Path)), -1 // what it asked, as it has no model
		}
		if r.Model == "" {
			return "-", -1
		}
		return Printable(r.Model), -1
	case colStatus:
		return statusText(r), -1
	case colInput:
		return tokens(has, r.InputTokens), num(r.InputTokens)
	case colCached:
		return tokens(has, r.CachedInputTokens), num(r.CachedInputTokens)
	case colCacheWrite:
		return tokens(has, r.CacheWriteTokens), num(r.CacheWriteTokens)
	case colOutput:
		return tokens(has, r.OutputTokens), num(r.OutputTokens)
	case colReasoning:
		return tokens(has, r.ReasoningTokens), num(r.ReasoningTokens)
	case colCost:
		if r.CostUSD == nil {
			return costCell(r), -1
		}
		return costCell(r), *r.CostUSD
	case colTTFB:
		if r.TTFB < 0 || (r.TTFB == 0 && r.Status == 0) {
			return "-", -1 // no response byte
		}
		return ttfb(r.TTFB), float64(r.TTFB)
	case colDuration:
		return duration(r.Duration), float64(r.Duration)
	case colTag:
		if len(r.Tags) == 0 {
			return "-", -1
		}
		return Printable(strings.Join(r.Tags, ",")), -1
	case colClient:
		if r.Client == "" {
			return "-", -1
		}
		return Printable(r.Client), -1
	}
	return "", -1
}

// statusText is the status column: the HTTP status, and the outcome when
// the call did not complete.
func statusText(r *ledger.Row) string {
	code := "-"
	if r.Status != 0 {
		code = statusCode(r.Status)
	}
	switch r.Outcome {
	case ledger.OutcomeUpstreamError:
		return code + " error"
	case ledger.OutcomeIncomplete:
		return code + " partial"
	case ledger.OutcomeClientCancelled:
		return code + " cancel"
	case ledger.OutcomeNoUsage:
		return code + " nousage"
	}
	return code
}
