package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rivo/uniseg"
	"github.com/valohai/conduit/ledger"
)

// reportFixture is the report of 1,500 priced gpt-4.1 calls, one call
// too cheap for cents, one unpriced and one failed without usage or model.
func reportFixture(t *testing.T) ledger.Report {
	t.Helper()
	call := ledger.Totals{Calls: 1, InputTokens: 1200, CachedInputTokens: 200, OutputTokens: 300, ReasoningTokens: 50}
	times := func(n int64, c ledger.Totals) ledger.Totals {
		c.Calls, c.InputTokens, c.CachedInputTokens, c.OutputTokens, c.ReasoningTokens =
			n*c.Calls, n*c.InputTokens, n*c.CachedInputTokens, n*c.OutputTokens, n*c.ReasoningTokens
		return c
	}
	gpt := times(1500, call)
	gpt.CostUSD = 2250
	cheap := call
	cheap.CostUSD = 0.0000295
	unpriced := call
	unpriced.Unpriced = 1
	failed := ledger.Totals{Calls: 1, NoUsage: 1, Errors: 1}
	total := times(1502, call)
	total.Calls, total.CostUSD, total.Unpriced, total.NoUsage, total.Errors = 1503, 2250.0000295, 1, 1, 1
	return ledger.Report{
		By:    ledger.ByModel,
		Since: time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC),
		Groups: []ledger.Group{{Key: "gpt-4.1", Totals: gpt}, {Key: "gpt-5-nano", Totals: cheap},
			{Key: "llama3.1:8b", Totals: unpriced}, {Key: "", Totals: failed}},
		Total:    total,
		Location: time.UTC,
	}
}

func TestReportTable(t *testing.T) {
	rep := reportFixture(t)
	var buf bytes.Buffer
	if err := writeReport(&buf, rep, reportTable); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "Calls by model, since 2026-11-20 11:00 UTC") {
		t.Errorf("title %q", lines[0])
	}
	for _, want := range []string{
		"gpt-4.1", "1,500", "1,800,000", "$2,250.00", // 1500 × $1.50
		"gpt-5-nano", "<$0.0001",
		"llama3.1:8b", "unpriced", "1 !",
		"(unknown)", // the failed call without a model
		"TOTAL", "1,503", "$2,250.00*",
		"* cost leaves out 1 unpriced call(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Numbers are right-aligned: every data line has the same length up to
	// the end of the COST column.
	header := lines[2]
	costEnd := strings.Index(header, "COST") + len("COST")
	for _, l := range lines[3:] {
		if l == "" || strings.HasPrefix(l, "-") || strings.HasPrefix(l, "*") || strings.HasPrefix(l, " ") ||
			strings.HasPrefix(l, "ERRORS:") || strings.HasPrefix(l, "NO USAGE:") {
			continue
		}
		if len(l) < costEnd || l[costEnd-1] == ' ' {
			t.Errorf("cost not right-aligned under COST in %q", l)
		}
	}
	// The group of the failed call has no usage: tokens and cost "-", not
	// 0 or $0; it counts one error and one call without usage, and a
	// footnote says what those columns mean.
	var failed string
	for _, l := range lines {
		if strings.HasPrefix(l, "(unknown)") {
			failed = l
		}
	}
	if got := strings.Fields(failed); strings.Join(got, " ") != "(unknown) 1 - - - - - - - 1 1" {
		t.Errorf("failed call's row %q, want its tokens and cost unknown and 1 error, 1 without usage", failed)
	}
	if !strings.Contains(header, "ERRORS") || !strings.Contains(header, "NO USAGE") {
		t.Errorf("header %q lacks ERRORS and NO USAGE", header)
	}
	if !strings.Contains(out, "ERRORS: calls that failed") || !strings.Contains(out, "NO USAGE: calls that carried no token counts") {
		t.Errorf("no footnote for the failed call:\n%s", out)
	}
	for _, l := range lines {
		if f := strings.Fields(l); strings.HasPrefix(l, "gpt-4.1 ") && strings.Join(f[len(f)-3:], " ") != "- - -" {
			t.Errorf("a group without failures shows counts: %q", l)
		}
	}
}

func TestReportJSON(t *testing.T) {
	rep := reportFixture(t)
	var buf bytes.Buffer
	if err := writeReport(&buf, rep, reportJSON); err != nil {
		t.Fatal(err)
	}
	var got struct {
		By     string `json:"by"`
		Since  *string
		Until  *string
		Groups []map[string]any
		Total  map[string]any
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.By != "model" || got.Since == nil || *got.Since != "2026-11-20T11:00:00Z" || got.Until != nil {
		t.Errorf("header: %+v", got)
	}
	byKey := map[string]map[string]any{}
	for _, g := range got.Groups {
		byKey[g["key"].(string)] = g
	}
	if g := byKey["llama3.1:8b"]; g["cost_usd"] != nil || g["unpriced_calls"] != 1.0 {
		t.Errorf("unpriced group: %v", g)
	}
	if g := byKey["gpt-4.1"]; g["cost_usd"] != 2250.0 || g["calls"] != 1500.0 {
		t.Errorf("gpt-4.1 group: %v", g)
	}
	if g := byKey[""]; g["cost_usd"] != nil || g["no_usage_calls"] != 1.0 || g["error_calls"] != 1.0 {
		t.Errorf("failed group: %v", g)
	}
	if got.Total["calls"] != 1503.0 || got.Total["unpriced_calls"] != 1.0 {
		t.Errorf("total: %v", got.Total)
	}
	if _, ok := got.Total["key"]; ok {
		t.Error("total has a key")
	}
}

func TestReportCSV(t *testing.T) {
	rep := reportFixture(t)
	var buf bytes.Buffer
	if err := writeReport(&buf, rep, reportCSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "model" || rows[0][7] != "cost_usd" || rows[len(rows)-1][0] != "(total)" {
		t.Errorf("rows: %v", rows)
	}
	for _, r := range rows[1:] {
		if r[0] == "llama3.1:8b" && r[7] != "" {
			t.Errorf("unpriced group cost %q, want empty", r[7])
		}
		if r[0] == "gpt-4.1" && r[7] != "2250" {
			t.Errorf("gpt-4.1 cost %q", r[7])
		}
	}
}

// TestReportTagNote: a report by tag says that a call with several tags
// counts under each, and once in the total.
func TestReportTagNote(t *testing.T) {
	one := ledger.Totals{Calls: 1, InputTokens: 10}
	rep := ledger.Report{By: ledger.ByTag, Groups: []ledger.Group{{Key: "a", Totals: one}, {Key: "b", Totals: one}},
		Total: one, Location: time.UTC}
	var buf bytes.Buffer
	if err := writeReport(&buf, rep, reportTable); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "counts once under each") {
		t.Errorf("no note on multi-tag counting:\n%s", buf.String())
	}
}

// TestReportTableEscapes guards the terminal: a group key from the wire
// holding escape sequences (OSC 52 setting the clipboard, a screen clear, a
// bidi override) is shown escaped, and no control byte reaches the output.
func TestReportTableEscapes(t *testing.T) {
	one := ledger.Totals{Calls: 1, InputTokens: 10, CostUSD: 0.01}
	hostile := "m\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202e"
	rep := ledger.Report{By: ledger.ByModel, Groups: []ledger.Group{{Key: hostile, Totals: one}}, Total: one, Location: time.UTC}
	var buf bytes.Buffer
	if err := writeReport(&buf, rep, reportTable); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Errorf("control characters reach the terminal: %q", out)
	}
	if !strings.Contains(out, `m\x1b]52;c;ZXZpbA==\a\x1b[2J\u202e`) {
		t.Errorf("the key is not shown escaped:\n%s", out)
	}
}

// TestReportCSVFormulaSafe guards a report opened in a spreadsheet: a group
// key from the wire that a spreadsheet would run as a formula is written
// as text; JSON keeps it exact.
func TestReportCSVFormulaSafe(t *testing.T) {
	one := ledger.Totals{Calls: 1, InputTokens: 10, CostUSD: 0.01}
	key := `=HYPERLINK("http://evil.example","x")`
	rep := ledger.Report{By: ledger.ByModel, Groups: []ledger.Group{{Key: key, Totals: one}}, Total: one, Location: time.UTC}
	var buf bytes.Buffer
	if err := writeReport(&buf, rep, reportCSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || rows[1][0] != "'"+key {
		t.Errorf("csv key %q (%v)", rows[1][0], err)
	}
	buf.Reset()
	if err := writeReport(&buf, rep, reportJSON); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"key": "=HYPERLINK(`) {
		t.Errorf("json:\n%s", buf.String())
	}
}

// TestReportTableWideKeys: columns line up whatever the keys' characters:
// widths are terminal cells, so a CJK model name (two cells a character)
// does not push its row's numbers right of the others'.
func TestReportTableWideKeys(t *testing.T) {
	one := ledger.Totals{Calls: 1, InputTokens: 10, CostUSD: 0.01}
	rep := ledger.Report{By: ledger.ByModel, Groups: []ledger.Group{{Key: "通义千问-max", Totals: one}, {Key: "gpt-4.1", Totals: one}}, Total: ledger.Totals{Calls: 2, InputTokens: 20, CostUSD: 0.02}, Location: time.UTC}
	var buf bytes.Buffer
	if err := writeReport(&buf, rep, reportTable); err != nil {
		t.Fatal(err)
	}
	var ends []int
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, "通义") || strings.HasPrefix(l, "gpt-4.1") || strings.HasPrefix(l, "TOTAL") {
			ends = append(ends, uniseg.StringWidth(l))
		}
	}
	if len(ends) != 3 || ends[0] != ends[1] || ends[1] != ends[2] {
		t.Errorf("row widths in cells %v, want three equal:\n%s", ends, buf.String())
	}
}
