//go:build !unix

package intercept

import "time"

// processCPU is not read on this system: the benchmarks report 0.
func processCPU() time.Duration { return 0 }
