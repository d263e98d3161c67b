package main

import (
	"context"
	"fmt"
	"time"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui/numfmt"
)

var repriceCmd = &command{
	name:    "reprice",
	summary: "Recompute the recorded costs with the prices in use now",
	help: `Recompute the recorded costs with the prices in use now

Usage: conduit reprice [OPTIONS]

Prices the recorded calls again, as the proxy would price them now: the
config's [pricing."<prefix>"] overrides and [ledger] pricing_file, and the
price book (built in, or downloaded by 'conduit prices update' when newer),
each call at the rates in force when it started. A cost the provider
reported stays. The calls whose cost, price source, version or note changed
are rewritten, with the report totals, in one transaction; it prints how
many calls and dollars changed. A proxy writing the ledger meanwhile waits
for it. Calls already sent to Valohai LLM are not sent again.

Options:
      --dry-run           Say what would change, and change nothing
      --since <TIME>      Only calls started at or after TIME: a duration back
                          from now (90m, 2h, 7d), a date (2026-11-01, local
                          midnight) or a time (2026-11-01T14:00, local, or
                          RFC 3339 with an offset)
      --until <TIME>      Only calls started before TIME (same forms)
      --provider <KEY>    Only calls through [providers.<KEY>]
      --model <MODEL>     Only calls of this model (exact name)
      --tag <TAG>         Only calls tagged TAG (x-conduit-tag)
      --ledger <PATH>     Reprice this ledger file instead of the config's
` + globalOptionsHelp + `
Examples:
  conduit reprice --dry-run
  conduit prices update && conduit reprice --since 30d
  conduit reprice --model gpt-5.6-luna --since 2026-07-30
`,
	run: runReprice,
}

func runReprice(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	dryRun := fs.Bool("dry-run", false, "")
	lf := addLedgerFilterFlags(fs)
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("reprice: unexpected argument '%s'; run 'conduit reprice --help' for usage", rest[0])
	}
	filter, err := lf.filter(cmd.name, time.Now())
	if err != nil {
		return err
	}
	cfg, err := a.optionalConfig()
	if err != nil {
		return err
	}
	path := *lf.ledger
	if path == "" {
		if cfg == nil {
			_, err := a.loadConfig() // the error that says how to create one
			return err
		}
		path = cfg.Ledger.Path
	}
	pricer, err := a.commandPricer(cfg)
	if err != nil {
		return err
	}
	var db *ledger.DB
	if *dryRun {
		db, err = ledger.OpenReadOnly(path)
	} else {
		db, err = ledger.Open(path, ledger.Options{})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Reprice(ctx, filter, pricer.Price, *dryRun)
	if err != nil {
		return err
	}
	verb := "Repriced"
	if *dryRun {
		verb = "Would reprice"
	}
	version, _, origin := pricer.Source()
	fmt.Fprintf(a.stdout, "%s %s call(s) with %s (%s):\n", verb, numfmt.Count(res.Calls), version, origin)
	fmt.Fprintf(a.stdout, "  %s changed: %s newly priced, %s no longer priced\n", numfmt.Count(res.Changed), numfmt.Count(res.NewlyPriced), numfmt.Count(res.NoLongerPriced))
	delta := res.After - res.Before
	sign := "+"
	if delta < 0 {
		sign, delta = "-", -delta
	}
	fmt.Fprintf(a.stdout, "  cost %s → %s (%s%s)\n", numfmt.USD(res.Before), numfmt.USD(res.After), sign, numfmt.USD(delta))
	if *dryRun {
		fmt.Fprintln(a.stdout, "Dry run: nothing was written.")
	}
	return nil
}
