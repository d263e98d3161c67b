//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // serve-conduit's profiles, on their own port
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
	"github.com/valohai/conduit/certs"
	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/gcfloor"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ledger/pricing"
	"github.com/valohai/conduit/parsers"
)

// serveConduit is Conduit for profiling: the wiring of `conduit proxy`
// (intercept, the pricer, the ledger Writer, an info-level text log) in a
// program that also serves net/http/pprof on a second loopback port. It
// exists because the conduit binary has no profiling endpoint; the
// measured rows always use the real binary. It prints "proxy running at
// http://…" and "pprof at http://…", and serves until SIGTERM.
func serveConduit(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve-conduit", flag.ContinueOnError)
	rs := routes{}
	fs.Var(rs, "route", "key=URL: a provider (repeatable)")
	ledgerPath := fs.String("ledger", "", "ledger file")
	caFile := fs.String("ca-file", "", "PEM roots for TLS upstreams")
	caDir := fs.String("ca-dir", "", "forward-mode CA directory (with -mitm-host)")
	mitmHost := fs.String("mitm-host", "", "the host:port forward mode decrypts")
	logPath := fs.String("log", os.DevNull, "where the per-call log goes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gcfloor.Start(gcfloor.DefaultFloor) // as conduit proxy does
	logFile, err := os.Create(*logPath)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer logFile.Close()
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var providers []intercept.Provider
	for k, u := range rs {
		providers = append(providers, intercept.Provider{Key: k, Upstream: u, API: parsers.OpenAI, InjectStreamUsage: true})
	}
	pricer, err := pricing.NewPricer(nil, "")
	if err != nil {
		return err
	}
	db, err := ledger.Open(*ledgerPath, ledger.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	writer := ledger.NewWriter(db, ledger.WriterOptions{Logger: logger, Background: true}) // as conduit proxy does
	defer writer.Close(context.Background())
	var up intercept.Upstream
	if *caFile != "" {
		if up.RootCAs, err = loadPool(*caFile); err != nil {
			return err
		}
	}
	var fwd *intercept.Forward
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if *caDir != "" {
		ca, err := certs.Load(*caDir)
		if err != nil {
			return err
		}
		fwd = &intercept.Forward{CA: ca, Hosts: []string{*mitmHost}, TunnelOthers: true, ListenAddrs: []string{ln.Addr().String()}}
	}
	srv, err := intercept.New(intercept.Options{
		Providers: providers,
		Timeouts:  intercept.Timeouts{Drain: new(time.Duration(0))},
		Logger:    logger,
		Record: func(c intercept.Call) {
			pricer.Price(&c.Record)
			writer.Add(c.Record)
		},
		Forward:  fwd,
		Upstream: up,
	})
	if err != nil {
		return err
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(pln, http.DefaultServeMux)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	fmt.Fprintf(stdout, "pprof at http://%s\nproxy running at http://%s\n", pln.Addr(), ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

var pprofRE = regexp.MustCompile(`pprof at http://([0-9.:]+)`)

// profileLoads are the loads -profile records, each for profileSeconds.
// forward-16 and forward-1 (small calls in forward mode, decrypted, 16
// clients or one) run with -only forward.
var profileLoads = []string{"small-1", "small-64", "stream", "forward-16", "forward-1"}

// isForwardLoad reports a load of forward mode's, which needs the TLS fake.
func isForwardLoad(load string) bool { return strings.HasPrefix(load, "forward-") }

const profileSeconds = 10

// traceSeconds is the length of the execution trace of the small-1 load:
// a few thousand calls, a few hundred slower than p99.
const traceSeconds = 3

// runProfiles replaces the table with profiles: it runs serve-conduit in
// place of the conduit binary and, for each load, records a CPU profile
// and an allocation profile (the allocations made during the load) into
// dir, and after the loads a heap profile in the middle of the memory
// row's streams.
func (b *bench) runProfiles(ctx context.Context, self string, routes []string) error {
	dir := b.cfg.profile
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-profile: %w", err)
	}
	args := []string{"serve-conduit", "-ledger", filepath.Join(b.dir, "conduit.db"), "-log", filepath.Join(b.dir, "conduit-calls.log")}
	for _, r := range routes {
		args = append(args, "-route", r)
	}
	if b.fakeTLS != nil {
		if err := b.configureConduit(ctx, routes); err != nil {
			return err
		}
		args = append(args, "-ca-file", b.fakeCert, "-ca-dir", b.conduitCADir(), "-mitm-host", b.fakeTLS.addr)
	}
	var err error
	if b.conduit, err = start(ctx, b.dir, "serve-conduit", conduitRunning, self, args...); err != nil {
		return err
	}
	out, _ := os.ReadFile(b.conduit.log)
	pprofAddr, ok := match(pprofRE, out)
	if !ok {
		return errors.New("serve-conduit printed no pprof address")
	}
	for _, load := range profileLoads {
		if isForwardLoad(load) && b.fakeTLS == nil || !isForwardLoad(load) && !b.needs("latency", "throughput", "fidelity") {
			continue // -only memory: the heap profile alone; -only forward: its load alone
		}
		b.progress("profiling Conduit under %s for %ds", load, profileSeconds)
		lctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var loadErr error
		wg.Go(func() { loadErr = b.profileLoad(lctx, load) })
		var perr error
		var pwg sync.WaitGroup
		kinds := []string{"profile", "allocs"}
		if load == "small-1" || load == "forward-1" {
			// The one-client latency: what a call, and one slower than
			// p99, waits for (go tool trace: the writer's batches, GC,
			// scheduling).
			kinds = append(kinds, "trace")
		}
		for _, kind := range kinds {
			pwg.Go(func() {
				name := map[string]string{"profile": "cpu", "allocs": "allocs", "trace": "trace"}[kind]
				seconds := profileSeconds
				if kind == "trace" {
					seconds = traceSeconds
				}
				err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", pprofAddr, kind, seconds),
					filepath.Join(dir, name+"-"+load+".pprof"))
				if err != nil && perr == nil {
					perr = err
				}
			})
		}
		pwg.Wait()
		cancel()
		wg.Wait()
		if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
			return loadErr
		}
		if perr != nil {
			return perr
		}
	}
	if b.cfg.only["memory"] {
		b.progress("heap profile in the middle of the memory row")
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(8 * time.Second) // about a third of the way through
			if err := fetch(ctx, "http://"+pprofAddr+"/debug/pprof/heap", filepath.Join(dir, "heap-memory.pprof")); err != nil {
				b.progress("heap profile: %v", err)
			}
			// The text form ends with runtime.MemStats: heap, stacks, and
			// what the runtime holds from the OS.
			if err := fetch(ctx, "http://"+pprofAddr+"/debug/pprof/heap?debug=1", filepath.Join(dir, "heap-memory.txt")); err != nil {
				b.progress("heap stats: %v", err)
			}
			if err := fetch(ctx, "http://"+pprofAddr+"/debug/pprof/goroutine?debug=1", filepath.Join(dir, "goroutines-memory.txt")); err != nil {
				b.progress("goroutines: %v", err)
			}
		}()
		rows, err := b.memory(ctx)
		<-done
		if err != nil {
			return err
		}
		b.progress("%s", rows[0].Measured)
	}
	b.progress("profiles in %s: go tool pprof -top %s", dir, filepath.Join(dir, "cpu-small-64.pprof"))
	return nil
}

// profileLoad runs one named load against Conduit until ctx ends.
func (b *bench) profileLoad(ctx context.Context, load string) error {
	switch load {
	case "small-1", "small-64":
		clients := 1
		if load == "small-64" {
			clients = 64
		}
		t := b.conduitTarget("plain", clients)
		return loadErr(loadgen.Run(ctx, clients, time.Hour, t.smallCall()))
	case "forward-16", "forward-1":
		clients := forwardClients
		if load == "forward-1" {
			clients = 1
		}
		t := target{name: "forward", client: newClient(clients, "http://"+b.conduit.addr, b.conduitCA), base: "https://" + b.fakeTLS.addr}
		return loadErr(loadgen.Run(ctx, clients, time.Hour, t.smallCall()))
	case "stream":
		// 16 concurrent streams of 1,000 events of 200 bytes, back to
		// back (a chat stream: metering dominates), and 16 of 1,000
		// events of 10 KB (the memory row's: copying dominates).
		t := b.conduitTarget("plain", 32)
		small := map[string]string{fakeprovider.HeaderEvents: "1000", fakeprovider.HeaderEventBytes: strconv.Itoa(200)}
		big := map[string]string{fakeprovider.HeaderEvents: "1000", fakeprovider.HeaderEventBytes: strconv.Itoa(memEventBytes)}
		r := loadgen.Run(ctx, 32, time.Hour, func(ctx context.Context, worker int) error {
			header := small
			if worker%2 == 1 {
				header = big
			}
			_, err := b.drainStream(ctx, t, header, nil, nil)
			return err
		})
		return loadErr(r)
	}
	return fmt.Errorf("unknown load %q", load)
}

// loadErr fails a profiling load whose calls failed, beyond the few cut
// when it was stopped.
func loadErr(r loadgen.Result) error {
	if r.Errors > r.Requests/100+64 {
		return fmt.Errorf("profiling load: %d calls failed (%d succeeded), first: %w", r.Errors, r.Requests, r.FirstErr)
	}
	return nil
}

// fetch saves url's body to path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("save %s: %w", path, err)
	}
	return f.Close()
}
