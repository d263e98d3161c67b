//go:build !race

package ledger

// raceEnabled reports a test binary built with -race (see race_on_test.go).
const raceEnabled = false
