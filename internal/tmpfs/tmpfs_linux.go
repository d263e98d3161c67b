//go:build linux

// Package tmpfs gives fault tests a real, small file system to fill up or
// make read-only, so the ledger's disk faults are tried on a real kernel
// rather than an injected error wherever the test may mount (root or
// CAP_SYS_ADMIN). It is test support only.
package tmpfs

import (
	"fmt"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a fresh temporary directory,
// unmounted when the test ends. It reports false where mounting is not
// permitted: the caller then injects the fault instead, and says so.
func Mount(t testing.TB, size int) (string, bool) {
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

// SetReadOnly remounts the tmpfs at dir read-only or writable again. A
// tmpfs cannot become read-only while a file on it is open for writing.
func SetReadOnly(t testing.TB, dir string, readOnly bool) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT | syscall.MS_NOSUID | syscall.MS_NODEV)
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, ""); err != nil {
		t.Fatalf("remount %s (read-only %v): %v", dir, readOnly, err)
	}
}
