package telemetry

import (
	"slices"
	"testing"
	"time"

	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// TestHistogramBuckets guards the explicit-bucket rule of OTLP: bucket i
// counts values in (bounds[i-1], bounds[i]], so a value on a boundary
// falls in the bucket that boundary closes; beyond the last, the overflow
// bucket.
func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v      float64
		bucket int
	}{{0, 0}, {1, 0}, {1.5, 1}, {4, 1}, {5, 2}, {67108864, 13}, {67108865, 14}}
	for _, tt := range tests {
		var h histogram
		h.record(tt.v, &tokenUsageBuckets)
		want := [histBounds + 1]uint64{}
		want[tt.bucket] = 1
		if h.counts != want || h.count != 1 || h.sum != tt.v || h.min != tt.v || h.max != tt.v {
			t.Errorf("record(%v): %+v, want bucket %d", tt.v, h, tt.bucket)
		}
	}
	var h histogram
	for _, v := range []float64{5, 2, 9} {
		h.record(v, &tokenUsageBuckets)
	}
	if h.count != 3 || h.sum != 16 || h.min != 2 || h.max != 9 {
		t.Errorf("%+v", h)
	}
}

// TestGenAIMetricsTemporality guards cumulative series (every collection
// holds the totals since the start) and delta ones (each holds what was
// recorded since the last, from when the last was taken).
func TestGenAIMetricsTemporality(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	k := seriesKey{op: "chat", providerName: "openai", requestModel: "gpt-4o", model: "gpt-4o", provider: "openai", client: "curl"}
	for _, delta := range []bool{false, true} {
		m := newGenAIMetrics(t0)
		if got := m.collect(t0, delta); got != nil {
			t.Errorf("delta %v: empty collection %v", delta, got)
		}
		m.record(k, true, 10, 20, 1.5, "", 0.25)
		m.record(k, true, 30, 40, 0.5, "429", 0)
		first := points(pbMetrics(t, m.collect(t0.Add(time.Minute), delta)))
		m.record(k, true, 1, 2, 3, "", 0.5)
		second := points(pbMetrics(t, m.collect(t0.Add(2*time.Minute), delta)))

		wantFirst := map[string]float64{"input": 40, "output": 60, "duration": 1.5, "duration 429": 0.5, "cost": 0.25}
		wantSecond := map[string]float64{"input": 41, "output": 62, "duration": 4.5, "duration 429": 0.5, "cost": 0.75}
		start := t0
		if delta {
			wantSecond = map[string]float64{"input": 1, "output": 2, "duration": 3, "cost": 0.5}
			start = t0.Add(time.Minute)
		}
		for name, want := range wantFirst {
			if p := first[name]; p.sum != want || p.start != uint64(t0.UnixNano()) || p.delta != delta {
				t.Errorf("delta %v, first collection, %s: %+v, want sum %v", delta, name, p, want)
			}
		}
		if len(second) != len(wantSecond) {
			t.Errorf("delta %v, second collection: %v, want %v", delta, second, wantSecond)
		}
		for name, want := range wantSecond {
			if p := second[name]; p.sum != want || p.start != uint64(start.UnixNano()) || p.time != uint64(t0.Add(2*time.Minute).UnixNano()) {
				t.Errorf("delta %v, second collection, %s: %+v, want sum %v", delta, name, p, want)
			}
		}
	}
}

type metricPoint struct {
	sum         float64
	start, time uint64
	delta       bool
}

// points flattens a collection by series: "input", "output" (token
// usage), "duration[ <error type>]", "cost".
func points(ms []*metricpb.Metric) map[string]metricPoint {
	out := map[string]metricPoint{}
	for _, m := range ms {
		switch d := m.Data.(type) {
		case *metricpb.Metric_Histogram:
			for _, dp := range d.Histogram.DataPoints {
				a := attrs(dp.Attributes)
				name := "duration"
				if m.Name == "gen_ai.client.token.usage" {
					name = a["gen_ai.token.type"].(string)
				} else if et, ok := a["error.type"]; ok {
					name += " " + et.(string)
				}
				var n uint64
				for _, c := range dp.BucketCounts {
					n += c
				}
				if n != dp.Count || !slices.Equal(dp.ExplicitBounds, bounds(m.Name)) {
					name += " (bad buckets)"
				}
				out[name] = metricPoint{dp.GetSum(), dp.StartTimeUnixNano, dp.TimeUnixNano,
					d.Histogram.AggregationTemporality == metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA}
			}
		case *metricpb.Metric_Sum:
			for _, dp := range d.Sum.DataPoints {
				name := "cost"
				if !d.Sum.IsMonotonic {
					name += " (not monotonic)"
				}
				out[name] = metricPoint{dp.GetAsDouble(), dp.StartTimeUnixNano, dp.TimeUnixNano,
					d.Sum.AggregationTemporality == metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA}
			}
		}
	}
	return out
}

func bounds(metric string) []float64 {
	if metric == "gen_ai.client.token.usage" {
		return tokenUsageBuckets[:]
	}
	return opDurationBuckets[:]
}
