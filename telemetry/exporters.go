package telemetry

import (
	"context"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// countingSpanExporter counts what the collector accepted and refused, and
// logs failures (at most once per logEvery).
type countingSpanExporter struct {
	sdktrace.SpanExporter
	p *otelPipeline
}

func (e *countingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		e.p.spansExported.Add(int64(len(spans)))
		return nil
	}
	e.p.spanExportErrors.Add(1)
	failed := e.p.spansFailed.Add(int64(len(spans)))
	if e.p.exportLog.allow() {
		e.p.logger.Warn("opentelemetry: exporting spans failed; calls are unaffected", "err", err, "spans", len(spans), "failed_total", failed)
	}
	return err
}

// countingMetricExporter counts failed metric exports. Metrics are
// cumulative, so the next export that succeeds carries the totals again.
type countingMetricExporter struct {
	sdkmetric.Exporter
	p *otelPipeline
}

func (e *countingMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := e.Exporter.Export(ctx, rm)
	if err != nil {
		n := e.p.metricExportErrors.Add(1)
		if e.p.exportLog.allow() {
			e.p.logger.Warn("opentelemetry: exporting metrics failed; calls are unaffected", "err", err, "failures_total", n)
		}
	}
	return err
}

// logEvery limits repeated warnings while the collector stays down.
const logEvery = 30 * time.Second

// rateLimiter lets one event through per logEvery. The zero value lets the
// first through.
type rateLimiter struct {
	mu   sync.Mutex
	last time.Time
}

func (r *rateLimiter) allow() bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < logEvery {
		return false
	}
	r.last = now
	return true
}
