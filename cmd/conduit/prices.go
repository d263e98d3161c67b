package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/ledger/pricing"
)

var pricesCmd = &command{
	name:    "prices",
	summary: "Update, inspect and check the price book",
	help: `Update, inspect and check the price book

Usage: conduit prices <COMMAND> [OPTIONS]

Conduit prices calls from a price book built into the binary, generated from
Pydantic's genai-prices data and a reviewed list of corrections, plus your
[pricing."<prefix>"] overrides and [ledger] pricing_file. 'update' fetches
newer genai-prices data without a new release; the proxy prices with the
newer of the built-in and the downloaded data from its next start.

Commands:
  update          Download, check and store the newest price data
  show <MODEL>    Print how a model is priced: the source, the entry and rule
                  that matched, the rates and tiers in force today
  missing         List the models in the ledger that have no price

Options:
` + globalOptionsHelp + `
Examples:
  conduit prices update
  conduit prices show claude-sonnet-4-5-20250929
  conduit prices missing --since 7d
`,
	run: runPrices,
}

// pricesSubcommands are the commands under `conduit prices`.
var pricesSubcommands = []*command{pricesUpdateCmd, pricesShowCmd, pricesMissingCmd}

func runPrices(ctx context.Context, a *app, cmd *command, args []string) error {
	idx, name := findCommand(args)
	if name == "" {
		for _, arg := range args {
			if arg == "--" {
				break
			}
			if arg == "-h" || arg == "--help" {
				fmt.Fprint(a.stdout, cmd.help)
				return errHelpShown
			}
		}
		return usageErrorf("prices: missing command (update, show or missing); run 'conduit prices --help' for usage")
	}
	var names []string
	for _, sub := range pricesSubcommands {
		if sub.name == "prices "+name {
			return sub.run(ctx, a, sub, slices.Concat(args[:idx], args[idx+1:]))
		}
		names = append(names, strings.TrimPrefix(sub.name, "prices "))
	}
	hint := "run 'conduit prices --help' for usage"
	if s := config.Suggest(name, names); s != "" {
		hint = fmt.Sprintf("did you mean 'prices %s'? (%s)", s, hint)
	}
	return usageErrorf("prices: unknown command '%s'; %s", name, hint)
}

// usePricesUpdate makes pricer price from the data `conduit prices update`
// stored, when there is some and it is newer than the built-in book. A
// stored download that no longer checks out is logged and left unused: the
// built-in book still prices every call.
func usePricesUpdate(logger *slog.Logger, pricer *pricing.Pricer) {
	dir, err := pricing.UpdateDir()
	if err != nil {
		logger.Warn("downloaded price data not looked for", "err", err)
		return
	}
	u, err := pricing.LoadUpdate(dir)
	switch {
	case err != nil:
		logger.Warn("downloaded price data not used: the built-in book prices calls", "err", err)
	case u != nil && u.Date.After(pricing.EmbeddedDate()):
		pricer.UseUpdate(u)
	}
}

// optionalConfig loads the config if there is one: commands that only
// read prices work without it, and use its overrides when there is one.
func (a *app) optionalConfig() (*config.Config, error) {
	cfg, err := a.loadConfig()
	if err == nil {
		return cfg, nil
	}
	path := config.Path(a.configFlag, a.getenv)
	if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) && a.configFlag == "" && a.getenv("CONDUIT_CONFIG") == "" {
		return nil, nil
	}
	return nil, err
}

// commandPricer builds the pricer a command reprices or explains with: the
// config's overrides and pricing file (when there is a config), and the
// downloaded data when newer, as the proxy would at its next start.
func (a *app) commandPricer(cfg *config.Config) (*pricing.Pricer, error) {
	var p *pricing.Pricer
	var err error
	if cfg != nil {
		p, err = newPricer(cfg)
	} else {
		p, err = pricing.NewPricer(nil, "")
	}
	if err != nil {
		return nil, err
	}
	usePricesUpdate(a.logger, p)
	return p, nil
}
