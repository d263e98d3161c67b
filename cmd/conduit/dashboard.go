package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/budgets"
	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui"
)

var dashboardCmd = &command{
	name:    "dashboard",
	summary: "Open the terminal-based dashboard",
	help: `Open the terminal-based dashboard

Usage: conduit dashboard [OPTIONS]

A live, full-screen view of the ledger the config names: every call, newest
first, with a header of calls, tokens and cost for the time window, today's
and this month's spend with a gauge per [budgets.<name>], a chart of spend
over the window (per hour over a day, per day over a month), and the
Valohai LLM sync's state. It only reads the
ledger, so it runs beside a proxy (and follows its calls as they finish) or
alone to browse history. Press ? in it for every key.

Options:
      --theme <THEME>     ` + themeList + ` [default: the last one
                          used, else default]; NO_COLOR in the environment
                          turns colours off
      --window <WINDOW>   1h, today, 24h, 7d, 30d or all [default: the last
                          one used, else 24h]; w cycles them in the dashboard
      --provider <KEY>    Start filtered to calls through [providers.<KEY>]
      --model <MODEL>     Start filtered to one model
      --tag <TAG>         Start filtered to calls tagged TAG
      --project <NAME>    Start filtered to one project
                          (each of these four is an exact value, or a glob
                          with * ? [...] such as 'gpt-4*')
      --all               Show the requests that are not LLM calls too (models
                          lists, telemetry, uploads); a toggles them
      --ledger <PATH>     Read this ledger file instead of the config's
` + globalOptionsHelp + `
The window, theme and grouping in use are remembered for the next run in
dashboard.json under the user's config directory (~/.config/conduit on
Linux).

Logs go to an in-dashboard pane (press L; -v opens it at start), never over
the screen.

Keys (the Rust Conduit's, and more):
  ↑↓ j k  PgUp PgDn  Home End   move          ⏎ → l      details
  Esc ← h ⌫                     back          [ ]        newer / older call
  f       follow new calls      t  relative / clock times
  /       filter                w  window     s S  sort     g  group
  a       non-LLM requests too  c  clear the filter
  b       data bars             T  theme      ?  help       q  quit

Examples:
  conduit dashboard
  conduit dashboard --window today --theme qbasic
  conduit dashboard --ledger ~/archive/conduit.db --window all
`,
	run: runDashboard,
}

var themeList = strings.Join(ui.ThemeNames(), ", ")

// newDashboardScreen opens the terminal; tests replace it with a
// simulation screen.
var newDashboardScreen = tcell.NewScreen

func runDashboard(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	theme := fs.String("theme", "default", "")
	window := fs.String("window", "24h", "")
	provider := fs.String("provider", "", "")
	model := fs.String("model", "", "")
	tag := fs.String("tag", "", "")
	project := fs.String("project", "", "")
	all := fs.Bool("all", false, "")
	ledgerPath := fs.String("ledger", "", "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("dashboard: unexpected argument '%s'; run 'conduit dashboard --help' for usage", rest[0])
	}
	noColor := a.getenv("NO_COLOR") != ""
	th, err := ui.LookupTheme(*theme, noColor)
	if err != nil {
		return usageErrorf("dashboard: --theme: %v", err)
	}
	win, err := ui.ParseWindow(*window)
	if err != nil {
		return usageErrorf("dashboard: --window: %v", err)
	}

	path, syncOn := *ledgerPath, false
	var from *config.Config // the config that named the ledger; nil: --ledger
	var bs []budgets.Budget
	var budgetLoc *time.Location
	if cfg, err := a.loadConfig(); err == nil {
		syncOn = cfg.ValohaiLLM.Enabled()
		bs, budgetLoc = budgetsOf(cfg), cfg.BudgetSettings.Location
		if path == "" {
			path, from = cfg.Ledger.Path, cfg
		}
	} else if path == "" {
		return err
	}
	db, err := openReadOnly(path, from)
	if err != nil {
		return err
	}
	defer db.Close()

	// From here on the terminal belongs to the dashboard: logs go to the
	// in-UI pane only, also those of anything using slog's or the log
	// package's default logger.
	logs := ui.NewLogBuffer(200)
	logger := newLogger(logs, a.logLevel())
	prev, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(logger)
	defer func() {
		slog.SetDefault(prev)
		log.SetOutput(prevOut) // SetDefault redirected the log package
		log.SetFlags(prevFlags)
	}()
	// The window, theme and grouping of the last run, unless the flags
	// say otherwise; a state file that is broken is only logged.
	statePath, err := ui.StateFile()
	if err != nil {
		logger.Warn("dashboard: the window, theme and grouping are not remembered", "err", err)
	}
	var state ui.State
	if statePath != "" {
		if state, err = ui.LoadState(statePath); err != nil {
			logger.Warn("dashboard: ignoring the saved state", "err", err)
		}
	}
	if w, err := ui.ParseWindow(state.Window); err == nil && state.Window != "" && !fs.Changed("window") {
		win = w
	}
	if t, err := ui.LookupTheme(state.Theme, noColor); err == nil && state.Theme != "" && !fs.Changed("theme") {
		th = t
	}
	scr, err := newDashboardScreen()
	if err != nil {
		return fmt.Errorf("dashboard: needs a terminal (%w): run it in one; 'conduit report' prints the totals without", err)
	}
	return ui.Run(ctx, scr, db, ui.Options{
		Group:          ledger.GroupBy(state.Group),
		StatePath:      statePath,
		State:          state,
		Theme:          th,
		NoColor:        noColor,
		Window:         win,
		Filter:         startFilter(*provider, *model, *tag, *project, *all),
		Sync:           syncOn,
		Budgets:        bs,
		BudgetLocation: budgetLoc,
		Logs:           logs,
		ShowLogs:       a.verbose > 0,
		Logger:         logger,
	})
}

// startFilter is the filter the flags ask for: each value exact, or a glob
// when it has a glob's * ? or [, as the dashboard's own prompt reads them.
func startFilter(provider, model, tag, project string, all bool) ledger.Filter {
	f := ledger.Filter{IncludeOther: all}
	for _, v := range []struct {
		value       string
		exact, glob *string
	}{
		{provider, &f.Provider, &f.Glob.Provider}, {model, &f.Model, &f.Glob.Model},
		{tag, &f.Tag, &f.Glob.Tag}, {project, &f.Project, &f.Glob.Project},
	} {
		if strings.ContainsAny(v.value, "*?[") {
			*v.glob = v.value
		} else {
			*v.exact = v.value
		}
	}
	return f
}
