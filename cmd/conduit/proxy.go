package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/gcfloor"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ledger/pricing"
	"github.com/valohai/conduit/parsers"
)

var proxyCmd = &command{
	name:    "proxy",
	summary: "Run the proxy server [default command]",
	help: `Run the proxy server [default command]

Usage: conduit proxy [OPTIONS]

Serves every [providers.<key>] of the config at http://<listen>/<key> and
records each call's token usage. The same port is an HTTPS proxy for tools
that cannot change their base URL (HTTPS_PROXY=http://<listen>): calls to LLM
hosts are decrypted with the local CA ('conduit ca init') and recorded, the
rest is tunnelled untouched. Stop it with Ctrl-C (SIGINT) or SIGTERM: calls in
flight are allowed to finish first.

The ledger is conduit.db beside the config unless [ledger] path says
otherwise; the proxy is its only writer, and refuses to start while another
proxy writes it. Beside it, the proxy leaves a state file with its address
(conduit.db.proxy.json), through which 'conduit env' and 'conduit run' find
it, and a lock file (conduit.db.proxy.lock).

Options:
      --listen <ADDR>          Listen on this address instead of the config's
                               listen (":9090" means 127.0.0.1:9090)
      --allow-second-writer    Start even though another proxy writes the
                               same ledger
` + globalOptionsHelp + `
Examples:
  conduit proxy
  conduit -c ~/conduit.toml proxy --listen 127.0.0.1:9090
  OPENAI_BASE_URL=http://127.0.0.1:8080/openai/v1 python my_agent.py
  conduit run -- claude
`,
	run: runProxy,
}

// shutdownGrace bounds how long a stopping proxy waits for calls in flight.
const shutdownGrace = 30 * time.Second

func runProxy(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	listen := fs.String("listen", "", "")
	allowSecond := fs.Bool("allow-second-writer", false, "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("proxy: unexpected argument '%s'; run 'conduit proxy --help' for usage", rest[0])
	}
	cfg, err := a.loadOwnConfig()
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = normalizeListen(*listen)
		if !cfg.Server.AllowRemote && !config.IsLoopbackListen(cfg.Listen) {
			return usageErrorf("proxy: --listen %s is not a loopback address: %s (in %s)", cfg.Listen, config.RemoteListenAdvice, cfg.Path)
		}
	}
	gcfloor.Start(gcfloor.DefaultFloor)
	return serveClaimed(ctx, a.logger, cfg, *allowSecond, nil)
}

// serveClaimed is serveProxy with the ledger claimed (claimLedger): a
// second proxy on it is refused unless allowSecond, and the state file
// names this one while it serves. published, if not nil, receives the
// listening address once the state file is written (or, without the lock,
// would have been): tests.
func serveClaimed(ctx context.Context, logger *slog.Logger, cfg *config.Config, allowSecond bool, published chan<- string) error {
	claim, err := claimLedger(logger, cfg.Ledger.Path, allowSecond)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer claim.release()
	ready := make(chan string)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if addr, ok := <-ready; ok {
			claim.publish(addr, cfg.Path)
			if published != nil {
				published <- addr
			}
		}
	}()
	err = serveProxy(ctx, logger, cfg, ready)
	close(ready) // serveProxy has returned: nothing more is sent
	<-done
	return err
}

// serveProxy runs the proxy until ctx is done. ready, if not nil, receives
// the listening address once calls can be made (tests).
func serveProxy(ctx context.Context, logger *slog.Logger, cfg *config.Config, ready chan<- string) error {
	warnSecretPerms(logger, cfg)
	providers, err := interceptProviders(cfg.Providers)
	if err != nil {
		return err
	}
	pricer, err := newPricer(cfg)
	if err != nil {
		return err
	}
	usePricesUpdate(logger, pricer)
	proxyAuth, err := interceptProxyAuth(cfg.Server)
	if err != nil {
		return err
	}
	pl, err := openProxyLedger(logger, cfg.Ledger.Path)
	if err != nil {
		return err
	}
	defer pl.Close()
	// Valohai LLM sync, when configured. Deferred before the writer's
	// close, so it runs after it: the stop sends the last records too.
	// It reads whichever ledger pl has open: one opened late, or anew
	// after its file was replaced.
	syncer := startProxySync(logger, cfg, pl.DB)
	defer syncer.stop(ctx)
	writer := ledger.NewWriter(nil, ledger.WriterOptions{Logger: logger, OnWritten: syncer.written,
		Write: pl.write, SetAside: pl.setAside, QueueBytes: cfg.Ledger.QueueBytes, Background: true})
	// Whatever happens from here, the records already queued are written.
	defer func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		if err := writer.Close(wctx); err != nil {
			st := writer.Stats()
			logger.Error("ledger: records still queued at exit were not written", "err", err, "queued", st.Queued, "dropped", st.Dropped)
		}
	}()

	// Prometheus /metrics and OpenTelemetry export, when configured.
	tel, err := startTelemetry(ctx, logger, cfg, writer)
	if err != nil {
		return err
	}
	defer stopTelemetry(ctx, logger, tel)

	upstream, err := upstreamOptions(cfg)
	if err != nil {
		return err
	}
	// Budgets count this period's spend before the first call is served.
	bud, err := startProxyBudgets(ctx, logger, cfg, pl.DB(), upstream)
	if err != nil {
		return err
	}
	defer bud.stop(ctx)
	// Listen first: forward mode needs the real address to recognise
	// requests aimed at Conduit itself.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	addr := ln.Addr().String()
	forward, err := forwardOptions(logger, cfg, providers, addr)
	if err != nil {
		ln.Close()
		return err
	}
	srv, err := intercept.New(intercept.Options{
		Providers: providers,
		Timeouts:  interceptTimeouts(cfg.Timeouts),
		Logger:    logger,
		Admit:     bud.admit(),
		Record: func(c intercept.Call) {
			pricer.Price(&c.Record)
			// Budgets first: once a record can be read from the ledger,
			// the next call's admission has counted it.
			bud.observe(c.Record)
			writer.Add(c.Record)
			tel.Observe(c)
		},
		Forward:             forward,
		Upstream:            upstream,
		Metrics:             tel.Handler(),
		ProxyAuth:           proxyAuth,
		AllowedHosts:        cfg.Server.AllowedHosts,
		AllowedOrigins:      cfg.Server.AllowedOrigins,
		MaxTunnelsPerClient: cfg.MITM.MaxTunnelsPerClient,
	})
	if err != nil {
		ln.Close()
		return err
	}
	logger.Info(fmt.Sprintf("proxy running at http://%s", addr))
	logger.Info("ledger at "+cfg.Ledger.Path+ledgerWhere(cfg), "prices", pricer.Version())
	for i := range providers {
		p := &providers[i]
		logger.Info(fmt.Sprintf("%s → %s: base URL %s (%s)", p.Key, p.Upstream, sdkBaseURL("http://"+clientAddr(addr), p), sdkHint(p.API)))
	}
	logTelemetry(logger, cfg, addr)
	warnRemote(logger, addr, proxyAuth != nil)

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if ready != nil {
		ready <- addr
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("stopping: letting calls in flight finish", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err = hs.Shutdown(sctx)
	if err != nil {
		// Out of time: close the clients' connections now, so that calls
		// stuck writing to them end and are recorded below.
		hs.Close()
	}
	// Decrypted forward-mode connections were taken over from hs, and
	// streams whose client left are still read for their final usage:
	// stop them too, letting their calls finish and be recorded.
	if ferr := srv.Shutdown(sctx); err == nil {
		err = ferr
	}
	srv.CloseIdleConnections()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopped with calls still in flight after %s", shutdownGrace)
	}
	return err
}

// ledgerWhere says why the ledger is where it is, for the start-up log:
// beside the config unless [ledger] path moved it.
func ledgerWhere(cfg *config.Config) string {
	if cfg.Pos("ledger", "path") != cfg.Path {
		return " ([ledger] path)"
	}
	return " (beside " + cfg.Path + "; [ledger] path moves it)"
}

func interceptProviders(in []config.Provider) ([]intercept.Provider, error) {
	out := make([]intercept.Provider, 0, len(in))
	for _, p := range in {
		api := parsers.APIForHost(p.Upstream.Host)
		if p.API != "" {
			var err error
			if api, err = parsers.ParseAPI(p.API); err != nil {
				return nil, fmt.Errorf("provider %s: %w", p.Key, err)
			}
		}
		out = append(out, intercept.Provider{
			Key:               p.Key,
			Upstream:          p.Upstream,
			API:               api,
			InjectStreamUsage: api == parsers.OpenAI && p.StreamUsage == config.StreamUsageInject,
			Deployments:       p.Deployments,
		})
	}
	return out, nil
}

// newPricer builds the pricer from the config's [pricing] overrides and
// [ledger] pricing_file.
func newPricer(cfg *config.Config) (*pricing.Pricer, error) {
	overrides := make(map[string]pricing.Rates, len(cfg.Pricing))
	for prefix, o := range cfg.Pricing {
		// config.Parse guarantees Input and Output.
		overrides[prefix] = pricing.Rates{
			Input: *o.Input, Output: *o.Output,
			CachedInput: o.CachedInput, CacheWrite5m: o.CacheWrite5m, CacheWrite1h: o.CacheWrite1h,
		}
	}
	p, err := pricing.NewPricer(overrides, cfg.Ledger.PricingFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return p, nil
}

// interceptTimeouts passes the config's timeouts on: the config has
// filled in every default, its drain of zero (NoDrain) is intercept's
// zero: no drain, and so is its WebSocket total of zero: none.
func interceptTimeouts(t config.Timeouts) intercept.Timeouts {
	return intercept.Timeouts{Connect: t.Connect, ResponseHeader: t.ResponseHeader, Total: t.Total, Drain: new(t.Drain),
		WebSocketIdle: t.WebSocketIdle, WebSocketTotal: t.WebSocketTotal}
}
