package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
)

// frameScreen is a simulation screen that hands the text of every frame
// it shows to the test (from the dashboard's own goroutine, so reading the
// cells never races with drawing them).
type frameScreen struct {
	tcell.SimulationScreen
	frames chan frame
}

type frame struct {
	text     string
	coloured bool // some cell has a foreground or background colour
}

func (s *frameScreen) Show() {
	s.SimulationScreen.Show()
	cells, w, h := s.GetContents()
	var b strings.Builder
	coloured := false
	for y := range h {
		for x := range w {
			c := cells[y*w+x]
			b.WriteString(string(c.Runes))
			fg, bg, _ := c.Style.Decompose()
			coloured = coloured || (fg != tcell.ColorDefault && fg != tcell.ColorReset) || (bg != tcell.ColorDefault && bg != tcell.ColorReset)
		}
		b.WriteByte('\n')
	}
	select {
	case <-s.frames:
	default:
	}
	s.frames <- frame{b.String(), coloured}
}

// runDashboardCLI runs `conduit dashboard args…` on a simulation screen,
// waits for a frame satisfying ok, presses q, and returns that frame and
// the exit code.
func runDashboardCLI(t *testing.T, env map[string]string, ok func(frame) bool, args ...string) (frame, int, string) {
	t.Helper()
	if os.Getenv("XDG_CONFIG_HOME") == "" || !strings.HasPrefix(os.Getenv("XDG_CONFIG_HOME"), os.TempDir()) {
		// The dashboard remembers its state under the user's config
		// directory: never the real one in a test.
		t.Setenv("XDG_CONFIG_HOME", t.TempDir())
		t.Setenv("HOME", t.TempDir())
	}
	scr := &frameScreen{SimulationScreen: tcell.NewSimulationScreen("UTF-8"), frames: make(chan frame, 1)}
	old := newDashboardScreen
	newDashboardScreen = func() (tcell.Screen, error) { return scr, nil }
	defer func() { newDashboardScreen = old }()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCLI(t, env, append([]string{"dashboard"}, args...)...)
		done <- result{code, out, errOut}
	}()
	var last frame
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-scr.frames:
			last = f
			if !ok(f) {
				continue
			}
			scr.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
			r := <-done
			return f, r.code, r.stderr
		case r := <-done:
			t.Fatalf("dashboard exited %d before the expected screen: %s\n%s", r.code, r.stderr, last.text)
		case <-deadline:
			t.Fatalf("timed out; last screen:\n%s", last.text)
		}
	}
}

// TestDashboardCommand opens the config's ledger, applies the flags, and
// quits cleanly on q.
func TestDashboardCommand(t *testing.T) {
	cfg, ledgerPath := ledgerFixture(t)
	contains := func(subs ...string) func(frame) bool {
		return func(f frame) bool {
			for _, s := range subs {
				if !strings.Contains(f.text, s) {
					return false
				}
			}
			return true
		}
	}
	f, code, errOut := runDashboardCLI(t, nil, contains("gpt-4.1", "last 24h", "Calls 2"), "-c", cfg)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !f.coloured {
		t.Error("default theme drew no colour")
	}
	// --window, --provider, --ledger without a config, NO_COLOR, -v.
	f, code, _ = runDashboardCLI(t, map[string]string{"NO_COLOR": "1"}, contains("llama3.1:8b", "all time", "filter provider:local", "Logs (L hides)"),
		"--ledger", ledgerPath, "-c", filepath.Join(t.TempDir(), "none.toml"), "--window", "all", "--provider", "local", "-v", "--theme", "qbasic")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if f.coloured {
		t.Error("NO_COLOR: the screen has colours")
	}
	if strings.Contains(f.text, "gpt-4.1 ") {
		t.Errorf("--provider local shows other calls:\n%s", f.text)
	}
	// A glob in a filter flag filters by the pattern.
	f, code, _ = runDashboardCLI(t, nil, contains("filter model:gpt-*", "last 24h", "Calls 1 "), "-c", cfg, "--model", "gpt-*", "--window", "24h")
	if code != 0 || strings.Contains(f.text, "llama3.1:8b") {
		t.Fatalf("--model gpt-*: exit %d\n%s", code, f.text)
	}
	// --all starts with the requests that are not LLM calls shown.
	if _, code, _ = runDashboardCLI(t, nil, contains("│ all requests", "+ non-LLM requests"), "-c", cfg, "--all"); code != 0 {
		t.Fatalf("--all: exit %d", code)
	}
}

func TestDashboardCommandErrors(t *testing.T) {
	cfg, _ := ledgerFixture(t)
	empty := filepath.Join(t.TempDir(), "conduit.toml")
	if err := os.WriteFile(empty, []byte("[providers.openai]\nupstream = \"https://api.openai.com\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dashboard", "-c", cfg, "--theme", "solarized"}, 2, `--theme: unknown theme "solarized": want one of default, qbasic, gorillas, nibbles, mono`},
		{[]string{"dashboard", "-c", cfg, "--window", "fortnight"}, 2, `--window: unknown window "fortnight"`},
		{[]string{"dashboard", "-c", cfg, "now"}, 2, "unexpected argument 'now'"},
		{[]string{"dashboard", "-c", cfg, "--windw", "1h"}, 2, "did you mean --window?"},
		{[]string{"dashboard", "-c", empty}, 1, "no ledger at"},
		{[]string{"dashboard", "-c", filepath.Join(t.TempDir(), "none.toml")}, 1, "none.toml"},
	} {
		code, _, errOut := runCLI(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
	code, out, _ := runCLI(t, nil, "dashboard", "--help")
	if code != 0 || !strings.Contains(out, "--window <WINDOW>") || !strings.Contains(out, "NO_COLOR") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// TestDashboardRemembers: the window and theme of one run are the next
// run's unless flags say otherwise; a broken state file is logged and
// ignored.
func TestDashboardRemembers(t *testing.T) {
	cfg, _ := ledgerFixture(t)
	base := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", base)
	t.Setenv("HOME", base)
	has := func(subs ...string) func(frame) bool {
		return func(f frame) bool {
			for _, s := range subs {
				if !strings.Contains(f.text, s) {
					return false
				}
			}
			return true
		}
	}
	if _, code, _ := runDashboardCLI(t, nil, has("last 7d", "Calls 3"), "-c", cfg, "--window", "7d", "--theme", "mono"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	state, err := os.ReadFile(filepath.Join(base, "conduit", "dashboard.json"))
	if err != nil || !strings.Contains(string(state), `"window": "7d"`) || !strings.Contains(string(state), `"theme": "mono"`) {
		t.Fatalf("state file %q, %v", state, err)
	}
	f, code, _ := runDashboardCLI(t, nil, has("last 7d", "Calls 3"), "-c", cfg)
	if code != 0 || f.coloured {
		t.Fatalf("second run: exit %d, coloured %v (want the remembered mono theme)", code, f.coloured)
	}
	if _, code, _ := runDashboardCLI(t, nil, has("last hour"), "-c", cfg, "--window", "1h"); code != 0 {
		t.Fatalf("a flag over the state: exit %d", code)
	}
	if err := os.WriteFile(filepath.Join(base, "conduit", "dashboard.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, code, _ := runDashboardCLI(t, nil, has("last 24h", "ignoring the saved sta"), "-c", cfg, "-v"); code != 0 {
		t.Fatalf("broken state file: exit %d", code)
	}
}
