//go:build linux

package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
)

// The rows of the results table, and their targets as the table prints them.
const (
	rowLatencyP50         = "added latency p50, small call, 1 client"
	rowLatencyP99         = "added latency p99, small call, 1 client"
	targetLatency         = "(Conduit−direct)÷(bare−direct) ≤ 1.15"
	rowThroughput         = "throughput, 64 clients, small calls"
	targetThroughput      = "Conduit÷bare req/s ≥ 0.90"
	rowFidelityP99        = "stream fidelity: per-event delay p99 added"
	targetFidelityP99     = "≤ 1 ms"
	rowFirstByte          = "stream fidelity: first byte added"
	targetFirstByte       = "≤ 2× bare proxy's"
	rowMemory             = "memory, concurrent streams"
	targetMemory          = "RSS ≤ 200 MB, flat"
	rowBareMitmRate       = "forward vs bare MITM req/s (goproxy)"
	targetBareMitmRate    = "forward÷bare MITM req/s ≥ 0.85"
	rowBareMitmP50        = "forward vs bare MITM: added latency p50"
	rowBareMitmP99        = "forward vs bare MITM: added latency p99"
	targetBareMitmLatency = "(forward−direct)÷(bare MITM−direct) ≤ 1.15"
	rowMitmRate           = "forward mode vs mitmproxy: req/s"
	targetMitmRate        = "≥ 5×"
	rowMitmP50            = "forward mode vs mitmproxy: p50"
	targetMitmP50         = "≤ ½"
	rowForwardBase        = "forward vs base-URL req/s (TLS, keep-alive)"
	targetForwardBase     = "≥ 0.7"
	rowScanner            = "sse scanner (go test -bench)"
	rowMeters             = "usage meters (go test -bench)"
	targetScanner         = "≥ 1 GB/s, 0 allocs/event"
	rowLedgerRate         = "ledger writer, sustained"
	targetLedgerRate      = "≥ 50k records/s"
	rowReport             = "conduit report over 1M rows"
	targetReport          = "< 1 s"
)

// The targets, as numbers.
const (
	maxLatencyRatio   = 1.15
	minThroughput     = 0.90
	maxAddedP99       = time.Millisecond
	maxFirstByteRatio = 2.0
	maxRSS            = 200_000_000 // bytes: 200 MB, in decimal MB as the table prints it
	minBareMitmRate   = 0.85
	minMitmRate       = 5.0
	maxMitmP50        = 0.5
	minForwardBase    = 0.7
	minScanMBps       = 1000.0
	minLedgerRate     = 50_000.0
	maxReport         = time.Second
)

// directTarget, bareTarget and conduitTarget reach the provider route key
// (a fake's route) directly, through the bare proxy and through Conduit,
// each with a client pooling conns connections.
func (b *bench) directTarget(addr string, conns int) target {
	return target{name: "direct", client: newClient(conns, "", nil), base: "http://" + addr}
}

func (b *bench) bareTarget(key string, conns int) target {
	return target{name: "bare", client: newClient(conns, "", nil), base: "http://" + b.baseline.addr + "/" + key, proc: b.baseline}
}

func (b *bench) conduitTarget(key string, conns int) target {
	return target{name: "conduit", client: newClient(conns, "", nil), base: "http://" + b.conduit.addr + "/" + key,
		proc: b.conduit, counter: &b.conduitCalls}
}

// latency is the first row: one client, small calls, direct vs bare vs
// Conduit; per round the ratio of added latency, at p50 and p99.
func (b *bench) latency(ctx context.Context) ([]loadgen.Row, error) {
	ts := []target{b.directTarget(b.fake.addr, 1), b.bareTarget("plain", 1), b.conduitTarget("plain", 1)}
	res, err := b.rounds(ctx, ts, 1)
	if err != nil {
		return nil, err
	}
	var rows []loadgen.Row
	for _, p := range []struct {
		row string
		pct float64
	}{{rowLatencyP50, 50}, {rowLatencyP99, 99}} {
		var ratios []float64
		var d, bare, c []time.Duration
		for i := range b.cfg.rounds {
			di, bi, ci := res["direct"][i].P(p.pct), res["bare"][i].P(p.pct), res["conduit"][i].P(p.pct)
			ratios = append(ratios, loadgen.AddedRatio(di, bi, ci))
			d, bare, c = append(d, di), append(bare, bi), append(c, ci)
		}
		m := loadgen.Median(ratios)
		rows = append(rows, loadgen.Row{
			What: p.row,
			Measured: fmt.Sprintf("%s (direct %s, bare %s, Conduit %s; %d calls each)", ratio(m),
				us(loadgen.MedianDuration(d)), us(loadgen.MedianDuration(bare)), us(loadgen.MedianDuration(c)),
				res["conduit"][0].Requests),
			Target:  targetLatency,
			Verdict: loadgen.Judge(m <= maxLatencyRatio),
		})
	}
	return rows, nil
}

// throughput is 64 clients of small calls: Conduit's req/s over the bare
// proxy's, per round; direct calls and CPU per call for context.
func (b *bench) throughput(ctx context.Context) ([]loadgen.Row, error) {
	const clients = 64
	ts := []target{b.directTarget(b.fake.addr, clients), b.bareTarget("plain", clients), b.conduitTarget("plain", clients)}
	res, err := b.rounds(ctx, ts, clients)
	if err != nil {
		return nil, err
	}
	var ratios, direct, bare, cond, bareCPU, condCPU []float64
	for i := range b.cfg.rounds {
		d, bb, c := res["direct"][i], res["bare"][i], res["conduit"][i]
		ratios = append(ratios, c.Rate()/bb.Rate())
		direct, bare, cond = append(direct, d.Rate()), append(bare, bb.Rate()), append(cond, c.Rate())
		bareCPU = append(bareCPU, float64(bb.cpu)/float64(bb.Requests))
		condCPU = append(condCPU, float64(c.cpu)/float64(c.Requests))
	}
	m := loadgen.Median(ratios)
	return []loadgen.Row{{
		What: rowThroughput,
		Measured: fmt.Sprintf("%s (Conduit %.0f req/s, bare %.0f, direct %.0f; CPU per call: Conduit %s, bare %s)",
			ratio(m), loadgen.Median(cond), loadgen.Median(bare), loadgen.Median(direct),
			us(time.Duration(loadgen.Median(condCPU))), us(time.Duration(loadgen.Median(bareCPU)))),
		Target:  targetThroughput,
		Verdict: loadgen.Judge(m >= minThroughput),
	}}, nil
}

// ratio formats a ratio; "n/a" when it meant nothing in every round.
func ratio(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x)
}

// us formats a duration in microseconds (milliseconds past 10 ms).
func us(d time.Duration) string {
	if d >= 10*time.Millisecond || d <= -10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}
