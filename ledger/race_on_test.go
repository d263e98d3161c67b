//go:build race

package ledger

// raceEnabled reports a test binary built with -race, where SQLite (C
// compiled to Go, every memory access instrumented) runs about 25 times
// slower: the long property tests check a sample of their cases there.
const raceEnabled = true
