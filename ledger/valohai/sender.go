package valohai

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valohai/conduit/ledger"
)

// Sender defaults.
const (
	// DefaultInterval is how often a Sender looks for records to send
	// when no full batch made it look sooner.
	DefaultInterval = 5 * time.Second
	// DefaultBackoffMin is the wait after a first failure, before jitter.
	DefaultBackoffMin = 5 * time.Second
	// DefaultBackoffMax caps the wait between failing attempts.
	DefaultBackoffMax = 5 * time.Minute
	// MaxRetryAfter caps a Retry-After wait, against a nonsensical value.
	MaxRetryAfter = time.Hour
)

// SenderOptions tune a Sender. Zero fields take the defaults above.
type SenderOptions struct {
	Interval   time.Duration
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Logger receives failures (warnings) and recoveries; the API key is
	// never in them (nil: slog.Default()).
	Logger *slog.Logger
	// Clock decides when rounds are due (nil: the real clock). Tests
	// inject a fake one. It is the Client's time source too unless the
	// Client has its own.
	Clock ledger.Clock
	// Rand returns a number in [0, 1) for the backoff's jitter (nil:
	// math/rand/v2).
	Rand func() float64
	// Ledger, if set, is asked for the ledger at the start of each round,
	// instead of the one given to NewSender: the proxy's ledger is opened
	// late when it cannot be at start, and anew when its file is deleted
	// or replaced. A nil ledger skips the round.
	Ledger func() *ledger.DB
}

// Status is a Sender's view of the sync, for a dashboard in the same
// process. Other processes read the same facts from the ledger
// (SyncCounts, SyncState).
type Status struct {
	Sent        int64     // records accepted since the Sender started
	Failures    int       // failed rounds in a row; 0 after a success
	LastError   string    // the last failure, without the API key; "" if none yet
	LastErrorAt time.Time // zero if none yet
	LastSentAt  time.Time // the last accepted batch; zero if none yet
	NextAttempt time.Time // when the next round is due, at the latest
}

// Sender sends eligible records to Valohai LLM in the background: a round
// (Client.Send: everything eligible, oldest first) as soon as a full batch
// of eligible records has been written (Written), otherwise every
// Interval. After a failed round it waits with exponential backoff and
// jitter (BackoffMin doubling up to BackoffMax, each wait drawn from its
// upper half), or exactly as long as a Retry-After asked (at least a
// second, at most MaxRetryAfter); full batches do not cut such a wait
// short. Rounds run on the Sender's own goroutine: nothing it does blocks
// the caller of Written.
type Sender struct {
	ledger func() *ledger.DB
	client *Client
	opts   SenderOptions
	log    *slog.Logger
	clock  ledger.Clock

	fresh atomic.Int64  // eligible records written since the last round began
	kick  chan struct{} // a full batch is waiting (capacity 1)

	ctx    context.Context // rounds; cancelled when a Close's bound expires
	cancel context.CancelFunc
	stop   chan context.Context // Close's context, once
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu         sync.Mutex
	status     Status
	retryUntil time.Time // a Retry-After wait runs until then

	// kickIgnored, if set (tests), is called when a full batch did not cut
	// a failure's wait short.
	kickIgnored func()
}

// NewSender starts a Sender that sends db's eligible records (or those of
// opts.Ledger's) through client. The ledger must stay open until Close
// returns. The client's fields are
// read on every round: leave them alone while the Sender runs. A client
// without its own Now uses the Sender's Clock.
func NewSender(db *ledger.DB, client *Client, opts SenderOptions) *Sender {
	s := newSender(db, client, opts)
	go s.run()
	return s
}

func newSender(db *ledger.DB, client *Client, opts SenderOptions) *Sender {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = DefaultBackoffMin
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	opts.BackoffMax = max(opts.BackoffMax, opts.BackoffMin)
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	clock := opts.Clock
	if clock == nil {
		clock = realClock{}
	}
	if client.Now == nil {
		c := *client
		c.Now = clock.Now
		client = &c
	}
	if opts.Ledger == nil {
		opts.Ledger = func() *ledger.DB { return db }
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Sender{
		ledger: opts.Ledger, client: client, opts: opts, log: log, clock: clock,
		kick:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		stop:   make(chan context.Context, 1),
		done:   make(chan struct{}),
	}
}

// Written tells the Sender that recs were committed to the ledger (it fits
// ledger.WriterOptions.OnWritten). Once BatchSize eligible records have
// been written since the last round began, the next round starts at once
// unless a failure's wait is running. It only counts and never blocks;
// recs is not kept. A nil Sender ignores it.
func (s *Sender) Written(recs []ledger.Record) {
	if s == nil {
		return
	}
	n := int64(0)
	for i := range recs {
		if ledger.SyncEligible(&recs[i]) {
			n++
		}
	}
	if n == 0 {
		return
	}
	if s.fresh.Add(n) >= BatchSize {
		select {
		case s.kick <- struct{}{}:
		default: // a round is already asked for
		}
	}
}

// Status returns the Sender's current view. A nil Sender has the zero
// Status.
func (s *Sender) Status() Status {
	if s == nil {
		return Status{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Close stops the Sender. Unless a Retry-After wait is running, it first
// sends what is eligible (records the ledger's Writer committed before
// Close was called), for as long as ctx allows: when ctx ends, the request
// in flight is abandoned and its records stay for the next start. It
// returns that last round's error, or ctx's if it ended first. Close is
// idempotent: later calls wait for the first and return its result.
func (s *Sender) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() { s.stop <- ctx })
	defer context.AfterFunc(ctx, s.cancel)()
	select {
	case <-s.done:
		return s.closeErr
	case <-ctx.Done():
		// The round in flight was cancelled; it ends quickly.
		<-s.done
		if s.closeErr != nil {
			return s.closeErr
		}
		return ctx.Err()
	}
}

func (s *Sender) run() {
	defer close(s.done)
	defer s.cancel()
	delay := s.opts.Interval
	for {
		s.setNext(delay)
		timer := s.clock.NewTimer(delay)
		select {
		case ctx := <-s.stop:
			timer.Stop()
			s.closeErr = s.final(ctx)
			return
		case <-s.kick:
			if s.waiting() {
				// Backing off: a full batch does not hurry a failing
				// server. Wait out the rest of the same timer.
				if s.kickIgnored != nil {
					s.kickIgnored()
				}
				select {
				case ctx := <-s.stop:
					timer.Stop()
					s.closeErr = s.final(ctx)
					return
				case <-timer.C():
				}
			} else {
				timer.Stop()
			}
		case <-timer.C():
		}
		delay, _ = s.round(s.ctx)
	}
}

// waiting reports whether the last round failed (so the current timer is
// a backoff or Retry-After wait).
func (s *Sender) waiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status.Failures > 0
}

func (s *Sender) setNext(delay time.Duration) {
	s.mu.Lock()
	s.status.NextAttempt = s.clock.Now().Add(delay)
	s.mu.Unlock()
}

// final is the stop's last round.
func (s *Sender) final(ctx context.Context) error {
	s.mu.Lock()
	until := s.retryUntil
	s.mu.Unlock()
	if s.clock.Now().Before(until) {
		return errors.New("the Valohai LLM server asked to wait (Retry-After): unsent records stay for the next start")
	}
	// The round's context ends with ctx or with the Sender's own.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	_, err := s.round(rctx)
	if err != nil && ctx.Err() != nil {
		// ctx ended: Close then cancels the Sender's context too, and the
		// round may have heard of that first. Either way the stop ran out
		// of ctx's time.
		return ctx.Err()
	}
	return err
}

// round sends everything eligible. It returns the wait before the next
// round and Send's error, without the API key.
func (s *Sender) round(ctx context.Context) (time.Duration, error) {
	s.fresh.Store(0)
	db := s.ledger()
	if db == nil {
		return s.opts.Interval, nil
	}
	res, err := s.client.Send(ctx, db)
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Sent += int64(res.Sent)
	if res.Sent > 0 {
		s.status.LastSentAt = now
	}
	if err == nil {
		if s.status.Failures > 0 {
			s.log.Info("Valohai LLM sync: sending again", "sent", res.Sent, "failed_rounds", s.status.Failures)
		} else if res.Sent > 0 {
			s.log.Debug("Valohai LLM sync: sent", "records", res.Sent, "requests", res.Requests)
		}
		s.status.Failures = 0
		s.retryUntil = time.Time{}
		return s.opts.Interval, nil
	}
	if ctx.Err() != nil {
		// Stopping: not Valohai's failure.
		return s.opts.Interval, ctx.Err()
	}
	msg := redact(err.Error(), s.client.APIKey)
	s.status.Failures++
	s.status.LastError = msg
	s.status.LastErrorAt = now
	delay := s.backoff(s.status.Failures)
	if se, ok := errorsAsStatus(err); ok && se.HasRetryAfter {
		delay = min(max(se.RetryAfter, time.Second), MaxRetryAfter)
		s.retryUntil = now.Add(delay)
	} else {
		s.retryUntil = time.Time{}
	}
	s.log.Warn("Valohai LLM sync failed; records stay queued", "err", msg,
		"sent", res.Sent, "failed_rounds", s.status.Failures, "retry_in", delay)
	return delay, errors.New(msg)
}

// backoff is the wait after the n-th failure in a row: BackoffMin·2^(n-1)
// capped at BackoffMax, drawn from the upper half [d/2, d) so that many
// proxies do not retry in step.
func (s *Sender) backoff(n int) time.Duration {
	d := s.opts.BackoffMin
	for i := 1; i < n && d < s.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.BackoffMax)
	r := s.opts.Rand()
	if r < 0 || r >= 1 {
		r = 0
	}
	return d/2 + time.Duration(r*float64(d/2))
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) ledger.Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
