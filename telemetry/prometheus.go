package telemetry

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/valohai/conduit/ledger"
)

// Token kinds, the values of the kind label of conduit_tokens_total. They
// follow the ledger's normalized usage: input includes cached_input and
// cache_write; output includes reasoning.
const (
	KindInput       = "input"
	KindOutput      = "output"
	KindCachedInput = "cached_input"
	KindCacheWrite  = "cache_write"
	KindReasoning   = "reasoning"
)

// callLabels are the labels of the per-call series, in this order.
var callLabels = []string{"provider", "api", "model", "client"}

// Bucket boundaries, in seconds.
var (
	// addedLatencyBuckets: Conduit's own time per call is sub-millisecond
	// to a few milliseconds when all is well; the top buckets show a
	// request body read slowly from the client or a stalled host.
	addedLatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
	// durationBuckets: LLM calls take from a fraction of a second (token
	// counting, embeddings) to many minutes (long agent turns).
	durationBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640}
)

// promMetrics are the Prometheus series of one Telemetry, in its own
// registry.
type promMetrics struct {
	reg          *prometheus.Registry
	handler      http.Handler
	calls        *prometheus.CounterVec   // provider, api, model, client, outcome
	errors       *prometheus.CounterVec   // provider, api, model, client, status
	tokens       *prometheus.CounterVec   // provider, api, model, client, kind
	cost         *prometheus.CounterVec   // provider, api, model, client
	duration     *prometheus.HistogramVec // provider, api, model
	addedLatency *prometheus.HistogramVec // provider, api
}

func newPromMetrics(ledgerStats StatsSource, t *Telemetry) *promMetrics {
	p := &promMetrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conduit_calls_total",
			Help: "Calls proxied, by outcome (complete, incomplete, client_cancelled, upstream_error, no_usage).",
		}, append(callLabels[:4:4], "outcome")),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conduit_call_errors_total",
			Help: "Calls that ended in an upstream error, by the HTTP status the client got (0: none).",
		}, append(callLabels[:4:4], "status")),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conduit_tokens_total",
			Help: "Tokens used, by kind: input (all prompt tokens, cached_input and cache_write included), output (reasoning included), cached_input (cache reads), cache_write, reasoning.",
		}, append(callLabels[:4:4], "kind")),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conduit_cost_usd_total",
			Help: "Cost of the priced calls, in US dollars.",
		}, callLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conduit_call_duration_seconds",
			Help:    "Calls from request received to response finished.",
			Buckets: durationBuckets,
		}, callLabels[:3]),
		addedLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conduit_added_latency_seconds",
			Help:    "Time Conduit itself added to each call: its whole duration less the time spent waiting on the upstream.",
			Buckets: addedLatencyBuckets,
		}, callLabels[:2]),
	}
	p.reg.MustRegister(p.calls, p.errors, p.tokens, p.cost, p.duration, p.addedLatency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if ledgerStats != nil {
		p.registerLedger(ledgerStats)
	}
	if t.otel != nil {
		p.registerOTel(t.otel)
	}
	p.handler = promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{Registry: p.reg})
	return p
}

// registerLedger exposes the ledger writer's counters, read at each scrape.
func (p *promMetrics) registerLedger(src StatsSource) {
	p.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "conduit_ledger_queue_depth",
			Help: "Records waiting to be written to the ledger.",
		}, func() float64 { return float64(src.Stats().Queued) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "conduit_ledger_records_written_total",
			Help: "Records committed to the ledger.",
		}, func() float64 { return float64(src.Stats().Written) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "conduit_ledger_records_dropped_total",
			Help: "Records lost because the ledger's queue was full.",
		}, func() float64 { return float64(src.Stats().Dropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "conduit_ledger_write_errors_total",
			Help: "Failed attempts to write a batch to the ledger (each is retried).",
		}, func() float64 { return float64(src.Stats().WriteErrors) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "conduit_ledger_failing",
			Help: "1 while the last write to the ledger failed and records wait for a retry, else 0.",
		}, func() float64 {
			if src.Stats().Failing {
				return 1
			}
			return 0
		}),
	)
}

// registerOTel exposes the OpenTelemetry export's own counters.
func (p *promMetrics) registerOTel(o *otelPipeline) {
	p.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "conduit_otel_queue_depth",
			Help: "Calls waiting to become OpenTelemetry spans.",
		}, func() float64 { return float64(len(o.queue)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "conduit_otel_spans_dropped_total",
			Help:        "Spans lost: queue_full (the collector could not keep up) or export_failed (the collector refused or was unreachable).",
			ConstLabels: prometheus.Labels{"reason": "queue_full"},
		}, func() float64 { return float64(o.dropped.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "conduit_otel_spans_dropped_total",
			Help:        "Spans lost: queue_full (the collector could not keep up) or export_failed (the collector refused or was unreachable).",
			ConstLabels: prometheus.Labels{"reason": "export_failed"},
		}, func() float64 { return float64(o.spansFailed.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "conduit_otel_spans_exported_total",
			Help: "Spans the collector accepted.",
		}, func() float64 { return float64(o.spansExported.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "conduit_otel_export_errors_total",
			Help:        "Failed OpenTelemetry exports, by signal.",
			ConstLabels: prometheus.Labels{"signal": "traces"},
		}, func() float64 { return float64(o.spanExportErrors.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "conduit_otel_export_errors_total",
			Help:        "Failed OpenTelemetry exports, by signal.",
			ConstLabels: prometheus.Labels{"signal": "metrics"},
		}, func() float64 { return float64(o.metricExportErrors.Load()) }),
	)
}

// observe adds one call to the series.
func (p *promMetrics) observe(rec *ledger.Record, l *callLabelValues) {
	p.calls.WithLabelValues(l.provider, l.api, l.model, l.client, l.outcome).Inc()
	if rec.Outcome == ledger.OutcomeUpstreamError {
		p.errors.WithLabelValues(l.provider, l.api, l.model, l.client, strconv.Itoa(rec.Status)).Inc()
	}
	if rec.HasUsage {
		add := func(kind string, n int64) {
			if n > 0 {
				p.tokens.WithLabelValues(l.provider, l.api, l.model, l.client, kind).Add(float64(n))
			}
		}
		add(KindInput, rec.InputTokens)
		add(KindOutput, rec.OutputTokens)
		add(KindCachedInput, rec.CachedInputTokens)
		add(KindCacheWrite, rec.CacheWriteTokens)
		add(KindReasoning, rec.ReasoningTokens)
	}
	if rec.CostUSD != nil && *rec.CostUSD > 0 {
		p.cost.WithLabelValues(l.provider, l.api, l.model, l.client).Add(*rec.CostUSD)
	}
	p.duration.WithLabelValues(l.provider, l.api, l.model).Observe(rec.Duration.Seconds())
	p.addedLatency.WithLabelValues(l.provider, l.api).Observe(addedLatency(rec).Seconds())
}
