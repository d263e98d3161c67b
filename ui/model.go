package ui

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/valohai/conduit/budgets"
	"github.com/valohai/conduit/ledger"
)

// snapshot is one immutable picture of the ledger, as the screen shows it.
// The model goroutine builds a new one for every change and never touches
// a published one again; the screen goroutine only reads them.
type snapshot struct {
	gen  uint64 // increases with every snapshot
	qgen uint64 // the view's query generation this answers
	q    query
	// since and until are the window's bounds when the data was read.
	since, until time.Time

	// rows is the loaded slice of the calls in q's order: never all of
	// them, only what the user has scrolled past, at most maxRows.
	rows    []ledger.Row
	atStart bool  // rows[0] is the first call in the order
	atEnd   bool  // the last row is the last call in the order
	offset  int64 // calls in the order before rows[0]

	timeline ledger.Timeline // spend over the window; Total is the header
	perMin   float64         // calls per minute over the last 5 minutes
	groups   []ledger.Group  // when q.group is set

	// spendOK: today's and this month's spend (every call, whatever the
	// filter and window) and the budgets' statuses are read.
	spendOK      bool
	today, month ledger.Totals
	spendDay     time.Time // local midnight of the day today is counted from
	budgets      []budgets.Status
	budgetsErr   error // the budgets could not be read (the spend could)

	syncOK    bool // sync counts were read (the Valohai sync is enabled)
	sync      ledger.SyncCounts
	syncState ledger.SyncState

	newCount int64 // calls written since the view's mark (while not following)
	maxSeq   int64 // the newest seq seen

	suggest map[string][]string // filter completions, by field

	loaded   bool  // the first read of q is done (its first page at least)
	totalsOK bool  // the timeline (header totals) of q is read
	err      error // the last read's error, if it failed
}

// wants is what the screen asks of the model: the latest value wins, so
// the screen never blocks on a busy model and a burst of keys costs one
// query.
type wants struct {
	q      query
	qgen   uint64 // bumped by the view when q changes
	follow bool   // keep the start of the order loaded and count nothing as new
	mark   int64  // not following: calls with a greater seq count as new
	anchor int64  // seq of the selected row: trimming keeps its side

	// older and newer ask for another page past the loaded rows; they
	// name the snapshot they were asked from, so a request already
	// answered is not repeated.
	older, newer uint64
	head, tail   uint64 // bumped to reload from the start / the end
	suggest      uint64 // bumped to read filter completions
	refresh      uint64 // bumped to re-read everything
}

// mailbox hands wants from the screen goroutine to the model goroutine.
type mailbox struct {
	mu   sync.Mutex
	w    wants
	wake chan struct{}
}

func newMailbox(w wants) *mailbox {
	return &mailbox{w: w, wake: make(chan struct{}, 1)}
}

// put replaces the wants and wakes the model; it never blocks.
func (b *mailbox) put(w wants) {
	b.mu.Lock()
	same := b.w == w
	b.w = w
	b.mu.Unlock()
	if !same {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

func (b *mailbox) get() wants {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w
}

// Model tuning.
const (
	defaultPoll    = 250 * time.Millisecond // how often the ledger's data_version is checked
	pageSize       = 200                    // calls per page load
	maxRows        = 2000                   // calls kept loaded
	sinceLimit     = 1000                   // new calls merged per refresh before a full re-read
	timelineMax    = 4000                   // most timeline buckets read: the hours of 30 days and more
	slideEvery     = 5 * time.Second        // re-read a sliding window's totals
	healEvery      = time.Minute            // re-read everything, in case of deletions
	syncEvery      = 2 * time.Second        // at most this often: sync counts
	spendEvery     = time.Second            // at most this often: today's spend and the budgets
	suggestPerKind = 50                     // filter completions per field
)

// model polls the ledger (read-only) and publishes snapshots.
type model struct {
	db   *ledger.DB
	box  *mailbox
	out  chan *snapshot // capacity 1: the newest snapshot replaces an unread one
	now  func() time.Time
	loc  *time.Location
	poll time.Duration
	sync bool
	// budgets are the configured budgets, in the calendar of budgetLoc.
	budgets   []budgets.Budget
	budgetLoc *time.Location
	log       *slog.Logger
	pages     int // page size (tests shrink it)
	keep      int // maxRows (tests shrink it)

	cur     snapshot // the next snapshot, being built
	done    wants    // what has been acted upon
	started bool
	version int64
	// Pacing, on the real clock (now may be a test's fixed time).
	lastFull  time.Time // the window's totals were last read
	lastSync  time.Time // the sync counts were last read
	lastSpend time.Time // today's spend and the budgets were last read
	// spendStale: calls were written since the spend was read.
	spendStale bool
	idleUntil  time.Time // no refresh before: twice the last one's cost
	pageRetry  time.Time // no page loads before: one failed
}

func newModel(db *ledger.DB, box *mailbox, opts *Options) *model {
	return &model{
		db: db, box: box, out: make(chan *snapshot, 1),
		now: opts.now, loc: opts.loc(), poll: opts.poll(), sync: opts.Sync, log: opts.logger(),
		budgets: opts.Budgets, budgetLoc: opts.budgetLoc(),
		pages: pageSize, keep: maxRows,
	}
}

// run polls until ctx ends.
func (m *model) run(ctx context.Context) {
	t := time.NewTicker(m.poll)
	defer t.Stop()
	for {
		if m.step(ctx, m.box.get()) {
			m.publish()
		}
		select {
		case <-ctx.Done():
			return
		case <-m.box.wake:
		case <-t.C:
		}
	}
}

// publish hands a copy of the current snapshot to the screen, replacing
// one it has not read yet. The copy shares no memory the model writes
// afterwards: the timeline's buckets, which refresh counts new calls into
// in place, are cloned; rows, groups and suggestions are only ever
// replaced by new slices and maps, never written in place.
func (m *model) publish() {
	m.cur.gen++
	s := m.cur
	s.timeline.Buckets = slices.Clone(s.timeline.Buckets)
	select {
	case m.out <- &s:
	default:
		select {
		case <-m.out:
		default:
		}
		m.out <- &s
	}
}

// fail records a read error in the snapshot (the screen shows it) and
// keeps the data it has.
func (m *model) fail(what string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	m.log.Warn("dashboard: "+what, "err", err)
	m.cur.err = err
}

// step acts on what the screen wants and on changes in the ledger, and
// reports whether the snapshot changed.
func (m *model) step(ctx context.Context, w wants) bool {
	now := m.now()
	if !m.started || w.qgen != m.done.qgen || w.refresh != m.done.refresh {
		m.started = true
		m.done = w
		m.reset(ctx, w, now)
		return true
	}
	changed := false
	if w.head != m.done.head {
		m.loadEdge(ctx, w, now, false)
		changed = true
	}
	if w.tail != m.done.tail {
		m.loadEdge(ctx, w, now, true)
		changed = true
	}
	paging := !time.Now().Before(m.pageRetry)
	if paging && w.older != 0 && w.older == m.cur.gen && !m.cur.atEnd {
		m.loadMore(ctx, w, now, true)
		changed = true
	}
	if paging && w.newer != 0 && w.newer == m.cur.gen && !m.cur.atStart {
		m.loadMore(ctx, w, now, false)
		changed = true
	}
	if w.follow != m.done.follow || w.mark != m.done.mark {
		m.done.follow, m.done.mark = w.follow, w.mark
		m.countNew(ctx, w, now)
		changed = true
	}
	if w.suggest != m.done.suggest {
		m.readSuggestions(ctx, now)
		changed = true
	}
	m.done = w
	real := time.Now()
	if real.Before(m.idleUntil) {
		return changed
	}
	v, err := m.db.DataVersion(ctx)
	if err != nil {
		m.fail("read ledger version", err)
		return true
	}
	since, _ := m.cur.q.bounds(now, m.loc)
	switch {
	case m.cur.q.window == WindowToday && !since.Equal(m.cur.since):
		m.reset(ctx, w, now) // a new day: start afresh
		changed = true
	case real.Sub(m.lastFull) >= healEvery:
		m.reread(ctx, w, now)
		changed = true
	case v != m.version:
		m.version = v
		m.refresh(ctx, w, now)
		changed = true
	case m.cur.q.sliding() && real.Sub(m.lastFull) >= slideEvery:
		m.readTotals(ctx, now)
		changed = true
	}
	if y, mo, d := now.In(m.loc).Date(); !time.Date(y, mo, d, 0, 0, 0, 0, m.loc).Equal(m.cur.spendDay) {
		m.spendStale = true // a new day (or month): its spend starts at zero
	}
	if m.spendStale && real.Sub(m.lastSpend) >= spendEvery {
		m.readSpend(ctx, now)
		changed = true
	}
	// A refresh that took long (a huge window under a filter the rollups
	// cannot answer) is not repeated at once: the dashboard stays a
	// small load on the machine whatever the ledger.
	m.idleUntil = real.Add(2 * time.Since(real))
	return changed
}

// reset reads everything for a new query: the first page, the totals and
// timeline, the groups, the sync counts.
func (m *model) reset(ctx context.Context, w wants, now time.Time) {
	start := time.Now()
	m.cur = snapshot{gen: m.cur.gen, qgen: w.qgen, q: w.q, suggest: m.cur.suggest,
		spendOK: m.cur.spendOK, today: m.cur.today, month: m.cur.month, spendDay: m.cur.spendDay,
		budgets: m.cur.budgets, budgetsErr: m.cur.budgetsErr}
	m.cur.since, m.cur.until = w.q.bounds(now, m.loc)
	m.cur.err = nil
	// The version and newest seq come first: whatever is written while
	// the rest is read is picked up (and de-duplicated) by the next
	// refresh.
	if v, err := m.db.DataVersion(ctx); err == nil {
		m.version = v
	} else {
		m.fail("read ledger version", err)
	}
	maxSeq, err := m.db.MaxSeq(ctx)
	if err != nil {
		m.fail("read newest call", err)
	}
	m.cur.maxSeq = maxSeq
	f := w.q.ledgerFilter(now, m.loc)
	rows, more, err := m.db.PageOrdered(ctx, f, w.q.order, ledger.OrderCursor{}, m.pages)
	if err != nil {
		m.fail("read calls", err)
	}
	m.cur.rows, m.cur.atStart, m.cur.atEnd, m.cur.offset = rows, true, !more, 0
	m.cur.loaded = true
	// The calls first: over a wide window of a huge ledger the totals
	// take longer, and the screen need not wait for them.
	m.publish()
	m.log.Debug("dashboard: first page read", "window", w.q.window, "took", time.Since(start))
	m.readTotals(ctx, now)
	m.countNew(ctx, w, now)
	m.readSync(ctx, true)
	if !m.cur.spendOK {
		m.readSpend(ctx, now)
	}
	m.log.Debug("dashboard: totals read", "window", w.q.window, "took", time.Since(start))
}

// reread re-reads the totals without moving the view, and drops the
// loaded calls a sliding window has left behind: used periodically, so
// that anything the incremental refresh cannot see (deleted calls, time
// passing) is corrected.
func (m *model) reread(ctx context.Context, w wants, now time.Time) {
	if v, err := m.db.DataVersion(ctx); err == nil {
		m.version = v
	}
	m.refresh(ctx, w, now)
	m.readTotals(ctx, now)
	m.spendStale = true
	since, until := m.cur.since, m.cur.until
	kept := slices.DeleteFunc(slices.Clone(m.cur.rows), func(r ledger.Row) bool {
		return (!since.IsZero() && r.StartedAt.Before(since)) || (!until.IsZero() && !r.StartedAt.Before(until))
	})
	if len(kept) < len(m.cur.rows) {
		if o := m.cur.q.order; o.Key == ledger.SortStarted && !o.Asc {
			m.cur.atEnd = true // the oldest calls left: nothing older is in the window
		}
		m.cur.rows = kept
	}
}

// readTotals reads the window's timeline (whose total is the header), the
// recent rate and the groups.
func (m *model) readTotals(ctx context.Context, now time.Time) {
	q := m.cur.q
	m.cur.since, m.cur.until = q.bounds(now, m.loc)
	f := q.ledgerFilter(now, m.loc)
	tl, err := m.db.Timeline(ctx, f, q.step(), timelineMax)
	if err != nil {
		m.fail("read totals", err)
	} else {
		m.cur.timeline, m.cur.totalsOK = tl, true
	}
	m.readRate(ctx, now)
	m.readGroups(ctx, now)
	m.lastFull = time.Now()
}

// readRate reads the calls per minute over the last five minutes.
func (m *model) readRate(ctx context.Context, now time.Time) {
	m.cur.perMin = 0
	if !m.cur.q.live() {
		return
	}
	f := m.cur.q.filter
	f.Since = now.Add(-5 * time.Minute)
	t, err := m.db.Totals(ctx, f)
	if err != nil {
		m.fail("read call rate", err)
		return
	}
	m.cur.perMin = float64(t.Calls) / 5
}

func (m *model) readGroups(ctx context.Context, now time.Time) {
	if m.cur.q.group == "" {
		m.cur.groups = nil
		return
	}
	g, err := m.db.Groups(ctx, m.cur.q.group, m.cur.q.ledgerFilter(now, m.loc), m.loc)
	if err != nil {
		m.fail("read groups", err)
		return
	}
	m.cur.groups = g
}

// readSync reads the Valohai sync's counts and state, at most every
// syncEvery unless forced.
func (m *model) readSync(ctx context.Context, force bool) {
	if !m.sync || (!force && time.Since(m.lastSync) < syncEvery) {
		return
	}
	m.lastSync = time.Now()
	c, err := m.db.SyncCounts(ctx)
	if err != nil {
		m.fail("read sync counts", err)
		return
	}
	st, err := m.db.SyncState(ctx)
	if err != nil {
		m.fail("read sync state", err)
		return
	}
	m.cur.sync, m.cur.syncState, m.cur.syncOK = c, st, true
}

// countNew recounts the calls written since the view's mark.
func (m *model) countNew(ctx context.Context, w wants, now time.Time) {
	if w.follow || w.mark >= m.cur.maxSeq {
		m.cur.newCount = 0
		return
	}
	n, err := m.db.CountSince(ctx, m.cur.q.ledgerFilter(now, m.loc), w.mark)
	if err != nil {
		m.fail("count new calls", err)
		return
	}
	m.cur.newCount = n
}

// refresh reads what was written since the last look: the new calls
// (merged into the loaded rows and added to the timeline), and the figures
// that are cheap to re-read.
func (m *model) refresh(ctx context.Context, w wants, now time.Time) {
	maxSeq, err := m.db.MaxSeq(ctx)
	if err != nil {
		m.fail("read newest call", err)
		return
	}
	m.cur.err = nil
	if maxSeq > m.cur.maxSeq {
		m.spendStale = true
		f := m.cur.q.ledgerFilter(now, m.loc)
		rows, more, err := m.db.RowsSince(ctx, f, m.cur.maxSeq, sinceLimit)
		if err != nil {
			m.fail("read new calls", err)
			return
		}
		if more {
			// A burst (or a long pause): re-read rather than merge.
			m.cur.maxSeq = maxSeq
			m.reloadRows(ctx, w, now)
			m.readTotals(ctx, now)
			m.countNew(ctx, w, now)
			m.readSync(ctx, true)
			return
		}
		m.merge(rows, w)
		for _, r := range rows {
			addToTimeline(&m.cur.timeline, r.Record)
			if !w.follow && r.Seq > w.mark {
				m.cur.newCount++
			}
		}
		m.cur.maxSeq = maxSeq
		m.readRate(ctx, now)
		m.readGroups(ctx, now)
	}
	m.readSync(ctx, false)
}

// reloadRows re-reads the loaded rows from wherever the view is anchored:
// the start of the order, else around the anchor row.
func (m *model) reloadRows(ctx context.Context, w wants, now time.Time) {
	f := m.cur.q.ledgerFilter(now, m.loc)
	o := m.cur.q.order
	if w.follow || m.cur.atStart || len(m.cur.rows) == 0 {
		rows, more, err := m.db.PageOrdered(ctx, f, o, ledger.OrderCursor{}, m.pages)
		if err != nil {
			m.fail("read calls", err)
			return
		}
		m.cur.rows, m.cur.atStart, m.cur.atEnd, m.cur.offset = rows, true, !more, 0
		return
	}
	// Keep the first loaded row's place: the calls from it onwards. (The
	// calls written before it are counted as new by countNew.)
	first := m.cur.rows[0]
	page, more, err := m.db.PageOrdered(ctx, f, o, o.After(first), m.pages-1)
	if err != nil {
		m.fail("read calls", err)
		return
	}
	m.cur.rows = append([]ledger.Row{first}, page...)
	m.cur.atEnd = !more
}

// merge inserts newly written calls into the loaded rows where the order
// puts them, when that place is within the loaded range (a call before the
// first loaded row is only counted in offset unless the rows start at the
// beginning; one past the last waits for the next page), then trims.
func (m *model) merge(rows []ledger.Row, w wants) {
	if len(rows) == 0 {
		return
	}
	o := m.cur.q.order
	cur := m.cur.rows
	out := slices.Clone(cur)
	for _, r := range rows {
		i, found := slices.BinarySearchFunc(out, r, o.Compare)
		switch {
		case found:
			continue
		case len(out) == 0:
			if !(m.cur.atStart && m.cur.atEnd) {
				continue
			}
		case i == 0 && !m.cur.atStart:
			m.cur.offset++
			continue
		case i == len(out) && !m.cur.atEnd:
			continue
		}
		out = slices.Insert(out, i, r)
	}
	m.cur.rows = out
	m.trim(w)
}

// trim drops rows beyond keep, from the side away from the selected row
// (from the end while following).
func (m *model) trim(w wants) {
	rows := m.cur.rows
	if len(rows) <= m.keep {
		return
	}
	at := 0
	if !w.follow {
		at = slices.IndexFunc(rows, func(r ledger.Row) bool { return r.Seq == w.anchor })
	}
	if at < len(rows)/2 {
		m.cur.rows = slices.Clone(rows[:m.keep])
		m.cur.atEnd = false
		return
	}
	cut := len(rows) - m.keep
	m.cur.rows = slices.Clone(rows[cut:])
	m.cur.offset += int64(cut)
	m.cur.atStart = false
}

// loadEdge reloads the rows from the start of the order, or from its end.
func (m *model) loadEdge(ctx context.Context, w wants, now time.Time, end bool) {
	f := m.cur.q.ledgerFilter(now, m.loc)
	o := m.cur.q.order
	if end {
		o = o.Reverse()
	}
	rows, more, err := m.db.PageOrdered(ctx, f, o, ledger.OrderCursor{}, m.pages)
	if err != nil {
		m.fail("read calls", err)
		return
	}
	if !end {
		m.cur.rows, m.cur.atStart, m.cur.atEnd, m.cur.offset = rows, true, !more, 0
		return
	}
	slices.Reverse(rows)
	m.cur.rows, m.cur.atStart, m.cur.atEnd = rows, !more, true
	m.cur.offset = max(m.cur.timeline.Total.Calls-int64(len(rows)), 0)
}

// loadMore loads the page past the last loaded row (older) or before the
// first (newer), then trims the other side.
func (m *model) loadMore(ctx context.Context, w wants, now time.Time, older bool) {
	f := m.cur.q.ledgerFilter(now, m.loc)
	o := m.cur.q.order
	cur := m.cur.rows
	if len(cur) == 0 {
		return
	}
	if older {
		rows, more, err := m.db.PageOrdered(ctx, f, o, o.After(cur[len(cur)-1]), m.pages)
		if err != nil {
			m.fail("read older calls", err)
			m.pageRetry = time.Now().Add(time.Second)
			return
		}
		m.cur.rows = append(slices.Clone(cur), rows...)
		m.cur.atEnd = !more
	} else {
		r := o.Reverse()
		rows, more, err := m.db.PageOrdered(ctx, f, r, r.After(cur[0]), m.pages)
		if err != nil {
			m.fail("read newer calls", err)
			m.pageRetry = time.Now().Add(time.Second)
			return
		}
		slices.Reverse(rows)
		m.cur.rows = append(rows, cur...)
		m.cur.atStart = !more
		m.cur.offset = max(m.cur.offset-int64(len(rows)), 0)
		if !more {
			m.cur.offset = 0
		}
	}
	m.trim(w)
}

// readSuggestions reads the filter prompt's completions: the providers,
// models, clients, tags, projects and sessions of the calls in the window,
// by cost. The filter is ignored: the prompt may be writing a new one.
func (m *model) readSuggestions(ctx context.Context, now time.Time) {
	out := map[string][]string{}
	f := ledger.Filter{}
	f.Since, f.Until = m.cur.q.bounds(now, m.loc)
	for _, g := range []struct {
		field string
		by    ledger.GroupBy
	}{{"provider", ledger.ByProvider}, {"model", ledger.ByModel}, {"client", ledger.ByClient}, {"tag", ledger.ByTag},
		{"project", ledger.ByProject}, {"session", ledger.BySession}} {
		groups, err := m.db.Groups(ctx, g.by, f, m.loc)
		if err != nil {
			m.fail("read filter values", err)
			return
		}
		for _, gr := range groups {
			if gr.Key != "" && len(out[g.field]) < suggestPerKind {
				out[g.field] = append(out[g.field], gr.Key)
			}
		}
	}
	m.cur.suggest = out
}

// readSpend reads today's and this month's spend over every call (the
// header's "too much?" figures, whatever the filter) and the budgets'
// statuses in their current periods.
func (m *model) readSpend(ctx context.Context, now time.Time) {
	// Stale until read: a failed read (the ledger busy) is tried again
	// after spendEvery, not only once more calls are written.
	m.lastSpend = time.Now()
	y, mo, d := now.In(m.loc).Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, m.loc)
	today, err := m.db.Totals(ctx, ledger.Filter{Since: day})
	if err != nil {
		m.fail("read today's spend", err)
		return
	}
	month, err := m.db.Totals(ctx, ledger.Filter{Since: time.Date(y, mo, 1, 0, 0, 0, 0, m.loc)})
	if err != nil {
		m.fail("read this month's spend", err)
		return
	}
	m.cur.today, m.cur.month, m.cur.spendDay, m.cur.spendOK = today, month, day, true
	if len(m.budgets) == 0 {
		m.spendStale = false
		return
	}
	st, err := budgets.Read(ctx, m.db, m.budgets, m.budgetLoc, now)
	if err != nil {
		m.fail("read budgets", err)
		m.cur.budgetsErr = err
		return
	}
	m.cur.budgets, m.cur.budgetsErr = st, nil
	m.spendStale = false
}
