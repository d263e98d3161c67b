package loadgen

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// TestPercentile guards the nearest-rank definition the table's p50 and
// p99 use, edges included.
func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		d := make([]time.Duration, len(ns))
		for i, n := range ns {
			d[i] = time.Duration(n) * time.Millisecond
		}
		return d
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 odd", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p50 even takes the lower middle", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the min", hundred, 0.001, time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

// TestMedian guards the median over rounds, NaN rounds (a ratio that
// meant nothing) left out.
func TestMedian(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"nan skipped", []float64{nan, 5, 1, 3}, 3},
		{"all nan", []float64{nan}, nan},
		{"empty", nil, nan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Median(tc.xs)
			if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
				t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
			}
		})
	}
	if got := MedianDuration([]time.Duration{3, 1, 2, 10}); got != 3 {
		t.Errorf("MedianDuration = %v, want 3ns (mean of 2 and 3, rounded)", got)
	}
}

// TestAddedRatio guards the latency row's formula and its undefined case.
func TestAddedRatio(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		name                string
		direct, bare, proxy time.Duration
		want                float64
	}{
		{"same as bare", 100 * us, 250 * us, 250 * us, 1},
		{"15% more", 100 * us, 200 * us, 215 * us, 1.15},
		{"faster than bare", 100 * us, 200 * us, 150 * us, 0.5},
		{"bare adds nothing", 100 * us, 100 * us, 150 * us, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AddedRatio(tc.direct, tc.bare, tc.proxy)
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Errorf("got %v, want NaN", got)
				}
				return
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSlope guards the memory row's trend: a flat series has slope 0, a
// line its own slope, a sawtooth around a flat line about 0.
func TestSlope(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4, 5, 6, 7}
	tests := []struct {
		name string
		ys   []float64
		want float64
	}{
		{"flat", []float64{5, 5, 5, 5, 5, 5, 5, 5}, 0},
		{"line", []float64{1, 3, 5, 7, 9, 11, 13, 15}, 2},
		{"sawtooth", []float64{1, 2, 1, 2, 1, 2, 1, 2}, 1.0 / 21},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Slope(xs, tc.ys); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Slope = %v, want %v", got, tc.want)
			}
		})
	}
	if !math.IsNaN(Slope([]float64{1, 1}, []float64{1, 2})) || !math.IsNaN(Slope(nil, nil)) {
		t.Error("a slope over one distinct x is not NaN")
	}
}

// TestRun checks the closed loop's bookkeeping: every call is counted once,
// as a success with a latency or as an error, and the first error is kept.
func TestRun(t *testing.T) {
	var calls atomic.Int64
	boom := errors.New("boom")
	ctx, cancel := context.WithCancel(context.Background())
	res := Run(ctx, 4, time.Hour, func(ctx context.Context, worker int) error {
		if worker < 0 || worker >= 4 {
			t.Errorf("worker %d out of range", worker)
		}
		n := calls.Add(1)
		if n == 1000 {
			cancel() // ends the run without any timing
		}
		if n%10 == 0 {
			return boom
		}
		return nil
	})
	if got := int64(res.Requests + res.Errors); got != calls.Load() {
		t.Errorf("requests %d + errors %d = %d, calls made %d", res.Requests, res.Errors, got, calls.Load())
	}
	if res.Errors == 0 || !errors.Is(res.FirstErr, boom) {
		t.Errorf("errors %d, first %v; want some, boom", res.Errors, res.FirstErr)
	}
	if len(res.Sorted) != res.Requests {
		t.Errorf("%d latencies for %d requests", len(res.Sorted), res.Requests)
	}
	for i := 1; i < len(res.Sorted); i++ {
		if res.Sorted[i] < res.Sorted[i-1] {
			t.Fatalf("latencies not sorted at %d", i)
		}
	}
}

// TestEventTimes checks that events are counted at the blank line that
// ends them however the stream is cut into reads, and that the first-byte
// time is the first read's.
func TestEventTimes(t *testing.T) {
	stream := "data: {\"a\":1}\n\nevent: x\ndata: y\n\n: comment\n\ndata: [DONE]\n\n"
	const want = 4
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(stream)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			var tick int64
			now := func() time.Time { tick++; return time.Unix(0, tick) }
			first, events, err := EventTimes(mk(), make([]byte, 7), now)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != want {
				t.Fatalf("%d events, want %d", len(events), want)
			}
			if first != time.Unix(0, 1) {
				t.Errorf("first byte at %v, want the first read's time", first)
			}
			for i := 1; i < len(events); i++ {
				if events[i].Before(events[i-1]) {
					t.Errorf("event %d before event %d", i, i-1)
				}
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		boom := errors.New("cut")
		r := io.MultiReader(strings.NewReader("data: 1\n\n"), iotest.ErrReader(boom))
		_, events, err := EventTimes(r, make([]byte, 64), time.Now)
		if !errors.Is(err, boom) || len(events) != 1 {
			t.Errorf("events %d, err %v; want 1, cut", len(events), err)
		}
	})
}

// TestWriteTable checks the table's shape: a header, a rule, one padded
// line per row, the verdict spelled out, pipes in cells escaped.
func TestWriteTable(t *testing.T) {
	var b strings.Builder
	err := WriteTable(&b, []Row{
		{What: "throughput", Measured: "0.93 (a|b)", Target: "≥ 0.90", Verdict: Met},
		{What: "latency p99", Measured: "1.40", Target: "≤ 1.15"},
		SkipRow("forward vs mitmproxy", "≥ 5×", "mitmdump not installed"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `| what                 | measured                        | target | met     |
|----------------------|---------------------------------|--------|---------|
| throughput           | 0.93 (a\|b)                     | ≥ 0.90 | met     |
| latency p99          | 1.40                            | ≤ 1.15 | MISSED  |
| forward vs mitmproxy | skipped: mitmdump not installed | ≥ 5×   | skipped |
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestParseBench checks result lines are read with their units, names
// lose the GOMAXPROCS suffix, other lines are skipped, and medians are
// taken over -count runs.
func TestParseBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/valohai/conduit/sse
BenchmarkScannerOpenAI/chunk=4KiB-2         	   16844	     68612 ns/op	2273.79 MB/s	       504.0 events/op	       0 B/op	       0 allocs/op
BenchmarkScannerOpenAI/chunk=4KiB-2         	   16000	     70000 ns/op	2000.00 MB/s	       504.0 events/op	       0 B/op	       0 allocs/op
BenchmarkScannerOpenAI/chunk=4KiB-2         	   16000	     70000 ns/op	2100.00 MB/s	       504.0 events/op	       0 B/op	       0 allocs/op
BenchmarkWriterSustained/varied-2   	  100000	     14000 ns/op	     71234 records/s
    bench_test.go:130: generated 1000000 rows in 31s
BenchmarkReport1M/by=model-2 	       3	   5000000 ns/op
PASS
ok  	github.com/valohai/conduit/sse	6.705s
`
	bs, err := ParseBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 5 {
		t.Fatalf("%d results, want 5: %+v", len(bs), bs)
	}
	wantNames := []string{"BenchmarkScannerOpenAI/chunk=4KiB", "BenchmarkWriterSustained/varied", "BenchmarkReport1M/by=model"}
	if got := Names(bs); strings.Join(got, ",") != strings.Join(wantNames, ",") {
		t.Errorf("names %v, want %v", got, wantNames)
	}
	if v, ok := MedianMetric(bs, wantNames[0], "MB/s"); !ok || v != 2100 {
		t.Errorf("median MB/s = %v, %v; want 2100", v, ok)
	}
	if v, ok := MedianMetric(bs, wantNames[1], "records/s"); !ok || v != 71234 {
		t.Errorf("records/s = %v, %v", v, ok)
	}
	if _, ok := MedianMetric(bs, wantNames[2], "MB/s"); ok {
		t.Error("a unit the benchmark did not report was found")
	}
	if v, ok := BestMetric(bs, wantNames[0], "MB/s", true); !ok || v != 2273.79 {
		t.Errorf("best MB/s = %v, %v; want 2273.79", v, ok)
	}
	if v, ok := BestMetric(bs, wantNames[0], "ns/op", false); !ok || v != 68612 {
		t.Errorf("best ns/op = %v, %v; want 68612", v, ok)
	}
	if _, ok := BestMetric(bs, "BenchmarkNone", "ns/op", false); ok {
		t.Error("a benchmark that did not run was found")
	}
	if _, err := ParseBench(strings.NewReader("BenchmarkX-2 10 5 ns/op 7\n")); err == nil {
		t.Error("an unpaired value was accepted")
	}
}

// TestParseProc checks the /proc parsers on real-shaped text, a command
// name with spaces and parentheses included.
func TestParseProc(t *testing.T) {
	status := "Name:\tconduit\nVmPeak:\t  900000 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n"
	m, err := ParseProcStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 40<<20 || m.HWM != 80<<20 {
		t.Errorf("mem %+v, want RSS 40 MiB, HWM 80 MiB", m)
	}
	if _, err := ParseProcStatus(strings.NewReader("Name:\tx\nVmRSS:\t1 kB\n")); err == nil {
		t.Error("a status without VmHWM was accepted")
	}
	stat := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0"
	cpu, err := ParseProcStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 3*time.Second {
		t.Errorf("cpu %v, want 3s (300 ticks)", cpu)
	}
	if _, err := ParseProcStat("4242 (x) S 1"); err == nil {
		t.Error("a short stat line was accepted")
	}
}
