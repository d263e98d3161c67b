package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
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
// bytes bytes in total.
type memSample struct {
	bytes int64
	rss   int64
}

// memory runs -streams concurrent streams of -stream-mb MB each through
// Conduit and samples its resident size as the bytes flow: the peak must
// stay under the limit, and the size must not grow with the bytes
// streamed (bounded memory per call, whatever the body's size).
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
	one, err := b.drainStream(ctx, t, header, nil)
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

	var got atomic.Int64
	var samples []memSample
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if m, err := loadgen.ReadMem(pid); err == nil {
				samples = append(samples, memSample{bytes: got.Load(), rss: m.RSS})
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	startT := time.Now()
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	go_ := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-go_
			if _, err := b.drainStream(ctx, t, header, &got); err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		})
	}
	close(go_)
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
	var peak int64
	for _, s := range samples {
		peak = max(peak, s.rss)
	}
	peak = max(peak, after.HWM)
	at := func(f float64) int64 {
		for _, s := range samples {
			if float64(s.bytes) >= f*float64(total) {
				return s.rss
			}
		}
		return 0
	}
	fracs := []float64{0.2, 0.4, 0.6, 0.8}
	var marks []string
	for _, f := range fracs {
		marks = append(marks, strings.TrimSuffix(mb(at(f)), " MB"))
	}
	growth := float64(at(0.8)-at(0.2)) / float64(at(0.2))
	flat := at(0.2) > 0 && growth <= 0.10
	return []loadgen.Row{{
		What: rowMemory,
		Measured: fmt.Sprintf("peak %s (%d streams × %.1f MB, %.1f GB in %v); RSS at 20/40/60/80%% of the bytes: %s MB (%+.0f%%)",
			mb(peak), n, float64(one)/1e6, float64(total)/1e9, elapsed.Round(time.Second), strings.Join(marks, "/"), growth*100),
		Target:  targetMemory,
		Verdict: loadgen.Judge(peak <= maxRSS && flat),
	}}, nil
}

// drainStream makes one streaming call through t and reads it to the end,
// adding each read's size to progress (when not nil); it returns the body
// length.
func (b *bench) drainStream(ctx context.Context, t target, header map[string]string, progress *atomic.Int64) (int64, error) {
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

// mb formats bytes as MB (10^6, as the "200 MB").
func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }
