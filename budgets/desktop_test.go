package budgets

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDesktop guards the notification commands per platform, with the
// alert's texts passed as arguments (never inside a script), and a
// platform or machine without a notifier refused with a reason.
func TestDesktop(t *testing.T) {
	t.Parallel()
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	limit := testAlert()
	limit.Threshold = 1
	limit.Budget.Name = `x" & do shell script "rm -rf ~`
	tests := []struct {
		goos  string
		alert Alert
		want  string
	}{
		{"linux", testAlert(), `/usr/bin/notify-send|--app-name=Conduit|--urgency=normal|--|Conduit: budget daily at 80%|budget "daily" passed 80%`},
		{"freebsd", limit, `/usr/bin/notify-send|--app-name=Conduit|--urgency=critical|--|Conduit: budget x" & do shell script "rm -rf ~ reached its limit|`},
		{"darwin", limit, `/usr/bin/osascript|-e|on run argv|-e|display notification (item 2 of argv) with title (item 1 of argv)|-e|end run|Conduit: budget x" & do shell script "rm -rf ~ reached its limit|`},
	}
	for _, tt := range tests {
		t.Run(tt.goos, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			d, err := NewDesktop(DesktopOptions{GOOS: tt.goos, LookPath: found, run: func(_ context.Context, argv []string) error {
				mu.Lock()
				got = argv
				mu.Unlock()
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			d.Notify(tt.alert)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := d.Close(ctx); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if s := strings.Join(got, "|"); !strings.HasPrefix(s, tt.want) {
				t.Errorf("ran %q\nwant prefix %q", s, tt.want)
			}
		})
	}
	if _, err := NewDesktop(DesktopOptions{GOOS: "windows", LookPath: found}); err == nil || !strings.Contains(err.Error(), "no desktop notifications on windows") {
		t.Errorf("windows: %v", err)
	}
	missing := func(string) (string, error) { return "", exec.ErrNotFound }
	if _, err := NewDesktop(DesktopOptions{GOOS: "linux", LookPath: missing}); err == nil || !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "notify-send") {
		t.Errorf("no notify-send: %v", err)
	}
}

// TestDesktopHungCommand guards the calls that alert: a notifier that
// hangs is stopped by its timeout, later alerts still go out, and Notify
// never waits for it.
func TestDesktopHungCommand(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	runs := 0
	release := make(chan struct{})
	d, err := NewDesktop(DesktopOptions{GOOS: "linux", LookPath: func(n string) (string, error) { return n, nil }, Timeout: time.Millisecond,
		run: func(ctx context.Context, argv []string) error {
			mu.Lock()
			runs++
			first := runs == 1
			mu.Unlock()
			if first {
				<-ctx.Done() // hangs until its timeout
				close(release)
				return fmt.Errorf("notify-send: %w", ctx.Err())
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	d.Notify(testAlert())
	d.Notify(testAlert())
	<-release
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != 2 {
		t.Errorf("%d notifications run, want 2", runs)
	}
}
