package loadgen

import (
	"context"
	"sync"
	"time"
)

// Result is what one closed-loop run measured.
type Result struct {
	Requests int             // calls that succeeded
	Errors   int             // calls that failed
	FirstErr error           // the first failure, nil when none
	Elapsed  time.Duration   // wall time from the start to the last call's end
	Sorted   []time.Duration // latency of every successful call, ascending
}

// Rate is the successful calls per second; 0 when nothing ran.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// P returns the p-th percentile latency of the successful calls.
func (r Result) P(p float64) time.Duration { return Percentile(r.Sorted, p) }

// Call makes one request as worker number worker (0 ≤ worker < clients)
// and reports its failure. It must return once ctx ends.
type Call func(ctx context.Context, worker int) error

// Run keeps clients workers calling call back to back (a closed loop: each
// worker starts its next call when its last one ends) for d, and returns
// what they measured. A call in flight when d ends is waited for and
// counted. Each worker keeps its own latency slice, so the workers share
// nothing while they run.
func Run(ctx context.Context, clients int, d time.Duration, call Call) Result {
	type worker struct {
		lat  []time.Duration
		errs int
		err  error
	}
	ws := make([]worker, clients)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Go(func() {
			w := &ws[i]
			w.lat = make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				if err := call(ctx, i); err != nil {
					w.errs++
					if w.err == nil {
						w.err = err
					}
					continue
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		})
	}
	wg.Wait()
	r := Result{Elapsed: time.Since(start)}
	n := 0
	for i := range ws {
		n += len(ws[i].lat)
	}
	r.Sorted = make([]time.Duration, 0, n)
	for i := range ws {
		r.Sorted = append(r.Sorted, ws[i].lat...)
		r.Errors += ws[i].errs
		if r.FirstErr == nil {
			r.FirstErr = ws[i].err
		}
	}
	r.Requests = len(r.Sorted)
	SortDurations(r.Sorted)
	return r
}
