//go:build !unix

package intercept

// fileLimit is 0, unknown, where there is no RLIMIT_NOFILE: tunnels are
// then bounded per client only.
func fileLimit() int { return 0 }
