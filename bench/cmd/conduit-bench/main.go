//go:build linux

// Command conduit-bench is `make bench`: it measures Conduit against its
// performance targets (BENCHMARKS.md) and prints one table, each row's measured value, its
// target and whether it is met. It reads processes' memory and CPU time
// from /proc, so it builds on Linux only.
//
// Everything runs on loopback, in separate processes so that each one's
// memory and CPU can be read from /proc and no garbage collector is shared:
//
//   - the fake provider (examples/fakeprovider/cmd/fakeprovider), once over
//     plain HTTP and once over TLS;
//   - the bare baseline: this program re-run as `conduit-bench
//     serve-baseline`, a net/http/httputil.ReverseProxy with immediate
//     flushing (FlushInterval -1) that records nothing;
//   - the bare MITM: this program re-run as `conduit-bench serve-bare-mitm`,
//     goproxy's own MITM (ECDSA CA, cached leaves) recording nothing, the
//     forward-mode baseline;
//   - Conduit itself, built from this repository and run as `conduit proxy`
//     with its ledger on, in a temporary directory;
//   - mitmdump, when installed, for the forward-mode comparison;
//   - this process, the load generator (package bench/loadgen). For the
//     stream-fidelity rows it also serves a fake provider in-process, so
//     that the time each event is written and the time it arrives are read
//     from the same clock.
//
// Rows are measured as ratios or differences within the same run, in
// rounds that interleave the compared targets (A/B/C, then B/C/A, …) so
// that the noise of a shared machine hits each of them, and the table shows
// the median over rounds. The scanner, meter and ledger rows run the
// packages' own `go test -bench` benchmarks and parse their output.
//
// Usage:
//
//	go run ./bench/cmd/conduit-bench [-rounds 5] [-only latency,throughput,...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		roles := map[string]func([]string, io.Writer) error{"serve-baseline": serveBaseline, "serve-bare-mitm": serveBareMITM, "serve-conduit": serveConduit}
		if serve := roles[os.Args[1]]; serve != nil {
			if err := serve(os.Args[2:], os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "conduit-bench %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			return
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "conduit-bench:", err)
		os.Exit(1)
	}
}

// run parses the flags and runs the benchmark, printing progress to
// stderr and the results (machine, command, table) to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	if cfg.profile != "" {
		return b.runProfiles(ctx, b.self, b.routes)
	}
	rows, err := b.measure(ctx)
	if err != nil {
		return err
	}
	return b.report(stdout, rows)
}
