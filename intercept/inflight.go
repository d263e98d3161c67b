package intercept

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// inflight tracks the calls between their start and their record, so that a
// graceful stop can wait for every record — including those of streams
// whose client left and which are still being drained for their final
// usage, which no http.Server tracks once the handler has returned.
type inflight struct {
	mu    sync.Mutex
	calls map[*call]struct{}
	empty chan struct{} // closed when calls becomes empty; replaced on the next add
}

func newInflight() *inflight {
	e := make(chan struct{})
	close(e)
	return &inflight{calls: make(map[*call]struct{}), empty: e}
}

func (f *inflight) add(cl *call) {
	f.mu.Lock()
	if len(f.calls) == 0 {
		f.empty = make(chan struct{})
	}
	f.calls[cl] = struct{}{}
	f.mu.Unlock()
}

func (f *inflight) done(cl *call) {
	f.mu.Lock()
	if _, ok := f.calls[cl]; ok {
		delete(f.calls, cl)
		if len(f.calls) == 0 {
			close(f.empty)
		}
	}
	f.mu.Unlock()
}

func (f *inflight) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// wait returns once no call is running, or with ctx's error.
func (f *inflight) wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		n, empty := len(f.calls), f.empty
		f.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-empty:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// abortGrace bounds the wait for calls cancelled by a stop whose deadline
// passed: a cancelled call records at once unless it is stuck writing to a
// client that does not read, which closing the listener's connections ends.
const abortGrace = 5 * time.Second

// abort cancels every running call — each then finishes with what it has
// read and is recorded — and waits (at most abortGrace) for their records.
// It returns an error counting the calls still unrecorded.
func (f *inflight) abort() error {
	f.mu.Lock()
	for cl := range f.calls {
		cl.cancel()
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), abortGrace)
	defer cancel()
	if err := f.wait(ctx); err != nil {
		return fmt.Errorf("%d calls still unrecorded %s after cancelling them", f.len(), abortGrace)
	}
	return nil
}
