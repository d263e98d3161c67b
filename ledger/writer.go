package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Writer defaults.
const (
	// DefaultQueueSize bounds the records waiting to be written. At a busy
	// 50 calls/s it holds about 22 minutes of calls through a ledger outage
	// (locked, read-only or full disk); at 10 calls/s about 1 h 49 min.
	DefaultQueueSize = 65536
	// DefaultQueueBytes bounds the memory of the records waiting, as
	// Record sizes are counted (their strings, slices and maps). A typical
	// record takes about 1 KiB, so the count bound comes first; records
	// near their field caps (Sanitize: a few tens of KiB at most) meet
	// this one first, and the queue never holds more than this.
	DefaultQueueBytes = 64 << 20
	// DefaultBatchFill is how many queued records make a batch due at
	// once, without waiting MaxDelay.
	DefaultBatchFill = 256
	// DefaultBatchSize is the most records one transaction writes. A
	// Writer that keeps up writes batches of BatchFill or fewer; one that
	// fell behind (a burst, a ledger that was locked) takes what has
	// queued meanwhile, up to this: each transaction's own cost (its
	// commit, one upsert per rollup row its calls touch) is then shared
	// by more records, so the Writer catches up faster the further behind
	// it is. 1024 calls are about 30 ms of one core.
	DefaultBatchSize = 1024
	// DefaultMaxDelay is the longest a record waits for its batch to fill.
	DefaultMaxDelay = 100 * time.Millisecond
	// DefaultRetryMin and DefaultRetryMax bound the backoff between
	// attempts to write a batch the database refused.
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 5 * time.Second
)

// WriterOptions tune a Writer. Zero fields take the defaults above.
type WriterOptions struct {
	QueueSize  int
	QueueBytes int64
	BatchFill  int // at most BatchSize
	BatchSize  int
	MaxDelay   time.Duration
	RetryMin   time.Duration
	RetryMax   time.Duration

	// Logger receives the Writer's warnings (nil: slog.Default()).
	Logger *slog.Logger
	// Clock is the Writer's time source (nil: the real clock). Tests
	// inject a fake to decide when batches are due.
	Clock Clock
	// Write writes one batch in one transaction (nil: db.Insert). It must
	// write all of the records or none. Tests inject failures here.
	Write func(ctx context.Context, recs []Record) error
	// SetAside keeps a record the database refused for what it holds
	// (nil: db.SetAside; with no DB either, the record is only logged).
	SetAside func(ctx context.Context, rec Record, reason error) error
	// Background writes each batch, while the Writer keeps up (fewer
	// than BatchFill records queued behind it), on an OS thread of its
	// own at a lower priority (Linux: nice 10; elsewhere it changes
	// nothing): on a busy machine the threads serving calls then get a
	// core before the writer does, and a batch's milliseconds of SQLite
	// work do not land in a call's latency. A Writer that falls behind
	// writes at normal priority until it has caught up. The cost: while
	// the kernel holds the niced thread back, the batch keeps one of the
	// Go scheduler's Ps, so with GOMAXPROCS=2 on a saturated machine the
	// proxy's goroutines share the other; measured, throughput at 64
	// clients did not move and p99 at one client fell (BENCHMARKS.md).
	Background bool
	// OnWritten, if set, is called on the writer goroutine after each
	// committed batch. The slice is valid only during the call; it must
	// not block for long, as writing waits for it, and must not call
	// Flush or Close (they wait for the writer goroutine).
	OnWritten func([]Record)
}

// WriterStats is a snapshot of a Writer's counters.
type WriterStats struct {
	Queued        int           // records waiting, including a batch being written
	QueuedBytes   int64         // their memory, as counted against QueueBytes
	Written       int64         // records committed
	Batches       int64         // transactions committed
	Dropped       int64         // records refused because the queue was full or the Writer closed
	SetAside      int64         // records the database refused for what they hold, kept in the set-aside table
	WriteErrors   int64         // failed write attempts (each retried, or split to find the refused record)
	Failing       bool          // the last attempt failed and records are waiting to be retried
	LastError     string        // the last write error ("" if none yet)
	LastErrorTime time.Time     // when it happened
	RetryIn       time.Duration // current backoff while Failing
}

// Writer records calls asynchronously: Add queues a record without
// blocking, and one goroutine writes the queued records, up to BatchSize at
// a time, in a single transaction as soon as BatchFill of them are queued
// or the oldest has waited MaxDelay. A batch the database refuses for a
// passing reason (locked, read-only, disk full) is kept and retried with
// capped exponential backoff while new records queue behind it; nothing is
// lost unless the queue overflows, and every overflow is counted and
// logged. A batch refused for what a record holds is split until that
// record is alone: it is set aside (logged, counted, kept for conduit
// export --set-aside) and the rest is written, so no record stalls the
// ones after it. Flush and Close drain the queue.
type Writer struct {
	opts  WriterOptions
	log   *slog.Logger
	clock Clock
	write func(context.Context, []Record) error
	bg    *background // Background's thread; nil: none
	aside func(context.Context, Record, error) error

	mu       sync.Mutex
	pending  recordQueue // accepted, not yet taken into a batch
	oldest   time.Time   // when pending's first record arrived
	inflight int         // records in the batch being written
	bytes    int64       // memory of pending and inflight records (Record.size)
	accepted int64       // records ever accepted
	written  int64       // records ever committed (== accepted - queued)
	flushTo  int64       // write without delay until written >= flushTo
	closed   bool
	progress chan struct{} // closed and replaced after each commit
	stats    WriterStats
	dropLog  dropLogState
	// asideLogAt: when a set-aside record was last logged.
	asideLogAt time.Time

	wake chan struct{} // buffered(1): new records or a flush request
	// stopCtx ends when Close is done waiting (drained, or its context
	// ended); it also cancels a write still running then, so Close never
	// outlives its context.
	stopCtx context.Context
	stop    context.CancelFunc
	done    chan struct{} // closed when the goroutine exits
	closing sync.Once
}

type dropLogState struct {
	since  int64 // drops since the last log line
	lastAt time.Time
}

// dropLogEvery limits drop warnings while the queue stays full.
const dropLogEvery = 10 * time.Second

// NewWriter starts a Writer for db. db may be nil when opts.Write is set.
// The caller must Close it (before closing db) to write what is queued.
func NewWriter(db *DB, opts WriterOptions) *Writer {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	opts.BatchSize = min(opts.BatchSize, opts.QueueSize)
	if opts.BatchFill <= 0 {
		opts.BatchFill = DefaultBatchFill
	}
	opts.BatchFill = min(opts.BatchFill, opts.BatchSize)
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryMin)
	w := &Writer{
		opts:     opts,
		log:      opts.Logger,
		clock:    opts.Clock,
		write:    opts.Write,
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	w.stopCtx, w.stop = context.WithCancel(context.Background())
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.clock == nil {
		w.clock = realClock{}
	}
	if w.write == nil {
		if db == nil {
			panic("ledger.NewWriter: nil DB and no WriterOptions.Write")
		}
		w.write = db.Insert
	}
	w.aside = opts.SetAside
	if w.aside == nil && db != nil {
		w.aside = db.SetAside
	}
	if opts.Background {
		w.bg = startBackground()
	}
	go w.run()
	return w
}

// Add queues rec for writing and returns at once; it never blocks on the
// database. It sanitizes rec first (Record.Sanitize: fields cut to their
// caps, implausible counts made invalid usage). When the queue is full, by
// count or by bytes, (or the Writer is closed) the record is dropped,
// counted in Stats().Dropped and logged at error level. The Writer keeps
// rec (a copy of the struct; its maps and slices are shared, so the caller
// must not modify them afterwards).
func (w *Writer) Add(rec Record) {
	rec.Sanitize()
	size := int64(rec.size())
	w.mu.Lock()
	if w.closed || w.pending.len()+w.inflight >= w.opts.QueueSize || w.bytes+size > w.opts.QueueBytes {
		reason := "queue full"
		if w.closed {
			reason = "writer closed"
		}
		w.stats.Dropped++
		w.dropLog.since++
		now := w.clock.Now()
		logIt := w.dropLog.lastAt.IsZero() || now.Sub(w.dropLog.lastAt) >= dropLogEvery
		var n int64
		if logIt {
			n = w.dropLog.since
			w.dropLog.since, w.dropLog.lastAt = 0, now
		}
		total, lastErr := w.stats.Dropped, w.stats.LastError
		w.mu.Unlock()
		if logIt {
			w.log.Error("ledger: dropping call records", "reason", reason, "dropped", n,
				"dropped_total", total, "queue_size", w.opts.QueueSize, "queue_bytes", w.opts.QueueBytes,
				"id", rec.ID, "last_write_error", lastErr)
		}
		return
	}
	if w.pending.len() == 0 {
		w.oldest = w.clock.Now()
	}
	w.pending.push(rec)
	w.bytes += size
	w.accepted++
	full := w.pending.len() == w.opts.BatchFill || w.pending.len() == 1
	w.mu.Unlock()
	if full {
		// The first record starts the delay timer; a full batch is due now.
		w.signal()
	}
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Flush waits until every record added before the call is committed, or ctx
// ends. It asks for queued records to be written at once rather than after
// MaxDelay. While the database is failing it waits for it to recover.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	target := w.accepted
	if target > w.flushTo {
		w.flushTo = target
	}
	w.mu.Unlock()
	w.signal()
	return w.waitWritten(ctx, target)
}

func (w *Writer) waitWritten(ctx context.Context, target int64) error {
	for {
		w.mu.Lock()
		written, progress := w.written, w.progress
		w.mu.Unlock()
		if written >= target {
			return nil
		}
		select {
		case <-progress:
		case <-w.done:
			w.mu.Lock()
			written = w.written
			w.mu.Unlock()
			if written >= target {
				return nil
			}
			return fmt.Errorf("ledger writer stopped with %d records unwritten", target-written)
		case <-ctx.Done():
			w.mu.Lock()
			left := target - w.written
			lastErr := w.stats.LastError
			w.mu.Unlock()
			if lastErr != "" {
				return fmt.Errorf("ledger flush: %d records still queued (last write error: %s): %w", left, lastErr, ctx.Err())
			}
			return fmt.Errorf("ledger flush: %d records still queued: %w", left, ctx.Err())
		}
	}
}

// Close stops accepting records, writes everything queued, and stops the
// Writer. If ctx ends first it stops anyway and returns an error counting
// the records left unwritten. Close is idempotent: later calls wait for the
// first to finish and report any records it left unwritten. It does not
// close the DB.
func (w *Writer) Close(ctx context.Context) error {
	var err error
	first := false
	w.closing.Do(func() {
		first = true
		w.mu.Lock()
		w.closed = true
		target := w.accepted
		w.flushTo = target
		w.mu.Unlock()
		w.signal()
		err = w.waitWritten(ctx, target)
		w.stop()
		<-w.done
	})
	if !first {
		<-w.done
		w.mu.Lock()
		left := w.accepted - w.written
		w.mu.Unlock()
		if left > 0 {
			return fmt.Errorf("ledger writer closed with %d records unwritten", left)
		}
		return nil
	}
	return err
}

// Stats returns a snapshot of the Writer's counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Queued = w.pending.len() + w.inflight
	s.QueuedBytes = w.bytes
	// written counts every record done with, the ones set aside too.
	s.Written = w.written - s.SetAside
	return s
}

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	defer w.bg.stop()
	var (
		batch   []Record
		backoff time.Duration // last backoff, doubled on each failure
		retryAt time.Time     // while failing: when to retry batch
		timer   Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		wait := time.Duration(-1) // -1: nothing to time, wait for a signal
		if len(batch) == 0 {
			batch, wait = w.take(batch)
		}
		if len(batch) > 0 {
			if retryAt.IsZero() || !w.clock.Now().Before(retryAt) {
				err := w.writeBatch(batch)
				var aside []int
				if err != nil && !isTransient(err) {
					err = w.isolate(batch, 0, err, &aside)
					if err != nil && len(aside) > 0 {
						// Stopped by a passing failure: what was set
						// aside is done with, the rest is retried.
						batch = w.doneAside(batch, aside)
					}
				}
				if err != nil && w.stopCtx.Err() != nil {
					return // abandoned at Close, which reports its records unwritten
				}
				if err == nil {
					w.committed(batch, aside)
					clear(batch)
					batch, backoff, retryAt = batch[:0], 0, time.Time{}
					continue
				}
				backoff = w.failed(err, backoff)
				retryAt = w.clock.Now().Add(backoff)
			}
			wait = retryAt.Sub(w.clock.Now())
		}

		if timer != nil {
			timer.Stop()
			timer = nil
		}
		var timerC <-chan time.Time
		if wait >= 0 {
			timer = w.clock.NewTimer(wait)
			timerC = timer.C()
		}
		select {
		case <-w.wake: // new records or a flush request: look again
		case <-timerC: // a batch's delay or a retry is due
		case <-w.stopCtx.Done():
			return
		}
	}
}

// writeBatch writes batch on the background thread, or on the writer
// goroutine when there is none or a full batch already waits behind this
// one.
func (w *Writer) writeBatch(batch []Record) error {
	if w.bg == nil || w.behind() {
		return w.write(w.stopCtx, batch)
	}
	var err error
	w.bg.run(func() { err = w.write(w.stopCtx, batch) })
	return err
}

func (w *Writer) behind() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending.len() >= w.opts.BatchFill
}

// take moves the next batch, up to BatchSize records, from the queue into
// batch if one is due: BatchFill records queued, a flush waiting, or the
// oldest record having waited MaxDelay.
// Otherwise it returns batch empty and how long until one is due (-1:
// nothing queued).
func (w *Writer) take(batch []Record) ([]Record, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending.len() == 0 {
		return batch, -1
	}
	due := w.pending.len() >= w.opts.BatchFill || w.written < w.flushTo
	if !due {
		left := w.opts.MaxDelay - w.clock.Now().Sub(w.oldest)
		if left > 0 {
			return batch, left
		}
	}
	batch = w.pending.popInto(batch, w.opts.BatchSize)
	// The records left behind arrived after w.oldest, so keeping it makes
	// them due no later than MaxDelay after their arrival.
	w.inflight = len(batch)
	return batch, -1
}

// isolate writes recs (at offset off in the batch), which failed with err
// for what one or more of them hold, in halves until each refused record is
// alone, and sets those aside, appending their offsets to aside. It returns
// an error only for a passing failure on the way (the caller retries the
// whole batch; what was written meanwhile is skipped as already stored).
func (w *Writer) isolate(recs []Record, off int, err error, aside *[]int) error {
	w.mu.Lock()
	w.stats.WriteErrors++
	w.mu.Unlock()
	if len(recs) == 1 {
		return w.setAside(recs[0], off, err, aside)
	}
	half := len(recs) / 2
	for _, p := range [...]struct {
		recs []Record
		off  int
	}{{recs[:half], off}, {recs[half:], off + half}} {
		perr := w.write(w.stopCtx, p.recs)
		if perr != nil && (isTransient(perr) || w.stopCtx.Err() != nil) {
			return perr
		}
		if perr != nil {
			if e := w.isolate(p.recs, p.off, perr, aside); e != nil {
				return e
			}
		}
	}
	return nil
}

// doneAside removes the records at the offsets aside from batch and counts
// them as done with.
func (w *Writer) doneAside(batch []Record, aside []int) []Record {
	// Measured before batch is compacted in place, which moves the
	// records kept onto the offsets in aside.
	var freed int64
	for _, i := range aside {
		freed += int64(batch[i].size())
	}
	kept := batch[:0]
	for i := range batch {
		if !slices.Contains(aside, i) {
			kept = append(kept, batch[i])
		}
	}
	clear(batch[len(kept):])
	w.mu.Lock()
	w.bytes -= freed
	w.written += int64(len(aside))
	w.inflight = len(kept)
	close(w.progress)
	w.progress = make(chan struct{})
	w.mu.Unlock()
	return kept
}

// setAside keeps one refused record in the set-aside table, logs and
// counts it. Failing to keep it is a passing failure: the batch is retried.
func (w *Writer) setAside(rec Record, off int, reason error, aside *[]int) error {
	kept := "kept for 'conduit export --set-aside'"
	if w.aside != nil {
		if err := w.aside(w.stopCtx, rec, reason); err != nil {
			return err
		}
	} else {
		kept = "not kept: the writer has no ledger to keep it in"
	}
	*aside = append(*aside, off)
	w.mu.Lock()
	w.stats.SetAside++
	total := w.stats.SetAside
	now := w.clock.Now()
	logIt := w.asideLogAt.IsZero() || now.Sub(w.asideLogAt) >= dropLogEvery
	if logIt {
		w.asideLogAt = now
	}
	w.mu.Unlock()
	// One line per dropLogEvery: a stream of refused records must not
	// become a stream of log lines (the count and /metrics say how many).
	if logIt {
		w.log.Error("ledger: the database refused a call record; set it aside and writing the rest",
			"id", rec.ID, "err", reason, "set_aside_total", total, "kept", kept)
	}
	return nil
}

// failed records a failed attempt and returns the next backoff (doubling
// from RetryMin, capped at RetryMax). It logs only when the Writer goes
// from healthy to failing, or the error changes, not on every retry.
func (w *Writer) failed(err error, prev time.Duration) time.Duration {
	next := w.opts.RetryMin
	if prev > 0 {
		next = min(prev*2, w.opts.RetryMax)
	}
	w.mu.Lock()
	wasFailing, prevErr := w.stats.Failing, w.stats.LastError
	w.stats.WriteErrors++
	w.stats.Failing = true
	w.stats.LastError = err.Error()
	w.stats.LastErrorTime = w.clock.Now()
	w.stats.RetryIn = next
	queued := w.pending.len() + w.inflight
	w.mu.Unlock()
	if !wasFailing || prevErr != err.Error() {
		w.log.Error("ledger: cannot write call records; keeping them queued and retrying",
			"err", err, "queued", queued, "queue_size", w.opts.QueueSize, "retry_in", next)
	}
	return next
}

// committed accounts for a written batch (but for the records at the
// offsets aside, which were set aside) and wakes flushers.
func (w *Writer) committed(batch []Record, aside []int) {
	var freed int64
	for i := range batch {
		freed += int64(batch[i].size())
	}
	w.mu.Lock()
	w.bytes -= freed
	recovered := w.stats.Failing
	errs := w.stats.WriteErrors
	w.written += int64(len(batch))
	w.inflight = 0
	w.stats.Batches++
	w.stats.Failing = false
	w.stats.RetryIn = 0
	close(w.progress)
	w.progress = make(chan struct{})
	queued := w.pending.len()
	w.mu.Unlock()
	if recovered {
		w.log.Warn("ledger: writing call records again", "queued", queued, "write_errors_total", errs)
	}
	if w.opts.OnWritten != nil {
		if len(aside) > 0 {
			written := make([]Record, 0, len(batch)-len(aside))
			for i := range batch {
				if !slices.Contains(aside, i) {
					written = append(written, batch[i])
				}
			}
			batch = written
		}
		w.opts.OnWritten(batch)
	}
}
