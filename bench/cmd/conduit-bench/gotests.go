//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
)

// goTest runs `go test args…` in the module root and returns its output;
// a failing run is an error that carries the output's end.
func (b *bench) goTest(ctx context.Context, args ...string) ([]byte, error) {
	b.progress("go test %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, b.cfg.goCmd, append([]string{"test"}, args...)...)
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("go test %s: %w\n%s", strings.Join(args, " "), err, tail(out))
	}
	return out, nil
}

// benchSummary is the slowest of a set of throughput benchmarks (by its
// best run), and their worst allocations.
type benchSummary struct {
	slowest                string
	slowBest, slowMedian   float64 // MB/s of the slowest: best run, median run
	maxAllocs, maxAllocsEv float64 // per op; per event (allocs/op ÷ events/op)
}

// summarize reads MB/s and allocs/op of every benchmark whose name starts
// with prefix. Events per op come from an events/op metric, or from ns/op
// ÷ ns/event.
func summarize(bs []loadgen.Bench, prefix string) (benchSummary, bool) {
	s := benchSummary{slowBest: math.Inf(1)}
	found := false
	for _, name := range loadgen.Names(bs) {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		best, ok := loadgen.BestMetric(bs, name, "MB/s", true)
		if !ok {
			continue
		}
		found = true
		if best < s.slowBest {
			s.slowBest, s.slowest = best, strings.TrimPrefix(strings.TrimPrefix(name, prefix), "/")
			s.slowMedian, _ = loadgen.MedianMetric(bs, name, "MB/s")
		}
		allocs, _ := loadgen.MedianMetric(bs, name, "allocs/op")
		s.maxAllocs = max(s.maxAllocs, allocs)
		events, ok := loadgen.MedianMetric(bs, name, "events/op")
		if !ok {
			nsOp, ok1 := loadgen.MedianMetric(bs, name, "ns/op")
			nsEv, ok2 := loadgen.MedianMetric(bs, name, "ns/event")
			if ok1 && ok2 && nsEv > 0 {
				events = math.Round(nsOp / nsEv)
			}
		}
		if events > 0 {
			s.maxAllocsEv = max(s.maxAllocsEv, allocs/events)
		}
	}
	return s, found
}

// goBenchRuns is -count for the package benchmarks: each figure is the
// best of these runs (other load only slows a run), the median shown too.
const goBenchRuns = "5"

// scannerMeters runs the sse scanner and parsers meter benchmarks, and the
// packages' steady-state allocation tests, which fail when a stream's
// allocations grow with its events.
func (b *bench) scannerMeters(ctx context.Context) ([]loadgen.Row, error) {
	out, err := b.goTest(ctx, "-run", "^$", "-bench", "BenchmarkScanner|BenchmarkMeter", "-benchmem", "-benchtime", "300ms", "-count", goBenchRuns, "./sse", "./parsers")
	if err != nil {
		return nil, err
	}
	bs, err := loadgen.ParseBench(bytes.NewReader(out))
	if err != nil {
		return nil, err
	}
	_, allocErr := b.goTest(ctx, "-count", "1", "-run", "^(TestScannerZeroAllocs|TestMeterSteadyStateAllocs)$", "./sse", "./parsers")
	steady := "steady-state alloc tests pass"
	if allocErr != nil {
		steady = "steady-state alloc tests FAIL"
	}
	var rows []loadgen.Row
	for _, r := range []struct {
		row, prefix, setup string
	}{
		{rowScanner, "BenchmarkScanner", ""},
		{rowMeters, "BenchmarkMeter", " (a new meter per op: per-stream setup)"},
	} {
		s, ok := summarize(bs, r.prefix)
		if !ok {
			return nil, fmt.Errorf("no %s results in the go test output", r.prefix)
		}
		rows = append(rows, loadgen.Row{
			What: r.row,
			Measured: fmt.Sprintf("slowest %.0f MB/s (%s; median run %.0f); %.0f allocs/op%s, %.2f/event; %s",
				s.slowBest, s.slowest, s.slowMedian, s.maxAllocs, r.setup, s.maxAllocsEv, steady),
			Target:  targetScanner,
			Verdict: loadgen.Judge(s.slowBest >= minScanMBps && allocErr == nil),
		})
	}
	return rows, nil
}

// ledgerRows runs the ledger's writer benchmark (records per second from
// the first Add to the end of Close, into a real file, 100k records per
// run, best of three) and its report benchmark over a million rows (each
// grouping three times, the best).
func (b *bench) ledgerRows(ctx context.Context) ([]loadgen.Row, error) {
	out, err := b.goTest(ctx, "-run", "^$", "-bench", "BenchmarkWriterSustained", "-benchtime", "100000x", "-count", "3", "./ledger")
	if err != nil {
		return nil, err
	}
	bs, err := loadgen.ParseBench(bytes.NewReader(out))
	if err != nil {
		return nil, err
	}
	const varyName, sessName = "BenchmarkWriterSustained/varied", "BenchmarkWriterSustained/session"
	varied, ok1 := loadgen.BestMetric(bs, varyName, "records/s", true)
	session, ok2 := loadgen.BestMetric(bs, sessName, "records/s", true)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("no records/s in the writer benchmark output")
	}
	variedMed, _ := loadgen.MedianMetric(bs, varyName, "records/s")
	sessionMed, _ := loadgen.MedianMetric(bs, sessName, "records/s")
	worst := min(varied, session)
	rows := []loadgen.Row{{
		What: rowLedgerRate,
		Measured: fmt.Sprintf("%.0fk records/s (varied: 9 models × 4 clients × 8 tag sets %.0fk, median run %.0fk; one session %.0fk, median run %.0fk)",
			worst/1e3, varied/1e3, variedMed/1e3, session/1e3, sessionMed/1e3),
		Target:  targetLedgerRate,
		Verdict: loadgen.Judge(worst >= minLedgerRate),
	}}

	// Building the million-row ledger takes about half a minute; each
	// report then runs three times.
	out, err = b.goTest(ctx, "-run", "^$", "-bench", "BenchmarkReport1M", "-benchtime", "3x", "-timeout", "10m", "./ledger")
	if err != nil {
		return nil, err
	}
	bs, err = loadgen.ParseBench(bytes.NewReader(out))
	if err != nil {
		return nil, err
	}
	var slowest string
	var worstNs float64
	for _, name := range loadgen.Names(bs) {
		if ns, ok := loadgen.BestMetric(bs, name, "ns/op", false); ok && ns > worstNs {
			worstNs, slowest = ns, strings.TrimPrefix(name, "BenchmarkReport1M/")
		}
	}
	if slowest == "" {
		return nil, fmt.Errorf("no report results in the go test output")
	}
	d := time.Duration(worstNs)
	rows = append(rows, loadgen.Row{
		What:     rowReport,
		Measured: fmt.Sprintf("slowest grouping %s (%s) of %d; the ledger's queries, in-process", us(d), slowest, len(loadgen.Names(bs))),
		Target:   targetReport,
		Verdict:  loadgen.Judge(d < maxReport),
	})
	return rows, nil
}
