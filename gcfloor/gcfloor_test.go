package gcfloor

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 32 * mb, 800}, // the runtime's heap minimum, 4 MiB at 100, is then 32 MiB
		{1, 32 * mb, 800},
		{2 * mb, 32 * mb, 800},
		{4 * mb, 32 * mb, 800},
		{5 * mb, 32 * mb, 640},
		{31 * mb, 32 * mb, 103},
		{32 * mb, 32 * mb, 100},
		{500 * mb, 32 * mb, 100},
		{1 * mb, 2 * mb, 100}, // a floor under the runtime's own minimum
	} {
		if got := percentFor(c.live, c.floor); got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestStart checks, in a process of its own, that the floor raises GOGC
// while the heap is small and lowers it to 100 once the live heap passes
// the floor, both after collections; and that an explicit GOGC is left
// alone.
func TestStart(t *testing.T) {
	if os.Getenv("GCFLOOR_CHILD") != "" {
		child(t)
		return
	}
	for _, env := range []string{"", "GOGC=150"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStart$", "-test.v")
		cmd.Env = append(os.Environ(), "GCFLOOR_CHILD=1")
		if env != "" {
			cmd.Env = append(cmd.Env, env)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("child with %q: %v\n%s", env, err, out)
		}
	}
}

var keep [][]byte

func child(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		if Start(DefaultFloor) {
			t.Fatal("Start changed GOGC though the environment sets it")
		}
		runtime.GC()
		if p := gcPercent(); p != 150 {
			t.Fatalf("GOGC = %d, want the environment's 150", p)
		}
		return
	}
	os.Unsetenv("GOMEMLIMIT")
	const floor = 8 << 20
	if !Start(floor) {
		t.Fatal("Start did nothing")
	}
	if p := gcPercent(); p <= 100 {
		t.Fatalf("GOGC = %d with a small heap, want more than 100", p)
	}
	// A live heap past the floor: after the collections that see it,
	// the finalizer sets GOGC back to 100.
	for range 64 {
		keep = append(keep, make([]byte, 1<<20))
	}
	for i := 0; gcPercent() != 100; i++ {
		if i == 1000 {
			t.Fatalf("GOGC still %d with %d MiB live", gcPercent(), len(keep))
		}
		runtime.GC()
		runtime.Gosched()
	}
	keep = nil
	for i := 0; gcPercent() <= 100; i++ {
		if i == 1000 {
			t.Fatalf("GOGC still %d once the heap is small again", gcPercent())
		}
		runtime.GC()
		runtime.Gosched()
	}
}
