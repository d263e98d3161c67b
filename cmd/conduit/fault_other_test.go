//go:build unix && !linux

package main

import "testing"

// smallTmpfs reports that no tmpfs can be mounted here.
func smallTmpfs(t *testing.T, size int) (string, bool) { return "", false }

func remountTmpfs(t *testing.T, dir string, readOnly bool) { t.Fatal("no tmpfs here") }
