//go:build linux

package main

import (
	"fmt"
	"syscall"
	"testing"
)

// smallTmpfs mounts a tmpfs of size bytes on a fresh temporary directory,
// unmounted when the test ends. It reports false where mounting is not
// permitted (not root, no CAP_SYS_ADMIN).
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

// remountTmpfs makes the tmpfs at dir read-only or writable again. It
// cannot become read-only while a file on it is open for writing.
func remountTmpfs(t *testing.T, dir string, readOnly bool) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT | syscall.MS_NOSUID | syscall.MS_NODEV)
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, ""); err != nil {
		t.Fatalf("remount %s (read-only %v): %v", dir, readOnly, err)
	}
}
