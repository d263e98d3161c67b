//go:build !linux

// Package tmpfs gives fault tests a real, small file system; off Linux
// there is none, and the callers inject the fault instead.
package tmpfs

import "testing"

// Mount reports that no tmpfs can be mounted here.
func Mount(t testing.TB, size int) (string, bool) { return "", false }

// SetReadOnly is never reached: Mount never succeeds here.
func SetReadOnly(t testing.TB, dir string, readOnly bool) { t.Fatal("no tmpfs here") }
