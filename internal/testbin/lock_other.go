//go:build !unix

package testbin

// lockFile does not lock where there is no flock: concurrent test
// processes then build side by side, as go test would without testbin.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
