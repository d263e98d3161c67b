//go:build race

package intercept

// raceEnabled reports a test binary built with -race, where long tests
// run shorter: the detector slows the relay's loops about tenfold.
const raceEnabled = true
