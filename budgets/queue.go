package budgets

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// queue hands alerts to a slow destination (a command, a web hook) without
// ever blocking the caller: Notify puts the alert in a bounded queue, one
// goroutine delivers them in order, and an alert that finds the queue full
// is dropped and counted.
type queue struct {
	name    string // for logs: "webhook https://hooks.example.com/…"
	deliver func(ctx context.Context, a Alert)
	logger  *slog.Logger

	ctx    context.Context // ended by Close when its time is up: stops a delivery in progress
	cancel context.CancelFunc
	done   chan struct{} // closed when the worker has ended

	mu      sync.Mutex
	closed  bool
	alerts  chan Alert
	dropped atomic.Int64
}

func newQueue(name string, size int, logger *slog.Logger, deliver func(context.Context, Alert)) *queue {
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &queue{name: name, deliver: deliver, logger: logger, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), alerts: make(chan Alert, size)}
	go q.run()
	return q
}

func (q *queue) run() {
	defer close(q.done)
	for a := range q.alerts {
		if q.ctx.Err() != nil {
			continue // closing and out of time: drain without delivering
		}
		q.deliver(q.ctx, a)
	}
}

// Notify queues a, or drops it when the queue is full or closed. It never
// blocks.
func (q *queue) Notify(a Alert) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	select {
	case q.alerts <- a:
	default:
		if n := q.dropped.Add(1); n == 1 || n%100 == 0 {
			q.logger.Warn(fmt.Sprintf("budget alerts: %s is not keeping up; dropped an alert", q.name),
				"budget", a.Budget.Name, "dropped", n)
		}
	}
}

// Close stops taking alerts and delivers those queued, until ctx ends:
// then the delivery in progress is stopped, the rest are dropped, and
// ctx's error is returned. It is safe to call more than once.
func (q *queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.alerts)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.cancel()
		<-q.done
		return fmt.Errorf("budget alerts: %s: undelivered alerts dropped: %w", q.name, ctx.Err())
	}
}

// Dropped returns how many alerts found the queue full.
func (q *queue) Dropped() int64 { return q.dropped.Load() }
