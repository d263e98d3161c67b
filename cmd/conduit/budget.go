package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valohai/conduit/budgets"
	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui/numfmt"
)

var budgetCmd = &command{
	name:    "budget",
	summary: "Show each budget's spend, limit and reset; --check for scripts",
	help: `Show each budget's spend, limit and reset; --check for scripts

Usage: conduit budget [OPTIONS]

Prints every [budgets.<name>] of the config in its current period (a
calendar day, week or month in [budget_settings] timezone): what was spent,
the limit, the share of it used, the calls in scope that have no known price
(they cannot count, so the spend may be higher than shown), the calls
refused, and when the period resets. It reads the ledger the config names,
read-only: no proxy needs to run.

Options:
      --check            Exit 1 when any budget is at or over its limit, 0
                         otherwise (2 on a usage error), for scripts, CI and
                         shell prompts; the output is as without it
      --format <FORMAT>  table or json [default: table]
      --line             One short line for shell prompts and status bars:
                         day $3.21/$10 · month $41/$200 (a budget over its
                         limit ends in !, unpriced calls show as +N?)
      --ledger <PATH>    Read this ledger file instead of the config's
` + globalOptionsHelp + `
Examples:
  conduit budget
  conduit budget --check || echo "over budget"
  conduit budget --line
  conduit budget --format json | jq '.budgets[] | select(.level != "ok")'
  PS1='$(conduit budget --line 2>/dev/null) \$ '
`,
	run: runBudget,
}

// budgetNow is the budget command's clock (tests set it).
var budgetNow = time.Now

func runBudget(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	check := fs.Bool("check", false, "")
	format := fs.String("format", "table", "")
	line := fs.Bool("line", false, "")
	ledgerPath := fs.String("ledger", "", "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("budget: unexpected argument '%s'; run 'conduit budget --help' for usage", rest[0])
	}
	switch *format {
	case "table", "json":
	default:
		return usageErrorf("budget: --format: unknown format %q: want table or json", *format)
	}
	if *line && fs.Changed("format") {
		return usageErrorf("budget: --line and --format cannot be used together: --line is its own format")
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	now := budgetNow()
	statuses, noLedger, err := readBudgets(ctx, cfg, *ledgerPath, now)
	if err != nil {
		return err
	}
	switch {
	case *line:
		_, err = fmt.Fprintln(a.stdout, budgetLine(statuses))
	case *format == "json":
		err = writeBudgetsJSON(a.stdout, cfg, statuses, now)
	default:
		if noLedger != "" {
			fmt.Fprintf(a.stderr, "conduit: no ledger at %s yet: nothing spent\n", noLedger)
		}
		err = writeBudgetsTable(a.stdout, cfg, statuses)
	}
	if err != nil {
		return err
	}
	if *check {
		for _, s := range statuses {
			if s.Over() {
				return &exitStatusError{code: exitError}
			}
		}
	}
	return nil
}

// readBudgets reads every budget's status from the ledger at path (the
// config's when ""). A ledger that does not exist yet has spent nothing:
// its path comes back as noLedger.
func readBudgets(ctx context.Context, cfg *config.Config, path string, now time.Time) (statuses []budgets.Status, noLedger string, err error) {
	if path == "" {
		path = cfg.Ledger.Path
	}
	bs := budgetsOf(cfg)
	if len(bs) == 0 {
		return nil, "", nil
	}
	var src budgets.Source = emptyLedger{}
	db, err := ledger.OpenReadOnly(path)
	switch {
	case errors.Is(err, ledger.ErrNoLedger):
		noLedger = path
	case err != nil:
		return nil, "", err
	default:
		defer db.Close()
		src = db
	}
	statuses, err = budgets.Read(ctx, src, bs, cfg.BudgetSettings.Location, now)
	return statuses, noLedger, err
}

// emptyLedger is a ledger with no calls, for a proxy that never ran.
type emptyLedger struct{}

func (emptyLedger) Slices(context.Context, ledger.Filter, bool) ([]ledger.Slice, error) {
	return nil, nil
}

func (emptyLedger) Groups(context.Context, ledger.GroupBy, ledger.Filter, *time.Location) ([]ledger.Group, error) {
	return nil, nil
}

func writeBudgetsTable(w io.Writer, cfg *config.Config, statuses []budgets.Status) error {
	bw := bufio.NewWriter(w)
	if len(statuses) == 0 {
		fmt.Fprintf(bw, "No budgets in %s: add a [budgets.<name>] table with limit_usd and period (see conduit.example.toml).\n", cfg.Path)
		return bw.Flush()
	}
	rows := [][]string{{"BUDGET", "PERIOD", "SPENT", "UNPRICED", "LIMIT", "USED", "STATE", "REFUSED", "RESETS AT", "SCOPE"}}
	for _, s := range statuses {
		state := s.Level().String()
		if s.Budget.Enforce {
			state += ", enforced"
		}
		rows = append(rows, []string{
			s.Budget.Name, string(s.Budget.Period), numfmt.USD(s.SpentUSD), unpricedCell(s.Unpriced),
			numfmt.USD(s.Budget.LimitUSD), percent(s.Fraction), state, strconv.FormatInt(s.Refused, 10),
			s.ResetsAt.Format("2006-01-02 15:04 MST"), scopeSummary(s.Budget.Scope),
		})
	}
	// Numbers align right, words left.
	right := map[int]bool{2: true, 3: true, 4: true, 5: true, 7: true}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		bw.WriteString(strings.TrimRight(b.String(), " ") + "\n")
	}
	var unpriced int64
	for _, s := range statuses {
		unpriced += s.Unpriced
	}
	if unpriced > 0 {
		bw.WriteString("\nUnpriced calls have usage but no known price, so they cannot count: the spend may be higher than shown\n" +
			"('conduit prices missing' lists their models; price them with [pricing.\"<model prefix>\"]).\n")
	}
	return bw.Flush()
}

func unpricedCell(n int64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// scopeSummary is a scope for people: "model claude-opus-*, project web",
// or "every call".
func scopeSummary(s budgets.Scope) string {
	var parts []string
	for _, p := range []struct{ k, v string }{{"provider", s.Provider}, {"model", s.Model}, {"tag", s.Tag}, {"project", s.Project}, {"client", s.Client}} {
		if p.v != "" {
			parts = append(parts, p.k+" "+p.v)
		}
	}
	if len(parts) == 0 {
		return "every call"
	}
	return strings.Join(parts, ", ")
}

// budgetLine is the one-line form: "day $3.21/$10 · month $41/$200".
func budgetLine(statuses []budgets.Status) string {
	parts := make([]string, 0, len(statuses))
	for _, s := range statuses {
		p := fmt.Sprintf("%s %s/%s", s.Budget.Name, shortUSD(s.SpentUSD, false), shortUSD(s.Budget.LimitUSD, true))
		if s.Unpriced > 0 {
			p += fmt.Sprintf(" +%d?", s.Unpriced)
		}
		if s.Over() {
			p += "!"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " · ")
}

// shortUSD is an amount in few characters: whole dollars from $10 (spend
// rounded down, so a prompt never shows a limit reached early), cents
// below, and "$10" rather than "$10.00" for a whole limit.
func shortUSD(v float64, limit bool) string {
	switch {
	case v == math.Trunc(v):
		return "$" + strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 && limit:
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	case v >= 10:
		return "$" + strconv.FormatFloat(math.Floor(v), 'f', 0, 64)
	case v < 0.01:
		// Four decimals, without the zeros a short line has no room for.
		return strings.TrimRight(numfmt.USD(v), "0")
	}
	return "$" + strconv.FormatFloat(math.Floor(v*100)/100, 'f', 2, 64)
}

type budgetJSON struct {
	Name          string            `json:"name"`
	Period        string            `json:"period"`
	PeriodLabel   string            `json:"period_label"`
	PeriodStart   string            `json:"period_start"`
	ResetsAt      string            `json:"resets_at"`
	SpentUSD      float64           `json:"spent_usd"`
	LimitUSD      float64           `json:"limit_usd"`
	Fraction      float64           `json:"fraction"`
	Level         string            `json:"level"` // ok, warning or over
	Over          bool              `json:"over"`
	Crossed       float64           `json:"crossed"` // the highest threshold reached; 0: none
	WarnAt        []float64         `json:"warn_at"`
	Enforce       bool              `json:"enforce"`
	Calls         int64             `json:"calls"`
	UnpricedCalls int64             `json:"unpriced_calls"`
	RefusedCalls  int64             `json:"refused_calls"`
	Scope         map[string]string `json:"scope"`
}

func writeBudgetsJSON(w io.Writer, cfg *config.Config, statuses []budgets.Status, now time.Time) error {
	loc := cfg.BudgetSettings.Location
	out := struct {
		At       string       `json:"at"`
		Timezone string       `json:"timezone"`
		Budgets  []budgetJSON `json:"budgets"`
	}{At: now.In(loc).Format(time.RFC3339), Timezone: loc.String(), Budgets: []budgetJSON{}}
	for _, s := range statuses {
		scope := map[string]string{}
		for k, v := range map[string]string{"provider": s.Budget.Scope.Provider, "model": s.Budget.Scope.Model,
			"tag": s.Budget.Scope.Tag, "project": s.Budget.Scope.Project, "client": s.Budget.Scope.Client} {
			if v != "" {
				scope[k] = v
			}
		}
		warnAt := s.Budget.WarnAt
		if warnAt == nil {
			warnAt = []float64{}
		}
		out.Budgets = append(out.Budgets, budgetJSON{
			Name: s.Budget.Name, Period: string(s.Budget.Period), PeriodLabel: s.Budget.Period.Label(s.PeriodStart),
			PeriodStart: s.PeriodStart.Format(time.RFC3339), ResetsAt: s.ResetsAt.Format(time.RFC3339),
			SpentUSD: math.Round(s.SpentUSD*1e6) / 1e6, LimitUSD: s.Budget.LimitUSD, Fraction: math.Round(s.Fraction*1e6) / 1e6,
			Level: s.Level().String(), Over: s.Over(), Crossed: s.Crossed, WarnAt: warnAt, Enforce: s.Budget.Enforce,
			Calls: s.Calls, UnpricedCalls: s.Unpriced, RefusedCalls: s.Refused, Scope: scope,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
