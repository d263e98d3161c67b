//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
)

// headerStream names one stream of the fidelity row, so the in-process
// fake can log when it wrote each of that stream's events.
const headerStream = "X-Bench-Stream"

// fidelityFake is a fake provider served in this process whose delays are
// observed: each time it finishes the wait before an event, it notes the
// time, just before writing that event. With the client in the same
// process, an event's transit time (written → arrived) is read on one
// clock, for direct calls and proxied ones alike.
type fidelityFake struct {
	srv  *http.Server
	fake *fakeprovider.Server
	addr string

	mu      sync.Mutex
	streams map[string]*emitLog
}

// emitLog is when the fake wrote each event of one stream after the first.
type emitLog struct {
	mu    sync.Mutex
	times []time.Time
}

type emitLogKey struct{}

func startFidelityFake() (*fidelityFake, error) {
	f := &fidelityFake{streams: make(map[string]*emitLog)}
	f.fake = fakeprovider.New(fakeprovider.Options{KeepRequests: -1, Sleep: f.sleep})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fidelity fake: %w", err)
	}
	f.addr = ln.Addr().String()
	f.srv = &http.Server{
		Handler:           http.HandlerFunc(f.serve),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go f.srv.Serve(ln)
	return f, nil
}

func (f *fidelityFake) serve(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get(headerStream); id != "" {
		el := &emitLog{}
		f.mu.Lock()
		f.streams[id] = el
		f.mu.Unlock()
		r = r.WithContext(context.WithValue(r.Context(), emitLogKey{}, el))
	}
	f.fake.ServeHTTP(w, r)
}

// sleep is the fake's delay between events: a real timer, then the note.
func (f *fidelityFake) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
	if el, ok := ctx.Value(emitLogKey{}).(*emitLog); ok {
		el.mu.Lock()
		el.times = append(el.times, time.Now())
		el.mu.Unlock()
	}
	return nil
}

// take returns and forgets the write times of stream id: entry i is when
// event i+1 was written.
func (f *fidelityFake) take(id string) []time.Time {
	f.mu.Lock()
	el := f.streams[id]
	delete(f.streams, id)
	f.mu.Unlock()
	if el == nil {
		return nil
	}
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.times
}

func (f *fidelityFake) close() {
	f.fake.Close()
	f.srv.Close()
}
