package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// ledgerFixture writes a config and a ledger beside it holding three calls:
// two priced openai calls (one an hour old, one two days old) and an
// unpriced call of a local model.
func ledgerFixture(t *testing.T) (configPath, ledgerPath string) {
	t.Helper()
	dir := t.TempDir()
	configPath = filepath.Join(dir, "conduit.toml")
	writeFile(t, configPath, "[providers.openai]\nupstream = \"https://api.openai.com\"\n")
	ledgerPath = filepath.Join(dir, "conduit.db")
	db, err := ledger.Open(ledgerPath, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	rec := func(id, provider, model string, age time.Duration, cost *float64, tags ...string) ledger.Record {
		return ledger.Record{
			ID: id, StartedAt: now.Add(-age), FinishedAt: now.Add(-age + time.Second),
			Provider: provider, API: "openai", Mode: ledger.ModeBaseURL, Method: "POST",
			Host: "api.openai.com", Path: "/v1/chat/completions", Model: model, Status: 200,
			Outcome: ledger.OutcomeComplete, HasUsage: true, InputTokens: 1000, OutputTokens: 200,
			CostUSD: cost, Duration: time.Second, Tags: tags,
		}
	}
	c := 0.0036
	err = db.Insert(context.Background(), []ledger.Record{
		rec("a", "openai", "gpt-4.1", time.Hour, &c, "eval"),
		rec("b", "openai", "gpt-4.1", 48*time.Hour, &c),
		rec("c", "local", "llama3.1:8b", 30*time.Minute, nil, "eval"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return configPath, ledgerPath
}

// TestExportCommand runs `conduit export` on the config's ledger: JSONL
// by default, oldest first, filtered, and CSV on request.
func TestExportCommand(t *testing.T) {
	cfg, _ := ledgerFixture(t)
	code, out, errOut := runCLI(t, nil, "-c", cfg, "export")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var ids []string
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		ids = append(ids, m["id"].(string))
	}
	if strings.Join(ids, ",") != "b,a,c" {
		t.Errorf("ids %v, want oldest first b,a,c", ids)
	}
	if !strings.Contains(lines[2], `"cost_usd":null`) {
		t.Errorf("unpriced call: %s", lines[2])
	}

	code, out, _ = runCLI(t, nil, "export", "--config", cfg, "--since", "24h", "--provider", "openai", "--format", "csv")
	if code != 0 {
		t.Fatalf("csv exit %d", code)
	}
	rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "id,started_at,provider,") || !strings.HasPrefix(rows[1], "a,") {
		t.Errorf("csv:\n%s", out)
	}
}

// TestExportSetAside runs `conduit export --set-aside`: the records the
// ledger refused, one JSON object each; none in a sound ledger.
func TestExportSetAside(t *testing.T) {
	cfg, path := ledgerFixture(t)
	code, out, errOut := runCLI(t, nil, "-c", cfg, "export", "--set-aside")
	if code != 0 || out != "" {
		t.Fatalf("no set-aside records: exit %d, out %q, err %q", code, out, errOut)
	}
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetAside(context.Background(), ledger.Record{ID: "refused", Model: "m"}, errors.New("constraint failed")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, errOut = runCLI(t, nil, "-c", cfg, "export", "--set-aside")
	var line struct {
		ID, Error string
		Record    ledger.Record
	}
	if code != 0 || json.Unmarshal([]byte(out), &line) != nil || line.ID != "refused" || line.Error != "constraint failed" || line.Record.Model != "m" {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
}

// TestExportCommandLedgerFlag reads a ledger named on the command line, with
// no config file at all.
func TestExportCommandLedgerFlag(t *testing.T) {
	_, path := ledgerFixture(t)
	code, out, errOut := runCLI(t, nil, "export", "--ledger", path, "--tag", "eval")
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
}

// TestExportCommandErrors: mistakes name the flag and the fix.
func TestExportCommandErrors(t *testing.T) {
	cfg, _ := ledgerFixture(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "-c", cfg, "--format", "xml"}, 2, "--format: unknown export format \"xml\": want jsonl or csv"},
		{[]string{"export", "-c", cfg, "--since", "yesterday"}, 2, "--since: invalid time \"yesterday\""},
		{[]string{"export", "-c", cfg, "--since", "1h", "--until", "2h"}, 2, "--since (" /* after --until */},
		{[]string{"export", "-c", cfg, "--sinse", "1h"}, 2, "did you mean --since?"},
		{[]string{"export", "-c", cfg, "extra"}, 2, "unexpected argument 'extra'"},
		{[]string{"export", "-c", cfg, "--set-aside", "--format", "csv"}, 2, "--set-aside writes every set-aside record as JSON Lines; drop --format"},
		{[]string{"export", "-c", cfg, "--set-aside", "--since", "1h"}, 2, "drop --since"},
		{[]string{"export", "--ledger", filepath.Join(t.TempDir(), "none.db")}, 1, "none.db (--ledger): check the path"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}

func TestExportCommandHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "export", "--help")
	if code != 0 || !strings.Contains(out, "Usage: conduit export [OPTIONS]") || !strings.Contains(out, "Examples:") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
