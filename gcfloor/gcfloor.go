// Package gcfloor puts a floor under the garbage collector's headroom, so
// that a proxy with a small live heap does not collect many times a
// second.
//
// Why: with the default GOGC=100 the collector lets the heap grow by as
// much as is live before it runs again. A proxy keeps only a few MB live
// but makes ~10 KB of garbage per call, so at a thousand calls a second
// it collected five or more times a second (about 5 % of its CPU in one
// measured run at one client), and each mark phase puts its workers on
// every idle core for a few milliseconds: on a small machine, those are
// the cores the client and the provider's side of the call were about to
// run on. With a floor, the headroom is max(live heap, floor) instead of
// the live heap, which is GOGC=100 again as soon as the live heap passes
// the floor (many concurrent streams), so the peak stays what it was
// there; what it costs is up to floor bytes of garbage held while the
// heap is small.
//
// How: after every collection (a finalizer that re-arms itself) GOGC is
// set from the live heap just marked. An explicit GOGC or GOMEMLIMIT in
// the environment is the user's choice: then nothing is changed.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultFloor is the least headroom the heap gets: a few thousand calls'
// garbage.
const DefaultFloor = 32 << 20

// runtimeHeapMinimum is the Go runtime's least heap goal at GOGC=100
// (defaultHeapMinimum); it scales with GOGC, and applies whatever the live
// heap, so GOGC above floor/runtimeHeapMinimum*100 would hold more than
// floor of garbage.
const runtimeHeapMinimum = 4 << 20

var once sync.Once

// Start keeps the collector's headroom at least floor bytes for the rest of
// the process, unless GOGC or GOMEMLIMIT is set in the environment; it
// reports whether it did. Later calls do nothing.
func Start(floor uint64) (started bool) {
	once.Do(func() {
		if _, set := os.LookupEnv("GOGC"); set {
			return
		}
		if _, set := os.LookupEnv("GOMEMLIMIT"); set {
			return
		}
		t := &tuner{floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		t.adjust()
		t.arm()
		started = true
	})
	return started
}

type tuner struct {
	floor  uint64
	sample []metrics.Sample
	last   int
}

// sentinel is what the finalizer hangs on: big enough not to share a
// tiny-allocator block (whose finalizers can be held back by neighbours).
type sentinel struct{ _ [16]byte }

// arm runs adjust after the next collection, and then after every one.
func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		t.adjust()
		t.arm()
	})
}

func (t *tuner) adjust() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return // a runtime without the metric: leave GOGC alone
	}
	p := percentFor(t.sample[0].Value.Uint64(), t.floor)
	if p != t.last {
		debug.SetGCPercent(p)
		t.last = p
	}
}

// percentFor is the GOGC that gives a heap with live bytes live a headroom
// of max(live, floor); below floor/8 live (runtimeHeapMinimum), the goal
// stays at floor.
func percentFor(live, floor uint64) int {
	most := floor * 100 / runtimeHeapMinimum
	switch {
	case live >= floor || most <= 100:
		return 100
	case live == 0 || floor*100/live >= most:
		return int(most)
	}
	return int(floor * 100 / live)
}
