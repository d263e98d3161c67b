//go:build unix

package testbin

import (
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on the file at path (created if need
// be), waiting for any other process holding it; unlock releases it. The
// kernel releases it too if this process dies, so a killed test never
// leaves the next run waiting.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testbin: build lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("testbin: build lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
