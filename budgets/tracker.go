package budgets

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui/numfmt"
)

// Source is the part of the ledger a Tracker reads: *ledger.DB. Budgets
// only read it; nothing here can write a record.
type Source interface {
	Slices(ctx context.Context, f ledger.Filter, tagSets bool) ([]ledger.Slice, error)
	Groups(ctx context.Context, by ledger.GroupBy, f ledger.Filter, loc *time.Location) ([]ledger.Group, error)
}

// Options configure a Tracker.
type Options struct {
	Budgets []Budget
	// Location is the time zone of the calendar periods; nil: time.Local.
	Location *time.Location
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Logger gets a warning line per alert, and a line per call let
	// through a budget by the override header; nil: slog.Default().
	Logger *slog.Logger
	// Notify receive every alert, in order, after it is logged (desktop
	// notifications, the webhook). They are called on the goroutine that
	// reported the call (a proxied call's), outside the Tracker's lock,
	// and must not block.
	Notify []Notifier
}

// Notifier receives alerts. Notify must not block: a slow destination
// queues, and drops what it cannot hold.
type Notifier interface {
	Notify(Alert)
}

// Tracker keeps each budget's spend for its current period, in memory:
// counted from the ledger once (Load), then kept current by every call the
// proxy records (Observe), so that deciding a call (Admit) costs no I/O.
// A period that ends starts the next from zero, with no thresholds
// crossed. A Tracker is safe for concurrent use.
type Tracker struct {
	loc    *time.Location
	now    func() time.Time
	logger *slog.Logger
	notify []Notifier

	mu     sync.Mutex
	states []*state // in configuration order
}

// state is one budget's current period.
type state struct {
	b     Budget
	scope compiled
	th    []float64 // thresholds, ascending, ending with 1

	start, end time.Time // the period: [start, end), in the Tracker's location
	spent      float64
	calls      int64
	unpriced   int64
	refused    int64
	crossed    float64 // highest threshold reached this period; 0: none
}

// NewTracker checks the budgets and returns a Tracker with no spend
// counted yet: call Load to count what the ledger already holds.
func NewTracker(o Options) (*Tracker, error) {
	t := &Tracker{loc: o.Location, now: o.Now, logger: o.Logger, notify: o.Notify}
	if t.loc == nil {
		t.loc = time.Local
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.logger == nil {
		t.logger = slog.Default()
	}
	seen := map[string]bool{}
	now := t.now()
	for _, b := range o.Budgets {
		if err := b.check(); err != nil {
			return nil, fmt.Errorf("budgets: %w", err)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("budgets: budget %q twice", b.Name)
		}
		seen[b.Name] = true
		sc, err := compileScope(b.Scope)
		if err != nil {
			return nil, fmt.Errorf("budgets: budget %q: %w", b.Name, err)
		}
		s := &state{b: b, scope: sc, th: b.thresholds()}
		s.start, s.end = b.Period.Bounds(now, t.loc)
		t.states = append(t.states, s)
	}
	return t, nil
}

// Enforcing reports whether any budget refuses calls.
func (t *Tracker) Enforcing() bool {
	for _, s := range t.states {
		if s.b.Enforce {
			return true
		}
	}
	return false
}

// Load counts each budget's spend in its current period from src,
// replacing what was counted before. It reads one set of slices per
// period (and per tag scope) from the ledger's rollups. Only a tag pattern
// that matches several of the period's tags makes it read the calls
// themselves, as only they know which tags go together on one call (a
// call must count once, however many of its tags match). The thresholds
// the spend is already past are taken as warned: the proxy alerted when
// they were crossed, so a proxy that restarts mid-period does not alert
// again; a threshold crossed later does.
func (t *Tracker) Load(ctx context.Context, src Source) error {
	now := t.now()
	type query struct {
		since, until time.Time
		tag          string // one tag: the ledger selects it
		tagSets      bool   // several tags: slices carry their tags
		none         bool   // no tag of the period matches
	}
	cache := map[query][]ledger.Slice{}
	periodTags := map[time.Time][]string{} // by period start: the tags its calls carry
	counts := make([]state, len(t.states))
	for i, s := range t.states {
		c := &counts[i]
		c.start, c.end = s.b.Period.Bounds(now, t.loc)
		q := query{since: c.start, until: c.end}
		if g := s.scope.tag; g != nil {
			var matching []string
			if g.lit {
				matching = []string{g.src}
			} else {
				tags, ok := periodTags[c.start]
				if !ok {
					var err error
					if tags, err = tagsIn(ctx, src, c.start, c.end); err != nil {
						return fmt.Errorf("budgets: count the spend of budget %q: %w", s.b.Name, err)
					}
					periodTags[c.start] = tags
				}
				for _, tag := range tags {
					if g.match(tag) {
						matching = append(matching, tag)
					}
				}
			}
			switch len(matching) {
			case 0:
				q.none = true
			case 1:
				q.tag = matching[0]
			default:
				q.tagSets = true
			}
		}
		slices, ok := cache[q]
		if !ok && !q.none {
			var err error
			slices, err = src.Slices(ctx, ledger.Filter{Since: q.since, Until: q.until, Tag: q.tag}, q.tagSets)
			if err != nil {
				return fmt.Errorf("budgets: count the spend of budget %q: %w", s.b.Name, err)
			}
			cache[q] = slices
		}
		for _, sl := range slices {
			x := call{provider: sl.Provider, model: sl.Model, client: sl.Client, project: sl.Project, tags: sl.Tags, tagsChecked: q.tag != ""}
			if !s.scope.matches(x) {
				continue
			}
			c.spent += sl.CostUSD
			c.calls += sl.Calls
			c.unpriced += sl.Unpriced
			if sl.Outcome == ledger.OutcomeBudgetRefused {
				c.refused += sl.Calls
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, s := range t.states {
		c := counts[i]
		s.start, s.end = c.start, c.end
		s.spent, s.calls, s.unpriced, s.refused = c.spent, c.calls, c.unpriced, c.refused
		s.crossed = 0
		for _, th := range s.th {
			if s.fraction() >= th {
				s.crossed = th
			}
		}
	}
	return nil
}

// tagsIn returns the tags of the calls started in [since, until), from
// the rollups.
func tagsIn(ctx context.Context, src Source, since, until time.Time) ([]string, error) {
	groups, err := src.Groups(ctx, ledger.ByTag, ledger.Filter{Since: since, Until: until}, nil)
	if err != nil {
		return nil, err
	}
	tags := make([]string, 0, len(groups))
	for _, g := range groups {
		if g.Key != "" {
			tags = append(tags, g.Key)
		}
	}
	return tags, nil
}

// Read returns every budget's status as of now, counted from src: what
// `conduit budget` and the dashboard show, from the ledger alone (no
// proxy needed). The order is the budgets'.
func Read(ctx context.Context, src Source, budgets []Budget, loc *time.Location, now time.Time) ([]Status, error) {
	t, err := NewTracker(Options{Budgets: budgets, Location: loc, Now: func() time.Time { return now }})
	if err != nil {
		return nil, err
	}
	if err := t.Load(ctx, src); err != nil {
		return nil, err
	}
	return t.Statuses(), nil
}

// advance moves s to the period holding now, if that is a later one: spend
// and thresholds start again from zero.
func (s *state) advance(now time.Time, loc *time.Location) {
	if now.Before(s.end) {
		return
	}
	s.start, s.end = s.b.Period.Bounds(now, loc)
	s.spent, s.calls, s.unpriced, s.refused, s.crossed = 0, 0, 0, 0, 0
}

func (s *state) fraction() float64 { return s.spent / s.b.LimitUSD }

func (s *state) status() Status {
	return Status{
		Budget: s.b, PeriodStart: s.start, ResetsAt: s.end,
		SpentUSD: s.spent, Calls: s.calls, Unpriced: s.unpriced, Refused: s.refused,
		Fraction: s.fraction(), Crossed: s.crossed,
	}
}

// Observe counts a recorded call (priced: call it after the pricer) in
// every budget whose scope and current period hold it, and alerts for each
// budget whose spend it carried past a threshold. A call that started in a
// period already over is not counted (the ledger counts it there, by its
// start). Records that are not calls (ledger.KindOther) count nowhere.
func (t *Tracker) Observe(rec ledger.Record) {
	if rec.Kind != "" && rec.Kind != ledger.KindCall {
		return
	}
	now := t.now()
	if rec.StartedAt.After(now) {
		now = rec.StartedAt
	}
	one := ledger.TotalsOf(rec)
	x := recordCall(&rec)
	var alerts []Alert
	t.mu.Lock()
	for _, s := range t.states {
		s.advance(now, t.loc)
		if rec.StartedAt.Before(s.start) || !s.scope.matches(x) {
			continue
		}
		s.calls++
		s.spent += one.CostUSD
		s.unpriced += one.Unpriced
		if rec.Outcome == ledger.OutcomeBudgetRefused {
			s.refused++
		}
		crossed := s.crossed
		for _, th := range s.th {
			if th > s.crossed && s.fraction() >= th {
				crossed = th
			}
		}
		if crossed > s.crossed {
			s.crossed = crossed
			alerts = append(alerts, Alert{Status: s.status(), Threshold: crossed, At: now})
		}
	}
	t.mu.Unlock()
	for _, a := range alerts {
		t.logger.Warn("budget: "+a.Message(), "budget", a.Budget.Name, "spent_usd", roundUSD(a.SpentUSD),
			"limit_usd", a.Budget.LimitUSD, "threshold", a.Threshold)
		for _, n := range t.notify {
			n.Notify(a)
		}
	}
}

// Exceeded is the answer to a call that an enforcing budget refuses.
type Exceeded struct {
	// Status is the first budget (in configuration order) that refuses
	// the call, as it stood when the call came.
	Status
	// Others names the other enforcing budgets past their limit that hold
	// the call.
	Others []string
}

// Admit decides a call about to go upstream, from the spend in memory: it
// returns nil to let it through, or the enforcing budget whose scope holds
// the call and whose spend has reached its limit. A call tagged
// ledger.TagBudgetOverride (the x-conduit-budget: override header) is let
// through and logged. Records that are not calls are always let through.
func (t *Tracker) Admit(rec ledger.Record) *Exceeded {
	if rec.Kind != "" && rec.Kind != ledger.KindCall {
		return nil
	}
	now := t.now()
	x := recordCall(&rec)
	var ex *Exceeded
	t.mu.Lock()
	for _, s := range t.states {
		if !s.b.Enforce {
			continue
		}
		s.advance(now, t.loc)
		if s.spent < s.b.LimitUSD || !s.scope.matches(x) {
			continue
		}
		if ex == nil {
			ex = &Exceeded{Status: s.status()}
		} else {
			ex.Others = append(ex.Others, s.b.Name)
		}
	}
	t.mu.Unlock()
	if ex == nil {
		return nil
	}
	for _, tag := range rec.Tags {
		if tag == ledger.TagBudgetOverride {
			t.logger.Info(fmt.Sprintf("budget %q is spent, but a call was let through by x-conduit-budget: override", ex.Budget.Name),
				"budget", ex.Budget.Name, "model", rec.Model, "project", rec.Project)
			return nil
		}
	}
	return ex
}

// Message is what a refused client reads: the budget, its spend and
// limit, when it resets, and how to raise it or let one call through.
func (e *Exceeded) Message() string {
	var b strings.Builder
	fmt.Fprintf(&b, "conduit: budget %q is spent: %s of its %s %s limit", e.Budget.Name, numfmt.USD(e.SpentUSD), numfmt.USD(e.Budget.LimitUSD), e.Budget.Period)
	if len(e.Others) > 0 {
		fmt.Fprintf(&b, " (so are %s)", strings.Join(e.Others, ", "))
	}
	fmt.Fprintf(&b, "; it resets at %s. To raise it, change limit_usd under [budgets.%s]", formatTime(e.ResetsAt), e.Budget.Name)
	if e.Budget.Source != "" {
		fmt.Fprintf(&b, " (%s)", e.Budget.Source)
	}
	b.WriteString(" and restart the proxy; to let one call through, send the header x-conduit-budget: override")
	return b.String()
}

// Statuses returns every budget's status now, in configuration order.
func (t *Tracker) Statuses() []Status {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Status, len(t.states))
	for i, s := range t.states {
		s.advance(now, t.loc)
		out[i] = s.status()
	}
	return out
}
