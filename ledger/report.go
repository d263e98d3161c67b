package ledger

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ReportFormat is an output format of Report.Write.
type ReportFormat string

// Report formats.
const (
	ReportTable ReportFormat = "table"
	ReportJSON  ReportFormat = "json"
	ReportCSV   ReportFormat = "csv"
)

// ParseReportFormat parses "table", "json" or "csv".
func ParseReportFormat(s string) (ReportFormat, error) {
	switch f := ReportFormat(strings.ToLower(strings.TrimSpace(s))); f {
	case ReportTable, ReportJSON, ReportCSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown report format %q: want table, json or csv", s)
}

// Report is the totals of calls per group plus an overall total.
type Report struct {
	By           GroupBy
	Since, Until time.Time // the filter's window; zero: open
	Groups       []Group
	// Total counts every call once, also under ByTag where a call with
	// several tags is in several groups.
	Total Totals
	// Location is where day keys and the window are shown.
	Location *time.Location
}

// Report computes the per-group and overall totals of the calls matching f,
// from one snapshot of the ledger (a proxy writing meanwhile cannot make
// them disagree). Day groups use loc (nil: UTC).
func (db *DB) Report(ctx context.Context, by GroupBy, f Filter, loc *time.Location) (Report, error) {
	if loc == nil {
		loc = time.UTC
	}
	if _, err := ParseGroupBy(string(by)); err != nil {
		return Report{}, fmt.Errorf("ledger report: %w", err)
	}
	tx, err := db.snapshot(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("ledger report: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	groups, err := aggregateIn(ctx, tx, by, f)
	if err != nil {
		return Report{}, fmt.Errorf("ledger report by %s: %w", by, err)
	}
	total, err := aggregateIn(ctx, tx, "", f)
	if err != nil {
		return Report{}, fmt.Errorf("ledger report totals: %w", err)
	}
	return Report{By: by, Since: f.Since, Until: f.Until, Groups: groups.groups(by, loc),
		Total: total.totals(), Location: loc}, nil
}

// Write renders r in format: an aligned table for people, JSON or CSV for
// programs.
func (r Report) Write(w io.Writer, format ReportFormat) error {
	var err error
	switch format {
	case ReportTable:
		err = r.writeTable(w)
	case ReportJSON:
		err = r.writeJSON(w)
	case ReportCSV:
		err = r.writeCSV(w)
	default:
		err = fmt.Errorf("unknown report format %q", format)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// priced is how many calls of t have a cost.
func (t Totals) priced() int64 { return t.Calls - t.NoUsage - t.Unpriced }

// costKnown reports whether t's cost means anything: at least one call in
// it is priced. (A group of only unpriced or usage-less calls has no known
// cost, which is shown as such rather than as $0.)
func (t Totals) costKnown() bool { return t.priced() > 0 }

func (r Report) keyLabel(k string) string {
	if k != "" {
		return k
	}
	switch r.By {
	case ByTag:
		return "(untagged)"
	case ByClient:
		return "(no user agent)"
	case ByProject:
		return "(no project)"
	case BySession:
		return "(no session)"
	}
	return "(unknown)"
}

var reportHeaders = []string{"CALLS", "INPUT", "CACHED", "CACHE WRITE", "OUTPUT", "REASONING", "COST", "UNPRICED", "ERRORS", "NO USAGE"}

// tableCells are a group's cells. Its token sums are "-" when no call in
// it carried usage: unknown, not zero.
func (r Report) tableCells(t Totals) []string {
	tokens := func(n int64) string {
		if t.Calls > 0 && t.NoUsage == t.Calls {
			return "-"
		}
		return thousands(n)
	}
	return []string{
		thousands(t.Calls), tokens(t.InputTokens), tokens(t.CachedInputTokens),
		tokens(t.CacheWriteTokens), tokens(t.OutputTokens), tokens(t.ReasoningTokens),
		costCell(t), unpricedCell(t), countCell(t.Errors), countCell(t.NoUsage),
	}
}

// countCell shows a count that is usually zero as "-" then, so that the
// groups that have some stand out.
func countCell(n int64) string {
	if n == 0 {
		return "-"
	}
	return thousands(n)
}

// costCell shows a group's cost: "$1.23", "$1.23*" when some calls in it are
// unpriced (the sum leaves them out), "unpriced" when none is priced, "-"
// when no call carried usage.
func costCell(t Totals) string {
	switch {
	case t.priced() == 0 && t.Unpriced > 0:
		return "unpriced"
	case t.priced() == 0:
		return "-"
	case t.Unpriced > 0:
		return FormatUSD(t.CostUSD) + "*"
	}
	return FormatUSD(t.CostUSD)
}

func unpricedCell(t Totals) string {
	if t.Unpriced == 0 {
		return "-"
	}
	return thousands(t.Unpriced) + " !"
}

func (r Report) writeTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	keyHeader := strings.ToUpper(string(r.By))
	rows := [][]string{append([]string{keyHeader}, reportHeaders...)}
	for _, g := range r.Groups {
		rows = append(rows, append([]string{r.keyLabel(g.Key)}, r.tableCells(g.Totals)...))
	}
	totalRow := append([]string{"TOTAL"}, r.tableCells(r.Total)...)
	rows = append(rows, totalRow)

	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	writeRow := func(row []string) {
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				bw.WriteString(c + pad)
			default:
				bw.WriteString("  " + pad + c)
			}
		}
		bw.WriteString("\n")
	}
	fmt.Fprintf(bw, "Calls by %s, %s\n\n", r.By, r.window())
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
			thousands(r.Total.Unpriced))
	}
	if r.Total.Errors > 0 || r.Total.NoUsage > 0 {
		bw.WriteString("\nERRORS: calls that failed (an error status, no answer, or an error event).\n" +
			"NO USAGE: calls that carried no token counts (failed calls among them): their tokens and cost are unknown, not in the sums.\n" +
			"  'conduit export' lists each with its status and outcome.\n")
	}
	if r.By == ByTag && len(r.Groups) > 1 {
		bw.WriteString("\nA call with several tags counts once under each; TOTAL counts it once.\n")
	}
	return bw.Flush()
}

// window describes the report's time window in its location.
func (r Report) window() string {
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
	CostUSD           *json.Number `json:"cost_usd"` // null: no call priced; appendCost's decimals
	UnpricedCalls     int64        `json:"unpriced_calls"`
	NoUsageCalls      int64        `json:"no_usage_calls"`
	ErrorCalls        int64        `json:"error_calls"`
}

func totalsJSON(t Totals, key *string) reportTotalsJSON {
	j := reportTotalsJSON{Key: key, Calls: t.Calls, InputTokens: t.InputTokens,
		CachedInputTokens: t.CachedInputTokens, CacheWriteTokens: t.CacheWriteTokens,
		OutputTokens: t.OutputTokens, ReasoningTokens: t.ReasoningTokens,
		UnpricedCalls: t.Unpriced, NoUsageCalls: t.NoUsage, ErrorCalls: t.Errors}
	if t.costKnown() {
		c := json.Number(appendCost(nil, t.CostUSD))
		j.CostUSD = &c
	}
	return j
}

func (r Report) writeJSON(w io.Writer) error {
	timeOrNil := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := t.UTC().Format(time.RFC3339)
		return &s
	}
	out := struct {
		By     GroupBy            `json:"by"`
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

func (r Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{string(r.By), "calls", "input_tokens", "cached_input_tokens", "cache_write_tokens",
		"output_tokens", "reasoning_tokens", "cost_usd", "unpriced_calls", "no_usage_calls", "error_calls"}
	row := func(key string, t Totals) []string {
		cost := ""
		if t.costKnown() {
			cost = string(appendCost(nil, t.CostUSD))
		}
		i := func(v int64) string { return strconv.FormatInt(v, 10) }
		return []string{key, i(t.Calls), i(t.InputTokens), i(t.CachedInputTokens), i(t.CacheWriteTokens),
			i(t.OutputTokens), i(t.ReasoningTokens), cost, i(t.Unpriced), i(t.NoUsage), i(t.Errors)}
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, g := range r.Groups {
		if err := cw.Write(row(g.Key, g.Totals)); err != nil {
			return err
		}
	}
	if err := cw.Write(row("(total)", r.Total)); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// FormatUSD formats a dollar amount for people: thousands separators and
// cents from $1 up ("$1,234.57"), four decimals below ("$0.0042"), and
// "<$0.0001" for a positive amount that would round to zero.
func FormatUSD(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "?"
	case v < 0:
		return "-" + FormatUSD(-v)
	case v == 0:
		return "$0.00"
	case v < 0.00005:
		return "<$0.0001"
	case v < 1:
		return "$" + strconv.FormatFloat(v, 'f', 4, 64)
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	return "$" + thousands(n) + "." + frac
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
