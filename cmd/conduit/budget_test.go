package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// budgetWorld is a config with budgets over a ledger holding a few priced
// calls, with the budget command's clock at a fixed time.
func budgetWorld(t *testing.T, budgetsTOML string, recs ...ledger.Record) (cfg, db string) {
	t.Helper()
	dir := t.TempDir()
	db = filepath.Join(dir, "conduit.db")
	cfg = filepath.Join(dir, "conduit.toml")
	writeFile(t, cfg, fmt.Sprintf("[providers.anthropic]\nupstream = \"https://api.anthropic.com\"\n[ledger]\npath = %q\n[budget_settings]\ntimezone = \"Europe/Helsinki\"\n%s", db, budgetsTOML))
	if len(recs) > 0 {
		l, err := ledger.Open(db, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Insert(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	return cfg, db
}

// budgetNowAt sets the budget command's clock for one test.
func budgetNowAt(t *testing.T, now time.Time) {
	old := budgetNow
	budgetNow = func() time.Time { return now }
	t.Cleanup(func() { budgetNow = old })
}

func budgetRecord(i int, at time.Time, cost *float64, mod func(*ledger.Record)) ledger.Record {
	r := ledger.Record{
		ID: fmt.Sprintf("0193a000-0000-7000-8000-%012d", i), StartedAt: at, FinishedAt: at.Add(time.Second),
		Provider: "anthropic", API: "anthropic", Endpoint: "messages", Mode: ledger.ModeBaseURL, Method: "POST",
		Host: "api.anthropic.com", Path: "/v1/messages", Model: "claude-opus-4-1", Status: 200, Outcome: ledger.OutcomeComplete,
		HasUsage: true, InputTokens: 10, OutputTokens: 10, CostUSD: cost, Project: "web",
	}
	if cost != nil {
		r.CostSource = ledger.CostFromTable
	}
	if mod != nil {
		mod(&r)
	}
	return r
}

func cost(v float64) *float64 { return &v }

const twoBudgets = `[budgets.day]
limit_usd = 10
period = "day"
enforce = true
[budgets.month]
limit_usd = 200
period = "month"
model = "claude-*"
`

// TestBudgetCommand guards conduit budget's outputs: the table (spend,
// unpriced calls next to it, limit, share, state, refusals, reset in the
// configured zone, scope), the JSON and the one-line form, all from the
// ledger alone.
func TestBudgetCommand(t *testing.T) {
	helsinki, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Skip(err)
	}
	now := time.Date(2026, 1, 20, 15, 0, 0, 0, helsinki)
	budgetNowAt(t, now)
	cfg, _ := budgetWorld(t, twoBudgets,
		budgetRecord(1, now.Add(-time.Hour), cost(3.21), nil),
		budgetRecord(2, now.Add(-2*time.Hour), nil, nil), // unpriced
		budgetRecord(3, now.Add(-3*time.Hour), nil, func(r *ledger.Record) {
			r.HasUsage, r.Outcome, r.Status = false, ledger.OutcomeBudgetRefused, 429
		}),
		budgetRecord(4, now.Add(-5*24*time.Hour), cost(37.9), nil),
		budgetRecord(5, now.Add(-40*24*time.Hour), cost(100), nil), // last month
		budgetRecord(6, now.Add(-time.Hour), cost(1000), func(r *ledger.Record) { r.Model = "gpt-5" }),
	)
	code, out, errOut := runConduit(t, nil, "-c", cfg, "budget")
	want := `BUDGET  PERIOD      SPENT  UNPRICED    LIMIT    USED  STATE           REFUSED  RESETS AT             SCOPE
day     day     $1,003.21         1   $10.00  10032%  over, enforced        1  2026-01-21 00:00 EET  every call
month   month      $41.11         1  $200.00     21%  ok                    1  2026-02-01 00:00 EET  model claude-*
`
	if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, "Unpriced calls have usage but no known price") {
		t.Errorf("table: exit %d, stderr %q\n%s\nwant\n%s", code, errOut, out, want)
	}

	code, out, _ = runConduit(t, nil, "-c", cfg, "budget", "--line")
	if code != 0 || out != "day $1003/$10 +1?! · month $41/$200 +1?\n" {
		t.Errorf("line: exit %d, %q", code, out)
	}

	code, out, _ = runConduit(t, nil, "-c", cfg, "budget", "--format", "json")
	var j struct {
		At, Timezone string
		Budgets      []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 || len(j.Budgets) != 2 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
	m := j.Budgets[1]
	for k, v := range map[string]any{"name": "month", "period": "month", "period_label": "2026-01", "period_start": "2026-01-01T00:00:00+02:00",
		"resets_at": "2026-02-01T00:00:00+02:00", "spent_usd": 41.11, "limit_usd": 200.0, "level": "ok", "over": false,
		"unpriced_calls": 1.0, "refused_calls": 1.0, "calls": 4.0, "enforce": false, "crossed": 0.0} {
		if m[k] != v {
			t.Errorf("json %s = %#v, want %#v", k, m[k], v)
		}
	}
	if fmt.Sprint(m["scope"]) != "map[model:claude-*]" || fmt.Sprint(m["warn_at"]) != "[0.5 0.8]" || j.Timezone != "Europe/Helsinki" || j.At != "2026-01-20T15:00:00+02:00" {
		t.Errorf("json: %v", out)
	}
}

// TestBudgetCheck guards --check's exit statuses for scripts: 0 while every
// budget is under its limit (or none is configured, or nothing was ever
// recorded), 1 once one is at it, 2 on a usage error.
func TestBudgetCheck(t *testing.T) {
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	budgetNowAt(t, now)
	under, _ := budgetWorld(t, twoBudgets, budgetRecord(1, now, cost(9.99), nil))
	at, _ := budgetWorld(t, twoBudgets, budgetRecord(1, now, cost(10), nil))
	none, _ := budgetWorld(t, "")
	noLedger, db := budgetWorld(t, twoBudgets)
	tests := []struct {
		name string
		args []string
		code int
		out  string // a substring of stdout, or of stderr for usage errors
	}{
		{"under", []string{"-c", under, "budget", "--check"}, 0, "day     day     $9.99"},
		{"at the limit", []string{"-c", at, "budget", "--check"}, 1, "over, enforced"},
		{"at the limit, one line", []string{"-c", at, "budget", "--check", "--line"}, 1, "day $10/$10! · month $10/$200"},
		{"at the limit, json", []string{"-c", at, "budget", "--check", "--format", "json"}, 1, `"over": true`},
		{"without --check", []string{"-c", at, "budget"}, 0, "over"},
		{"no budgets", []string{"-c", none, "budget", "--check"}, 0, "No budgets in"},
		{"no ledger yet", []string{"-c", noLedger, "budget", "--check"}, 0, "$0.00"},
		{"bad format", []string{"-c", under, "budget", "--format", "csv"}, 2, `unknown format "csv"`},
		{"line and format", []string{"-c", under, "budget", "--line", "--format", "json"}, 2, "cannot be used together"},
		{"unknown flag", []string{"-c", under, "budget", "--chek"}, 2, "did you mean --check?"},
		{"argument", []string{"-c", under, "budget", "daily"}, 2, "unexpected argument 'daily'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runConduit(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.out) {
				t.Errorf("exit %d, want %d; stdout\n%s\nstderr\n%s\nwant %q", code, tt.code, out, errOut, tt.out)
			}
			if tt.code == 1 && errOut != "" {
				t.Errorf("--check printed to stderr: %q", errOut)
			}
		})
	}
	if _, _, errOut := runConduit(t, nil, "-c", noLedger, "budget"); !strings.Contains(errOut, "no ledger at "+db) {
		t.Errorf("no note about the missing ledger: %q", errOut)
	}
}

// TestShortUSD guards the one-line form's amounts: short, and a spend
// never rounded up to its limit.
func TestShortUSD(t *testing.T) {
	for _, tt := range []struct {
		v     float64
		limit bool
		want  string
	}{{3.21, false, "$3.21"}, {3.219, false, "$3.21"}, {10, true, "$10"}, {41.9, false, "$41"}, {199.99, false, "$199"},
		{12.5, true, "$12.50"}, {0, false, "$0"}, {0.004, false, "$0.004"}, {9.999, false, "$9.99"}} {
		if got := shortUSD(tt.v, tt.limit); got != tt.want {
			t.Errorf("%v (limit %v): %q, want %q", tt.v, tt.limit, got, tt.want)
		}
	}
}

// TestWebhookClient guards the alerts' way out: through [upstream] proxy
// like Conduit's other outbound connections, NO_PROXY and loopback direct,
// and trusting [upstream] ca_file's roots.
func TestWebhookClient(t *testing.T) {
	proxy, _ := url.Parse("http://corp-proxy:3128")
	pool := x509.NewCertPool()
	c := webhookClient(intercept.Upstream{Proxy: proxy, NoProxy: "hooks.internal", RootCAs: pool})
	tr := c.Transport.(*http.Transport)
	for target, want := range map[string]string{
		"https://hooks.slack.com/services/x": "http://corp-proxy:3128",
		"https://hooks.internal/x":           "<nil>",
		"http://127.0.0.1:9999/hook":         "<nil>",
	} {
		req, _ := http.NewRequest("POST", target, nil)
		got, err := tr.Proxy(req)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("%s: proxy %v, %v; want %s", target, got, err, want)
		}
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs != pool || c.Timeout == 0 {
		t.Errorf("TLS %+v, timeout %s", tr.TLSClientConfig, c.Timeout)
	}
	if direct := webhookClient(intercept.Upstream{}).Transport.(*http.Transport); direct.Proxy != nil {
		t.Error("without [upstream] proxy the webhook goes through a proxy")
	}
}
