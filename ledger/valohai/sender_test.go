package valohai

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// startSender starts a Sender on a fake clock with a fixed jitter draw.
func startSender(t *testing.T, db *ledger.DB, in *ingest, clock *fakeClock, log *bytes.Buffer) *Sender {
	t.Helper()
	return startSenderHook(t, db, in, clock, log, nil)
}

// startSenderHook is startSender with a kickIgnored hook.
func startSenderHook(t *testing.T, db *ledger.DB, in *ingest, clock *fakeClock, log *bytes.Buffer, kickIgnored func()) *Sender {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(&syncWriter{w: log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c := in.client()
	c.Now = nil // the Sender's clock
	s := newSender(db, c, SenderOptions{Clock: clock, Logger: logger, Rand: func() float64 { return 0.6 }})
	s.kickIgnored = kickIgnored
	go s.run()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// syncWriter serialises writes to a buffer the test reads afterwards.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestSenderBackoffAndRetryAfter walks a Sender through failures on a fake
// clock: a round every Interval, then after each failure an exponential,
// jittered backoff (BackoffMin·2^(n-1), drawn from its upper half), or
// exactly the wait a Retry-After asked for, in seconds or as an HTTP date;
// after a success, the Interval again.
func TestSenderBackoffAndRetryAfter(t *testing.T) {
	db := mustOpen(t)
	recs := insertEligible(t, db, 0, 10)
	clock := newFakeClock()
	in := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 0:
			w.WriteHeader(http.StatusInternalServerError)
		case 1:
			hijackClose(w)
		case 2:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 3:
			w.Header().Set("Retry-After", clock.Now().Add(90*time.Second).Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	s := startSender(t, db, in, clock, nil)

	// Rand is 0.6, so a backoff d waits d/2 + 0.6·d/2 = 0.8·d.
	steps := []struct {
		name     string
		wait     time.Duration // from the previous round (or the start) to this one
		failures int           // after this round
	}{
		{"first round: 500", DefaultInterval, 1},
		{"after 4s backoff (0.8·5s): dropped connection", 4 * time.Second, 2},
		{"after 8s backoff (0.8·10s): 503, Retry-After: 7", 8 * time.Second, 3},
		{"after 7s exactly: 429, Retry-After: date in 90s", 7 * time.Second, 4},
		{"after 90s exactly: accepted", 90 * time.Second, 0},
	}
	at := t0
	for i, st := range steps {
		at = at.Add(st.wait)
		clock.waitTimer(t, at)
		clock.advanceTo(at)
		in.waitRequests(t, i+1)
		if i+1 < len(steps) {
			// The round is over once its next timer is set.
			clock.waitTimer(t, at.Add(steps[i+1].wait))
		} else {
			clock.waitTimer(t, at.Add(DefaultInterval))
		}
		if got := s.Status().Failures; got != st.failures {
			t.Errorf("%s: failures %d, want %d", st.name, got, st.failures)
		}
	}
	if c := counts(t, db); c != (ledger.SyncCounts{Sent: int64(len(recs))}) {
		t.Errorf("counts %+v", c)
	}
	st := s.Status()
	if st.Sent != 10 || !st.LastSentAt.Equal(at) || !strings.Contains(st.LastError, "429 Too Many Requests") ||
		!st.NextAttempt.Equal(at.Add(DefaultInterval)) {
		t.Errorf("status %+v", st)
	}
}

// TestSenderBackoffSchedule: the backoff doubles from BackoffMin, is capped
// at BackoffMax, and is drawn from the upper half of each step.
func TestSenderBackoffSchedule(t *testing.T) {
	tests := []struct {
		failures int
		rand     float64
		want     time.Duration
	}{
		{1, 0, 2500 * time.Millisecond},
		{1, 0.5, 3750 * time.Millisecond},
		{2, 0, 5 * time.Second},
		{3, 0, 10 * time.Second},
		{7, 0, 150 * time.Second}, // 5s·64 = 320s, capped at 300s
		{7, 0.999999, 300 * time.Second},
		{1000, 0, 150 * time.Second},
		{2, 1.5, 5 * time.Second}, // a bad draw counts as 0
	}
	for _, tt := range tests {
		s := newSender(nil, &Client{}, SenderOptions{Rand: func() float64 { return tt.rand }})
		got := s.backoff(tt.failures).Round(time.Millisecond)
		if got != tt.want {
			t.Errorf("backoff(%d) with draw %v = %v, want %v", tt.failures, tt.rand, got, tt.want)
		}
	}
}

// TestSenderWrittenCounts: Written asks for a round once BatchSize
// eligible records were written since the last round began; ineligible
// records do not count.
func TestSenderWrittenCounts(t *testing.T) {
	eligible := func(n int) []ledger.Record {
		out := make([]ledger.Record, n)
		for i := range out {
			out[i] = eligibleRecord(i)
		}
		return out
	}
	ineligible := func(n int) []ledger.Record {
		out := eligible(n)
		for i := range out {
			if i%2 == 0 {
				out[i].HasUsage = false
			} else {
				out[i].VHHeaders = map[string]string{"authorization": "x"}
			}
		}
		return out
	}
	tests := []struct {
		name    string
		batches [][]ledger.Record
		kick    bool
	}{
		{"a full batch", [][]ledger.Record{eligible(64)}, true},
		{"one short", [][]ledger.Record{eligible(63)}, false},
		{"ineligible ones do not count", [][]ledger.Record{eligible(63), ineligible(10)}, false},
		{"filled over several writes", [][]ledger.Record{eligible(30), ineligible(5), eligible(34)}, true},
		{"upper-case header counts", [][]ledger.Record{eligible(63), {{HasUsage: true, VHHeaders: map[string]string{"X-VH-Run": "1"}}}}, true},
	}
	for _, tt := range tests {
		s := newSender(nil, &Client{}, SenderOptions{})
		for _, b := range tt.batches {
			s.Written(b)
		}
		if got := len(s.kick) == 1; got != tt.kick {
			t.Errorf("%s: round asked %v, want %v", tt.name, got, tt.kick)
		}
	}
	var nilSender *Sender
	nilSender.Written(eligible(64)) // no panic
	if nilSender.Status() != (Status{}) || nilSender.Close(context.Background()) != nil {
		t.Error("nil Sender")
	}
}

// TestSenderFullBatchAtOnce: a full batch goes out as soon as it is
// written, without waiting for the Interval; during a failure's backoff
// it waits for the backoff.
func TestSenderFullBatchAtOnce(t *testing.T) {
	db := mustOpen(t)
	clock := newFakeClock()
	in := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	ignored := make(chan struct{}, 10)
	s := startSenderHook(t, db, in, clock, nil, func() { ignored <- struct{}{} })
	clock.waitTimer(t, t0.Add(DefaultInterval))

	s.Written(insertEligible(t, db, 0, BatchSize))
	in.waitRequests(t, 1) // the clock has not moved
	clock.waitTimer(t, t0.Add(DefaultInterval))
	if c := counts(t, db); c.Sent != BatchSize {
		t.Fatalf("counts %+v", c)
	}

	// The next full batch fails: 502, backoff 4s.
	s.Written(insertEligible(t, db, 100, BatchSize))
	in.waitRequests(t, 2)
	backoffEnd := t0.Add(4 * time.Second)
	clock.waitTimer(t, backoffEnd)
	// Another full batch during the backoff does not cut it short.
	s.Written(insertEligible(t, db, 200, BatchSize))
	select {
	case <-ignored:
	case <-time.After(10 * time.Second):
		t.Fatal("the full batch was not held back by the backoff")
	}
	if n := len(in.requests()); n != 2 {
		t.Fatalf("%d requests during the backoff, want 2", n)
	}
	clock.advanceTo(backoffEnd)
	clock.waitTimer(t, backoffEnd.Add(DefaultInterval))
	if n := len(in.requests()); n != 4 { // one round: two POSTs of 64
		t.Errorf("%d requests, want 4", n)
	}
	if c := counts(t, db); c != (ledger.SyncCounts{Sent: 3 * BatchSize}) {
		t.Errorf("counts %+v", c)
	}
}

// TestSenderRestartWithoutLoss: records a stopped Sender could not send
// are sent by the next Sender on the same ledger file, and records that
// were sent are not sent again.
func TestSenderRestartWithoutLoss(t *testing.T) {
	path := t.TempDir() + "/conduit.db"
	ctx := context.Background()
	var want []string

	// First run: Valohai LLM refuses everything.
	db := mustOpenPath(t, path)
	for _, r := range insertEligible(t, db, 0, 100) {
		want = append(want, r.ID)
	}
	clock := newFakeClock()
	down := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s := startSender(t, db, down, clock, nil)
	clock.waitTimer(t, t0.Add(DefaultInterval))
	clock.advanceTo(t0.Add(DefaultInterval))
	clock.waitTimer(t, t0.Add(DefaultInterval+4*time.Second))
	if err := s.Close(ctx); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Close: %v, want the 503 of its last round", err)
	}
	if n := len(down.requests()); n != 2 { // the round and the stop's flush
		t.Errorf("%d requests while down, want 2", n)
	}
	// Written while no Sender ran.
	for _, r := range insertEligible(t, db, 100, 10) {
		want = append(want, r.ID)
	}
	db.Close()

	// Second run, on a fresh handle: everything goes, once.
	db = mustOpenPath(t, path)
	up := newIngest(t, nil)
	s = startSender(t, db, up, newFakeClock(), nil)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := up.sentIDs(); !slices.Equal(got, want) {
		t.Errorf("second run sent %d ids, want the %d unsent, oldest first", len(got), len(want))
	}
	if c := counts(t, db); c != (ledger.SyncCounts{Sent: 110}) {
		t.Errorf("counts %+v", c)
	}

	// Third run: nothing left to send.
	again := newIngest(t, nil)
	s = startSender(t, db, again, newFakeClock(), nil)
	if err := s.Close(ctx); err != nil || len(again.requests()) != 0 {
		t.Errorf("third run: %v, %d requests", err, len(again.requests()))
	}
}

// TestSenderCloseBound: Close gives up when its context ends, with the
// request in flight abandoned and its records left unsent; it does not
// send into a Retry-After wait.
func TestSenderCloseBound(t *testing.T) {
	t.Run("stuck server", func(t *testing.T) {
		db := mustOpen(t)
		insertEligible(t, db, 0, 5)
		in := newStuckIngest(t)
		s := startSender(t, db, in, newFakeClock(), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Close(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close: %v, want its deadline", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return after its context ended")
		}
		if c := counts(t, db); c != (ledger.SyncCounts{Pending: 5}) {
			t.Errorf("counts %+v", c)
		}
		if err := s.Close(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second Close: %v", err)
		}
	})
	// When ctx ends, Close also cancels the Sender's own context, and the
	// round in flight can see that cancellation before ctx's own: Close
	// still answers with ctx's error. endingCtx holds the race open: its
	// Err says it ended before its Done channel closes.
	t.Run("deadline reaching the round through the Sender", func(t *testing.T) {
		db := mustOpen(t)
		insertEligible(t, db, 0, 5)
		in := newStuckIngest(t)
		s := startSender(t, db, in, newFakeClock(), nil)
		ctx := &endingCtx{Context: context.Background(), done: make(chan struct{})}
		defer close(ctx.done)
		done := make(chan error, 1)
		go func() { done <- s.Close(ctx) }()
		<-in.arrived
		ctx.ended.Store(true)
		s.cancel()
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: %v, want its deadline", err)
		}
	})
	t.Run("retry-after wait", func(t *testing.T) {
		db := mustOpen(t)
		insertEligible(t, db, 0, 5)
		in := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		clock := newFakeClock()
		s := startSender(t, db, in, clock, nil)
		clock.waitTimer(t, t0.Add(DefaultInterval))
		clock.advanceTo(t0.Add(DefaultInterval))
		clock.waitTimer(t, t0.Add(DefaultInterval+time.Minute))
		if err := s.Close(context.Background()); err == nil || !strings.Contains(err.Error(), "Retry-After") {
			t.Errorf("Close: %v", err)
		}
		if n := len(in.requests()); n != 1 {
			t.Errorf("%d requests, want 1: the stop sent into the wait", n)
		}
	})
}

// TestSenderNeverLeaksKey: a refusal that quotes the key leaves it out of
// the log, the Status and the ledger's sync state.
func TestSenderNeverLeaksKey(t *testing.T) {
	db := mustOpen(t)
	insertEligible(t, db, 0, 3)
	in := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("invalid credentials: " + r.Header.Get("Authorization")))
	})
	var log bytes.Buffer
	clock := newFakeClock()
	s := startSender(t, db, in, clock, &log)
	clock.waitTimer(t, t0.Add(DefaultInterval))
	clock.advanceTo(t0.Add(DefaultInterval))
	clock.waitTimer(t, t0.Add(DefaultInterval+4*time.Second))
	_ = s.Close(context.Background())

	st := s.Status()
	ledgerState, err := db.SyncState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"log": log.String(), "status": st.LastError, "ledger": ledgerState.LastError} {
		if !strings.Contains(text, "401 Unauthorized") {
			t.Errorf("%s lacks the error: %q", name, text)
		}
		if strings.Contains(text, testKey) {
			t.Errorf("%s holds the key: %q", name, text)
		}
	}
}

// endingCtx is a context whose deadline has passed (Err says so) while its
// Done channel is still open: the moment inside a real context's
// cancellation after its error is set and before its children hear of it.
type endingCtx struct {
	context.Context
	ended atomic.Bool
	done  chan struct{}
}

func (c *endingCtx) Done() <-chan struct{} { return c.done }

func (c *endingCtx) Err() error {
	if c.ended.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

// TestSenderFollowsLedger: with SenderOptions.Ledger each round reads the
// ledger it returns: none yet (the proxy could not open it) skips the
// round, and a ledger reopened after its file was replaced is the one sent
// from.
func TestSenderFollowsLedger(t *testing.T) {
	first, second := mustOpen(t), mustOpen(t)
	var mu sync.Mutex
	var current *ledger.DB
	use := func(db *ledger.DB) {
		mu.Lock()
		current = db
		mu.Unlock()
	}
	in := newIngest(t, nil)
	clock := newFakeClock()
	c := in.client()
	c.Now = nil
	s := newSender(nil, c, SenderOptions{Clock: clock, Logger: slog.New(slog.DiscardHandler),
		Ledger: func() *ledger.DB { mu.Lock(); defer mu.Unlock(); return current }})
	go s.run()
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	insertEligible(t, first, 0, 3)
	clock.waitTimer(t, t0.Add(DefaultInterval))
	clock.advanceTo(t0.Add(DefaultInterval)) // no ledger: the round is skipped
	clock.waitTimer(t, t0.Add(2*DefaultInterval))
	if n := len(in.requests()); n != 0 {
		t.Fatalf("%d requests without a ledger", n)
	}
	use(first)
	clock.advanceTo(t0.Add(2 * DefaultInterval))
	in.waitRequests(t, 1)
	clock.waitTimer(t, t0.Add(3*DefaultInterval))
	if c := counts(t, first); c.Sent != 3 {
		t.Fatalf("first ledger: %+v", c)
	}
	use(second) // the file was replaced: the proxy opened a new ledger
	insertEligible(t, second, 10, 2)
	clock.advanceTo(t0.Add(3 * DefaultInterval))
	in.waitRequests(t, 2)
	clock.waitTimer(t, t0.Add(4*DefaultInterval))
	if c := counts(t, second); c.Sent != 2 {
		t.Fatalf("second ledger: %+v", c)
	}
}
