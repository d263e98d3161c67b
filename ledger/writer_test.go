package ledger

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStore is an injected Writer.Write: it hands every attempted batch to
// the test and fails while told to.
type fakeStore struct {
	mu      sync.Mutex
	fail    error         // non-nil: attempts fail with it
	block   chan struct{} // non-nil: attempts wait for it to close
	batches chan []Record // every successful batch (copied)
	tries   chan int      // size of every attempt
	written []Record
}

func newFakeStore() *fakeStore {
	return &fakeStore{batches: make(chan []Record, 1000), tries: make(chan int, 1000)}
}

func (s *fakeStore) write(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	block, fail := s.block, s.fail
	s.mu.Unlock()
	s.tries <- len(recs)
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	cp := append([]Record(nil), recs...)
	s.mu.Lock()
	s.written = append(s.written, cp...)
	s.mu.Unlock()
	s.batches <- cp
	return nil
}

func (s *fakeStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// logBuffer captures a Writer's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func newTestWriter(t *testing.T, opts WriterOptions) (*Writer, *fakeStore, *fakeClock, *logBuffer) {
	t.Helper()
	store, clock, logs := newFakeStore(), newFakeClock(), &logBuffer{}
	if opts.Write == nil {
		opts.Write = store.write
	}
	opts.Clock = clock
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	w := NewWriter(nil, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // never wait in cleanup; tests close explicitly when it matters
		_ = w.Close(ctx)
	})
	return w, store, clock, logs
}

func recv(t *testing.T, ch chan []Record) []Record {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no batch written")
		return nil
	}
}

func recvTry(t *testing.T, ch chan int) int {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no write attempted")
		return 0
	}
}

// waitStats waits until the writer's stats satisfy ok. A fake store hands
// over a batch (or an attempt) before the writer has counted it, so stats
// are read only once they have caught up.
func waitStats(t *testing.T, w *Writer, ok func(WriterStats) bool) WriterStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := w.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never caught up: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
}

func noBatch(t *testing.T, ch chan []Record) {
	t.Helper()
	select {
	case b := <-ch:
		t.Fatalf("unexpected batch of %d", len(b))
	default:
	}
}

// TestWriterBatchesAfterMaxDelay: a lone record is written when it has
// waited MaxDelay, not before.
func TestWriterBatchesAfterMaxDelay(t *testing.T) {
	t.Parallel()
	w, store, clock, _ := newTestWriter(t, WriterOptions{})
	start := clock.Now()
	w.Add(sampleRecord(1))
	clock.waitTimer(t, start.Add(DefaultMaxDelay))
	clock.Advance(DefaultMaxDelay - time.Millisecond)
	noBatch(t, store.batches)
	clock.Advance(time.Millisecond)
	b := recv(t, store.batches)
	if len(b) != 1 || b[0].ID != sampleRecord(1).ID {
		t.Fatalf("batch = %v", b)
	}
	s := waitStats(t, w, func(s WriterStats) bool { return s.Written > 0 })
	if s.Written != 1 || s.Batches != 1 || s.Queued != 0 {
		t.Errorf("stats = %+v", s)
	}
}

// TestWriterBatchesWhenFull: BatchSize records are written at once, in one
// batch, without waiting for the delay.
func TestWriterBatchesWhenFull(t *testing.T) {
	t.Parallel()
	w, store, _, _ := newTestWriter(t, WriterOptions{BatchSize: 4})
	for i := range 10 {
		w.Add(sampleRecord(i))
	}
	for _, want := range []int{4, 4} {
		if b := recv(t, store.batches); len(b) != want {
			t.Fatalf("batch of %d, want %d", len(b), want)
		}
	}
	// The last 2 wait for the delay (or a flush).
	noBatch(t, store.batches)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := recv(t, store.batches); len(b) != 2 {
		t.Fatalf("flushed batch of %d, want 2", len(b))
	}
	for i, r := range store.written {
		if r.ID != sampleRecord(i).ID {
			t.Fatalf("record %d is %s: order lost", i, r.ID)
		}
	}
}

// TestWriterTakesBacklog: BatchFill records make a batch due, and a Writer
// that fell behind (its write blocked while records queued) takes up to
// BatchSize of them in its next batch, in order.
func TestWriterTakesBacklog(t *testing.T) {
	t.Parallel()
	w, store, _, _ := newTestWriter(t, WriterOptions{BatchFill: 2, BatchSize: 5})
	block := make(chan struct{})
	store.mu.Lock()
	store.block = block
	store.mu.Unlock()
	w.Add(sampleRecord(0))
	w.Add(sampleRecord(1))
	if n := recvTry(t, store.tries); n != 2 {
		t.Fatalf("first attempt of %d, want 2 (BatchFill)", n)
	}
	for i := 2; i < 9; i++ {
		w.Add(sampleRecord(i))
	}
	store.mu.Lock()
	store.block = nil
	store.mu.Unlock()
	close(block)
	// 7 queued behind the first 2: 5 at once, then the last 2, due by
	// BatchFill without a flush.
	for _, want := range []int{2, 5, 2} {
		if b := recv(t, store.batches); len(b) != want {
			t.Fatalf("batch of %d, want %d", len(b), want)
		}
	}
	for i, r := range store.written {
		if r.ID != sampleRecord(i).ID {
			t.Fatalf("record %d is %s: order lost", i, r.ID)
		}
	}
}

// TestWriterFlushWritesNow: Flush writes queued records without waiting for
// MaxDelay and returns once they are committed.
func TestWriterFlushWritesNow(t *testing.T) {
	t.Parallel()
	w, store, _, _ := newTestWriter(t, WriterOptions{})
	for i := range 3 {
		w.Add(sampleRecord(i))
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Written != 3 || s.Queued != 0 {
		t.Fatalf("after Flush: %+v", s)
	}
	if b := recv(t, store.batches); len(b) != 3 {
		t.Fatalf("batch of %d", len(b))
	}
	// Flush with nothing queued returns at once.
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestWriterRetriesWithBackoff: a failing database keeps the batch, retries
// with doubling, capped backoff, logs once per state change, and loses
// nothing when it recovers.
func TestWriterRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	w, store, clock, logs := newTestWriter(t, WriterOptions{RetryMin: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond})
	store.setFail(errors.New("database is locked"))
	w.Add(sampleRecord(1))
	clock.Advance(DefaultMaxDelay)
	recvTry(t, store.tries)

	for i, backoff := range []time.Duration{100, 200, 300, 300} {
		backoff *= time.Millisecond
		next := clock.Now().Add(backoff)
		clock.waitTimer(t, next)
		s := w.Stats()
		if !s.Failing || s.RetryIn != backoff || s.Queued != 1+i || s.WriteErrors != int64(1+i) || s.LastError != "database is locked" {
			t.Fatalf("while failing: %+v", s)
		}
		w.Add(sampleRecord(int(backoff))) // records keep queueing meanwhile
		clock.waitTimer(t, next)
		clock.Advance(backoff)
		recvTry(t, store.tries)
	}
	if n := logs.count("cannot write call records"); n != 1 {
		t.Errorf("failure logged %d times, want once", n)
	}
	store.setFail(nil)
	clock.waitTimer(t, clock.Now().Add(300*time.Millisecond))
	clock.Advance(300 * time.Millisecond)
	if b := recv(t, store.batches); len(b) != 1 || b[0].ID != sampleRecord(1).ID {
		t.Fatalf("retried batch = %v", b)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	if s.Failing || s.Written != 5 || s.WriteErrors != 5 || s.Dropped != 0 {
		t.Errorf("after recovery: %+v", s)
	}
	if n := logs.count("writing call records again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}

// TestWriterDropsWhenFull: Add never blocks; beyond QueueSize records are
// counted as dropped and logged, and the queued ones still land.
func TestWriterDropsWhenFull(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	w, store, clock, logs := newTestWriter(t, WriterOptions{QueueSize: 4})
	store.block = block
	w.Add(sampleRecord(0))
	clock.Advance(DefaultMaxDelay)
	recvTry(t, store.tries) // the writer now holds that record, blocked

	done := make(chan struct{})
	go func() {
		for i := 1; i <= 5; i++ {
			w.Add(sampleRecord(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Add blocked on a full queue")
	}
	s := w.Stats()
	if s.Dropped != 2 || s.Queued != 4 {
		t.Fatalf("stats = %+v, want 2 dropped and 4 queued", s)
	}
	if logs.count("dropping call records") != 1 {
		t.Errorf("drop not logged once:\n%s", logs.buf.String())
	}
	store.mu.Lock()
	store.block = nil
	store.mu.Unlock()
	close(block)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Written != 4 {
		t.Fatalf("written %d, want 4", s.Written)
	}
}

// TestWriterCloseDrains: Close writes everything queued; later records are
// refused and counted; Close is idempotent.
func TestWriterCloseDrains(t *testing.T) {
	t.Parallel()
	w, store, _, _ := newTestWriter(t, WriterOptions{BatchSize: 3})
	for i := range 7 {
		w.Add(sampleRecord(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(store.written) != 7 {
		t.Fatalf("wrote %d of 7", len(store.written))
	}
	w.Add(sampleRecord(8))
	if s := w.Stats(); s.Dropped != 1 {
		t.Errorf("Add after Close: dropped %d", s.Dropped)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestWriterCloseGivesUp: Close on a failing database returns when its
// context ends, naming the records left unwritten.
func TestWriterCloseGivesUp(t *testing.T) {
	t.Parallel()
	w, store, clock, _ := newTestWriter(t, WriterOptions{})
	store.setFail(errors.New("disk I/O error"))
	w.Add(sampleRecord(1))
	w.Add(sampleRecord(2))
	clock.Advance(DefaultMaxDelay)
	recvTry(t, store.tries)
	waitStats(t, w, func(s WriterStats) bool { return s.LastError != "" })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "2 records") || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("Close = %v", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close error does not wrap the context's: %v", err)
	}
}

// TestWriterCloseEndsWithContext: Close returns when its context ends even
// while a write is still running (a database that hangs), and that write
// is abandoned rather than left to finish after Close.
func TestWriterCloseEndsWithContext(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	w, store, clock, logs := newTestWriter(t, WriterOptions{})
	store.block = block
	w.Add(sampleRecord(1))
	clock.Advance(DefaultMaxDelay)
	recvTry(t, store.tries) // the write now hangs
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- w.Close(ctx) }()
	cancel()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "1 records") || !errors.Is(err, context.Canceled) {
			t.Fatalf("Close = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close outlived its context, waiting for a hung write")
	}
	if n := logs.count("cannot write call records"); n != 0 {
		t.Errorf("the write abandoned at Close was logged as a failure %d times", n)
	}
}

// TestWriterOnWritten: OnWritten sees each committed batch.
func TestWriterOnWritten(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	w, _, _, _ := newTestWriter(t, WriterOptions{BatchSize: 2, OnWritten: func(recs []Record) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			seen = append(seen, r.ID)
		}
	}})
	for i := range 5 {
		w.Add(sampleRecord(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 5 {
		t.Fatalf("OnWritten saw %d records", len(seen))
	}
}

// TestWriterRealDB writes through a real ledger with the real clock and
// reads every field back.
func TestWriterRealDB(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	w := NewWriter(db, WriterOptions{})
	const n = 1000
	for i := range n {
		w.Add(sampleRecord(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	tot, err := db.Totals(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if tot.Calls != n || tot.InputTokens != n*1200 {
		t.Fatalf("totals = %+v", tot)
	}
	got, ok, err := db.Get(context.Background(), sampleRecord(7).ID)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if diff := recordDiff(got.Record, sampleRecord(7)); diff != "" {
		t.Error(diff)
	}
}

// TestWriterQueueBoundedByBytes guards the queue's memory while the ledger
// cannot be written: calls with 1 MB paths are queued at their capped size,
// and past QueueBytes records are dropped and counted rather than queued.
func TestWriterQueueBoundedByBytes(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	store.setFail(errors.New("database is locked"))
	const limit = 1 << 20
	w := NewWriter(nil, WriterOptions{Write: store.write, QueueBytes: limit, MaxDelay: time.Millisecond,
		RetryMin: time.Hour, RetryMax: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		w.Close(ctx)
	}()
	path := "/v1/chat/completions?q=" + strings.Repeat("a", 1<<20)
	const n = 2000
	for i := range n {
		r := sampleRecord(i)
		r.Path = path
		w.Add(r)
		if st := w.Stats(); st.QueuedBytes > limit {
			t.Fatalf("after %d records: %d bytes queued, limit %d", i+1, st.QueuedBytes, limit)
		}
	}
	st := w.Stats()
	perRecord := st.QueuedBytes / int64(st.Queued)
	if perRecord > MaxPathBytes+2<<10 {
		t.Errorf("%d bytes a queued record: the path was not capped", perRecord)
	}
	if st.Dropped == 0 || int64(st.Queued)+st.Dropped != n || st.QueuedBytes < limit-perRecord*2 {
		t.Errorf("stats %+v: want the queue filled to its byte limit and the rest dropped", st)
	}
	t.Logf("%d queued (%d bytes, %d a record), %d dropped", st.Queued, st.QueuedBytes, perRecord, st.Dropped)
}

// TestWriterQueuedBytes guards the byte bound's accounting: a waiting
// record counts at its sanitized size, one set aside frees its own while
// the rest of its batch waits for a retry, and the batch written frees
// the rest, down to 0.
func TestWriterQueuedBytes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	locked := true
	write := func(ctx context.Context, recs []Record) error {
		for _, r := range recs {
			if r.Model == "poison" {
				return refusal{}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if locked && len(recs) == 1 {
			return errors.New("database is locked") // passing, while isolating
		}
		return nil
	}
	w, _, clock, _ := newTestWriter(t, WriterOptions{Write: write, RetryMin: time.Hour, RetryMax: time.Hour})
	var sizes []int64
	for i := range 4 {
		r := sampleRecord(i)
		r.Path = "/v1/chat/completions?q=" + strings.Repeat("a", []int{10, 1000, 2 * MaxPathBytes, 5}[i])
		if i == 0 {
			r.Model = "poison"
		}
		w.Add(r)
		r.Sanitize()
		sizes = append(sizes, int64(r.size()))
	}
	if st := w.Stats(); st.QueuedBytes != sizes[0]+sizes[1]+sizes[2]+sizes[3] {
		t.Fatalf("%d bytes queued, want %d (%v)", st.QueuedBytes, sizes[0]+sizes[1]+sizes[2]+sizes[3], sizes)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- w.Flush(context.Background()) }()
	st := waitStats(t, w, func(s WriterStats) bool { return s.Failing && s.SetAside == 1 })
	if st.Queued != 3 || st.QueuedBytes != sizes[1]+sizes[2]+sizes[3] {
		t.Fatalf("one set aside, the rest failing: %d records, %d bytes queued, want 3, %d",
			st.Queued, st.QueuedBytes, sizes[1]+sizes[2]+sizes[3])
	}
	mu.Lock()
	locked = false
	mu.Unlock()
	clock.waitTimer(t, clock.Now().Add(time.Hour))
	clock.Advance(time.Hour)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Queued != 0 || st.QueuedBytes != 0 || st.Written != 3 {
		t.Errorf("stats %+v: want nothing queued, 3 written", st)
	}
}
