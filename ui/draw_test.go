package ui

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden screens in testdata/")

// fixtureSnap is the fixture as a loaded snapshot, without a ledger.
func fixtureSnap() *snapshot {
	s := &snapshot{gen: 1, qgen: 1, loaded: true, totalsOK: true, atStart: true, atEnd: true, perMin: 0.6,
		q: query{window: WindowAll, order: ledger.Order{Key: ledger.SortStarted}}}
	recs := fixture()
	s.timeline = ledger.Timeline{Step: 15 * time.Minute}
	extendTimeline(&s.timeline, recs[len(recs)-1].StartedAt)
	for i, r := range recs {
		s.rows = append(s.rows, ledger.Row{Seq: int64(len(recs) - i), Record: r})
		addToTimeline(&s.timeline, r)
	}
	s.maxSeq = int64(len(recs))
	return s
}

// drawScreen draws s and v on a fresh w×h simulation screen in th and
// returns the screen.
func drawScreen(t *testing.T, s *snapshot, v view, w, h int, th *Theme) tcell.SimulationScreen {
	t.Helper()
	sim := tcell.NewSimulationScreen("UTF-8")
	if err := sim.Init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Fini)
	sim.SetSize(w, h)
	v.w, v.h = w, h
	draw(sim, s, v, env{th: th, now: testNow, loc: time.UTC, logs: []string{"time=… level=WARN msg=\"dashboard: read totals\" err=\"database is locked\""}})
	sim.Show()
	return sim
}

// TestDrawGolden compares whole screens with testdata/<name>.golden
// (go test -run TestDrawGolden -update rewrites them).
func TestDrawGolden(t *testing.T) {
	s := fixtureSnap()
	groups := *s
	groups.q.group = ledger.ByModel
	groups.groups = []ledger.Group{
		{Key: "gpt-4.1", Totals: ledger.Totals{Calls: 2, InputTokens: 1235767, OutputTokens: 45978, CostUSD: 12.5045}},
		{Key: "gpt-4.1-mini", Totals: ledger.Totals{Calls: 1, InputTokens: 1200, OutputTokens: 300, CostUSD: 0.25}},
		{Key: "claude-haiku-4-5", Totals: ledger.Totals{Calls: 1, InputTokens: 1200, OutputTokens: 300, CostUSD: 0.01}},
		{Key: "my-local-model", Totals: ledger.Totals{Calls: 1, InputTokens: 1200, OutputTokens: 300, Unpriced: 1}},
		{Key: "claude-sonnet-4-5", Totals: ledger.Totals{Calls: 1, NoUsage: 1, Errors: 1}},
	}
	empty := &snapshot{qgen: 1, loaded: true, totalsOK: true, atStart: true, atEnd: true, q: s.q}
	base := testView()
	detail := base
	detail.mode, detail.detail, detail.sel = modeDetail, s.rows[3], 3
	grouped := base
	grouped.mode, grouped.q.group = modeGroups, ledger.ByModel
	help := base
	help.help = true
	prompt := base
	prompt.prompting, prompt.prompt, prompt.cursor = true, "model:", 6
	withSuggest := *s
	withSuggest.suggest = map[string][]string{"model": {"gpt-4.1", "gpt-4.1-mini", "my-local-model"}}
	scrolled := base
	scrolled.sel, scrolled.follow, scrolled.bars, scrolled.relTime, scrolled.logs = 2, false, true, false, true
	badge := *s
	badge.newCount = 3
	gauges := withSpend(status("daily", 12.75, 10, 1), status("weekly", 12.76, 50, 1), status("monthly", 12.76, 20, 0))
	for _, tt := range []struct {
		name string
		s    *snapshot
		v    view
		w, h int
	}{
		{"list-80x24", s, base, 80, 24},
		// The header's spend, budget gauges (over, under, warning) and
		// chart over the list: the closing note's captures.
		{"dashboard-80x24", gauges, base, 80, 24},
		{"dashboard-160x45", gauges, base, 160, 45},
		{"list-200x50", s, scrolled, 200, 50},
		{"list-badge-80x24", &badge, scrolled, 80, 24},
		{"detail-80x24", s, detail, 80, 24},
		{"groups-80x24", &groups, grouped, 80, 24},
		{"help-80x24", s, help, 80, 24},
		{"prompt-80x24", &withSuggest, prompt, 80, 24},
		{"empty-80x24", empty, base, 80, 24},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := screenText(drawScreen(t, tt.s, tt.v, tt.w, tt.h, defaultTheme()))
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got+"\n" != string(want) {
				t.Errorf("screen differs from %s:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// cellAt returns the style of the first cell of the first occurrence of
// sub on the screen.
func cellAt(t *testing.T, sim tcell.SimulationScreen, sub string) tcell.Style {
	t.Helper()
	text := screenText(sim)
	y := lineIndex(text, sub)
	if y < 0 {
		t.Fatalf("%q not on screen:\n%s", sub, text)
	}
	x := runeCol(strings.Split(text, "\n")[y], sub)
	cells, w, _ := sim.GetContents()
	return cells[y*w+x].Style
}

// TestDrawStyles checks that failed, incomplete and unpriced calls stand
// out, the selected row is highlighted, and the usage JSON is coloured.
func TestDrawStyles(t *testing.T) {
	th := defaultTheme()
	s := fixtureSnap()
	v := testView()
	v.sel = 1
	sim := drawScreen(t, s, v, 80, 24, th)
	for _, tt := range []struct {
		sub  string
		want tcell.Style
	}{
		{"claude-sonnet-4-5", th.Error}, // failed
		{"claude-haiku-4-5", th.Warn},   // incomplete
		{"my-local-model", th.Selected}, // selected (and unpriced)
		{"$0.0045", th.Base},
	} {
		if got := cellAt(t, sim, tt.sub); got != tt.want {
			t.Errorf("%s: style %v, want %v", tt.sub, got, tt.want)
		}
	}
	v.sel = 0
	sim = drawScreen(t, s, v, 80, 24, th)
	if got := cellAt(t, sim, "unpriced"); got != th.Unpriced {
		t.Errorf("unpriced cost: style %v, want %v", got, th.Unpriced)
	}
	v.mode, v.detail = modeDetail, s.rows[3]
	sim = drawScreen(t, s, v, 80, 40, th)
	for sub, want := range map[string]tcell.Style{`"prompt_tokens"`: th.JSONKey, "1200": th.JSONNumber, "x-vh-run": th.Label} {
		if got := cellAt(t, sim, sub); got != want {
			t.Errorf("detail %s: style %v, want %v", sub, got, want)
		}
	}
	// Data bars paint part of a number cell's background.
	v = testView()
	v.bars, v.sel = true, 5
	sim = drawScreen(t, s, v, 80, 24, th)
	_, bg, _ := cellAt(t, sim, "1,234,567").Decompose()
	if _, want, _ := th.Bar.Decompose(); bg != want {
		t.Errorf("bar: background %v, want %v", bg, want)
	}
}

// TestNoColor draws every mode in the mono theme (what NO_COLOR selects)
// and checks that no cell has a colour.
func TestNoColor(t *testing.T) {
	th, err := LookupTheme("gorillas", true)
	if err != nil {
		t.Fatal(err)
	}
	s := fixtureSnap()
	s.groups = []ledger.Group{{Key: "gpt-4.1", Totals: ledger.Totals{Calls: 1, CostUSD: 1}}}
	for _, m := range []view{
		testView(),
		func() view { v := testView(); v.bars, v.help, v.logs = true, true, true; return v }(),
		func() view { v := testView(); v.mode, v.detail = modeDetail, s.rows[3]; return v }(),
		func() view { v := testView(); v.mode, v.q.group = modeGroups, ledger.ByModel; return v }(),
	} {
		sim := drawScreen(t, s, m, 100, 30, th)
		cells, _, _ := sim.GetContents()
		for i, c := range cells {
			fg, bg, _ := c.Style.Decompose()
			if (fg != tcell.ColorDefault && fg != tcell.ColorReset) || (bg != tcell.ColorDefault && bg != tcell.ColorReset) {
				t.Fatalf("mode %d: cell %d (%q) has colours %v/%v", m.mode, i, string(c.Runes), fg, bg)
			}
		}
	}
}

// TestEdges: the small things a first hour with the dashboard trips over.
func TestEdges(t *testing.T) {
	th := defaultTheme()
	t.Run("ttfb", func(t *testing.T) {
		for _, tt := range []struct {
			ttfb   time.Duration
			status int
			want   string
		}{{0, 200, "0ms"}, {0, 0, "-"}, {250 * time.Millisecond, 200, "250ms"}, {-1, 200, "-"}} {
			r := ledger.Row{Record: call(1, time.Minute)}
			r.TTFB, r.Status = tt.ttfb, tt.status
			if got, _ := cellText(colTTFB, &r, testNow, time.UTC, true); got != tt.want {
				t.Errorf("TTFB %v status %d: %q, want %q", tt.ttfb, tt.status, got, tt.want)
			}
		}
	})
	t.Run("sorted by duration", func(t *testing.T) {
		v := testView()
		v.q.order, v.follow = ledger.Order{Key: ledger.SortDuration}, true
		text := screenText(drawScreen(t, fixtureSnap(), v, 80, 24, th))
		if l := lineWith(text, " Time "); !strings.Contains(l, "Duration ↓") || !strings.Contains(l, "Cost") {
			t.Errorf("titles %q: want Duration ↓ and Cost", l)
		}
		status := strings.Split(text, "\n")[23]
		if !strings.Contains(status, "sorted by duration ↓") || strings.Contains(status, "following") {
			t.Errorf("footer %q: want the order, not following", status)
		}
	})
	t.Run("50 columns", func(t *testing.T) {
		text := screenText(drawScreen(t, fixtureSnap(), testView(), 50, 24, th))
		l := lineWith(text, " Time ")
		if !strings.HasSuffix(strings.TrimRight(l, " "), "Cost") || !strings.Contains(lineWith(text, "30s ago"), "$12.50") {
			t.Errorf("at 50 columns the cost is not whole:\n%s", text)
		}
	})
	t.Run("empty log pane", func(t *testing.T) {
		v := testView()
		v.logs = true
		sim := tcell.NewSimulationScreen("UTF-8")
		if err := sim.Init(); err != nil {
			t.Fatal(err)
		}
		defer sim.Fini()
		sim.SetSize(100, 30)
		v.w, v.h = 100, 30
		draw(sim, fixtureSnap(), v, env{th: th, now: testNow, loc: time.UTC})
		sim.Show()
		if text := screenText(sim); !strings.Contains(text, "No log lines yet") || !strings.Contains(text, "proxy logs to its own terminal") {
			t.Errorf("empty log pane says nothing:\n%s", text)
		}
	})
	t.Run("unpriced group share", func(t *testing.T) {
		s := fixtureSnap()
		s.q.group = ledger.ByModel
		s.groups = []ledger.Group{
			{Key: "gpt-4.1", Totals: ledger.Totals{Calls: 2, InputTokens: 10, OutputTokens: 10, CostUSD: 1}},
			{Key: "my-local-model", Totals: ledger.Totals{Calls: 1, InputTokens: 10, OutputTokens: 10, Unpriced: 1}},
		}
		v := testView()
		v.mode, v.q.group = modeGroups, ledger.ByModel
		l := lineWith(screenText(drawScreen(t, s, v, 80, 24, th)), "my-local-model")
		if strings.Contains(l, "0.0%") || !strings.Contains(l, "unpriced") || !strings.Contains(l, "—") {
			t.Errorf("unpriced group %q: want unpriced and —, not 0.0%%", l)
		}
	})
}
