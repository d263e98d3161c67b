// Command fakeprovider serves the fake LLM provider of package fakeprovider
// on a local address, for the demo, manual tries with curl or an SDK, and
// the benchmarks. Its first stdout line is the address it listens on:
//
//	listening on http://127.0.0.1:43121
//
// With -tls it serves HTTPS with a fresh self-signed certificate, written
// (PEM) to the -tls-cert path so that a client can trust it, and names that
// path on its second line. Flags set the server-wide knob defaults; request
// headers (X-Fake-…) still override them. SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "fakeprovider:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "fakeprovider:", err)
		os.Exit(1)
	}
}
