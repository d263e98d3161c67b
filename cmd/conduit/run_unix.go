//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// errExecUnsupported: this platform cannot replace the process; spawn
// instead.
var errExecUnsupported = errors.New("exec not supported")

// forwardedSignals are passed on to a spawned command. (conduit run
// normally execs on Unix, and then there is nothing to pass on.)
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// execCommand replaces conduit with the command. It returns only on
// failure.
func execCommand(path string, argv, env []string) error {
	return syscall.Exec(path, argv, env)
}

// signalOf returns the signal that ended the command, if one did.
func signalOf(ee *exec.ExitError) (int, bool) {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return int(ws.Signal()), true
	}
	return 0, false
}
