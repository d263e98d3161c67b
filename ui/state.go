package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/valohai/conduit/ledger"
)

// State is what the dashboard remembers between runs: the window, the
// theme and the grouping last used. Its zero value remembers nothing.
type State struct {
	Window string `json:"window,omitempty"` // as ParseWindow takes it
	Theme  string `json:"theme,omitempty"`  // a ThemeNames name
	Group  string `json:"group,omitempty"`  // a grouping ("model", "project", …); "": the calls
}

// StateFile is where the state is kept, under the user's config
// directory.
func StateFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory for the dashboard's state: %w", err)
	}
	return filepath.Join(dir, "conduit", "dashboard.json"), nil
}

// maxStateFile bounds what LoadState reads: the state is a few dozen
// bytes; anything much larger is not one.
const maxStateFile = 64 << 10

// LoadState reads the state file at path. A missing file is the zero State
// and no error; a file that cannot be read or parsed, or holds values this
// version does not know, is an error (the caller logs it and goes on with
// the zero State: a broken state file never stops the dashboard).
func LoadState(path string) (State, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return State{}, nil
	case err != nil:
		return State{}, fmt.Errorf("read dashboard state: %w", err)
	case len(b) > maxStateFile:
		return State{}, fmt.Errorf("dashboard state %s: %d bytes is not a state file", path, len(b))
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("dashboard state %s: %w", path, err)
	}
	if s.Window != "" {
		if _, err := ParseWindow(s.Window); err != nil {
			return State{}, fmt.Errorf("dashboard state %s: %w", path, err)
		}
	}
	if s.Theme != "" && !slices.Contains(ThemeNames(), s.Theme) {
		return State{}, fmt.Errorf("dashboard state %s: unknown theme %q", path, s.Theme)
	}
	if s.Group != "" && !slices.Contains(groupings, ledger.GroupBy(s.Group)) {
		return State{}, fmt.Errorf("dashboard state %s: unknown grouping %q", path, s.Group)
	}
	return s, nil
}

// SaveState writes s to path, creating its directory (0700: it is the
// user's), through a temporary file renamed into place so that a crash
// never leaves half a file.
func SaveState(path string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode dashboard state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save dashboard state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dashboard-*.json")
	if err != nil {
		return fmt.Errorf("save dashboard state: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("save dashboard state %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("save dashboard state %s: %w", path, err)
	}
	return nil
}
