//go:build !unix

package main

import (
	"errors"
	"os"
	"os/exec"
)

// errExecUnsupported: this platform cannot replace the process; spawn
// instead.
var errExecUnsupported = errors.New("exec not supported")

// forwardedSignals are passed on to the spawned command. A console Ctrl-C
// reaches it directly on Windows.
var forwardedSignals = []os.Signal{os.Interrupt}

// execCommand cannot replace the process here.
func execCommand(path string, argv, env []string) error { return errExecUnsupported }

// signalOf: the exit code says it all here.
func signalOf(ee *exec.ExitError) (int, bool) { return 0, false }
