package ui

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/budgets"
	"github.com/valohai/conduit/ledger"
)

// Options configure Run. The zero value shows the calls of the last 24
// hours, newest first, in the default theme.
type Options struct {
	// Theme is the look (see ThemeNames); nil means the default theme.
	Theme *Theme
	// NoColor keeps every theme T switches to colourless (set it when
	// NO_COLOR is in the environment, as LookupTheme's noColor).
	NoColor bool
	// Window is the initial time window (the zero value is the last 24
	// hours).
	Window Window
	// Filter is the initial filter; its Since and Until are ignored
	// (the window sets them).
	Filter ledger.Filter
	// Sync shows the Valohai LLM sync's counts and last error in the
	// header (set it when the sync is configured).
	Sync bool
	// Budgets are shown in the header as gauges of their current
	// period's spend; none: the header says nothing about budgets.
	Budgets []budgets.Budget
	// BudgetLocation is the time zone of the budgets' calendar periods
	// (nil: Location).
	BudgetLocation *time.Location
	// Group is the initial grouping ("": the list of calls).
	Group ledger.GroupBy
	// StatePath, when set, is where the window, theme and grouping in use
	// are saved when the dashboard ends (see SaveState), over State, the
	// state it was started from: with NoColor the theme is left as State
	// has it, as no theme is really chosen.
	StatePath string
	State     State
	// Logs, when set, feeds the log pane (L toggles it); ShowLogs opens
	// the pane at start.
	Logs     *LogBuffer
	ShowLogs bool
	// Logger receives the dashboard's own warnings (ledger read errors);
	// nil discards them. It must not write to the terminal: use Logs.
	Logger *slog.Logger
	// Location is where times are shown and days begin (nil: time.Local).
	Location *time.Location
	// Poll is how often the ledger is checked for changes (0: 250 ms).
	Poll time.Duration

	// Tests set these.
	now     func() time.Time
	onFrame func(tcell.Screen) // called on the screen goroutine after each frame
	pages   int                // page size (0: pageSize)
	keep    int                // rows kept loaded (0: maxRows)
}

func (o *Options) loc() *time.Location {
	if o.Location == nil {
		return time.Local
	}
	return o.Location
}

func (o *Options) budgetLoc() *time.Location {
	if o.BudgetLocation == nil {
		return o.loc()
	}
	return o.BudgetLocation
}

func (o *Options) poll() time.Duration {
	if o.Poll <= 0 {
		return defaultPoll
	}
	return o.Poll
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o.Logger
}

// Frame pacing.
const (
	minFrame  = 16 * time.Millisecond  // at most ~60 frames a second
	clockTick = time.Second            // redraw for "3s ago" and the log pane
	animTick  = 250 * time.Millisecond // a theme's top-bar animation
)

// Run shows the dashboard for db on scr until the user quits or ctx ends
// (neither is an error; the only error is a terminal that cannot be
// opened). It initialises scr and always finalises it before returning,
// also when anything panics (the panic is then re-raised with the terminal
// restored), so the terminal is left as it was found. db is only read, and
// Run returns only after it has stopped using db; ledger errors are shown
// on screen and logged, never returned.
func Run(ctx context.Context, scr tcell.Screen, db *ledger.DB, opts Options) (err error) {
	th := opts.Theme
	if th == nil {
		th = defaultTheme()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if err := scr.Init(); err != nil {
		return fmt.Errorf("dashboard: open terminal: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	modelDone := make(chan struct{})
	panics := make(chan string, 2)
	defer func() {
		r := recover()
		cancel()
		scr.Fini()
		if r != nil {
			panic(r)
		}
		<-modelDone
	}()
	scr.SetStyle(th.Base)
	scr.EnableMouse()
	scr.HideCursor()

	v := view{relTime: true, follow: true, logs: opts.ShowLogs && opts.Logs != nil}
	v.w, v.h = scr.Size()
	v.theme = max(slices.Index(ThemeNames(), th.Name), 0)
	themeIdx := v.theme
	v.q = query{filter: opts.Filter, window: opts.Window, order: ledger.Order{Key: ledger.SortStarted}}
	v.q.filter.Since, v.q.filter.Until = time.Time{}, time.Time{}
	if slices.Contains(groupings, opts.Group) && opts.Group != "" {
		v.q.group, v.mode = opts.Group, modeGroups
	}
	v.qgen = 1
	if opts.StatePath != "" {
		defer func() { saveState(&opts, v) }()
	}

	box := newMailbox(v.wants())
	m := newModel(db, box, &opts)
	if opts.pages > 0 {
		m.pages = opts.pages
	}
	if opts.keep > 0 {
		m.keep = opts.keep
	}
	go func() {
		defer close(modelDone)
		defer guard(panics)
		m.run(ctx)
	}()
	events := make(chan tcell.Event, 64)
	go func() {
		defer guard(panics)
		for {
			ev := scr.PollEvent()
			if ev == nil {
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()

	snap := &snapshot{qgen: v.qgen}
	tickEvery := clockTick
	if th.Decoration != "" {
		tickEvery = animTick
	}
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	frameTimer := time.NewTimer(0)
	defer frameTimer.Stop()
	var lastFrame time.Time
	dirty, timerArmed := true, true
	loc := opts.loc()
	for {
		if dirty && !timerArmed {
			if wait := minFrame - time.Since(lastFrame); wait > 0 {
				frameTimer.Reset(wait)
				timerArmed = true
			} else {
				var logs []string
				if v.logs && opts.Logs != nil {
					logs = opts.Logs.Lines()
				}
				draw(scr, snap, v, env{th: th, now: opts.now(), loc: loc, logs: logs})
				scr.Show()
				lastFrame = time.Now()
				dirty = false
				if opts.onFrame != nil {
					opts.onFrame(scr)
				}
			}
		}
		select {
		case ev := <-events:
			v = handleEvent(scr, v, ev, snap)
			// Take whatever else is queued before drawing.
			for more := true; more && !v.quit; {
				select {
				case ev := <-events:
					v = handleEvent(scr, v, ev, snap)
				default:
					more = false
				}
			}
			dirty = true
		case s := <-m.out:
			v = applySnapshot(v, snap, s)
			snap = s
			dirty = true
		case <-ticker.C:
			v.tick++
			dirty = dirty || v.relTime || th.Decoration != "" || v.logs
		case <-frameTimer.C:
			timerArmed = false
		case p := <-panics:
			panic(p)
		case <-ctx.Done():
			return nil
		}
		if v.quit {
			return nil
		}
		if v.theme != themeIdx {
			themeIdx = v.theme
			if nt, err := LookupTheme(ThemeNames()[v.theme], opts.NoColor); err == nil {
				th = nt
				scr.SetStyle(th.Base)
			}
		}
		v = pageRequests(v, snap)
		box.put(v.wants())
	}
}

// handleEvent applies one terminal event to the view.
func handleEvent(scr tcell.Screen, v view, ev tcell.Event, s *snapshot) view {
	switch ev := ev.(type) {
	case *tcell.EventResize:
		v.w, v.h = ev.Size()
		scr.Sync()
		if v.mode == modeList {
			v = v.scrollToSel(len(s.rows))
		}
	case *tcell.EventKey:
		v = handleKey(v, ev, s)
	case *tcell.EventMouse:
		v = handleMouse(v, ev, s)
	}
	return v
}

// guard turns a panic on a helper goroutine into a message for the screen
// goroutine, which re-raises it after restoring the terminal.
func guard(panics chan<- string) {
	if r := recover(); r != nil {
		select {
		case panics <- fmt.Sprintf("%v\n\n%s", r, debug.Stack()):
		default:
		}
	}
}

// saveState saves what the view ends with as the state for the next run,
// logging (never returning) a failure.
func saveState(opts *Options, v view) {
	st := opts.State
	st.Group = string(v.q.group)
	if v.q.window != windowDate {
		st.Window = v.q.window.String()
	}
	if !opts.NoColor {
		st.Theme = ThemeNames()[v.theme]
	}
	if err := SaveState(opts.StatePath, st); err != nil {
		opts.logger().Warn("dashboard: the window, theme and grouping are not remembered", "err", err)
	}
}
