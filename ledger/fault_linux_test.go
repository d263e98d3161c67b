//go:build linux

package ledger

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// smallTmpfs mounts a tmpfs of size bytes on a fresh temporary directory
// and unmounts it when the test ends. It reports false when mounting is not
// permitted here (not root, no CAP_SYS_ADMIN): the caller then injects the
// fault instead, and says so.
func smallTmpfs(t *testing.T, size int) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Logf("mount tmpfs: %v", err)
		return "", false
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir, true
}

// setReadOnly remounts the tmpfs at dir read-only or read-write. A tmpfs
// cannot become read-only while a file on it is open for writing, so the
// caller closes the ledger first.
func setReadOnly(t *testing.T, dir string, ro bool) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT | syscall.MS_NOSUID | syscall.MS_NODEV)
	if ro {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, ""); err != nil {
		t.Fatalf("remount %s (read-only %v): %v", dir, ro, err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
