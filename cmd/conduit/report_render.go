package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rivo/uniseg"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui"
	"github.com/valohai/conduit/ui/numfmt"
)

// reportFormat is an output format of `conduit report`.
type reportFormat string

// Report formats.
const (
	reportTable reportFormat = "table"
	reportJSON  reportFormat = "json"
	reportCSV   reportFormat = "csv"
)

// parseReportFormat parses "table", "json" or "csv".
func parseReportFormat(s string) (reportFormat, error) {
	switch f := reportFormat(strings.ToLower(strings.TrimSpace(s))); f {
	case reportTable, reportJSON, reportCSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown report format %q: want table, json or csv", s)
}

// writeReport renders r in format: an aligned table for people, JSON or
// CSV for programs.
func writeReport(w io.Writer, r ledger.Report, format reportFormat) error {
	var err error
	switch format {
	case reportTable:
		err = writeReportTable(w, r)
	case reportJSON:
		err = writeReportJSON(w, r)
	case reportCSV:
		err = writeReportCSV(w, r)
	default:
		err = fmt.Errorf("unknown report format %q", format)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// groupLabel is how the table shows a group's key: the key as a terminal
// can show it safely, or what an empty key means under r.By.
func groupLabel(r ledger.Report, k string) string {
	if k != "" {
		return ui.Printable(k)
	}
	switch r.By {
	case ledger.ByTag:
		return "(untagged)"
	case ledger.ByClient:
		return "(no user agent)"
	case ledger.ByProject:
		return "(no project)"
	case ledger.BySession:
		return "(no session)"
	}
	return "(unknown)"
}

var reportHeaders = []string{"CALLS", "INPUT", "CACHED", "CACHE WRITE", "OUTPUT", "REASONING", "COST", "UNPRICED", "ERRORS", "NO USAGE"}

// reportCells are a group's cells. Its token sums are "-" when no call in
// it carried usage: unknown, not zero.
func reportCells(t ledger.Totals) []string {
	tokens := func(n int64) string {
		if t.Calls > 0 && t.NoUsage == t.Calls {
			return "-"
		}
		return numfmt.Count(n)
	}
	return []string{
		numfmt.Count(t.Calls), tokens(t.InputTokens), tokens(t.CachedInputTokens),
		tokens(t.CacheWriteTokens), tokens(t.OutputTokens), tokens(t.ReasoningTokens),
		reportCostCell(t), reportUnpricedCell(t), reportCountCell(t.Errors), reportCountCell(t.NoUsage),
	}
}

// reportCountCell shows a count that is usually zero as "-" then, so that the
// groups that have some stand out.
func reportCountCell(n int64) string {
	if n == 0 {
		return "-"
	}
	return numfmt.Count(n)
}

// reportCostCell shows a group's cost: "$1.23", "$1.23*" when some calls in it are
// unpriced (the sum leaves them out), "unpriced" when none is priced, "-"
// when no call carried usage.
func reportCostCell(t ledger.Totals) string {
	switch {
	case !t.CostKnown() && t.Unpriced > 0:
		return "unpriced"
	case !t.CostKnown():
		return "-"
	case t.Unpriced > 0:
		return numfmt.USD(t.CostUSD) + "*"
	}
	return numfmt.USD(t.CostUSD)
}

func reportUnpricedCell(t ledger.Totals) string {
	if t.Unpriced == 0 {
		return "-"
	}
	return numfmt.Count(t.Unpriced) + " !"
}

func writeReportTable(w io.Writer, r ledger.Report) error {
	bw := bufio.NewWriter(w)
	keyHeader := strings.ToUpper(string(r.By))
	rows := [][]string{append([]string{keyHeader}, reportHeaders...)}
	for _, g := range r.Groups {
		rows = append(rows, append([]string{groupLabel(r, g.Key)}, reportCells(g.Totals)...))
	}
	totalRow := append([]string{"TOTAL"}, reportCells(r.Total)...)
	rows = append(rows, totalRow)

	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], uniseg.StringWidth(c)) // cells, not runes: 通 is two
		}
	}
	writeRow := func(row []string) {
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-uniseg.StringWidth(c))
			switch {
			case i == 0:
				bw.WriteString(c + pad)
			default:
				bw.WriteString("  " + pad + c)
			}
		}
		bw.WriteString("\n")
	}
	fmt.Fprintf(bw, "Calls by %s, %s\n\n", r.By, reportWindow(r))
	writeRow(rows[0])
	for _, row := range rows[1 : len(rows)-1] {
		writeRow(row)
	}
	total := 0
	for _, wd := range widths {
		total += wd
	}
	bw.WriteString(strings.Repeat("-", total+2*(len(widths)-1)) + "\n")
	writeRow(totalRow)
	if r.Total.Unpriced > 0 {
		fmt.Fprintf(bw, "\n* cost leaves out %s unpriced call(s): their model is not in the price book ('conduit prices missing').\n"+
			"  Price them with [pricing.\"<model prefix>\"] in conduit.toml, or [ledger] pricing_file.\n",
			numfmt.Count(r.Total.Unpriced))
	}
	if r.Total.Errors > 0 || r.Total.NoUsage > 0 {
		bw.WriteString("\nERRORS: calls that failed (an error status, no answer, or an error event).\n" +
			"NO USAGE: calls that carried no token counts (failed calls among them): their tokens and cost are unknown, not in the sums.\n" +
			"  'conduit export' lists each with its status and outcome.\n")
	}
	if r.By == ledger.ByTag && len(r.Groups) > 1 {
		bw.WriteString("\nA call with several tags counts once under each; TOTAL counts it once.\n")
	}
	return bw.Flush()
}

// reportWindow describes the report's time window in its location.
func reportWindow(r ledger.Report) string {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	const layout = "2006-01-02 15:04 MST"
	switch {
	case r.Since.IsZero() && r.Until.IsZero():
		return "all time"
	case r.Until.IsZero():
		return "since " + r.Since.In(loc).Format(layout)
	case r.Since.IsZero():
		return "until " + r.Until.In(loc).Format(layout)
	}
	return r.Since.In(loc).Format(layout) + " to " + r.Until.In(loc).Format(layout)
}

type reportTotalsJSON struct {
	Key               *string      `json:"key,omitempty"`
	Calls             int64        `json:"calls"`
	InputTokens       int64        `json:"input_tokens"`
	CachedInputTokens int64        `json:"cached_input_tokens"`
	CacheWriteTokens  int64        `json:"cache_write_tokens"`
	OutputTokens      int64        `json:"output_tokens"`
	ReasoningTokens   int64        `json:"reasoning_tokens"`
	CostUSD           *json.Number `json:"cost_usd"` // null: no call priced; ledger.AppendCost's decimals
	UnpricedCalls     int64        `json:"unpriced_calls"`
	NoUsageCalls      int64        `json:"no_usage_calls"`
	ErrorCalls        int64        `json:"error_calls"`
}

func totalsJSON(t ledger.Totals, key *string) reportTotalsJSON {
	j := reportTotalsJSON{Key: key, Calls: t.Calls, InputTokens: t.InputTokens,
		CachedInputTokens: t.CachedInputTokens, CacheWriteTokens: t.CacheWriteTokens,
		OutputTokens: t.OutputTokens, ReasoningTokens: t.ReasoningTokens,
		UnpricedCalls: t.Unpriced, NoUsageCalls: t.NoUsage, ErrorCalls: t.Errors}
	if t.CostKnown() {
		c := json.Number(ledger.AppendCost(nil, t.CostUSD))
		j.CostUSD = &c
	}
	return j
}

func writeReportJSON(w io.Writer, r ledger.Report) error {
	timeOrNil := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := t.UTC().Format(time.RFC3339)
		return &s
	}
	out := struct {
		By     ledger.GroupBy     `json:"by"`
		Since  *string            `json:"since"`
		Until  *string            `json:"until"`
		Groups []reportTotalsJSON `json:"groups"`
		Total  reportTotalsJSON   `json:"total"`
	}{By: r.By, Since: timeOrNil(r.Since), Until: timeOrNil(r.Until), Groups: []reportTotalsJSON{}}
	for _, g := range r.Groups {
		key := g.Key
		out.Groups = append(out.Groups, totalsJSON(g.Totals, &key))
	}
	out.Total = totalsJSON(r.Total, nil)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeReportCSV(w io.Writer, r ledger.Report) error {
	cw := csv.NewWriter(w)
	header := []string{string(r.By), "calls", "input_tokens", "cached_input_tokens", "cache_write_tokens",
		"output_tokens", "reasoning_tokens", "cost_usd", "unpriced_calls", "no_usage_calls", "error_calls"}
	row := func(key string, t ledger.Totals) []string {
		cost := ""
		if t.CostKnown() {
			cost = string(ledger.AppendCost(nil, t.CostUSD))
		}
		i := func(v int64) string { return strconv.FormatInt(v, 10) }
		return []string{key, i(t.Calls), i(t.InputTokens), i(t.CachedInputTokens), i(t.CacheWriteTokens),
			i(t.OutputTokens), i(t.ReasoningTokens), cost, i(t.Unpriced), i(t.NoUsage), i(t.Errors)}
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, g := range r.Groups {
		if err := cw.Write(row(ledger.CSVCell(g.Key), g.Totals)); err != nil {
			return err
		}
	}
	if err := cw.Write(row("(total)", r.Total)); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
