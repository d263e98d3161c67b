package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/valohai/conduit/ui"
	"github.com/valohai/conduit/ui/numfmt"
)

var pricesMissingCmd = &command{
	name:    "prices missing",
	summary: "List the models in the ledger that have no price",
	help: `List the models in the ledger that have no price

Usage: conduit prices missing [OPTIONS]

Lists, per provider, upstream host and model, the recorded calls that have
usage but no cost: how many, their input and output tokens, the last one,
and whether the prices in use now would price them (run 'conduit reprice'
to recompute their cost) or why not. It reads the ledger the config names
and may run while a proxy is writing it.

Options:
      --since <TIME>      Only calls started at or after TIME: a duration back
                          from now (90m, 2h, 7d), a date (2026-11-01, local
                          midnight) or a time (2026-11-01T14:00, local, or
                          RFC 3339 with an offset)
      --until <TIME>      Only calls started before TIME (same forms)
      --provider <KEY>    Only calls through [providers.<KEY>]
      --model <MODEL>     Only calls of this model (exact name)
      --tag <TAG>         Only calls tagged TAG (x-conduit-tag)
      --ledger <PATH>     Read this ledger file instead of the config's
` + globalOptionsHelp + `
Examples:
  conduit prices missing
  conduit prices missing --since 7d --provider openrouter
`,
	run: runPricesMissing,
}

func runPricesMissing(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	lf := addLedgerFilterFlags(fs)
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("prices missing: unexpected argument '%s'; run 'conduit prices missing --help' for usage", rest[0])
	}
	now := time.Now()
	filter, err := lf.filter(cmd.name, now)
	if err != nil {
		return err
	}
	cfg, err := a.optionalConfig()
	if err != nil {
		return err
	}
	db, err := a.openLedgerReadOnly(*lf.ledger)
	if err != nil {
		return err
	}
	defer db.Close()
	models, err := db.Unpriced(ctx, filter)
	if err != nil {
		return err
	}
	if len(models) == 0 {
		fmt.Fprintln(a.stdout, "No unpriced calls.")
		return nil
	}
	p, err := a.commandPricer(cfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tMODEL\tCALLS\tINPUT\tOUTPUT\tLAST\tNOW")
	var calls, repriceable int64
	for _, m := range models {
		calls += m.Calls
		state := ""
		if m.Model == "" {
			state = "no model name"
		} else if e := p.Explain(m.Provider, m.Host, "", m.Model, now); e.Source != "" {
			state = "priced now (" + e.Source + "): run 'conduit reprice'"
			repriceable += m.Calls
		} else {
			state = "unpriced: " + e.Note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ui.Printable(m.Provider), ui.Printable(m.Model), numfmt.Count(m.Calls),
			numfmt.Count(m.InputTokens), numfmt.Count(m.OutputTokens), m.Last.Local().Format("2006-01-02 15:04"), state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\n%s unpriced call(s) of %d model(s)", numfmt.Count(calls), len(models))
	if repriceable > 0 {
		fmt.Fprintf(a.stdout, "; %s of them are priced by the prices in use now: 'conduit reprice' records their cost", numfmt.Count(repriceable))
	}
	fmt.Fprintln(a.stdout, ".")
	return nil
}
