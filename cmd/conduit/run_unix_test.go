//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunForwardsSignals guards the spawn path (Windows, or output not on
// conduit's own terminal): a signal conduit receives reaches the command,
// and a command killed by a signal exits conduit with 128+N.
func TestRunForwardsSignals(t *testing.T) {
	needSh(t)
	cfg := envConfig(t, fakeConduit(t), t.TempDir())
	pr, pw := io.Pipe()
	defer pr.Close()
	codes := make(chan int, 1)
	go func() {
		var stderr strings.Builder
		codes <- run(context.Background(), []string{"-c", cfg, "run", "--mode", "base-url", "--", "sh", "-c",
			`trap 'echo got-usr1; exit 5' USR1; echo ready; while :; do sleep 1 >/dev/null 2>&1 & wait $!; done`},
			strings.NewReader(""), pw, &stderr, func(string) string { return "" })
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	if line, err := br.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("command did not start: %q %v", line, err)
	}
	// conduit (this process) receives the signal; the command must get it.
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	if line, _ := br.ReadString('\n'); line != "got-usr1\n" {
		t.Errorf("command printed %q", line)
	}
	if code := <-codes; code != 5 {
		t.Errorf("exit %d, want the command's 5", code)
	}
	var es *exitStatusError
	if err := exitStatus(exec.Command("sh", "-c", "kill -TERM $$").Run()); !errors.As(err, &es) || es.code != 128+int(syscall.SIGTERM) {
		t.Errorf("killed by SIGTERM: %v, want exit status 143", err)
	}
}

// TestRunExecs guards the Unix path: conduit run replaces itself with the
// command, so a signal sent to conduit's pid is the command's, and the
// command's exit status is conduit's.
func TestRunExecs(t *testing.T) {
	needSh(t)
	cfg := envConfig(t, fakeConduit(t), t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRunExecHelper$", "--", "-c", cfg, "run", "--mode", "base-url", "--", "sh", "-c",
		`trap 'echo "got-term $OPENAI_BASE_URL"; exit 3' TERM; echo ready; while :; do sleep 1 >/dev/null 2>&1 & wait $!; done`)
	cmd.Env = append(os.Environ(), "CONDUIT_RUN_HELPER=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(stdout)
	if line, err := br.ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		t.Fatalf("command did not start: %q %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGTERM) // to conduit's pid, which is now sh
	line, _ := br.ReadString('\n')
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit %v, want the command's status 3", err)
	}
	if !strings.HasPrefix(line, "got-term http://") || !strings.HasSuffix(line, "/openai/v1\n") {
		t.Errorf("command printed %q", line)
	}
}
