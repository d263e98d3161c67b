package telemetry

import (
	"maps"
	"sort"
	"sync"
	"time"
)

// Conduit's three OpenTelemetry instruments are aggregated here, in
// memory, the way the OpenTelemetry SDK aggregates a histogram and a
// counter: one series per attribute set (bounded, since the model and
// client names are folded), explicit-bucket histograms with min and max,
// cumulative unless OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE asks
// for delta.

// histBounds is the number of bucket boundaries of both histograms.
const histBounds = 14

// Bucket boundaries advised by the GenAI semantic conventions.
var (
	tokenUsageBuckets = [histBounds]float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	opDurationBuckets = [histBounds]float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
)

// seriesKey is the attribute set of one series. Fields left empty are not
// exported, except the models, client and provider, which always are.
type seriesKey struct {
	op, providerName    string // gen_ai.operation.name, gen_ai.provider.name
	tokenType           string // gen_ai.token.type (token usage only)
	requestModel, model string // gen_ai.request.model, gen_ai.response.model
	provider, client    string // conduit.provider, conduit.client
	serverAddress       string // server.address
	serverPort          int    // server.port; zero: not set
	errorType           string // error.type (operation duration only)
}

func (k *seriesKey) attributes() []keyValue {
	kvs := make([]keyValue, 0, 10)
	kvs = append(kvs, stringKV("gen_ai.operation.name", k.op), stringKV("gen_ai.provider.name", k.providerName))
	if k.tokenType != "" {
		kvs = append(kvs, stringKV("gen_ai.token.type", k.tokenType))
	}
	kvs = append(kvs, stringKV("gen_ai.request.model", k.requestModel), stringKV("gen_ai.response.model", k.model),
		stringKV("conduit.provider", k.provider), stringKV("conduit.client", k.client))
	if k.serverAddress != "" {
		kvs = append(kvs, stringKV("server.address", k.serverAddress))
		if k.serverPort > 0 {
			kvs = append(kvs, intKV("server.port", int64(k.serverPort)))
		}
	}
	if k.errorType != "" {
		kvs = append(kvs, stringKV("error.type", k.errorType))
	}
	return kvs
}

// histogram is one series of an explicit-bucket histogram. counts[i]
// counts the values in (bounds[i-1], bounds[i]]; the last, those above
// every bound.
type histogram struct {
	counts        [histBounds + 1]uint64
	count         uint64
	sum, min, max float64
}

func (h *histogram) record(v float64, bounds *[histBounds]float64) {
	h.counts[sort.SearchFloat64s(bounds[:], v)]++
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if h.count == 0 || v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
}

// genAIMetrics holds the series of gen_ai.client.token.usage,
// gen_ai.client.operation.duration and conduit.client.cost. It is safe for
// concurrent use; recording takes a mutex for a few map updates.
type genAIMetrics struct {
	mu         sync.Mutex
	start      time.Time // of the period the series cover
	tokenUsage map[seriesKey]histogram
	opDuration map[seriesKey]histogram
	cost       map[seriesKey]float64
}

func newGenAIMetrics(now time.Time) *genAIMetrics {
	return &genAIMetrics{
		start:      now,
		tokenUsage: map[seriesKey]histogram{},
		opDuration: map[seriesKey]histogram{},
		cost:       map[seriesKey]float64{},
	}
}

// record adds one call: its input and output tokens (hasUsage), duration
// and cost (when above zero). k is the call's attributes without the token
// and error types.
func (m *genAIMetrics) record(k seriesKey, hasUsage bool, input, output int64, seconds float64, errorType string, cost float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if hasUsage {
		for _, t := range []struct {
			typ string
			n   int64
		}{{"input", input}, {"output", output}} {
			tk := k
			tk.tokenType = t.typ
			h := m.tokenUsage[tk]
			h.record(float64(t.n), &tokenUsageBuckets)
			m.tokenUsage[tk] = h
		}
	}
	if cost > 0 {
		m.cost[k] += cost
	}
	dk := k
	dk.errorType = errorType
	h := m.opDuration[dk]
	h.record(seconds, &opDurationBuckets)
	m.opDuration[dk] = h
}

// collect returns the series as OTLP metrics at now, nil when there are
// none. With delta it starts a new period: the next collection holds only
// what is recorded after this one.
func (m *genAIMetrics) collect(now time.Time, delta bool) []metric {
	m.mu.Lock()
	start := m.start
	tokens, durations, cost := maps.Clone(m.tokenUsage), maps.Clone(m.opDuration), maps.Clone(m.cost)
	if delta {
		m.start = now
		clear(m.tokenUsage)
		clear(m.opDuration)
		clear(m.cost)
	}
	m.mu.Unlock()
	if len(tokens)+len(durations)+len(cost) == 0 {
		return nil
	}

	temporality := temporalityCumulative
	if delta {
		temporality = temporalityDelta
	}
	startNano, nowNano := uint64(max(0, start.UnixNano())), uint64(max(0, now.UnixNano()))
	histogramMetric := func(name, desc, unit string, series map[seriesKey]histogram, bounds *[histBounds]float64) metric {
		points := make([]histogramPoint, 0, len(series))
		for k, h := range series {
			points = append(points, histogramPoint{attrs: k.attributes(), start: startNano, time: nowNano, bounds: bounds[:], h: h})
		}
		return metric{name: name, description: desc, unit: unit, temporality: temporality, histogram: points}
	}
	var out []metric
	if len(tokens) > 0 {
		out = append(out, histogramMetric("gen_ai.client.token.usage", "Number of input and output tokens used.", "{token}", tokens, &tokenUsageBuckets))
	}
	if len(durations) > 0 {
		out = append(out, histogramMetric("gen_ai.client.operation.duration", "GenAI operation duration.", "s", durations, &opDurationBuckets))
	}
	if len(cost) > 0 {
		points := make([]sumPoint, 0, len(cost))
		for k, v := range cost {
			points = append(points, sumPoint{attrs: k.attributes(), start: startNano, time: nowNano, value: v})
		}
		out = append(out, metric{name: "conduit.client.cost", description: "Cost of the priced GenAI calls, in US dollars.", unit: "{USD}",
			temporality: temporality, sum: points})
	}
	return out
}
