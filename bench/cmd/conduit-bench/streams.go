//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
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
}

// streamRound runs n concurrent streams of events events through t.
func (b *bench) streamRound(ctx context.Context, t target, n, events int) (streamRun, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		run      streamRun
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
			transits, err := b.oneStream(ctx, t, events)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			run.transits = append(run.transits, transits...)
		})
	}
	wg.Wait()
	if firstErr != nil {
		return run, firstErr
	}
	loadgen.SortDurations(run.transits)
	return run, nil
}

// oneStream makes one streaming call and pairs each event's arrival with
// the time the fake wrote it.
func (b *bench) oneStream(ctx context.Context, t target, events int) ([]time.Duration, error) {
	id := strconv.FormatInt(streamIDs.Add(1), 10)
	req, err := t.streamRequest(ctx, map[string]string{
		fakeprovider.HeaderEvents: strconv.Itoa(events),
		fakeprovider.HeaderDelay:  eventGap.String(),
		headerStream:              id,
	})
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s stream: %w", t.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s stream: status %s", t.name, resp.Status)
	}
	_, arrived, err := loadgen.EventTimes(resp.Body, make([]byte, 32<<10), time.Now)
	if err != nil {
		return nil, fmt.Errorf("%s stream: %w", t.name, err)
	}
	written := b.fid.take(id)
	if len(arrived) != len(written)+1 {
		return nil, fmt.Errorf("%s stream: %d events arrived, the fake wrote %d after the first", t.name, len(arrived), len(written))
	}
	transits := make([]time.Duration, len(written))
	for i, w := range written {
		transits[i] = arrived[i+1].Sub(w)
	}
	if t.counter != nil {
		t.counter.Add(1)
	}
	return transits, nil
}

// firstByteRound makes streaming calls to t one after another for d (one
// client) and returns the time from each request to its first body byte,
// sorted. Each stream is short (firstByteEvents events, no delay): the
// rest of it is read and dropped, and only its first byte is timed.
func (b *bench) firstByteRound(ctx context.Context, t target, d time.Duration) ([]time.Duration, error) {
	header := map[string]string{fakeprovider.HeaderEvents: strconv.Itoa(firstByteEvents)}
	buf := make([]byte, 32<<10)
	var ttfbs []time.Duration
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		req, err := t.streamRequest(ctx, header)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		resp, err := t.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s stream: %w", t.name, err)
		}
		n, err := resp.Body.Read(buf)
		first := time.Now()
		if n == 0 && err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%s stream: no first byte: %w", t.name, err)
		}
		_, err = io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s stream: status %s, %v", t.name, resp.Status, err)
		}
		if t.counter != nil {
			t.counter.Add(1)
		}
		ttfbs = append(ttfbs, first.Sub(t0))
	}
	return loadgen.SortDurations(ttfbs), nil
}

// firstByteEvents is the length of the first-byte row's streams.
const firstByteEvents = 3

// fidelity measures per-event delay of paced concurrent streams, and the
// time to first byte of streams at one client, direct vs bare vs Conduit.
//
// First byte is timed apart from the paced streams: there it was the
// median of 16 streams per round, started together on a shared machine,
// and its ratio of small differences swung from below 0 to over 9 between
// rounds of one run. One client's back-to-back streams give hundreds of
// samples per round with no queue among them, as the latency rows do.
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
	fbts := []target{b.directTarget(b.fid.addr, 1), b.bareTarget("fid", 1), b.conduitTarget("fid", 1)}
	for _, t := range fbts { // warm up
		if _, err := b.firstByteRound(ctx, t, 300*time.Millisecond); err != nil {
			return nil, err
		}
	}
	ttfb := make(map[string][][]time.Duration)
	for round := range b.cfg.rounds {
		for _, t := range rotate(fbts, round) {
			r, err := b.firstByteRound(ctx, t, b.cfg.block)
			if err != nil {
				return nil, err
			}
			ttfb[t.name] = append(ttfb[t.name], r)
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
		fd, fbare, fc := loadgen.Percentile(ttfb["direct"][i], 50), loadgen.Percentile(ttfb["bare"][i], 50), loadgen.Percentile(ttfb["conduit"][i], 50)
		fb = append(fb, loadgen.AddedRatio(fd, fbare, fc))
		ttfbD, ttfbB, ttfbC = append(ttfbD, fd), append(ttfbB, fbare), append(ttfbC, fc)
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
			Measured: fmt.Sprintf("%s× bare's (first byte p50, 1 client: direct %s, bare %s, Conduit %s; %d streams each)", ratio(fbRatio),
				us(loadgen.MedianDuration(ttfbD)), us(loadgen.MedianDuration(ttfbB)), us(loadgen.MedianDuration(ttfbC)), len(ttfb["conduit"][0])),
			Target:  targetFirstByte,
			Verdict: loadgen.Judge(fbRatio <= maxFirstByteRatio),
		},
	}, nil
}
