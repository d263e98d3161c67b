//go:build unix

package testbin

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestLockFileExcludesOthers: while a build holds the lock, another
// process's attempt (here another open file description, which flock
// treats the same) would wait; once released, it gets it.
func TestLockFileExcludesOthers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "build.lock")
	unlock, err := lockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Fatalf("lock taken by another while held: %v", err)
	}
	unlock()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("lock still held after unlock: %v", err)
	}
}

// TestBuildLockPathPerModule: every package of this module shares one
// lock; the path does not depend on which package's directory asks.
func TestBuildLockPathPerModule(t *testing.T) {
	here, err := buildLockPath()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir("../..") // the module root
	root, err := buildLockPath()
	if err != nil {
		t.Fatal(err)
	}
	if here != root || filepath.Dir(here) != os.TempDir() {
		t.Errorf("lock %s from internal/testbin, %s from the module root: want one, in %s", here, root, os.TempDir())
	}
}
