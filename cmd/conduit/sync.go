package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ledger/valohai"
)

var syncCmd = &command{
	name:    "sync",
	summary: "Send recorded calls to Valohai LLM now",
	help: `Send recorded calls to Valohai LLM now

Usage: conduit sync [OPTIONS]

Sends the recorded calls Valohai LLM can link to a run (calls with token
usage and at least one x-vh-* request header) that it has not yet accepted,
oldest first, 64 per request, and prints how many were sent and how many
wait. A running 'conduit proxy' does this in the background; this command is
for cron or CI and needs no proxy. It stops at the first refusal (exit
status 1): what was not accepted is sent by the next run.

The key comes from [valohai-llm] api_key or VALOHAI_LLM_API_KEY, the address
from [valohai-llm] url or VALOHAI_LLM_URL.

Options:
      --dry-run        Print the JSON the requests would carry, as one array;
                       send nothing, mark nothing, no key needed
      --ledger <PATH>  Use this ledger file instead of the config's
` + globalOptionsHelp + `
Examples:
  conduit sync
  VALOHAI_LLM_API_KEY=... conduit sync
  conduit sync --dry-run | jq length
`,
	run: runSync,
}

// syncStopBound is how long a stopping proxy keeps sending what is
// eligible before leaving it for the next start.
const syncStopBound = 5 * time.Second

func runSync(ctx context.Context, a *app, cmd *command, args []string) error {
	flags := a.flagSet(cmd)
	dryRun := flags.Bool("dry-run", false, "")
	ledgerPath := flags.String("ledger", "", "")
	rest, err := a.parse(cmd, flags, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("sync: unexpected argument '%s'; run 'conduit sync --help' for usage", rest[0])
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	path, from := cfg.Ledger.Path, cfg // from: the config that named the ledger; nil: --ledger
	if *ledgerPath != "" {
		path, from = *ledgerPath, nil
	}
	client := newValohaiClient(cfg)
	if *dryRun {
		return syncDryRun(ctx, a.stdout, a.stderr, path, from, client)
	}
	if !cfg.ValohaiLLM.Enabled() {
		return fmt.Errorf("sync: Valohai LLM is not configured: set api_key in the [valohai-llm] table of %s, or VALOHAI_LLM_API_KEY", cfg.Path)
	}
	// Open writes (the marks), but never creates a ledger here.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sync: %w", noLedgerError(path, from))
	}
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	res, sendErr := client.Send(ctx, db)
	switch {
	case res.Requests == 0 && sendErr == nil:
		fmt.Fprintln(a.stdout, "Nothing to send.")
	case res.Sent > 0 || sendErr == nil:
		fmt.Fprintf(a.stdout, "Sent %d %s to %s in %d %s.\n", res.Sent, plural(res.Sent, "call", "calls"),
			cfg.ValohaiLLM.URL, res.Requests, plural(res.Requests, "request", "requests"))
	}
	c, err := db.SyncCounts(ctx)
	if err != nil {
		return errors.Join(sendErr, err)
	}
	fmt.Fprintf(a.stdout, "Valohai LLM sync: %s\n", describeSyncCounts(c))
	if sendErr != nil {
		return fmt.Errorf("sync: %w", sendErr)
	}
	return nil
}

// syncDryRun prints what a sync would send, as one indented JSON array, and
// a summary on stderr. It reads the ledger read-only.
func syncDryRun(ctx context.Context, stdout, stderr io.Writer, path string, from *config.Config, client *valohai.Client) error {
	db, err := openReadOnly(path, from)
	if err != nil {
		return err
	}
	defer db.Close()
	n := 0
	var after ledger.Cursor
	if _, err := io.WriteString(stdout, "["); err != nil {
		return err
	}
	for {
		rows, err := db.UnsyncedAfter(ctx, after, 1000)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		recs := make([]ledger.Record, len(rows))
		for i := range rows {
			recs[i] = rows[i].Record
		}
		for _, t := range client.Payload(recs) {
			// One element of the array, indented as json.MarshalIndent
			// would indent the whole array.
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("  ", "  ")
			if err := enc.Encode(t); err != nil {
				return fmt.Errorf("encode call %s: %w", t.TransitID, err)
			}
			sep := ",\n  "
			if n == 0 {
				sep = "\n  "
			}
			if _, err := io.WriteString(stdout, sep+strings.TrimSuffix(buf.String(), "\n")); err != nil {
				return err
			}
			n++
		}
		last := rows[len(rows)-1]
		after = ledger.Cursor{StartedAt: last.StartedAt.UnixMilli(), Seq: last.Seq}
	}
	end := "]\n"
	if n > 0 {
		end = "\n]\n"
	}
	if _, err := io.WriteString(stdout, end); err != nil {
		return err
	}
	requests := (n + valohai.BatchSize - 1) / valohai.BatchSize
	fmt.Fprintf(stderr, "dry run: would send %d %s to %s in %d %s; nothing was sent or marked\n",
		n, plural(n, "call", "calls"), client.Endpoint(), requests, plural(requests, "request", "requests"))
	return nil
}

// newValohaiClient builds the Valohai LLM client the config describes.
// Records of calls to a well-known API host carry its built-in provider
// name ("openai", "anthropic", …), whatever their [providers.<key>] is
// called; other records carry their key.
func newValohaiClient(cfg *config.Config) *valohai.Client {
	names := make(map[string]string)
	for _, h := range intercept.WellKnownHosts() {
		names[h.Host] = h.Key
	}
	return &valohai.Client{URL: cfg.ValohaiLLM.URL, APIKey: cfg.ValohaiLLM.APIKey, ProviderNames: names}
}

// describeSyncCounts is "12 pending, 3400 sent, 64 failing".
func describeSyncCounts(c ledger.SyncCounts) string {
	return fmt.Sprintf("%d pending, %d sent, %d failing", c.Pending, c.Sent, c.Failing)
}

// syncStatusLine describes the sync for people: the counts and, while
// sending fails, the last error and when it happened (local time).
func syncStatusLine(c ledger.SyncCounts, st ledger.SyncState) string {
	line := "Valohai LLM sync: " + describeSyncCounts(c)
	if st.Failures > 0 && st.LastError != "" {
		line += fmt.Sprintf("; last error at %s: %s", st.LastErrorAt.Local().Format("2006-01-02 15:04:05"), st.LastError)
	}
	return line
}

// printSyncStatus prints syncStatusLine for db to w when the config enables
// the sync (conduit report). A config that cannot be read, or a ledger
// too old to tell, prints nothing: the report itself is what was asked for.
func (a *app) printSyncStatus(ctx context.Context, w io.Writer, db *ledger.DB) {
	cfg, err := a.loadConfig()
	if err != nil || !cfg.ValohaiLLM.Enabled() {
		return
	}
	c, err := db.SyncCounts(ctx)
	if err != nil {
		return
	}
	st, err := db.SyncState(ctx)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "\n%s\n", syncStatusLine(c, st))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// proxySync is conduit proxy's background sender. A nil *proxySync is the
// sync switched off: its methods do nothing.
type proxySync struct {
	sender *valohai.Sender
	logger *slog.Logger
}

// startProxySync starts sending the eligible records of the ledger
// current returns (nil: none open yet) when the config enables the sync,
// or returns nil. Stop it after the ledger's Writer is
// closed, so that the stop sends the last records too.
func startProxySync(logger *slog.Logger, cfg *config.Config, current func() *ledger.DB) *proxySync {
	if !cfg.ValohaiLLM.Enabled() {
		return nil
	}
	logger.Info("sending records to Valohai LLM at " + cfg.ValohaiLLM.URL)
	return &proxySync{
		sender: valohai.NewSender(nil, newValohaiClient(cfg), valohai.SenderOptions{Logger: logger, Ledger: current}),
		logger: logger,
	}
}

// written is the ledger Writer's OnWritten hook: it only counts.
func (p *proxySync) written(recs []ledger.Record) {
	if p != nil {
		p.sender.Written(recs)
	}
}

// stop sends what it can within syncStopBound, then stops the sender.
func (p *proxySync) stop(ctx context.Context) {
	if p == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncStopBound)
	defer cancel()
	if err := p.sender.Close(sctx); err != nil {
		p.logger.Warn("Valohai LLM sync: records left unsent at exit go with the next start or 'conduit sync'", "err", err)
	}
}
