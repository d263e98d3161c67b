package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/valohai/conduit/ledger"
)

// testNow is the dashboard's clock in tests: relative times and windows
// are computed from it.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func f64(v float64) *float64 { return &v }

// call returns a complete record started ago before testNow.
func call(i int, ago time.Duration) ledger.Record {
	start := testNow.Add(-ago)
	return ledger.Record{
		ID:         fmt.Sprintf("0193a000-0000-7000-8000-%012d", i),
		StartedAt:  start,
		FinishedAt: start.Add(1500 * time.Millisecond),
		Provider:   "openai", API: "openai", Endpoint: "chat_completions", Mode: ledger.ModeBaseURL,
		Method: "POST", Host: "api.openai.com", Path: "/v1/chat/completions",
		Model: "gpt-4.1", Stream: true, Status: 200, Outcome: ledger.OutcomeComplete,
		HasUsage: true, InputTokens: 1200, CachedInputTokens: 200, OutputTokens: 300, ReasoningTokens: 50,
		CostUSD: f64(0.0045), CostSource: ledger.CostFromTable,
		TTFB: 250 * time.Millisecond, Duration: 1500 * time.Millisecond,
		RequestID: fmt.Sprintf("req_%d", i), ResponseID: fmt.Sprintf("chatcmpl-%d", i),
		Client:   "OpenAI/Python 1.99.0",
		UsageRaw: json.RawMessage(`{"prompt_tokens":1200,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":200}}`),
	}
}

// testLedger creates a ledger holding recs, written through the real
// Writer, and returns its path.
func testLedger(t testing.TB, recs ...ledger.Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conduit.db")
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := ledger.NewWriter(db, ledger.WriterOptions{})
	for _, r := range recs {
		w.Add(r)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return path
}

// appendCalls writes more calls to the ledger at path, as a running proxy
// would (another connection, through the Writer).
func appendCalls(t testing.TB, path string, recs ...ledger.Record) {
	t.Helper()
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := ledger.NewWriter(db, ledger.WriterOptions{})
	for _, r := range recs {
		w.Add(r)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func openRO(t testing.TB, path string) *ledger.DB {
	t.Helper()
	db, err := ledger.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// harness runs the real dashboard on a simulation screen.
type harness struct {
	t      *testing.T
	sim    tcell.SimulationScreen
	frames chan frameText // each drawn frame, newest kept
	done   chan error
	last   string
	// coloured is whether the last frame waited for had any colour.
	coloured bool
	// control is the last frame's first cell holding a control or
	// otherwise unsafe character ("": none).
	control string
}

// frameText is a drawn frame's text, whether any cell has a colour, and
// its first cell holding an unsafe character. It is read on the
// dashboard's goroutine as the frame is shown: the simulation screen's
// cells are not safe to read from the test's.
type frameText struct {
	text     string
	coloured bool
	control  string
}

// start runs the dashboard over the ledger at path on a w×h simulation
// screen and waits for its first frame with data.
func start(t *testing.T, path string, w, h int, opts Options) *harness {
	t.Helper()
	db := openRO(t, path)
	sim := tcell.NewSimulationScreen("UTF-8")
	hs := &harness{t: t, sim: sim, frames: make(chan frameText, 1), done: make(chan error, 1)}
	opts.now = func() time.Time { return testNow }
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Poll == 0 {
		opts.Poll = 20 * time.Millisecond
	}
	sized := false
	opts.onFrame = func(scr tcell.Screen) {
		if !sized {
			// The first frame sizes the screen; the resize event that
			// follows redraws at w×h.
			sized = true
			sim.SetSize(w, h)
			_ = sim.PostEvent(tcell.NewEventResize(w, h))
			return
		}
		f := frameText{text: screenText(sim)}
		cells, _, _ := sim.GetContents()
		for i, c := range cells {
			for _, r := range c.Runes {
				if f.control == "" && (r < 0x20 || r == 0x7f || unsafeRune(r)) {
					f.control = fmt.Sprintf("cell %d holds %U", i, r)
				}
			}
		}
		for _, c := range cells {
			fg, bg, _ := c.Style.Decompose()
			if (fg != tcell.ColorDefault && fg != tcell.ColorReset) || (bg != tcell.ColorDefault && bg != tcell.ColorReset) {
				f.coloured = true
				break
			}
		}
		select {
		case <-hs.frames:
		default:
		}
		hs.frames <- f
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { hs.done <- Run(ctx, sim, db, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-hs.done:
		case <-time.After(10 * time.Second):
			t.Error("dashboard did not stop")
		}
	})
	hs.waitFor("first frame", func(s string) bool {
		lines := strings.Split(s, "\n")
		return len(lines) == h && len([]rune(lines[0])) == w && !strings.Contains(lines[0], "loading")
	})
	return hs
}

// screenText is the simulation screen's content, one line per row.
func screenText(sim tcell.SimulationScreen) string {
	cells, w, h := sim.GetContents()
	var b strings.Builder
	for y := range h {
		if y > 0 {
			b.WriteByte('\n')
		}
		for x := 0; x < w; x++ {
			c := cells[y*w+x]
			if len(c.Runes) == 0 {
				b.WriteByte(' ')
				continue
			}
			b.WriteString(string(c.Runes))
		}
	}
	return b.String()
}

// waitFor waits until a frame satisfies ok, and returns it.
func (hs *harness) waitFor(what string, ok func(screen string) bool) string {
	hs.t.Helper()
	if hs.last != "" && !partial(hs.last) && ok(hs.last) {
		return hs.last
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-hs.frames:
			hs.last, hs.coloured, hs.control = f.text, f.coloured, f.control
			if partial(f.text) {
				continue
			}
			if ok(f.text) {
				return f.text
			}
		case err := <-hs.done:
			hs.t.Fatalf("dashboard stopped (%v) waiting for %s; last screen:\n%s", err, what, hs.last)
		case <-deadline:
			hs.t.Fatalf("timed out waiting for %s; last screen:\n%s", what, hs.last)
		}
	}
}

// partial reports a frame drawn while a query is still being read: the
// old data under "loading…", or the new calls before their totals.
func partial(screen string) bool {
	lines := strings.SplitN(screen, "\n", 3)
	return strings.Contains(lines[0], "loading…") || (len(lines) > 1 && strings.Contains(lines[1], "Reading the totals…"))
}

// waitText waits for a frame containing every one of subs.
func (hs *harness) waitText(subs ...string) string {
	hs.t.Helper()
	return hs.waitFor(strings.Join(subs, ", "), func(s string) bool {
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	})
}

func (hs *harness) keys(s string) {
	for _, r := range s {
		hs.sim.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
}

func (hs *harness) key(k tcell.Key) { hs.sim.InjectKey(k, 0, tcell.ModNone) }

// quit presses q and waits for Run to return.
func (hs *harness) quit() error {
	hs.t.Helper()
	hs.keys("q")
	select {
	case err := <-hs.done:
		hs.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		hs.t.Fatal("dashboard did not quit")
	}
	return nil
}

// lineWith returns the screen line containing sub (or "").
func lineWith(screen, sub string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// lineIndex returns the index of the first line containing sub, or -1.
func lineIndex(screen, sub string) int {
	for i, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, sub) {
			return i
		}
	}
	return -1
}
