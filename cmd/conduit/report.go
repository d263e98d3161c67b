package main

import (
	"context"
	"time"

	"github.com/valohai/conduit/ledger"
)

var reportCmd = &command{
	name:    "report",
	summary: "Sum calls, tokens and cost per model, project, session, day, …",
	help: `Sum calls, tokens and cost per model, provider, day, tag, client, project or session

Usage: conduit report [OPTIONS]

Prints, per group and in total: calls, input tokens (cache reads and writes
included), cached input, cache writes, output tokens (reasoning included),
reasoning tokens, cost in USD, the calls whose model has no known price
(their cost is left out of the sum and flagged, never counted as $0), the
failed calls (ERRORS: provider errors, and calls a budget refused) and the
calls that carried no usage (NO USAGE: their tokens and cost are unknown,
shown as '-' where no call of a group had any). Days are local. It reads the ledger the config names and may run while a proxy is
writing it. When the config enables the Valohai LLM sync, the table ends
with its state: calls pending, sent and failing, and the last error.

Options:
      --by <GROUP>        model, provider, day, tag, client, project or session
                          [default: model]
      --format <FORMAT>   table, json or csv [default: table]
      --since <TIME>      Only calls started at or after TIME: a duration back
                          from now (90m, 2h, 7d), a date (2026-11-01, local
                          midnight) or a time (2026-11-01T14:00, local, or
                          RFC 3339 with an offset)
      --until <TIME>      Only calls started before TIME (same forms)
      --provider <KEY>    Only calls through [providers.<KEY>]
      --model <MODEL>     Only calls of this model (exact name)
      --tag <TAG>         Only calls tagged TAG (x-conduit-tag)
      --project <NAME>    Only calls of this project (conduit run sets it)
      --session <ID>      Only calls of this session (one conduit run)
      --all               Every recorded request, not only LLM calls: also the
                          other traffic to intercepted hosts (a client's own
                          /api/ calls, /v1/models, telemetry; kind other)
      --ledger <PATH>     Read this ledger file instead of the config's
` + globalOptionsHelp + `
Examples:
  conduit report
  conduit report --by day --since 7d
  conduit report --by tag --since 2026-11-01 --until 2026-12-01
  conduit report --by provider --format json | jq '.total.cost_usd'
  conduit report --by session --project website --since 7d
`,
	run: runReport,
}

func runReport(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	by := fs.String("by", string(ledger.ByModel), "")
	format := fs.String("format", string(reportTable), "")
	lf := addLedgerFilterFlags(fs)
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("report: unexpected argument '%s'; run 'conduit report --help' for usage", rest[0])
	}
	group, err := ledger.ParseGroupBy(*by)
	if err != nil || group == ledger.ByHour {
		return usageErrorf("report: --by: unknown grouping %q: want model, provider, day, tag, client, project or session", *by)
	}
	rf, err := parseReportFormat(*format)
	if err != nil {
		return usageErrorf("report: --format: %v", err)
	}
	filter, err := lf.filter(cmd.name, time.Now())
	if err != nil {
		return err
	}
	db, err := a.openLedgerReadOnly(*lf.ledger)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := db.Report(ctx, group, filter, time.Local)
	if err != nil {
		return err
	}
	if err := writeReport(a.stdout, rep, rf); err != nil {
		return err
	}
	if rf == reportTable {
		a.printSyncStatus(ctx, a.stdout, db)
	}
	return nil
}
