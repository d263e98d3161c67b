// Command conduit is a local proxy that records the token usage and cost of
// every LLM API call passing through it.
//
// main only wires the process to run: everything else is testable in-process
// through run with buffers for its streams.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
