package budgets

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// alerts collects what a Tracker notifies.
type alerts struct {
	mu  sync.Mutex
	got []Alert
}

func (a *alerts) Notify(al Alert) { a.mu.Lock(); a.got = append(a.got, al); a.mu.Unlock() }
func (a *alerts) take() []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.got
	a.got = nil
	return out
}

func usd(v float64) *float64 { return &v }

var recordIDs struct {
	mu sync.Mutex
	n  int
}

func nextID() string {
	recordIDs.mu.Lock()
	defer recordIDs.mu.Unlock()
	recordIDs.n++
	return fmt.Sprintf("0193a000-0000-7000-8000-%012d", recordIDs.n)
}

// priced is a priced call record.
func priced(at time.Time, cost float64, mod func(*ledger.Record)) ledger.Record {
	r := ledger.Record{
		ID: nextID(), StartedAt: at, FinishedAt: at.Add(time.Second),
		Provider: "anthropic", API: "anthropic", Endpoint: "messages", Mode: ledger.ModeBaseURL, Method: "POST",
		Host: "api.anthropic.com", Path: "/v1/messages", Model: "claude-opus-4-1", Status: 200, Outcome: ledger.OutcomeComplete,
		HasUsage: true, InputTokens: 10, OutputTokens: 10, CostUSD: usd(cost), CostSource: ledger.CostFromTable,
		Client: "claude-cli/2.0.1 (external, cli)", Project: "web", Session: "s1",
	}
	if mod != nil {
		mod(&r)
	}
	return r
}

func newTestTracker(t *testing.T, c *clock, n *alerts, log *bytes.Buffer, bs ...Budget) *Tracker {
	t.Helper()
	if log == nil {
		log = &bytes.Buffer{}
	}
	tr, err := NewTracker(Options{Budgets: bs, Location: time.UTC, Now: c.Now, Notify: []Notifier{n},
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTrackerWarnsOncePerThreshold guards the alerts: each threshold once
// per period, one alert (the highest) for a call that crosses several, the
// limit always alerting, unpriced calls never moving the spend, and a new
// period starting from zero and alerting again.
func TestTrackerWarnsOncePerThreshold(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	c := &clock{t: day}
	n := &alerts{}
	var log bytes.Buffer
	tr := newTestTracker(t, c, n, &log, Budget{Name: "daily", LimitUSD: 10, Period: Day, WarnAt: []float64{0.5, 0.8}, Source: "conduit.toml:3"})
	steps := []struct {
		cost      float64
		unpriced  bool
		threshold float64 // 0: no alert
	}{
		{2, false, 0}, {2.9, false, 0}, {0.1, false, 0.5}, {1, false, 0},
		{0, true, 0}, {5, false, 1}, // from 60% to 110%: one alert, for the limit
		{1, false, 0},
	}
	for i, st := range steps {
		rec := priced(day.Add(time.Duration(i)*time.Minute), st.cost, nil)
		if st.unpriced {
			rec.CostUSD, rec.CostSource = nil, ""
		}
		tr.Observe(rec)
		got := n.take()
		switch {
		case st.threshold == 0 && len(got) != 0:
			t.Fatalf("step %d: unexpected alerts %+v", i, got)
		case st.threshold != 0 && (len(got) != 1 || got[0].Threshold != st.threshold):
			t.Fatalf("step %d: alerts %+v, want one at %v", i, got, st.threshold)
		}
	}
	s := tr.Statuses()[0]
	if s.SpentUSD != 12 || s.Calls != 7 || s.Unpriced != 1 || s.Crossed != 1 || s.Level() != LevelOver || !s.Over() {
		t.Errorf("status %+v", s)
	}
	if !strings.Contains(log.String(), `level=WARN msg="budget: budget \"daily\" passed 50% of its $10.00 day limit ($5.00 spent); it resets at 2026-01-06 00:00 UTC"`) {
		t.Errorf("no log line for the 50%% threshold:\n%s", log.String())
	}
	if !strings.Contains(log.String(), `reached its $10.00 day limit ($11.00 spent); it is not enforced`) || !strings.Contains(log.String(), "(1 unpriced calls not counted)") {
		t.Errorf("no log line for the limit:\n%s", log.String())
	}

	// A call that started yesterday and ends today counts yesterday, as
	// the ledger counts it: not in today's spend.
	c.Set(day.Add(24 * time.Hour))
	tr.Observe(priced(day.Add(14*time.Hour), 3, nil))
	if s := tr.Statuses()[0]; s.SpentUSD != 0 || s.Calls != 0 || s.Crossed != 0 || s.PeriodStart != day.Truncate(24*time.Hour).Add(24*time.Hour) {
		t.Errorf("after the roll-over: %+v", s)
	}
	tr.Observe(priced(c.Now(), 6, nil))
	if got := n.take(); len(got) != 1 || got[0].Threshold != 0.5 || got[0].PeriodStart.Day() != 6 {
		t.Errorf("the new day's first alert: %+v", got)
	}
}

// TestTrackerScopes guards which calls a budget counts: every pattern
// given must match, a tag pattern matches when any tag does, and records
// that are not calls count nowhere.
func TestTrackerScopes(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	c := &clock{t: day}
	tests := []struct {
		scope Scope
		mod   func(*ledger.Record)
		want  bool
	}{
		{Scope{}, nil, true},
		{Scope{Provider: "anthropic"}, nil, true},
		{Scope{Provider: "openai"}, nil, false},
		{Scope{Model: "claude-opus-*"}, nil, true},
		{Scope{Model: "claude-opus-*", Provider: "openai"}, nil, false},
		{Scope{Client: "claude-cli/*"}, nil, true},
		{Scope{Project: "web"}, nil, true},
		{Scope{Project: "api"}, nil, false},
		{Scope{Tag: "team:*"}, func(r *ledger.Record) { r.Tags = []string{"x", "team:search"} }, true},
		{Scope{Tag: "team:search"}, func(r *ledger.Record) { r.Tags = []string{"team:ads"} }, false},
		{Scope{Tag: "team:search"}, nil, false},
		{Scope{}, func(r *ledger.Record) { r.Kind = ledger.KindOther }, false},
	}
	for i, tt := range tests {
		tr := newTestTracker(t, c, &alerts{}, nil, Budget{Name: "b", LimitUSD: 1, Period: Day, Scope: tt.scope})
		tr.Observe(priced(day, 0.25, tt.mod))
		if got := tr.Statuses()[0].Calls == 1; got != tt.want {
			t.Errorf("%d: scope %+v: counted %v, want %v", i, tt.scope, got, tt.want)
		}
	}
}

// TestTrackerAdmit guards enforcement: only enforcing budgets refuse, only
// calls in their scope, only once the spend has reached the limit; the
// override tag lets a call through (and is logged); the refusal names the
// budget, its spend and limit, when it resets and where to raise it.
func TestTrackerAdmit(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	c := &clock{t: day}
	var log bytes.Buffer
	tr := newTestTracker(t, c, &alerts{}, &log,
		Budget{Name: "opus", LimitUSD: 1, Period: Day, Enforce: true, Scope: Scope{Model: "claude-opus-*"}, Source: "conduit.toml:7"},
		Budget{Name: "all", LimitUSD: 1.5, Period: Week, Enforce: true},
		Budget{Name: "watch", LimitUSD: 0.1, Period: Day})
	sonnet := func(r *ledger.Record) { r.Model = "claude-sonnet-4-5" }
	if ex := tr.Admit(priced(day, 0, nil)); ex != nil {
		t.Fatalf("refused with nothing spent: %+v", ex)
	}
	tr.Observe(priced(day, 0.99, nil))
	if ex := tr.Admit(priced(day, 0, nil)); ex != nil {
		t.Fatalf("refused under the limit: %s", ex.Message())
	}
	tr.Observe(priced(day, 0.01, nil)) // opus: $1.00 of $1 — at the limit
	ex := tr.Admit(priced(day, 0, nil))
	if ex == nil || ex.Budget.Name != "opus" || len(ex.Others) != 0 {
		t.Fatalf("at the limit: %+v", ex)
	}
	want := `conduit: budget "opus" is spent: $1.00 of its $1.00 day limit; it resets at 2026-01-06 00:00 UTC. ` +
		`To raise it, change limit_usd under [budgets.opus] (conduit.toml:7) and restart the proxy; to let one call through, send the header x-conduit-budget: override`
	if ex.Message() != want {
		t.Errorf("message\n %s\nwant\n %s", ex.Message(), want)
	}
	if ex := tr.Admit(priced(day, 0, sonnet)); ex != nil {
		t.Errorf("a call outside opus's scope refused by %s", ex.Budget.Name)
	}
	if ex := tr.Admit(priced(day, 0, func(r *ledger.Record) { r.Kind = ledger.KindOther })); ex != nil {
		t.Errorf("a request that is not a call refused")
	}
	if ex := tr.Admit(priced(day, 0, func(r *ledger.Record) { r.Tags = []string{"x", ledger.TagBudgetOverride} })); ex != nil {
		t.Errorf("the override refused by %s", ex.Budget.Name)
	}
	if !strings.Contains(log.String(), `budget \"opus\" is spent, but a call was let through by x-conduit-budget: override`) {
		t.Errorf("the override is not logged:\n%s", log.String())
	}
	tr.Observe(priced(day, 0.5, sonnet)) // all: $1.50 of $1.50
	if ex := tr.Admit(priced(day, 0, nil)); ex == nil || ex.Budget.Name != "opus" || fmt.Sprint(ex.Others) != "[all]" ||
		!strings.Contains(ex.Message(), "(so are all)") {
		t.Errorf("two budgets spent: %+v", ex)
	}
	if ex := tr.Admit(priced(day, 0, sonnet)); ex == nil || ex.Budget.Name != "all" || ex.ResetsAt != time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC) {
		t.Errorf("the weekly budget: %+v", ex)
	}
	// The next day opus is free again; the week is still spent.
	c.Set(day.Add(24 * time.Hour))
	if ex := tr.Admit(priced(c.Now(), 0, nil)); ex == nil || ex.Budget.Name != "all" || len(ex.Others) != 0 {
		t.Errorf("the next day: %+v", ex)
	}
}

// TestTrackerLoad guards the spend counted at start from a real ledger:
// only the current period, every scope kind (a tag pattern counting a
// call with two matching tags once), unpriced and refused calls counted
// apart, and thresholds already past not alerting again while the next
// one does.
func TestTrackerLoad(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 7, 15, 7, 0, 0, time.UTC) // a Wednesday, mid quarter hour
	db, err := ledger.Open(filepath.Join(t.TempDir(), "conduit.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var recs []ledger.Record
	add := func(at time.Time, cost float64, mod func(*ledger.Record)) { recs = append(recs, priced(at, cost, mod)) }
	add(now.Add(-2*time.Hour), 1, nil)                                                                    // today
	add(now.Add(-3*time.Minute), 2, nil)                                                                  // today, in the partial quarter hour
	add(now.Add(-20*time.Hour), 4, nil)                                                                   // yesterday, this week
	add(now.Add(-10*24*time.Hour), 8, nil)                                                                // last week... and month (Dec 28)
	add(now.Add(-time.Hour), 16, func(r *ledger.Record) { r.Tags = []string{"team:search", "team:ads"} }) // two tags matching team:*
	add(now.Add(-time.Hour), 32, func(r *ledger.Record) { r.Model, r.Provider = "gpt-5", "openai" })
	add(now.Add(-time.Hour), 0, func(r *ledger.Record) { r.CostUSD, r.CostSource = nil, "" }) // unpriced
	add(now.Add(-time.Hour), 0, func(r *ledger.Record) {
		r.CostUSD, r.HasUsage, r.Outcome, r.Status = nil, false, ledger.OutcomeBudgetRefused, 429
	})
	add(now.Add(-time.Hour), 64, func(r *ledger.Record) { r.Kind = ledger.KindOther })
	if err := db.Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: now}
	n := &alerts{}
	tr := newTestTracker(t, c, n, nil,
		Budget{Name: "day", LimitUSD: 100, Period: Day, WarnAt: []float64{0.5}},
		Budget{Name: "week", LimitUSD: 100, Period: Week},
		Budget{Name: "month", LimitUSD: 100, Period: Month},
		Budget{Name: "opus-day", LimitUSD: 20, Period: Day, WarnAt: []float64{0.5, 0.9}, Scope: Scope{Model: "claude-opus-*"}},
		Budget{Name: "teams", LimitUSD: 100, Period: Day, Scope: Scope{Tag: "team:*"}},
		Budget{Name: "search", LimitUSD: 100, Period: Day, Scope: Scope{Tag: "team:search"}},
		Budget{Name: "openai", LimitUSD: 100, Period: Day, Scope: Scope{Provider: "open*", Project: "web", Client: "claude-cli/*"}},
		Budget{Name: "ads", LimitUSD: 100, Period: Day, Scope: Scope{Tag: "*:ads"}},
		Budget{Name: "nobody", LimitUSD: 100, Period: Day, Scope: Scope{Tag: "nobody*"}},
	)
	src := &countingSource{Source: db}
	if err := tr.Load(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	// One query per period (the day's shared by four budgets), one per
	// tag selected from rollup_tags (the literal one, and the pattern
	// matching one tag), none for the pattern matching no tag; only
	// team:*, which matches two tags, reads the calls.
	if src.slices != 6 || src.tagSets != 1 {
		t.Errorf("%d slice queries, %d of them with tag sets; want 6 and 1", src.slices, src.tagSets)
	}
	want := map[string]struct {
		spent                    float64
		calls, unpriced, refused int64
		crossed                  float64
	}{
		"day":      {51, 6, 1, 1, 0.5},
		"week":     {55, 7, 1, 1, 0},
		"month":    {55, 7, 1, 1, 0},
		"opus-day": {19, 5, 1, 1, 0.9},
		"teams":    {16, 1, 0, 0, 0},
		"search":   {16, 1, 0, 0, 0},
		"openai":   {32, 1, 0, 0, 0},
		"ads":      {16, 1, 0, 0, 0},
		"nobody":   {0, 0, 0, 0, 0},
	}
	for _, s := range tr.Statuses() {
		w := want[s.Budget.Name]
		if s.SpentUSD != w.spent || s.Calls != w.calls || s.Unpriced != w.unpriced || s.Refused != w.refused || s.Crossed != w.crossed {
			t.Errorf("%s: spent %v, calls %d, unpriced %d, refused %d, crossed %v; want %+v", s.Budget.Name, s.SpentUSD, s.Calls, s.Unpriced, s.Refused, s.Crossed, w)
		}
	}
	// 0.5 and 0.9 of opus-day were past at start: only the limit alerts.
	tr.Observe(priced(now, 0.5, nil))
	if got := n.take(); len(got) != 0 {
		t.Errorf("a threshold already past alerted again: %+v", got)
	}
	tr.Observe(priced(now, 0.5, nil))
	if got := n.take(); len(got) != 1 || got[0].Budget.Name != "opus-day" || !got[0].Limit() {
		t.Errorf("the limit after a restart: %+v", got)
	}

	// Read gives the same figures without a tracker of one's own.
	st, err := Read(context.Background(), db, []Budget{{Name: "week", LimitUSD: 100, Period: Week}}, time.UTC, now)
	if err != nil || len(st) != 1 || st[0].SpentUSD != 55 || st[0].ResetsAt != time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC) {
		t.Errorf("Read: %+v, %v", st, err)
	}
}

// countingSource counts the slice queries a Load makes.
type countingSource struct {
	Source
	slices, tagSets int
}

func (c *countingSource) Slices(ctx context.Context, f ledger.Filter, tagSets bool) ([]ledger.Slice, error) {
	c.slices++
	if tagSets {
		c.tagSets++
	}
	return c.Source.Slices(ctx, f, tagSets)
}

// TestTrackerConcurrent guards the lock: calls observed and admitted from
// many goroutines at once (run with -race) sum exactly, and alert once.
func TestTrackerConcurrent(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	n := &alerts{}
	tr := newTestTracker(t, &clock{t: day}, n, nil, Budget{Name: "b", LimitUSD: 100, Period: Day, WarnAt: []float64{0.5}, Enforce: true})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 125 {
				tr.Admit(priced(day, 0, nil))
				tr.Observe(priced(day.Add(time.Duration(g*1000+i)*time.Millisecond), 0.125, nil))
			}
		})
	}
	wg.Wait()
	s := tr.Statuses()[0]
	if s.SpentUSD != 125 || s.Calls != 1000 {
		t.Errorf("status %+v", s)
	}
	if got := n.take(); len(got) != 2 || got[0].Threshold != 0.5 || got[1].Threshold != 1 {
		t.Errorf("alerts %+v", got)
	}
}

// TestNewTrackerRefuses guards the checks of a budget built without the
// config (which checks the same, with positions).
func TestNewTrackerRefuses(t *testing.T) {
	t.Parallel()
	for _, b := range []Budget{
		{Name: "x", LimitUSD: 0, Period: Day},
		{Name: "x", LimitUSD: -1, Period: Day},
		{Name: "x", LimitUSD: 1, Period: "hour"},
		{Name: "x", LimitUSD: 1, Period: Day, WarnAt: []float64{1.5}},
		{Name: "x", LimitUSD: 1, Period: Day, WarnAt: []float64{0.8, 0.5}},
		{Name: "x", LimitUSD: 1, Period: Day, Scope: Scope{Model: "gpt-["}},
	} {
		if _, err := NewTracker(Options{Budgets: []Budget{b}}); err == nil {
			t.Errorf("%+v accepted", b)
		}
	}
	if _, err := NewTracker(Options{Budgets: []Budget{{Name: "x", LimitUSD: 1, Period: Day}, {Name: "x", LimitUSD: 2, Period: Day}}}); err == nil {
		t.Error("a budget twice accepted")
	}
}
