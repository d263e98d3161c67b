//go:build linux

package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// sections are the groups of rows, in the order they run. Each can be
// chosen with -only.
var sections = []string{"latency", "throughput", "fidelity", "forward", "memory", "scanner", "ledger"}

// -quick's settings: enough to see that every row runs and roughly where
// it lands, in about a third of the time.
const (
	quickRounds  = 2
	quickBlock   = 750 * time.Millisecond
	quickStreams = 200
)

// config is the command line.
type config struct {
	goCmd    string        // the go command, for builds and go test
	rounds   int           // interleaved rounds per row
	block    time.Duration // how long one target runs within a round
	only     map[string]bool
	streams  int // concurrent streams of the memory row
	streamMB int // MB per stream of the memory row
	keep     bool
	markdown string // also write the results here
	profile  string // directory for Conduit's CPU and allocation profiles
	conduit  string // a conduit binary to measure instead of building one
	args     []string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("conduit-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: conduit-bench [flags]

Measures Conduit against its performance targets on loopback and prints
one table (BENCHMARKS.md says what each row means). Run it from the repository (it builds ./cmd/conduit and the fake
provider). The whole run takes about three minutes.

Examples:
  go run ./bench/cmd/conduit-bench
  go run ./bench/cmd/conduit-bench -only latency,throughput -rounds 9
  go run ./bench/cmd/conduit-bench -quick            # a quick check
  go run ./bench/cmd/conduit-bench -only throughput -profile /tmp/prof

Flags:
`)
		fs.PrintDefaults()
	}
	c := &config{args: args}
	fs.StringVar(&c.goCmd, "go", "go", "the go command")
	fs.IntVar(&c.rounds, "rounds", 5, "interleaved rounds per row (the table shows the median)")
	fs.DurationVar(&c.block, "block", 1500*time.Millisecond, "how long each target runs within a round")
	only := fs.String("only", "", "comma-separated sections to run: "+strings.Join(sections, ", ")+" (default all)")
	fs.IntVar(&c.streams, "streams", 1000, "concurrent streams of the memory row")
	fs.IntVar(&c.streamMB, "stream-mb", 10, "MB per stream of the memory row")
	quick := fs.Bool("quick", false, fmt.Sprintf("a quick check, not a result: %d rounds of %v and %d memory streams, unless -rounds, -block or -streams say otherwise",
		quickRounds, quickBlock, quickStreams))
	fs.StringVar(&c.conduit, "conduit", "", "measure this conduit binary instead of building ./cmd/conduit (to compare two builds)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (logs, ledger, configs)")
	fs.StringVar(&c.markdown, "markdown", "", "also write the results (machine, command, table) to this file")
	fs.StringVar(&c.profile, "profile", "", "write Conduit's CPU and allocation profiles of each load into this directory "+
		"(Conduit then runs in-process in a serve-conduit subprocess built from the same packages, not as the conduit binary)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			c.rounds = quickRounds
		}
		if !set["block"] {
			c.block = quickBlock
		}
		if !set["streams"] {
			c.streams = quickStreams
		}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; see -help", fs.Arg(0))
	}
	if c.rounds < 1 || c.block <= 0 || c.streams < 1 || c.streamMB < 1 {
		return nil, fmt.Errorf("-rounds, -block, -streams and -stream-mb must be positive")
	}
	c.only = make(map[string]bool)
	if *only == "" {
		for _, s := range sections {
			c.only[s] = true
		}
	}
	for s := range strings.SplitSeq(*only, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(sections, s) {
			return nil, fmt.Errorf("-only: unknown section %q; want some of %s", s, strings.Join(sections, ", "))
		}
		c.only[s] = true
	}
	return c, nil
}
