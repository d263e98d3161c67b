//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
	"github.com/valohai/conduit/examples/fakeprovider"
)

// memEventBytes is the text per event of the memory row's streams.
const memEventBytes = 10_000

// memoryTimeout bounds the memory row.
const memoryTimeout = 4 * time.Minute

// memSample is Conduit's resident size when the streams had delivered
// bytes bytes in total and finished of them had ended.
type memSample struct {
	bytes    int64
	finished int64
	rss      int64
}

// memory runs -streams concurrent streams of -stream-mb MB each through
// Conduit and samples its resident size as the bytes flow: the peak must
// stay under the limit, and the size must not grow with the bytes
// streamed (bounded memory per call, whatever the body's size).
//
// Every stream is opened first, and none is read until all have their
// response headers (their upstreams then wait on full socket buffers, the
// worst moment for memory), so that all of them run together: measured
// while some are still being set up and others already done, the RSS
// would follow the number of calls, not the bytes.
func (b *bench) memory(ctx context.Context) ([]loadgen.Row, error) {
	ctx, cancel := context.WithTimeout(ctx, memoryTimeout)
	defer cancel()
	n := b.cfg.streams
	events := b.cfg.streamMB * 1_000_000 / memEventBytes
	t := b.conduitTarget("plain", n)
	header := map[string]string{
		fakeprovider.HeaderEvents:     strconv.Itoa(events),
		fakeprovider.HeaderEventBytes: strconv.Itoa(memEventBytes),
	}
	// One stream alone first: its exact length gives the total to expect.
	one, err := b.drainStream(ctx, t, header, nil, nil)
	if err != nil {
		return nil, err
	}
	total := one * int64(n)
	pid := b.conduit.pid()
	// Reset VmHWM so that the peak is this row's, not an earlier load's.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.progress("cannot reset Conduit's peak RSS (%v): VmHWM may be an earlier row's", err)
	}
	before, err := loadgen.ReadMem(pid)
	if err != nil {
		return nil, err
	}
	b.progress("%d streams × %d MB through Conduit (RSS before: %s)", n, b.cfg.streamMB, mb(before.RSS))

	var got, finished atomic.Int64
	var samples []memSample
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if m, err := loadgen.ReadMem(pid); err == nil {
				samples = append(samples, memSample{bytes: got.Load(), finished: finished.Load(), rss: m.RSS})
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	var (
		opened, wg sync.WaitGroup
		errMu      sync.Mutex
		firstErr   error
		gate       = make(chan struct{})
	)
	opened.Add(n)
	for range n {
		wg.Go(func() {
			_, err := b.drainStream(ctx, t, header, &got, func() { opened.Done(); <-gate })
			finished.Add(1)
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		})
	}
	opened.Wait()
	openedRSS, _ := loadgen.ReadMem(pid)
	startT := time.Now()
	close(gate)
	wg.Wait()
	elapsed := time.Since(startT)
	close(stopSampling)
	<-sampled
	after, err := loadgen.ReadMem(pid)
	if err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return []loadgen.Row{memoryRow(samples, openedRSS.RSS, after.HWM, n, one, total, elapsed)}, nil
}

// memoryRow judges the samples of the memory row: the peak (the larger of
// the sampled RSS and VmHWM) against the limit, and the trend of RSS
// against the bytes streamed while every stream runs (until the first one
// ends: then records are written). Go's collector lets the heap grow to
// about twice its live size between collections, so single samples
// swing; the least-squares trend does not. Flat means the trend over that
// window adds at most a tenth to the RSS with every stream open.
func memoryRow(samples []memSample, openedRSS, hwm int64, n int, one, total int64, elapsed time.Duration) loadgen.Row {
	peak := hwm
	var xs, ys []float64
	for _, s := range samples {
		peak = max(peak, s.rss)
		if s.finished == 0 && s.bytes > 0 {
			xs, ys = append(xs, float64(s.bytes)/1e9), append(ys, float64(s.rss))
		}
	}
	measured := fmt.Sprintf("peak %s (%d streams × %.1f MB, %.1f GB in %v; %s with all open, before any byte)",
		mb(peak), n, float64(one)/1e6, float64(total)/1e9, elapsed.Round(time.Second), mb(openedRSS))
	if len(xs) < 4 {
		return loadgen.Row{What: rowMemory, Target: targetMemory, Verdict: loadgen.Missed,
			Measured: measured + "; too few samples while all streams ran to judge the trend"}
	}
	slope := loadgen.Slope(xs, ys) // bytes of RSS per GB streamed
	growth := slope * (xs[len(xs)-1] - xs[0])
	flat := growth <= 0.10*float64(openedRSS)
	lo, hi := ys[0], ys[0]
	for _, y := range ys {
		lo, hi = min(lo, y), max(hi, y)
	}
	measured += fmt.Sprintf("; while all ran (to %.0f%% of the bytes): RSS %s–%s, trend %+.1f MB per GB streamed (%+.0f%% over the window)",
		100*xs[len(xs)-1]*1e9/float64(total), mb(int64(lo)), mb(int64(hi)), slope/1e6, 100*growth/float64(openedRSS))
	return loadgen.Row{What: rowMemory, Measured: measured, Target: targetMemory, Verdict: loadgen.Judge(peak <= maxRSS && flat)}
}

// drainStream makes one streaming call through t and reads it to the end,
// adding each read's size to progress (when not nil); it returns the body
// length. opened, when not nil, is called once the response headers are
// in (or the call failed), before the body is read.
func (b *bench) drainStream(ctx context.Context, t target, header map[string]string, progress *atomic.Int64, opened func()) (int64, error) {
	once := func() {
		if opened != nil {
			opened()
			opened = nil
		}
	}
	defer once()
	req, err := t.streamRequest(ctx, header)
	if err != nil {
		return 0, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s stream: %w", t.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s stream: status %s", t.name, resp.Status)
	}
	once()
	buf := make([]byte, 32<<10)
	var total int64
	for {
		n, err := resp.Body.Read(buf)
		total += int64(n)
		if progress != nil {
			progress.Add(int64(n))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return total, fmt.Errorf("%s stream: %w", t.name, err)
		}
	}
	if t.counter != nil {
		t.counter.Add(1)
	}
	return total, nil
}

// mb formats bytes as MB (10^6, as the memory target's "200 MB").
func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }
