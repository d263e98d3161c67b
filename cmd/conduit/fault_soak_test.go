//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// soakEnv sets the soak test's duration and turns its memory check on:
// the full run is CONDUIT_SOAK_DURATION=60s.
const soakEnv = "CONDUIT_SOAK_DURATION"

// defaultSoak keeps `make test` short: at this length the run already
// holds 1,000 streams open through two generations of calls (~2,500
// calls) at the full rates, which is what finds lost or duplicated
// records.
const defaultSoak = 4 * time.Second

// TestProcessSoak1000Streams guards Conduit under load: 1,000 streaming
// calls held open at all times (each ~2 s, restarted as it ends; a quarter
// of them through forward mode) plus 100 other calls a second. Every call
// completes for its client and is in the ledger exactly once. Only the
// full run (soakEnv set) also holds the proxy's resident memory flat: on a
// machine shared with other tests, a few seconds of resident memory say
// more about the neighbours than about Conduit (make bench measures
// memory under 1,000 streams on its own). The test name says which run
// ran.
func TestProcessSoak1000Streams(t *testing.T) {
	dur, full := defaultSoak, false
	if v := os.Getenv(soakEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q is not a duration", soakEnv, v)
		}
		dur, full = d, true
	}
	if !full {
		// The short run checks no memory, so it can share the machine
		// with the package's other process tests; the full run has it to
		// itself, as its memory figures need.
		t.Parallel()
	}
	name := fmt.Sprintf("short_%s_run_(%s=60s_for_the_full_minute_and_memory)", dur, soakEnv)
	if full {
		name = fmt.Sprintf("full_%s_run", dur)
	}
	t.Run(name, func(t *testing.T) { soak(t, dur, full) })
}

func soak(t *testing.T, dur time.Duration, checkMemory bool) {
	const streams, rate = 1000, 100
	w := newWorld(t, worldOptions{})
	c := startConduit(t, w)
	l := newLoad(w, c.addr, streams+rate)
	streamHeader := http.Header{"X-Fake-Events": {"20"}, "X-Fake-Delay": {"100ms"}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range streams {
		k := loadKinds[0]
		if i%4 == 3 {
			k = loadKinds[3] // forward mode
		}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.call(context.Background(), k, streamHeader)
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				wg.Go(func() { l.call(context.Background(), loadKinds[2], nil) })
			}
		}
	})

	// Sample the proxy's resident memory while the load runs (the full
	// run only).
	var rss []int64
	sample := time.NewTicker(250 * time.Millisecond)
	end := time.After(dur)
sampling:
	for {
		select {
		case <-sample.C:
			if checkMemory {
				rss = append(rss, rssBytes(c.cmd.Process.Pid))
			}
		case <-end:
			break sampling
		}
	}
	sample.Stop()
	close(stop)
	wg.Wait()
	if err := c.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("conduit: %v\n%s", err, c.out.String())
	}

	sent, ok, _ := l.snapshot()
	if ok != sent {
		t.Errorf("%d of %d calls did not complete for their clients", sent-ok, sent)
	}
	stored := checkNothingLost(t, l, ledgerRows(t, w.db))
	t.Logf("%s: %d calls (%d streaming at a time, %d/s others), %d completed, %d stored", dur, sent, streams, rate, ok, stored)

	if !checkMemory {
		return
	}
	// Flat memory: after the first quarter (connections and buffers being
	// set up), the last third's peak stays near the second quarter's.
	if len(rss) < 8 {
		t.Fatalf("only %d memory samples", len(rss))
	}
	warm := rss[len(rss)/4 : len(rss)/2]
	late := rss[len(rss)*2/3:]
	early, last := slices.Max(warm), slices.Max(late)
	t.Logf("proxy RSS: start %d MiB, after warm-up peak %d MiB, last third peak %d MiB, overall peak %d MiB",
		rss[0]>>20, early>>20, last>>20, slices.Max(rss)>>20)
	if early > 0 && last > early+early/2+32<<20 {
		t.Errorf("memory grew under steady load: %d MiB after warm-up, %d MiB at the end", early>>20, last>>20)
	}
}
