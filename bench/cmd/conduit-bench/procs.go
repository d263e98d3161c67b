//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// proc is a subprocess of the benchmark: a fake provider, a proxy, or
// mitmdump. Its stdout and stderr go to one log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // path of its output
	addr string // host:port it listens on, once known
	done chan struct{}
	err  error // set when done is closed
}

// startTimeout bounds how long a subprocess may take to start listening.
const startTimeout = 30 * time.Second

// start runs name with args, its output in dir/<name>.log, and waits until
// ready reports the address it listens on (from its output so far) or it
// exits. The process gets SIGKILL if this program dies first.
func start(ctx context.Context, dir, name string, ready func(out []byte) (string, bool), command string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(command, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		out, _ := os.ReadFile(logPath)
		if addr, ok := ready(out); ok {
			p.addr = addr
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v):\n%s", name, p.err, tail(out))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not ready after %v:\n%s", name, startTimeout, tail(out))
		}
	}
}

// tail is the end of a log, for error messages.
func tail(out []byte) string {
	const keep = 2000
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return string(bytes.TrimSpace(out))
}

// pid is the subprocess's process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop asks the process to end (SIGTERM), and kills it if it has not
// within ten seconds. It is idempotent.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// listeningOn is a ready func for processes that print
// "listening on scheme://host:port".
func listeningOn(out []byte) (string, bool) {
	return match(listeningRE, out)
}

var (
	listeningRE = regexp.MustCompile(`listening on \w+://([0-9.:\[\]]+)`)
	conduitRE   = regexp.MustCompile(`proxy running at http://([0-9.:\[\]]+)`)
)

// conduitRunning is a ready func for `conduit proxy`'s log.
func conduitRunning(out []byte) (string, bool) {
	return match(conduitRE, out)
}

func match(re *regexp.Regexp, out []byte) (string, bool) {
	m := re.FindSubmatch(out)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// portOpen is a ready func maker for processes that print nothing useful:
// ready once addr accepts a TCP connection and every file in files exists.
func portOpen(addr string, files ...string) func([]byte) (string, bool) {
	return func([]byte) (string, bool) {
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				return "", false
			}
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return "", false
		}
		c.Close()
		return addr, true
	}
}

// freePort returns a loopback address with a port free right now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// goBuild builds pkg (relative to the module root) into dir/name.
func goBuild(ctx context.Context, goCmd, root, dir, name, pkg string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the Conduit module: run conduit-bench from the repository")
	}
	return filepath.Dir(mod), nil
}
