//go:build linux

package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
	"github.com/valohai/conduit/examples/fakeprovider"
)

// The fidelity rows' load: streams concurrent streams of events content
// events, one every eventGap, from the in-process fake.
const (
	fidStreams = 16
	fidEvents  = 150
	eventGap   = 5 * time.Millisecond
)

var streamIDs atomic.Int64

// streamRun is what one target's streams measured in one round.
type streamRun struct {
	transits []time.Duration // written → arrived, every event after the first, sorted
	ttfb     time.Duration   // median over the streams: request sent → first byte
}

// streamRound runs n concurrent streams of events events through t.
func (b *bench) streamRound(ctx context.Context, t target, n, events int) (streamRun, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		run      streamRun
		ttfbs    []time.Duration
		firstErr error
	)
	for i := range n {
		wg.Go(func() {
			// Streams start spread over one event gap, as independent
			// calls do, rather than all at once: a burst of simultaneous
			// requests would time the queue, not the proxy.
			select {
			case <-time.After(time.Duration(i) * eventGap / time.Duration(n)):
			case <-ctx.Done():
				return
			}
			transits, ttfb, err := b.oneStream(ctx, t, events)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			run.transits = append(run.transits, transits...)
			ttfbs = append(ttfbs, ttfb)
		})
	}
	wg.Wait()
	if firstErr != nil {
		return run, firstErr
	}
	loadgen.SortDurations(run.transits)
	run.ttfb = loadgen.MedianDuration(ttfbs)
	return run, nil
}

// oneStream makes one streaming call and pairs each event's arrival with
// the time the fake wrote it.
func (b *bench) oneStream(ctx context.Context, t target, events int) ([]time.Duration, time.Duration, error) {
	id := strconv.FormatInt(streamIDs.Add(1), 10)
	req, err := t.streamRequest(ctx, map[string]string{
		fakeprovider.HeaderEvents: strconv.Itoa(events),
		fakeprovider.HeaderDelay:  eventGap.String(),
		headerStream:              id,
	})
	if err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s stream: %w", t.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%s stream: status %s", t.name, resp.Status)
	}
	first, arrived, err := loadgen.EventTimes(resp.Body, make([]byte, 32<<10), time.Now)
	if err != nil {
		return nil, 0, fmt.Errorf("%s stream: %w", t.name, err)
	}
	written := b.fid.take(id)
	if len(arrived) != len(written)+1 {
		return nil, 0, fmt.Errorf("%s stream: %d events arrived, the fake wrote %d after the first", t.name, len(arrived), len(written))
	}
	transits := make([]time.Duration, len(written))
	for i, w := range written {
		transits[i] = arrived[i+1].Sub(w)
	}
	if t.counter != nil {
		t.counter.Add(1)
	}
	return transits, first.Sub(t0), nil
}

// fidelity measures per-event delay and time to first byte of paced
// streams, direct vs bare vs Conduit.
func (b *bench) fidelity(ctx context.Context) ([]loadgen.Row, error) {
	ts := []target{b.directTarget(b.fid.addr, fidStreams), b.bareTarget("fid", fidStreams), b.conduitTarget("fid", fidStreams)}
	for _, t := range ts { // warm up: open the connections
		if _, err := b.streamRound(ctx, t, fidStreams, 2); err != nil {
			return nil, err
		}
	}
	res := make(map[string][]streamRun)
	for round := range b.cfg.rounds {
		for _, t := range rotate(ts, round) {
			r, err := b.streamRound(ctx, t, fidStreams, fidEvents)
			if err != nil {
				return nil, err
			}
			res[t.name] = append(res[t.name], r)
		}
	}
	var addedC, addedB []time.Duration
	var fb []float64
	var ttfbD, ttfbB, ttfbC []time.Duration
	var p99D []time.Duration
	for i := range b.cfg.rounds {
		d, bb, c := res["direct"][i], res["bare"][i], res["conduit"][i]
		pd := loadgen.Percentile(d.transits, 99)
		p99D = append(p99D, pd)
		addedC = append(addedC, loadgen.Percentile(c.transits, 99)-pd)
		addedB = append(addedB, loadgen.Percentile(bb.transits, 99)-pd)
		fb = append(fb, loadgen.AddedRatio(d.ttfb, bb.ttfb, c.ttfb))
		ttfbD, ttfbB, ttfbC = append(ttfbD, d.ttfb), append(ttfbB, bb.ttfb), append(ttfbC, c.ttfb)
	}
	added := loadgen.MedianDuration(addedC)
	fbRatio := loadgen.Median(fb)
	n := len(res["conduit"][0].transits)
	return []loadgen.Row{
		{
			What: rowFidelityP99,
			Measured: fmt.Sprintf("%s (bare adds %s; direct p99 %s; %d streams × %d events every %v per round)",
				us(added), us(loadgen.MedianDuration(addedB)), us(loadgen.MedianDuration(p99D)), fidStreams, n/fidStreams, eventGap),
			Target:  targetFidelityP99,
			Verdict: loadgen.Judge(added <= maxAddedP99),
		},
		{
			What: rowFirstByte,
			Measured: fmt.Sprintf("%s× bare's (first byte: direct %s, bare %s, Conduit %s)", ratio(fbRatio),
				us(loadgen.MedianDuration(ttfbD)), us(loadgen.MedianDuration(ttfbB)), us(loadgen.MedianDuration(ttfbC))),
			Target:  targetFirstByte,
			Verdict: loadgen.Judge(fbRatio <= maxFirstByteRatio),
		},
	}, nil
}
