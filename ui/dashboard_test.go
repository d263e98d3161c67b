package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/budgets"
	"github.com/valohai/conduit/ledger"
)

// fixture is six calls, newest first: a big one, an unpriced one, a
// failed one without usage, a tagged one with x-vh-* headers, an older
// one, and an incomplete one from yesterday.
func fixture() []ledger.Record {
	big := call(1, 30*time.Second)
	big.InputTokens, big.OutputTokens, big.CostUSD = 1234567, 45678, f64(12.5)

	unpriced := call(2, 2*time.Minute)
	unpriced.Model, unpriced.CostUSD, unpriced.CostSource = "my-local-model", nil, ""

	failed := call(3, 5*time.Minute)
	failed.Provider, failed.API, failed.Model = "anthropic", "anthropic", "claude-sonnet-4-5"
	failed.Outcome, failed.Status, failed.HasUsage, failed.CostUSD, failed.CostSource = ledger.OutcomeUpstreamError, 529, false, nil, ""
	failed.Error, failed.UsageRaw = "upstream returned 529 overloaded_error", nil

	tagged := call(4, 10*time.Minute)
	tagged.Tags = []string{"eval", "nightly"}
	tagged.VHHeaders = map[string]string{"x-vh-run": "r1", "x-vh-project": "p9"}

	old := call(5, 3*time.Hour)
	old.Model, old.CostUSD = "gpt-4.1-mini", f64(0.25)

	incomplete := call(6, 26*time.Hour)
	incomplete.Provider, incomplete.API, incomplete.Model = "anthropic", "anthropic", "claude-haiku-4-5"
	incomplete.Outcome, incomplete.CostUSD = ledger.OutcomeIncomplete, f64(0.01)
	return []ledger.Record{big, unpriced, failed, tagged, old, incomplete}
}

// runeCol is the cell column where sub starts in s (-1 if absent).
func runeCol(s, sub string) int {
	i := strings.Index(s, sub)
	if i < 0 {
		return -1
	}
	return len([]rune(s[:i]))
}

// dataRows are the table's lines under its header.
func dataRows(screen string) []string {
	lines := strings.Split(screen, "\n")
	i := lineIndex(screen, " Time ")
	if i < 0 {
		i = lineIndex(screen, " Started ")
	}
	var out []string
	for _, l := range lines[i+1 : len(lines)-1] {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestCallsTable checks the list at 80×24: header totals, rows with
// thousands separators, right-aligned numbers, "-" for unknown, the
// unpriced and failed markers, the spend chart.
func TestCallsTable(t *testing.T) {
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll})
	s := hs.waitText("claude-haiku-4-5")

	header := lineWith(s, "Calls ")
	for _, want := range []string{"Calls 6 (1 failed)", "Cost $12.76 +1 unpriced", "In 1,239,367", "Out 46,878"} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q lacks %q", header, want)
		}
	}
	rows := dataRows(s)
	if len(rows) != 6 {
		t.Fatalf("%d rows:\n%s", len(rows), s)
	}
	titles := lineWith(s, " Time ")
	for _, tt := range []struct {
		row   int
		want  []string
		right map[string]string // value → the column title it must end under
	}{
		{0, []string{"30s ago", "openai", "gpt-4.1"}, map[string]string{"1,234,567": "Input", "45,678": "Output", "$12.50": "Cost"}},
		{1, []string{"2m ago", "my-local-model"}, map[string]string{"unpriced": "Cost", "1,200": "Input"}},
		{2, []string{"!", "anthropic", "529 error"}, nil},
		{3, []string{"10m ago"}, map[string]string{"$0.0045": "Cost"}},
		{5, []string{"~", "26h ago", "200 partial"}, nil},
	} {
		r := rows[tt.row]
		for _, w := range tt.want {
			if !strings.Contains(r, w) {
				t.Errorf("row %d %q lacks %q", tt.row, r, w)
			}
		}
		for val, title := range tt.right {
			end := runeCol(r, val) + len([]rune(val))
			if want := runeCol(titles, title) + len(title); end != want {
				t.Errorf("row %d: %q ends at %d, column %q at %d (not right-aligned)\n%s\n%s", tt.row, val, end, title, want, titles, r)
			}
		}
	}
	// The failed call has no usage: its numbers are "-", never 0.
	if f := strings.Fields(rows[2]); f[len(f)-1] != "-" || f[len(f)-2] != "-" || f[len(f)-3] != "-" {
		t.Errorf("failed row %q: want - for input, output and cost", rows[2])
	}
	if !strings.ContainsAny(s, "▁▂▃▄▅▆▇█") || !strings.Contains(s, "per hour") {
		t.Errorf("no spend chart per hour:\n%s", s)
	}
	if err := hs.quit(); err != nil {
		t.Fatal(err)
	}
}

// TestDetail opens a call and checks every kind of field, the x-vh-*
// headers, tags and the pretty-printed usage, then steps to the newer and
// older calls and back.
func TestDetail(t *testing.T) {
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll})
	hs.waitText("claude-haiku-4-5")
	for range 3 {
		hs.key(tcell.KeyDown)
	}
	hs.key(tcell.KeyEnter)
	s := hs.waitText("0193a000-0000-7000-8000-000000000004")
	for _, want := range []string{"Started        2026-11-20 11:50:00.000 UTC  (10m ago)", "Model          gpt-4.1",
		"Input tokens   1,200", "cache reads  200", "Cost           $0.004500  (built-in price table)", "4/6"} {
		if !strings.Contains(s, want) {
			t.Errorf("detail lacks %q:\n%s", want, s)
		}
	}
	hs.key(tcell.KeyEnd)
	s = hs.waitText("x-vh-run: r1")
	for _, want := range []string{"x-vh-project: p9", "Tags           eval, nightly", "Valohai sync   not sent yet",
		`"prompt_tokens": 1200,`, `"prompt_tokens_details": {`, `"cached_tokens": 200`} {
		if !strings.Contains(s, want) {
			t.Errorf("detail lacks %q:\n%s", want, s)
		}
	}
	// The JSON keys are indented under their object.
	if a, b := runeCol(lineWith(s, `"prompt_tokens_details"`), `"prompt_tokens_details"`), runeCol(lineWith(s, `"cached_tokens"`), `"cached_tokens"`); b != a+2 {
		t.Errorf("cached_tokens at column %d, its object's key at %d", b, a)
	}
	hs.keys("[")
	s = hs.waitText("0193a000-0000-7000-8000-000000000003")
	for _, want := range []string{"Error          upstream returned 529 overloaded_error", "Status         529  upstream_error",
		"Tokens         unknown: the call carried no usage", "3/6"} {
		if !strings.Contains(s, want) {
			t.Errorf("failed call's detail lacks %q:\n%s", want, s)
		}
	}
	hs.keys("]]")
	hs.waitText("0193a000-0000-7000-8000-000000000005", "5/6")
	hs.key(tcell.KeyEscape)
	s = hs.waitText(" Time ")
	if !strings.Contains(lineWith(s, "/6"), "5/6") {
		t.Errorf("back in the list, not on the call last shown:\n%s", s)
	}
}

// TestFilter filters with the prompt, completes with Tab, refuses a bad
// filter and clears.
func TestFilter(t *testing.T) {
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll})
	hs.waitText("claude-haiku-4-5")

	hs.keys("/provider:anthropic")
	hs.key(tcell.KeyEnter)
	s := hs.waitText("filter provider:anthropic", "Calls 2")
	if rows := dataRows(s); len(rows) != 2 || !strings.Contains(rows[0], "claude-sonnet-4-5") || !strings.Contains(rows[1], "claude-haiku-4-5") {
		t.Errorf("filtered rows:\n%s", strings.Join(rows, "\n"))
	}

	hs.keys("/")
	hs.key(tcell.KeyCtrlU)
	hs.keys("model:")
	// The completions are the window's models, whatever the filter.
	hs.waitText("gpt-4.1  gpt-4.1-mini  claude-haiku-4-5")
	hs.keys("gpt")
	hs.key(tcell.KeyTab)
	hs.waitText("/ model:gpt-4.1 ")
	hs.key(tcell.KeyTab) // cycles to the next value
	hs.waitText("/ model:gpt-4.1-mini")
	hs.key(tcell.KeyEnter)
	s = hs.waitText("filter model:gpt-4.1-mini", "Calls 1 ")
	if rows := dataRows(s); len(rows) != 1 {
		t.Errorf("rows for gpt-4.1-mini:\n%s", s)
	}

	hs.keys("/")
	hs.key(tcell.KeyCtrlU)
	hs.keys("colour:red")
	hs.key(tcell.KeyEnter)
	hs.waitText(`unknown field "colour"`)
	hs.key(tcell.KeyEscape)

	hs.keys("c")
	s = hs.waitText("Calls 6 ")
	if strings.Contains(strings.Split(s, "\n")[0], "filter") {
		t.Errorf("filter not cleared:\n%s", s)
	}
}

// TestSort cycles the sort column and reverses it.
func TestSort(t *testing.T) {
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll})
	hs.waitText("claude-haiku-4-5")
	hs.keys("s")
	s := hs.waitText("sort cost ↓", "Cost ↓")
	want := []string{"$12.50", "$0.2500", "$0.0100", "$0.0045"}
	rows := dataRows(s)
	for i, w := range want {
		if !strings.HasSuffix(strings.TrimRight(rows[i], " "), w) {
			t.Errorf("by cost, row %d = %q, want cost %s\n%s", i, rows[i], w, s)
		}
	}
	hs.keys("S")
	s = hs.waitText("sort cost ↑", "Cost ↑")
	// Unknown costs first (ties by insertion), the most expensive last.
	if rows := dataRows(s); !strings.Contains(rows[0], "my-local-model") || !strings.Contains(rows[1], "claude-sonnet-4-5") || !strings.Contains(rows[5], "$12.50") {
		t.Errorf("by cost ascending (unknown first):\n%s", s)
	}
	hs.keys("s")
	s = hs.waitText("sort input ↓", "Input ↓")
	if rows := dataRows(s); !strings.Contains(rows[0], "1,234,567") || !strings.Contains(rows[5], "claude-sonnet-4-5") {
		t.Errorf("by input:\n%s", s)
	}
}

// TestGroups shows calls by model and by provider with bars, and drills
// into a group.
func TestGroups(t *testing.T) {
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll})
	hs.waitText("claude-haiku-4-5")
	hs.keys("g")
	s := hs.waitText("by model", "Share", "gpt-4.1-mini")
	first := lineWith(s, "gpt-4.1 ")
	for _, want := range []string{"1,235,767", "$12.50", "98.0%", "█"} {
		if !strings.Contains(first, want) {
			t.Errorf("model group %q lacks %q", first, want)
		}
	}
	if l := lineWith(s, "my-local-model"); !strings.Contains(l, "unpriced") {
		t.Errorf("unpriced model group %q", l)
	}
	if l := lineWith(s, "claude-sonnet-4-5"); !strings.Contains(l, " - ") {
		t.Errorf("group without usage %q: want -", l)
	}
	hs.keys("g")
	hs.waitText("by provider", "anthropic")
	hs.keys("j")
	hs.key(tcell.KeyEnter)
	s = hs.waitText("filter provider:anthropic", " Time ")
	if rows := dataRows(s); len(rows) != 2 {
		t.Errorf("drilled into anthropic:\n%s", s)
	}
}

// TestWindow cycles the time window; the header and rows follow.
func TestWindow(t *testing.T) {
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll})
	hs.waitText("claude-haiku-4-5")
	for _, tt := range []struct {
		label string
		calls int
	}{{"last hour", 4}, {"today", 5}, {"last 24h", 5}, {"last 7d", 6}, {"last 30d", 6}, {"all time", 6}} {
		hs.keys("w")
		s := hs.waitText(tt.label, fmt.Sprintf("Calls %d ", tt.calls))
		if rows := dataRows(s); len(rows) != tt.calls {
			t.Errorf("%s: %d rows:\n%s", tt.label, len(rows), s)
		}
		// The chart's buckets follow the window, not the width.
		if tt.label == "last hour" && !strings.Contains(s, "per 5m") {
			t.Errorf("last hour: want a chart of 5-minute steps:\n%s", s)
		}
	}
}

// TestHelp opens and closes the help overlay.
func TestHelp(t *testing.T) {
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll})
	hs.waitText("claude-haiku-4-5")
	hs.keys("?")
	s := hs.waitText("Keys", "Everywhere", "follow new calls", "newer / older call")
	for _, want := range []string{"filter: word, key:glob*", "time window (1h…all)", "data bars", "quit"} {
		if !strings.Contains(s, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	hs.keys("x")
	hs.waitFor("help closed", func(s string) bool { return !strings.Contains(s, "Everywhere") })
}

// TestFollowAndNewBadge adds calls while the user is scrolled away: the
// selection stays on its call and a badge counts the new ones; f jumps
// back and follows again, showing new calls at the top.
func TestFollowAndNewBadge(t *testing.T) {
	path := testLedger(t, fixture()...)
	hs := start(t, path, 80, 24, Options{Window: WindowAll})
	hs.waitText("claude-haiku-4-5", "1/6", "following")
	hs.keys("jj")
	s := hs.waitText("3/6")
	if strings.Contains(s, "following") {
		t.Fatalf("still following after moving down:\n%s", s)
	}
	n1, n2 := call(10, time.Second), call(11, 2*time.Second)
	n1.Model, n2.Model = "new-model-a", "new-model-b"
	appendCalls(t, path, n1, n2)
	s = hs.waitText("↑ 2 new (press f) ↑", "5/8")
	if rows := dataRows(s); !strings.Contains(rows[0], "new-model-a") {
		t.Errorf("new calls not above:\n%s", s)
	}
	hs.keys("f")
	s = hs.waitText("1/8", "following")
	if strings.Contains(s, "new (press f)") {
		t.Errorf("badge still shown after f:\n%s", s)
	}
	n3 := call(12, 0)
	n3.Model = "newest-model"
	appendCalls(t, path, n3)
	s = hs.waitText("1/9", "newest-model")
	if rows := dataRows(s); !strings.Contains(rows[0], "newest-model") {
		t.Errorf("following: newest call not on top:\n%s", s)
	}
}

// TestResize grows the terminal to 200×50 (more columns) and shrinks it
// back to 80×24 (they drop again).
func TestResize(t *testing.T) {
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll})
	s := hs.waitText("claude-haiku-4-5")
	wide := []string{"Status", "Cache rd", "Cache wr", "Reason", "TTFB", "Duration", "Tag", "Client"}
	if l := lineWith(s, " Time "); strings.Contains(l, "Client") {
		t.Errorf("80 columns show the client: %q", l)
	}
	resize := func(w, h int) string {
		hs.sim.SetSize(w, h)
		_ = hs.sim.PostEvent(tcell.NewEventResize(w, h))
		return hs.waitFor(fmt.Sprintf("%d×%d", w, h), func(s string) bool {
			lines := strings.Split(s, "\n")
			return len(lines) == h && len([]rune(lines[0])) == w && strings.Contains(s, "claude-haiku-4-5")
		})
	}
	s = resize(200, 50)
	head := lineWith(s, " Time ")
	for _, col := range wide {
		if !strings.Contains(head, col) {
			t.Errorf("200 columns: no %q in %q", col, head)
		}
	}
	if l := lineWith(s, "my-local-model"); !strings.Contains(l, "OpenAI/Python 1.99.0") {
		t.Errorf("200 columns: no client in %q", l)
	}
	if l := lineWith(s, "Calls "); !strings.Contains(l, "Cached 1,000") || !strings.Contains(l, "Reasoning 250") {
		t.Errorf("200 columns: header %q lacks the optional figures", l)
	}
	s = resize(80, 24)
	if l := lineWith(s, " Time "); strings.Contains(l, "Client") || strings.Contains(l, "TTFB") {
		t.Errorf("back to 80 columns: %q", l)
	}
	if rows := dataRows(s); len(rows) != 6 {
		t.Errorf("80×24 after resize: %d rows", len(rows))
	}
}

// TestLazyPaging browses more calls than a page: End reaches the oldest
// call, Home the newest, and moving down loads older pages as needed.
func TestLazyPaging(t *testing.T) {
	var recs []ledger.Record
	for i := range 450 {
		r := call(1000+i, time.Duration(i)*time.Minute)
		r.InputTokens = int64(i)
		recs = append(recs, r)
	}
	hs := start(t, testLedger(t, recs...), 80, 24, Options{Window: WindowAll, pages: 40, keep: 120})
	hs.waitText(" 1/450 ")
	hs.key(tcell.KeyEnd)
	s := hs.waitText("450/450")
	if rows := dataRows(s); !strings.Contains(rows[len(rows)-1], " 449 ") {
		t.Errorf("End: last row is not the oldest call:\n%s", s)
	}
	hs.key(tcell.KeyHome)
	hs.waitText(" 1/450 ", "following")
	// Ten pages down at once: past the loaded rows, the selection goes
	// on as the older pages arrive.
	for range 10 {
		hs.key(tcell.KeyPgDn)
	}
	s = hs.waitText("141/450")
	if rows := dataRows(s); !strings.Contains(rows[len(rows)-1], " 140 ") {
		t.Errorf("ten pages down:\n%s", s)
	}
}

// TestQuitKeys checks each way out returns cleanly.
func TestQuitKeys(t *testing.T) {
	path := testLedger(t, fixture()...)
	for _, tt := range []struct {
		name string
		key  tcell.Key
		r    rune
	}{{"q", tcell.KeyRune, 'q'}, {"ctrl-c", tcell.KeyCtrlC, 0}, {"esc", tcell.KeyEscape, 0}} {
		t.Run(tt.name, func(t *testing.T) {
			hs := start(t, path, 80, 24, Options{Window: WindowAll})
			hs.sim.InjectKey(tt.key, tt.r, tcell.ModNone)
			select {
			case err := <-hs.done:
				hs.done <- err
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("did not quit")
			}
		})
	}
}

// TestPanicRestoresTerminal panics on the screen goroutine and checks that
// Run finalises the screen before the panic goes on.
func TestPanicRestoresTerminal(t *testing.T) {
	db := openRO(t, testLedger(t, fixture()...))
	sim := tcell.NewSimulationScreen("UTF-8")
	opts := Options{now: func() time.Time { return testNow }, onFrame: func(tcell.Screen) { panic("boom") }}
	var got any
	func() {
		defer func() { got = recover() }()
		_ = Run(context.Background(), sim, db, opts)
	}()
	if got != "boom" {
		t.Fatalf("recovered %v, want the panic", got)
	}
	if w, h := sim.Size(); w != 0 || h != 0 {
		t.Fatalf("screen not finalised: size %d×%d", w, h)
	}
}

// TestGuard checks that a helper goroutine's panic is carried with its
// stack.
func TestGuard(t *testing.T) {
	ch := make(chan string, 1)
	func() {
		defer guard(ch)
		panic("model exploded")
	}()
	msg := <-ch
	if !strings.HasPrefix(msg, "model exploded") || !strings.Contains(msg, "TestGuard") {
		t.Fatalf("message %q", msg)
	}
}

// TestSyncHeader shows the Valohai sync's counts and last error.
func TestSyncHeader(t *testing.T) {
	path := testLedger(t, fixture()...)
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := db.MarkSyncFailed(ctx, []string{"0193a000-0000-7000-8000-000000000004"}); err != nil {
		t.Fatal(err)
	}
	if err := db.NoteSyncResult(ctx, testNow, "POST /api/ingest/transits/: 500 Internal Server Error"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	hs := start(t, path, 120, 24, Options{Window: WindowAll, Sync: true})
	s := hs.waitText("Sync 1 pending · 0 sent · 1 failing")
	if !strings.Contains(lineWith(s, "Sync "), "500 Internal") {
		t.Errorf("no last error:\n%s", s)
	}
}

// TestThemeKey cycles the themes with T; with NoColor (NO_COLOR) every one
// stays colourless.
func TestThemeKey(t *testing.T) {
	path := testLedger(t, fixture()...)
	for _, noColor := range []bool{false, true} {
		t.Run(fmt.Sprint("nocolor=", noColor), func(t *testing.T) {
			th, err := LookupTheme("default", noColor)
			if err != nil {
				t.Fatal(err)
			}
			hs := start(t, path, 80, 24, Options{Window: WindowAll, Theme: th, NoColor: noColor})
			hs.waitText("claude-haiku-4-5")
			first := slices.Index(ThemeNames(), th.Name) // mono under NO_COLOR
			for i := range len(ThemeNames()) {
				name := ThemeNames()[(first+i+1)%len(ThemeNames())]
				hs.keys("T")
				hs.waitText("theme " + name + " ")
				if want := !noColor && name != "mono"; hs.coloured != want {
					t.Fatalf("theme %s: coloured %v", name, hs.coloured)
				}
			}
		})
	}
}

// TestBudgetHeader reads today's and the month's spend and the configured
// budgets from the ledger into the header, whatever the window shows.
func TestBudgetHeader(t *testing.T) {
	bs := []budgets.Budget{
		{Name: "daily", LimitUSD: 10, Period: "day", WarnAt: []float64{0.5}},
		{Name: "mini", LimitUSD: 1, Period: "month", Scope: budgets.Scope{Model: "gpt-4.1-mini"}},
	}
	hs := start(t, testLedger(t, fixture()...), 160, 45, Options{Window: WindowHour, Budgets: bs})
	s := hs.waitText("Today ", "daily")
	l := lineWith(s, "Today ")
	for _, want := range []string{"Today $12.75", "Month $12.76", "127% $12.75/$10 +1 unpriced", "mini ▕██▌", "25% $0.2500/$1"} {
		if !strings.Contains(l, want) {
			t.Errorf("header %q lacks %q", l, want)
		}
	}
	if err := hs.quit(); err != nil {
		t.Fatal(err)
	}
}

// TestHostileStrings: a call whose model, client, tags, project and error
// carry an OSC 52 clipboard write, ESC[2J, C1 and bidi controls is shown
// with those characters visible: no cell holds a control character and
// the header is intact, in the list and in the detail view.
func TestHostileStrings(t *testing.T) {
	evil := call(1, time.Minute)
	evil.Model = "gpt\x1b]52;c;SGVsbG8=\x07-4.1"
	evil.Client = "curl\x1b[2J\x1b[H/8"
	evil.Tags = []string{"t\u009b2J", "x\u202eexe"}
	evil.Project, evil.Session = "web\x1b[31m", "s\x00"
	evil.Error = "boom\r\x1b[1A"
	hs := start(t, testLedger(t, evil, call(2, 2*time.Minute)), 160, 45, Options{Window: WindowAll})
	check := func(what string, s string) {
		t.Helper()
		if hs.control != "" {
			t.Fatalf("%s: %s:\n%s", what, hs.control, s)
		}
		if !strings.HasPrefix(s, " Conduit │ all time") || !strings.Contains(lineWith(s, "Calls "), "Calls 2") {
			t.Fatalf("%s: header not intact:\n%s", what, s)
		}
	}
	s := hs.waitText(`gpt\x1b]52;c;`, `curl\x1b[2J`)
	check("list", s)
	hs.key(tcell.KeyEnter)
	s = hs.waitText("Session", `web\x1b[31m`, `t\u009b2J, x\u202eexe`, `gpt\x1b]52;c;SGVsbG8=\a-4.1`, `curl\x1b[2J\x1b[H/8`, `boom\r\x1b[1A`)
	check("detail", s)
	if err := hs.quit(); err != nil {
		t.Fatal(err)
	}
}

// TestProjectsAndPatterns groups the calls by project and by session and
// drills into one, then filters by a glob and by a search word.
func TestProjectsAndPatterns(t *testing.T) {
	recs := fixture()
	for i := range recs {
		recs[i].Project = []string{"web", "api"}[i%2]
		recs[i].Session = []string{"run-1", "run-2", "run-3"}[i%3]
	}
	hs := start(t, testLedger(t, recs...), 100, 30, Options{Window: WindowAll})
	hs.waitText("claude-haiku-4-5")
	hs.keys("ggg")
	s := hs.waitText("by project", "Project", "web", "api")
	if l := lineWith(s, "web "); !strings.Contains(l, " 3 ") {
		t.Errorf("project web %q: want 3 calls", l)
	}
	hs.keys("g")
	hs.waitText("by session", "Session", "run-3")
	hs.key(tcell.KeyEnd)
	hs.key(tcell.KeyEnter)
	s = hs.waitText("filter session:run-", " Time ")
	if rows := dataRows(s); len(rows) != 2 {
		t.Errorf("one session's calls:\n%s", s)
	}
	for _, tt := range []struct {
		filter string
		calls  int
		has    string
	}{
		{"model:gpt-4.1*", 3, "gpt-4.1-mini"},
		{"project:w?b", 3, "filter project:w?b"},
		{"HAIKU", 1, "claude-haiku-4-5"},
		{"pytho", 6, "Calls 6"},
	} {
		hs.keys("c/")
		hs.keys(tt.filter)
		hs.key(tcell.KeyEnter)
		s = hs.waitText("filter "+tt.filter, fmt.Sprintf("Calls %d ", tt.calls), tt.has)
		if rows := dataRows(s); len(rows) != tt.calls {
			t.Errorf("%s: %d rows:\n%s", tt.filter, len(rows), s)
		}
	}
}

// TestOtherRequests: requests that are not LLM calls are left out of the
// list and totals until `a` asks for them, and the footer says which.
func TestOtherRequests(t *testing.T) {
	models := call(9, 20*time.Second)
	models.Kind, models.Endpoint, models.Method, models.Path = ledger.KindOther, "", "GET", "/v1/models"
	models.Model, models.HasUsage, models.CostUSD, models.CostSource = "", false, nil, ""
	hs := start(t, testLedger(t, append(fixture(), models)...), 100, 30, Options{Window: WindowAll})
	s := hs.waitText("claude-haiku-4-5", "Calls 6 ", "a all requests")
	if rows := dataRows(s); len(rows) != 6 {
		t.Fatalf("by default: %d rows:\n%s", len(rows), s)
	}
	hs.keys("a")
	s = hs.waitText("│ all requests", "Calls 7 ", "+ non-LLM requests")
	if rows := dataRows(s); len(rows) != 7 || !strings.HasPrefix(rows[0], "·") || !strings.Contains(rows[0], "GET /v1/models") {
		t.Fatalf("with a: rows:\n%s", s)
	}
	// A filter typed meanwhile keeps the toggle.
	hs.keys("/openai")
	hs.key(tcell.KeyEnter)
	hs.waitText("filter openai", "+ non-LLM requests")
	hs.keys("a")
	s = hs.waitText("filter openai", "LLM calls only")
	if strings.Contains(s, "non-LLM") || strings.Contains(s, "│ all requests") {
		t.Fatalf("toggled off:\n%s", s)
	}
}
