//go:build !linux

package ledger

// startBackground returns nil: only Linux sets a thread's nice value.
func startBackground() *background { return nil }
