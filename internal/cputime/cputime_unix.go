//go:build unix

// Package cputime reads the CPU time the process has used, for benchmarks
// that report CPU per operation: other processes on a shared machine sway
// it less than wall time.
package cputime

import (
	"syscall"
	"time"
)

// Process is the process's user plus system CPU time so far (0 when it
// cannot be read).
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
