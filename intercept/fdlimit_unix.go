//go:build unix

package intercept

import (
	"math"
	"syscall"
)

// fileLimit is the process's soft RLIMIT_NOFILE, 0 when unknown. The Go
// runtime raises the soft limit to the hard one at start on every unix
// (to OPEN_MAX on macOS), and restores the original for the processes it
// starts only as long as the program never sets the limit itself: so
// Conduit reads the limit and leaves it alone.
func fileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(rl.Cur)
}
