//go:build !linux

package ledger

import "testing"

// smallTmpfs reports that no tmpfs can be mounted: the disk cases run
// against an injected failing write instead.
func smallTmpfs(t *testing.T, size int) (string, bool) { return "", false }

func setReadOnly(t *testing.T, dir string, ro bool) { t.Fatal("no tmpfs") }
