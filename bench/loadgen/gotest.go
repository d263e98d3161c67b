package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bench is one result line of `go test -bench` output.
type Bench struct {
	Name    string             // without the "-GOMAXPROCS" suffix, e.g. "BenchmarkScannerOpenAI/chunk=4KiB"
	N       int                // iterations
	Metrics map[string]float64 // by unit: "ns/op", "MB/s", "allocs/op", "records/s", …
}

// ParseBench reads `go test -bench` output and returns its result lines in
// order (with -count, one per run). Other lines (goos, PASS, logs) are
// skipped; a result line that does not parse is an error.
func ParseBench(r io.Reader) ([]Bench, error) {
	var out []Bench
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue // a benchmark's own log line that starts with its name
		}
		if len(f)%2 != 0 {
			return out, fmt.Errorf("benchmark line %q: values and units do not pair up", sc.Text())
		}
		b := Bench{Name: trimProcs(f[0]), N: n, Metrics: make(map[string]float64, (len(f)-2)/2)}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return out, fmt.Errorf("benchmark line %q: value %q: %w", sc.Text(), f[i], err)
			}
			b.Metrics[f[i+1]] = v
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read benchmark output: %w", err)
	}
	return out, nil
}

// trimProcs drops the "-N" GOMAXPROCS suffix go test adds to names.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// Names returns the distinct benchmark names in bs, in first-seen order.
func Names(bs []Bench) []string {
	var names []string
	seen := map[string]bool{}
	for _, b := range bs {
		if !seen[b.Name] {
			seen[b.Name] = true
			names = append(names, b.Name)
		}
	}
	return names
}

// MedianMetric is the median of unit over every run of benchmark name;
// ok is false when no run reported it.
func MedianMetric(bs []Bench, name, unit string) (v float64, ok bool) {
	var xs []float64
	for _, b := range bs {
		if x, has := b.Metrics[unit]; has && b.Name == name {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return Median(xs), true
}

// BestMetric is the best value of unit over every run of benchmark name:
// the largest when higher is better (MB/s, records/s), else the smallest
// (ns/op). On a shared machine other load only ever slows a run down, so
// the best run is the closest to what the code itself costs. ok is false
// when no run reported it.
func BestMetric(bs []Bench, name, unit string, higherIsBetter bool) (v float64, ok bool) {
	for _, b := range bs {
		x, has := b.Metrics[unit]
		if !has || b.Name != name {
			continue
		}
		if !ok || (higherIsBetter && x > v) || (!higherIsBetter && x < v) {
			v, ok = x, true
		}
	}
	return v, ok
}
