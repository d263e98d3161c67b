package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/ledger"
)

var exportCmd = &command{
	name:    "export",
	summary: "Write the recorded calls as JSON Lines or CSV",
	help: `Write the recorded calls as JSON Lines or CSV

Usage: conduit export [OPTIONS]

Writes one record per call to stdout, oldest first: a JSON object per line
(jsonl) or a CSV table with a header row (csv). It reads the ledger the config
names and may run while a proxy is writing it. Fields: id, started_at,
provider, api, mode, method, path, model, stream, status, outcome,
input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
reasoning_tokens, cost_usd, ttfb_ms, duration_ms, request_id, response_id,
client, vh_headers, tags, usage, kind, project, session, connection_id,
price_version, cost_note, usage_detail, truncated. Unknown values are null
(empty in CSV); an unpriced call has a null cost_usd, never 0.

Options:
      --format <FORMAT>   jsonl or csv [default: jsonl]
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
      --set-aside         Write instead the records the ledger refused for what
                          they held (kept apart so that the calls after them
                          were written): JSON Lines of id, set_aside_at, error
                          and the record; no other filter applies
` + globalOptionsHelp + `
Examples:
  conduit export > calls.jsonl
  conduit export --format csv --since 7d > last-week.csv
  conduit export --since 2026-11-01 --until 2026-12-01 --provider anthropic
  conduit export --since 2h | jq 'select(.cost_usd == null)'
  conduit export --project website --format csv > website.csv
  conduit export --set-aside > refused.jsonl
`,
	run: runExport,
}

func runExport(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	format := fs.String("format", "jsonl", "")
	lf := addLedgerFilterFlags(fs)
	setAside := fs.Bool("set-aside", false, "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("export: unexpected argument '%s'; run 'conduit export --help' for usage", rest[0])
	}
	if *setAside {
		for _, name := range []string{"format", "since", "until", "provider", "model", "tag", "project", "session"} {
			if fs.Changed(name) {
				return usageErrorf("export: --set-aside writes every set-aside record as JSON Lines; drop --%s", name)
			}
		}
		db, err := a.openLedgerReadOnly(*lf.ledger)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExportSetAside(ctx, a.stdout)
		return err
	}
	ef, err := ledger.ParseExportFormat(*format)
	if err != nil {
		return usageErrorf("export: --format: %v", err)
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
	if _, err := db.Export(ctx, a.stdout, ef, filter); err != nil {
		return err
	}
	return nil
}

// ledgerFilterFlags are the flags export and report share to choose the
// ledger and the calls.
type ledgerFilterFlags struct {
	since, until, provider, model, tag, project, session, ledger *string
	all                                                          *bool
}

func addLedgerFilterFlags(fs *pflag.FlagSet) *ledgerFilterFlags {
	return &ledgerFilterFlags{
		since:    fs.String("since", "", ""),
		until:    fs.String("until", "", ""),
		provider: fs.String("provider", "", ""),
		model:    fs.String("model", "", ""),
		tag:      fs.String("tag", "", ""),
		project:  fs.String("project", "", ""),
		session:  fs.String("session", "", ""),
		ledger:   fs.String("ledger", "", ""),
		all:      fs.Bool("all", false, ""),
	}
}

// filter turns the flags into a ledger filter, with times relative to now
// and dates in the local time zone.
func (lf *ledgerFilterFlags) filter(cmdName string, now time.Time) (ledger.Filter, error) {
	f := ledger.Filter{Provider: *lf.provider, Model: *lf.model, Tag: *lf.tag, Project: *lf.project, Session: *lf.session,
		IncludeOther: *lf.all}
	var err error
	if *lf.since != "" {
		if f.Since, err = ledger.ParseTime(*lf.since, now, time.Local); err != nil {
			return f, usageErrorf("%s: --since: %v", cmdName, err)
		}
	}
	if *lf.until != "" {
		if f.Until, err = ledger.ParseTime(*lf.until, now, time.Local); err != nil {
			return f, usageErrorf("%s: --until: %v", cmdName, err)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, usageErrorf("%s: --since (%s) must be before --until (%s)", cmdName,
			f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	return f, nil
}

// openLedgerReadOnly opens the ledger at path, or else the one the config
// names, for reading beside a running proxy.
func (a *app) openLedgerReadOnly(path string) (*ledger.DB, error) {
	var cfg *config.Config
	if path == "" {
		var err error
		if cfg, err = a.loadConfig(); err != nil {
			return nil, err
		}
		path = cfg.Ledger.Path
	}
	return openReadOnly(path, cfg)
}

// openReadOnly opens the ledger at path read-only; cfg is the config that
// named it, nil when --ledger did. A missing ledger is an error that says
// what to do about where the path came from.
func openReadOnly(path string, cfg *config.Config) (*ledger.DB, error) {
	db, err := ledger.OpenReadOnly(path)
	if errors.Is(err, ledger.ErrNoLedger) {
		return nil, noLedgerError(path, cfg)
	}
	return db, err
}

// noLedgerError says that there is no ledger at path, which --ledger (cfg
// nil) or the config cfg named, and what to do.
func noLedgerError(path string, cfg *config.Config) error {
	if cfg == nil {
		return fmt.Errorf("%w at %s (--ledger): check the path", ledger.ErrNoLedger, path)
	}
	start := "conduit proxy"
	if cfg.Path != config.DefaultFileName {
		start = "conduit -c " + cfg.Path + " proxy"
	}
	where := "conduit.db beside " + cfg.Path
	if cfg.Pos("ledger", "path") != cfg.Path {
		where = "[ledger] path in " + cfg.Path
	}
	return fmt.Errorf("%w at %s (%s) yet: start the proxy with '%s', which creates it, or read another ledger with --ledger",
		ledger.ErrNoLedger, path, where, start)
}
