package ledger

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func reportFixture(t *testing.T) Report {
	t.Helper()
	db := mustOpen(t)
	var recs []Record
	for i := range 1500 {
		r := sampleRecord(i)
		r.CostUSD = f64(1.5)
		recs = append(recs, r)
	}
	cheap := sampleRecord(5000)
	cheap.Model, cheap.CostUSD = "gpt-5-nano", f64(0.0000295)
	unpriced := sampleRecord(5001)
	unpriced.Model, unpriced.CostUSD, unpriced.CostSource = "llama3.1:8b", nil, ""
	failed := sampleRecord(5002)
	failed.Model, failed.HasUsage, failed.CostUSD, failed.Outcome = "", false, nil, OutcomeUpstreamError
	mustInsert(t, db, append(recs, cheap, unpriced, failed)...)
	rep, err := db.Report(context.Background(), ByModel, Filter{Since: baseTime.Add(-time.Hour)}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestReportTable(t *testing.T) {
	rep := reportFixture(t)
	var buf bytes.Buffer
	if err := rep.Write(&buf, ReportTable); err != nil {
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
	if err := rep.Write(&buf, ReportJSON); err != nil {
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
	if err := rep.Write(&buf, ReportCSV); err != nil {
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

// TestReportTagTotal: calls with several tags count under each tag, but
// once in the total.
func TestReportTagTotal(t *testing.T) {
	db := mustOpen(t)
	r := sampleRecord(1)
	r.Tags = []string{"a", "b"}
	mustInsert(t, db, r)
	rep, err := db.Report(context.Background(), ByTag, Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Groups) != 2 || rep.Total.Calls != 1 {
		t.Errorf("groups %+v total %d", rep.Groups, rep.Total.Calls)
	}
	var buf bytes.Buffer
	rep.Write(&buf, ReportTable)
	if !strings.Contains(buf.String(), "counts once under each") {
		t.Errorf("no note on multi-tag counting:\n%s", buf.String())
	}
}

func TestFormatUSD(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "$0.00"},
		{0.00001, "<$0.0001"},
		{0.00005, "$0.0001"},
		{0.0042, "$0.0042"},
		{0.12345, "$0.1235"},
		{1, "$1.00"},
		{1234.567, "$1,234.57"},
		{1234567.891, "$1,234,567.89"},
		{-2.5, "-$2.50"},
	}
	for _, tt := range tests {
		if got := FormatUSD(tt.in); got != tt.want {
			t.Errorf("FormatUSD(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 30, 0, 0, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "1.5d", want: now.Add(-36 * time.Hour)},
		{in: "2w", want: now.Add(-14 * 24 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "2026-11-01", want: time.Date(2026, 11, 1, 0, 0, 0, 0, berlin)},
		{in: "2026-11-01T14:00", want: time.Date(2026, 11, 1, 14, 0, 0, 0, berlin)},
		{in: "2026-11-01 14:00:05", want: time.Date(2026, 11, 1, 14, 0, 5, 0, berlin)},
		{in: "2026-11-01T14:00:00Z", want: time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC)},
		{in: "2026-11-01T14:00:00+02:00", want: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)},
		{in: "", err: "empty time"},
		{in: "yesterday", err: `invalid time "yesterday": want a duration`},
		{in: "90", err: "missing unit"},
		{in: "5x", err: `unknown unit "x"`},
		{in: "2026-13-01", err: "invalid time"},
		{in: "9999999999d", err: "more than 100 years"},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now, berlin)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTime(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
