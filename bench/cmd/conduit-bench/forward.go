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

// forward compares forward (HTTPS_PROXY, decrypted) mode with goproxy's
// bare MITM (its baseline), with base-URL mode and with mitmdump, all on
// small calls to the TLS fake over keep-alive connections: req/s with
// forwardClients clients; added latency (over calling the fake directly)
// with one.
func (b *bench) forward(ctx context.Context) ([]loadgen.Row, error) {
	mk := func(name string, conns int) target {
		switch name {
		case "direct":
			return target{name: name, client: newClient(conns, "", b.fakeTLSCA), base: "https://" + b.fakeTLS.addr}
		case "base-url":
			return target{name: name, client: newClient(conns, "", nil), base: "http://" + b.conduit.addr + "/tls", proc: b.conduit, counter: &b.conduitCalls}
		case "forward":
			return target{name: name, client: newClient(conns, "http://"+b.conduit.addr, b.conduitCA), base: "https://" + b.fakeTLS.addr, proc: b.conduit, counter: &b.conduitCalls}
		case "bare-mitm":
			return target{name: name, client: newClient(conns, "http://"+b.bareMITM.addr, b.bareMITMCA), base: "https://" + b.fakeTLS.addr, proc: b.bareMITM}
		}
		return target{name: name, client: newClient(conns, "http://"+b.mitm.addr, b.mitmCA), base: "https://" + b.fakeTLS.addr, proc: b.mitm}
	}
	rateNames := []string{"base-url", "forward", "bare-mitm"}
	latNames := []string{"direct", "forward", "bare-mitm"}
	if b.mitm != nil {
		rateNames = append(rateNames, "mitmproxy")
		latNames = append(latNames, "mitmproxy")
	}
	var rts, lts []target
	for _, n := range rateNames {
		rts = append(rts, mk(n, forwardClients))
	}
	for _, n := range latNames {
		lts = append(lts, mk(n, 1))
	}
	rate, err := b.rounds(ctx, rts, forwardClients)
	if err != nil {
		return nil, err
	}
	lat, err := b.rounds(ctx, lts, 1)
	if err != nil {
		return nil, err
	}
	return forwardRows(rate, lat, b.mitm != nil, b.mitmVer, b.mitmWhy), nil
}

// forwardRows turns the forward section's rounds into its rows: rate holds
// the forwardClients rounds, lat the one-client rounds (with "direct").
// Ratios are taken per round, then the median over rounds.
func forwardRows(rate, lat map[string][]roundResult, haveMitmdump bool, mitmVer, mitmWhy string) []loadgen.Row {
	medianRate := func(name string) float64 {
		var xs []float64
		for _, r := range rate[name] {
			xs = append(xs, r.Rate())
		}
		return loadgen.Median(xs)
	}
	cpuPerCall := func(name string) time.Duration {
		var xs []float64
		for _, r := range rate[name] {
			if r.Requests > 0 {
				xs = append(xs, float64(r.cpu)/float64(r.Requests))
			}
		}
		return time.Duration(loadgen.Median(xs))
	}
	perRound := func(res map[string][]roundResult, f func(a, b roundResult) float64, a, b string) float64 {
		var xs []float64
		for i := range res[a] {
			xs = append(xs, f(res[a][i], res[b][i]))
		}
		return loadgen.Median(xs)
	}
	medP := func(name string, pct float64) time.Duration {
		var ds []time.Duration
		for _, r := range lat[name] {
			ds = append(ds, r.P(pct))
		}
		return loadgen.MedianDuration(ds)
	}
	rateRatio := func(x, y roundResult) float64 { return x.Rate() / y.Rate() }
	// added is (forward − direct) ÷ (bare MITM − direct) at pct, per round.
	added := func(pct float64) float64 {
		var xs []float64
		for i := range lat["forward"] {
			xs = append(xs, loadgen.AddedRatio(lat["direct"][i].P(pct), lat["bare-mitm"][i].P(pct), lat["forward"][i].P(pct)))
		}
		return loadgen.Median(xs)
	}

	bm := perRound(rate, rateRatio, "forward", "bare-mitm")
	rows := []loadgen.Row{{
		What: rowBareMitmRate,
		Measured: fmt.Sprintf("%s (forward %.0f req/s, bare MITM %.0f req/s; %d clients; CPU per call: forward %s, bare MITM %s)",
			ratio(bm), medianRate("forward"), medianRate("bare-mitm"), forwardClients,
			us(cpuPerCall("forward")), us(cpuPerCall("bare-mitm"))),
		Target:  targetBareMitmRate,
		Verdict: loadgen.Judge(bm >= minBareMitmRate),
	}}
	for _, p := range []struct {
		row string
		pct float64
	}{{rowBareMitmP50, 50}, {rowBareMitmP99, 99}} {
		m := added(p.pct)
		rows = append(rows, loadgen.Row{
			What: p.row,
			Measured: fmt.Sprintf("%s (direct %s, bare MITM %s, forward %s; 1 client, %d calls each)", ratio(m),
				us(medP("direct", p.pct)), us(medP("bare-mitm", p.pct)), us(medP("forward", p.pct)), lat["forward"][0].Requests),
			Target:  targetBareMitmLatency,
			Verdict: loadgen.Judge(m <= maxLatencyRatio),
		})
	}
	if !haveMitmdump {
		rows = append(rows,
			loadgen.SkipRow(rowMitmRate, targetMitmRate, mitmWhy),
			loadgen.SkipRow(rowMitmP50, targetMitmP50, mitmWhy))
	} else {
		p50 := func(x, y roundResult) float64 { return float64(x.P(50)) / float64(y.P(50)) }
		mr := perRound(rate, rateRatio, "forward", "mitmproxy")
		mp := perRound(lat, p50, "forward", "mitmproxy")
		rows = append(rows,
			loadgen.Row{
				What: rowMitmRate,
				Measured: fmt.Sprintf("%.1f× (Conduit forward %.0f req/s, %s %.0f req/s; %d clients)",
					mr, medianRate("forward"), mitmVer, medianRate("mitmproxy"), forwardClients),
				Target:  targetMitmRate,
				Verdict: loadgen.Judge(mr >= minMitmRate),
			},
			loadgen.Row{
				What: rowMitmP50,
				Measured: fmt.Sprintf("%s (p50, 1 client: Conduit forward %s, mitmdump %s)",
					ratio(mp), us(medP("forward", 50)), us(medP("mitmproxy", 50))),
				Target:  targetMitmP50,
				Verdict: loadgen.Judge(mp <= maxMitmP50),
			})
	}
	fb := perRound(rate, rateRatio, "forward", "base-url")
	return append(rows, loadgen.Row{
		What: rowForwardBase,
		Measured: fmt.Sprintf("%s (forward %.0f req/s, base-URL %.0f req/s; %d clients, TLS upstream)",
			ratio(fb), medianRate("forward"), medianRate("base-url"), forwardClients),
		Target:  targetForwardBase,
		Verdict: loadgen.Judge(fb >= minForwardBase),
	})
}
