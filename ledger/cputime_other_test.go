//go:build !unix

package ledger

import "time"

// cpuTime is unknown here: the benchmarks report 0 cpu-ns/record.
func cpuTime() time.Duration { return 0 }
