package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReportCommand runs `conduit report` on the config's ledger: a table
// by model by default, other groupings, windows and formats on request.
func TestReportCommand(t *testing.T) {
	cfg, _ := ledgerFixture(t)
	code, out, errOut := runCLI(t, nil, "-c", cfg, "report")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Calls by model, all time", "MODEL", "gpt-4.1", "$0.0072", "llama3.1:8b", "unpriced", "TOTAL", "$0.0072*"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, nil, "report", "-c", cfg, "--by", "tag", "--since", "24h", "--format", "json")
	if code != 0 {
		t.Fatalf("json exit %d", code)
	}
	var rep struct {
		By     string
		Groups []struct {
			Key   string
			Calls int
		}
		Total struct{ Calls int }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.By != "tag" || rep.Total.Calls != 2 || len(rep.Groups) != 1 || rep.Groups[0].Key != "eval" {
		t.Errorf("report %+v", rep)
	}

	code, out, _ = runCLI(t, nil, "report", "-c", cfg, "--by", "day", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "day,calls,") || !strings.Contains(out, "(total),3,") {
		t.Errorf("csv exit %d:\n%s", code, out)
	}
}

func TestReportCommandErrors(t *testing.T) {
	cfg, _ := ledgerFixture(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"report", "-c", cfg, "--by", "week"}, `--by: unknown grouping "week": want model, provider, day, tag, client, project or session`},
		{[]string{"report", "-c", cfg, "--format", "html"}, "--format: unknown report format"},
		{[]string{"report", "-c", cfg, "--until", "13:00"}, "--until: invalid time"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}
