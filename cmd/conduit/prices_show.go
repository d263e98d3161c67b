package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui"
	"github.com/valohai/conduit/ui/numfmt"
)

var pricesShowCmd = &command{
	name:    "prices show",
	summary: "Print how a model is priced",
	help: `Print how a model is priced

Usage: conduit prices show [OPTIONS] <MODEL>

Prints which source prices MODEL: a [pricing."<prefix>"] override, the
[ledger] pricing_file, or the price book; for the book, which provider's
price list (chosen by --provider's upstream host in the config, else by the
provider name, else by the model), which entry and rule matched and by which
spelling of the name, the price period in force, its rates and long-context
tiers in USD, the multipliers, and the book's version, date and origin
(built in, or downloaded by 'conduit prices update'). An unpriced model says
why and exits with status 1.

Options:
      --provider <KEY>  A [providers.<KEY>] of the config, or a provider's
                        name (openai, anthropic, gemini, vertex, bedrock,
                        azure, openrouter, xai, deepseek, mistral, groq, …)
      --at <TIME>       Price as of TIME (a date, or RFC 3339) [default: now]
` + globalOptionsHelp + `
Examples:
  conduit prices show gpt-4.1-2025-04-14
  conduit prices show us.anthropic.claude-sonnet-4-5-20250929-v1:0 --provider bedrock
  conduit prices show deepseek-chat --provider deepseek --at 2026-11-01T20:00:00Z
`,
	run: runPricesShow,
}

func runPricesShow(_ context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	provider := fs.String("provider", "", "")
	atFlag := fs.String("at", "", "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErrorf("prices show: want one model name; run 'conduit prices show --help' for usage")
	}
	model := rest[0]
	at := time.Now()
	if *atFlag != "" {
		if at, err = ledger.ParseTime(*atFlag, at, time.Local); err != nil {
			return usageErrorf("prices show: --at: %v", err)
		}
	}
	cfg, err := a.optionalConfig()
	if err != nil {
		return err
	}
	p, err := a.commandPricer(cfg)
	if err != nil {
		return err
	}
	host, path, via := "", "", ""
	if cfg != nil && *provider != "" {
		for _, pr := range cfg.Providers {
			if pr.Key == *provider {
				host, path, via = pr.Upstream.Host, pr.Upstream.Path, " ("+pr.Upstream.String()+")"
			}
		}
	}
	e := p.Explain(*provider, host, path, model, at)

	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	fmt.Fprintln(tw, ui.Printable(model))
	switch e.Source {
	case ledger.CostFromOverride:
		line("priced by", fmt.Sprintf("the override [pricing.%q] in %s", e.Override, cfg.Path))
	case ledger.CostFromFile:
		line("priced by", "the pricing file "+cfg.Ledger.PricingFile+" ([ledger] pricing_file)")
	case ledger.CostFromTable:
		line("priced by", "the price book")
	default:
		line("priced by", "nothing: unpriced")
	}
	if e.Provider != "" {
		line("price list", fmt.Sprintf("%s (from the %s%s)", e.Provider, e.ProviderBy, via))
	}
	if e.Entry != "" {
		how := "by the rule below"
		if e.Exact {
			how = "by its exact name"
		}
		if e.MatchedName != strings.ToLower(model) {
			how += fmt.Sprintf(", as %q", e.MatchedName)
		}
		line("entry", e.Entry+", "+how)
		line("rule", e.Rule)
		line("in force", fmt.Sprintf("%s (of %d price period%s), as of %s", e.Period, e.Periods, plural(e.Periods, "", "s"), at.Format(time.RFC3339)))
		for i, r := range e.Rates {
			k := ""
			if i == 0 {
				k = "rates"
			}
			v := fmt.Sprintf("%-24s %s per %s", r.Key, usdRate(r.USD), r.Block)
			for _, t := range r.Tiers {
				v += fmt.Sprintf("; %s above %s input tokens", usdRate(t.USD), numfmt.Count(t.Above))
			}
			if !r.Counted {
				v += " (not counted by Conduit)"
			}
			line(k, v)
		}
		if len(e.Rates) == 0 {
			line("rates", "none: free")
		}
		for i, m := range e.Multipliers {
			k := ""
			if i == 0 {
				k = "multipliers"
			}
			line(k, m)
		}
	}
	if e.Source == ledger.CostFromTable || e.Source == "" {
		line("book", fmt.Sprintf("%s, data of %s, %s", e.Version, e.DataDate.Format(time.DateOnly), e.Origin))
	}
	if e.Note != "" {
		line("why", e.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if e.Source == "" {
		return &exitStatusError{code: exitError}
	}
	return nil
}

// usdRate prints a rate with the digits it has (0.0028, 15, 0.375).
func usdRate(v float64) string {
	return "$" + strconv.FormatFloat(v, 'f', -1, 64)
}
