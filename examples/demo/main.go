// Command demo shows Conduit at work in one command, with no API keys and
// no network: it starts the fake provider (package fakeprovider) on free
// loopback ports, writes a throwaway conduit.toml, creates a throwaway CA
// with `conduit ca init`, starts `conduit proxy`, sends a mix of calls
// through both ways in — base URLs and HTTPS_PROXY — and opens `conduit
// dashboard` on the ledger they filled, while a call keeps arriving every
// few seconds. Quitting the dashboard (q) stops everything, prints a
// report, and removes the temporary directory.
//
// The calls name the real hosts (api.openai.com, api.anthropic.com,
// generativelanguage.googleapis.com), as a tool would: Conduit's config
// sends its own outbound connections through a CONNECT proxy of the
// demo's ([upstream] proxy), which hands those hosts to the fake, whose
// certificate chains to a root Conduit trusts ([upstream] ca_file). So the
// config is the one `conduit init` writes plus those two lines, and
// nothing leaves the machine.
//
//	make demo                    # builds ./conduit, then runs this
//	go run ./examples/demo       # builds conduit itself
//	go run ./examples/demo -no-dashboard    # the traffic and a report only
//
// It is a Go program rather than a script so that it runs wherever Go does.
// Nothing it starts outlives it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// checkTerminal reports whether the dashboard can have a terminal: on Unix
// it opens /dev/tty as the dashboard will (without a controlling terminal,
// under CI or a pipe from ssh, that fails). Tests replace it.
var checkTerminal = func() error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// errUsage marks a command-line mistake.
var errUsage = errors.New("usage")

// options are the demo's flags.
type options struct {
	conduit     string // the conduit binary; "": build one
	dir         string // working directory; "": a temporary one, removed at the end
	noDashboard bool
	fast        bool // no pacing delays (tests)
	dashArgs    []string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: go run ./examples/demo [flags] [-- dashboard flags]

Starts the fake provider and a Conduit on free loopback ports, sends a mix
of calls through base URLs and HTTPS_PROXY, and opens the dashboard on
them. No API keys, no network. Quit the dashboard with q.

Examples:
  make demo
  go run ./examples/demo -no-dashboard
  go run ./examples/demo -dir /tmp/conduit-demo -- --theme qbasic

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.conduit, "conduit", "", "the conduit binary to run (default: build ./cmd/conduit with go build)")
	fs.StringVar(&o.dir, "dir", "", "keep config, CA and ledger in this directory, and leave them there (default: a temporary directory, removed at the end)")
	fs.BoolVar(&o.noDashboard, "no-dashboard", false, "send the traffic, print a report and stop, without opening the dashboard")
	fs.BoolVar(&o.fast, "fast", false, "no delays between streamed events")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	o.dashArgs = fs.Args()
	if o.noDashboard && len(o.dashArgs) > 0 {
		return o, fmt.Errorf("%w: dashboard flags %q given with -no-dashboard", errUsage, o.dashArgs)
	}
	return o, nil
}

// run is the whole demo; main only maps its error to an exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if !o.noDashboard {
		if err := checkTerminal(); err != nil {
			fmt.Fprintf(stdout, "no terminal for the dashboard (%v): running as with -no-dashboard, the calls and a report only\n", err)
			o.noDashboard, o.dashArgs = true, nil
		}
	}
	dir := o.dir
	if dir == "" {
		dir, err = os.MkdirTemp("", "conduit-demo-")
		if err != nil {
			return fmt.Errorf("make a temporary directory: %w", err)
		}
		defer func() {
			if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
				err = fmt.Errorf("remove %s: %w", dir, rmErr)
			}
		}()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}

	d, err := setUp(ctx, o, dir, stdout)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := d.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	fmt.Fprintf(stdout, "sending %d calls (base URL and HTTPS_PROXY)…\n", len(mix))
	sent, err := d.sendAll(ctx, mix)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent %d calls: %d by base URL, %d through HTTPS_PROXY\n", sent.total(), sent.baseURL, sent.forward)

	if !o.noDashboard {
		fmt.Fprintln(stdout, "opening the dashboard (q quits; a new call arrives every few seconds)…")
		if err := d.dashboard(ctx, o.dashArgs, stdin, stdout, stderr); err != nil {
			return err
		}
	}
	// The report reads what the proxy has written; stop it first so that
	// every record is flushed.
	if err := d.stop(); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := d.conduitCmd(ctx, stdout, stderr, "report", "--by", "model"); err != nil {
		return err
	}
	if o.dir != "" {
		fmt.Fprintf(stdout, "\nconfig, CA and ledger are in %s; look again with\n  %s -c %s dashboard\n", dir, d.bin, d.config)
	}
	return nil
}
