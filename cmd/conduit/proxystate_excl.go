//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// lockFile creates the file at path exclusively, with this process's pid
// in it, and removes it on unlock. A lock file whose pid is not alive was
// left by a proxy that died: it is taken over. A lock held by a live
// process is an *errLedgerInUse.
func lockFile(path string) (unlock func(), err error) {
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			if pid, ok := lockOwner(path); ok && processAlive(pid) {
				return nil, &errLedgerInUse{}
			}
			os.Remove(path) // stale
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		pid := os.Getpid()
		_, werr := f.WriteString(strconv.Itoa(pid))
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write %s: %w", path, werr)
		}
		return func() {
			if owner, ok := lockOwner(path); ok && owner == pid {
				os.Remove(path)
			}
		}, nil
	}
	return nil, &errLedgerInUse{}
}

// lockOwner returns the pid in a lock file.
func lockOwner(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(string(b))
	return pid, err == nil
}
