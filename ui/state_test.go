package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestState: the state file round-trips, a missing one is the zero State,
// and a broken one is an error the caller can log and go on from.
func TestState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conduit", "dashboard.json")
	if s, err := LoadState(path); err != nil || s != (State{}) {
		t.Fatalf("missing file: %+v, %v", s, err)
	}
	want := State{Window: "7d", Theme: "qbasic", Group: "project"}
	if err := SaveState(path, want); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v, %v", fi.Mode(), err)
	}
	if got, err := LoadState(path); err != nil || got != want {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	for _, tt := range []struct{ name, content, want string }{
		{"not JSON", "{window: 7d", "dashboard state"},
		{"unknown window", `{"window":"fortnight"}`, "unknown window"},
		{"unknown theme", `{"theme":"solarized"}`, "unknown theme"},
		{"unknown grouping", `{"group":"colour"}`, "unknown grouping"},
		{"huge", strings.Repeat(" ", maxStateFile+1), "not a state file"},
	} {
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := LoadState(path); err == nil || !strings.Contains(err.Error(), tt.want) || s != (State{}) {
			t.Errorf("%s: %+v, %v; want an error with %q", tt.name, s, err, tt.want)
		}
	}
}

// TestRunSavesState: the dashboard saves the window, theme and grouping it
// ends with, over the state it started from.
func TestRunSavesState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dashboard.json")
	hs := start(t, testLedger(t, fixture()...), 80, 24, Options{Window: WindowAll, StatePath: path, State: State{Window: "all"}})
	hs.waitText("claude-haiku-4-5")
	hs.keys("wTg")
	hs.waitText("last hour", "by model")
	if err := hs.quit(); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadState(path); err != nil || got != (State{Window: "1h", Theme: "qbasic", Group: "model"}) {
		t.Fatalf("saved %+v, %v", got, err)
	}
}
