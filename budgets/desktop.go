package budgets

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"time"
)

// DesktopOptions configure desktop notifications. Zero values take the
// defaults.
type DesktopOptions struct {
	GOOS     string                                         // the platform; "": runtime.GOOS
	LookPath func(string) (string, error)                   // nil: exec.LookPath
	Timeout  time.Duration                                  // per notification; default 10 s
	Logger   *slog.Logger                                   // nil: slog.Default()
	run      func(ctx context.Context, argv []string) error // tests
}

// Desktop shows alerts as desktop notifications: notify-send on Linux and
// the BSDs, osascript on macOS. The command runs on a goroutine of its own,
// one at a time, from a small bounded queue, so a slow or hung notifier
// never delays a call.
type Desktop struct {
	*queue
	argv    func(Alert) []string
	timeout time.Duration
	run     func(ctx context.Context, argv []string) error
}

// NewDesktop returns the platform's notifier, or an error that says why
// there is none (no such command, or no way on this platform).
func NewDesktop(o DesktopOptions) (*Desktop, error) {
	if o.GOOS == "" {
		o.GOOS = runtime.GOOS
	}
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.run == nil {
		o.run = func(ctx context.Context, argv []string) error {
			out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
			if err != nil && len(out) > 0 {
				return fmt.Errorf("%w: %.200s", err, out)
			}
			return err
		}
	}
	var name string
	var argv func(path string, a Alert) []string
	switch o.GOOS {
	case "darwin":
		// The texts go in as arguments, never into the script: a budget
		// name cannot become AppleScript.
		name = "osascript"
		argv = func(path string, a Alert) []string {
			return []string{path, "-e", "on run argv", "-e", "display notification (item 2 of argv) with title (item 1 of argv)",
				"-e", "end run", a.Title(), a.Message()}
		}
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
		name = "notify-send"
		argv = func(path string, a Alert) []string {
			urgency := "normal"
			if a.Limit() {
				urgency = "critical"
			}
			return []string{path, "--app-name=Conduit", "--urgency=" + urgency, "--", a.Title(), a.Message()}
		}
	default:
		return nil, fmt.Errorf("budget alerts: no desktop notifications on %s; use [alerts] webhook", o.GOOS)
	}
	path, err := o.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("budget alerts: desktop notifications need %s, which is not installed: %w", name, err)
	}
	d := &Desktop{argv: func(a Alert) []string { return argv(path, a) }, timeout: o.Timeout, run: o.run}
	d.queue = newQueue(name, 8, o.Logger, d.show)
	return d, nil
}

func (d *Desktop) show(ctx context.Context, a Alert) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if err := d.run(ctx, d.argv(a)); err != nil {
		d.logger.Warn("budget alerts: the desktop notification failed", "err", err, "budget", a.Budget.Name)
	}
}
