//go:build !unix

// Package cputime reads the CPU time the process has used, for benchmarks
// that report CPU per operation: other processes on a shared machine sway
// it less than wall time.
package cputime

import "time"

// Process is not read on this system: it is always 0.
func Process() time.Duration { return 0 }
