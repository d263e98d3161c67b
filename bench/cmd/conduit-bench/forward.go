//go:build linux

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
)

// forwardClients is the concurrency of the forward-mode req/s rows: enough
// to keep two cores busy through a TLS-terminating proxy.
const forwardClients = 16

// forward compares forward (HTTPS_PROXY, decrypted) mode with base-URL mode
// and with mitmdump, all on small calls to the TLS fake over keep-alive
// connections: req/s with forwardClients clients, p50 with one.
func (b *bench) forward(ctx context.Context) ([]loadgen.Row, error) {
	mk := func(name string, conns int) target {
		switch name {
		case "base-url":
			return target{name: name, client: newClient(conns, "", nil), base: "http://" + b.conduit.addr + "/tls", proc: b.conduit, counter: &b.conduitCalls}
		case "forward":
			return target{name: name, client: newClient(conns, "http://"+b.conduit.addr, b.conduitCA), base: "https://" + b.fakeTLS.addr, proc: b.conduit, counter: &b.conduitCalls}
		}
		return target{name: name, client: newClient(conns, "http://"+b.mitm.addr, b.mitmCA), base: "https://" + b.fakeTLS.addr, proc: b.mitm}
	}
	names := []string{"base-url", "forward"}
	if b.mitm != nil {
		names = append(names, "mitmproxy")
	}
	var ts []target
	for _, n := range names {
		ts = append(ts, mk(n, forwardClients))
	}
	rate, err := b.rounds(ctx, ts, forwardClients)
	if err != nil {
		return nil, err
	}
	medianRate := func(name string) float64 {
		var xs []float64
		for _, r := range rate[name] {
			xs = append(xs, r.Rate())
		}
		return loadgen.Median(xs)
	}
	perRound := func(res map[string][]roundResult, f func(a, b roundResult) float64, a, b string) float64 {
		var xs []float64
		for i := range res[a] {
			xs = append(xs, f(res[a][i], res[b][i]))
		}
		return loadgen.Median(xs)
	}
	rateRatio := func(x, y roundResult) float64 { return x.Rate() / y.Rate() }

	fb := perRound(rate, rateRatio, "forward", "base-url")
	rows := []loadgen.Row{}
	if b.mitm == nil {
		rows = append(rows,
			loadgen.SkipRow(rowMitmRate, targetMitmRate, b.mitmWhy),
			loadgen.SkipRow(rowMitmP50, targetMitmP50, b.mitmWhy))
	} else {
		lat, err := b.rounds(ctx, []target{mk("forward", 1), mk("mitmproxy", 1)}, 1)
		if err != nil {
			return nil, err
		}
		p50 := func(x, y roundResult) float64 { return float64(x.P(50)) / float64(y.P(50)) }
		mr := perRound(rate, rateRatio, "forward", "mitmproxy")
		mp := perRound(lat, p50, "forward", "mitmproxy")
		medP50 := func(name string) time.Duration {
			var ds []time.Duration
			for _, r := range lat[name] {
				ds = append(ds, r.P(50))
			}
			return loadgen.MedianDuration(ds)
		}
		rows = append(rows,
			loadgen.Row{
				What: rowMitmRate,
				Measured: fmt.Sprintf("%.1f× (Conduit forward %.0f req/s, %s %.0f req/s; %d clients)",
					mr, medianRate("forward"), b.mitmVer, medianRate("mitmproxy"), forwardClients),
				Target:  targetMitmRate,
				Verdict: loadgen.Judge(mr >= minMitmRate),
			},
			loadgen.Row{
				What: rowMitmP50,
				Measured: fmt.Sprintf("%s (p50, 1 client: Conduit forward %s, mitmdump %s)",
					ratio(mp), us(medP50("forward")), us(medP50("mitmproxy"))),
				Target:  targetMitmP50,
				Verdict: loadgen.Judge(mp <= maxMitmP50),
			})
	}
	rows = append(rows, loadgen.Row{
		What: rowForwardBase,
		Measured: fmt.Sprintf("%s (forward %.0f req/s, base-URL %.0f req/s; %d clients, TLS upstream)",
			ratio(fb), medianRate("forward"), medianRate("base-url"), forwardClients),
		Target:  targetForwardBase,
		Verdict: loadgen.Judge(fb >= minForwardBase),
	})
	return rows, nil
}
