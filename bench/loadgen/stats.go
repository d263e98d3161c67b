package loadgen

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value such that at least p% of the
// values are at or below it. sorted must be in ascending order; it is not
// modified. An empty slice gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// SortDurations sorts d in place and returns it.
func SortDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

// Median returns the median of xs (the mean of the two middle values for
// an even count), ignoring NaNs; NaN when no value is left. xs is not
// modified.
func Median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// MedianDuration is Median for durations; 0 for an empty slice.
func MedianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(math.Round(Median(xs)))
}

// AddedRatio is the benchmark's latency figure: how much a proxy adds to the
// direct call, relative to what the bare proxy adds,
// (proxy − direct) ÷ (bare − direct). It is NaN when the bare proxy adds
// nothing measurable (bare ≤ direct), where the ratio means nothing.
func AddedRatio(direct, bare, proxy time.Duration) float64 {
	if bare <= direct {
		return math.NaN()
	}
	return float64(proxy-direct) / float64(bare-direct)
}

// Slope is the least-squares slope of ys against xs (how much y grows per
// unit of x); NaN with fewer than two distinct xs. Extra values of the
// longer slice are ignored.
func Slope(xs, ys []float64) float64 {
	n := min(len(xs), len(ys))
	if n < 2 {
		return math.NaN()
	}
	var sx, sy float64
	for i := range n {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/float64(n), sy/float64(n)
	var sxy, sxx float64
	for i := range n {
		dx := xs[i] - mx
		sxy += dx * (ys[i] - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return math.NaN()
	}
	return sxy / sxx
}
