package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// instrumentationName names Conduit's instrumentation scope, and is its
// telemetry.sdk.name.
const instrumentationName = "github.com/valohai/conduit/telemetry"

// schemaURL is the semantic conventions version whose names the exports
// use.
const schemaURL = "https://opentelemetry.io/schemas/1.41.0"

var errAlreadyShutdown = errors.New("telemetry: already shut down")

// otelPipeline exports calls. Metrics are recorded at once (aggregated in
// memory, see genAIMetrics) and exported by one goroutine every export
// interval. Spans are queued for another goroutine that builds them,
// batches them and exports each batch before taking the next: while an
// export waits on the collector the queue fills, so every span that cannot
// be kept is refused at one place, Observe, and counted there. Memory stays
// at the queue plus one batch.
//
// Traces and metrics are sent as OTLP/HTTP requests (see otlpClient) whose
// bodies are ExportTraceServiceRequest and ExportMetricsServiceRequest
// messages (see otlpwire.go).
type otelPipeline struct {
	logger  *slog.Logger
	cfg     otelConfig
	traces  *otlpClient
	metrics *otlpClient
	m       *genAIMetrics

	// ctx bounds every export; cancelled when a shutdown's context ends.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // closed; held for reading while queuing
	closed bool
	queue  chan intercept.Call
	stop   chan struct{} // closed by shutdown
	wg     sync.WaitGroup
	// Set by the goroutines before they exit: their last export's error.
	spanFlushErr, metricFlushErr error

	dropped            atomic.Int64
	spansExported      atomic.Int64
	spansFailed        atomic.Int64
	spanExportErrors   atomic.Int64
	metricExportErrors atomic.Int64
	dropLog            rateLimiter
	spanLog, metricLog rateLimiter // export failures, one per signal
}

func newOTelPipeline(o OTelOptions, logger *slog.Logger) (*otelPipeline, error) {
	cfg, err := resolveOTel(o, logger)
	if err != nil {
		return nil, err
	}
	retry := defaultRetry
	if o.retry != nil {
		retry = *o.retry
	}
	userAgent := "conduit"
	if o.ServiceVersion != "" {
		userAgent += "/" + o.ServiceVersion
	}
	p := &otelPipeline{
		logger:  logger,
		cfg:     cfg,
		traces:  newOTLPClient(cfg.traces, retry, userAgent),
		metrics: newOTLPClient(cfg.metrics, retry, userAgent),
		m:       newGenAIMetrics(time.Now()),
		queue:   make(chan intercept.Call, cfg.queueSize),
		stop:    make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(2)
	go p.runSpans()
	go p.runMetrics()
	return p, nil
}

// observe records the call's metrics and queues its span, never blocking.
func (p *otelPipeline) observe(rec intercept.Call, l *callLabelValues) {
	// Metric attributes are bounded: folded model and client names, no
	// per-call values.
	k := seriesKey{
		op: Operation(rec.Endpoint), providerName: ProviderName(&rec.Record),
		requestModel: l.requestModel, model: l.model, provider: l.provider, client: l.client,
	}
	k.serverAddress, k.serverPort = hostPort(rec.Host)
	var cost float64
	if rec.CostUSD != nil {
		cost = *rec.CostUSD
	}
	p.m.record(k, rec.HasUsage, rec.InputTokens, rec.OutputTokens, rec.Duration.Seconds(), errorType(&rec.Record), cost)

	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.dropped.Add(1)
		return
	}
	select {
	case p.queue <- rec:
	default:
		n := p.dropped.Add(1)
		if p.dropLog.allow() {
			p.logger.Warn("opentelemetry: span queue full (collector slow or down): dropping spans; calls are unaffected",
				"dropped_total", n, "queue_size", cap(p.queue))
		}
	}
}

// runSpans turns queued calls into spans and exports them in batches, a
// batch when it is full or its first span has waited the batch timeout;
// at shutdown it exports what is queued.
func (p *otelPipeline) runSpans() {
	defer p.wg.Done()
	batch := make([]span, 0, p.cfg.batchSize)
	timer := time.NewTimer(p.cfg.batchTimeout)
	timer.Stop()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := p.exportSpans(batch)
		clear(batch)
		batch = batch[:0]
		return err
	}
	for {
		select {
		case rec := <-p.queue:
			batch = append(batch, p.toSpan(&rec))
			if len(batch) == 1 {
				timer.Reset(p.cfg.batchTimeout)
			}
			if len(batch) >= p.cfg.batchSize {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		case <-p.stop:
			timer.Stop()
			var errs []error
			for {
				select {
				case rec := <-p.queue:
					batch = append(batch, p.toSpan(&rec))
					if len(batch) >= p.cfg.batchSize {
						errs = append(errs, flush())
					}
				default:
					p.spanFlushErr = errors.Join(append(errs, flush())...)
					return
				}
			}
		}
	}
}

// runMetrics exports the metrics every export interval, and once more at
// shutdown.
func (p *otelPipeline) runMetrics() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.exportInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.exportMetrics()
		case <-p.stop:
			p.metricFlushErr = p.exportMetrics()
			return
		}
	}
}

// exportSpans sends one batch, counting what the collector accepted and
// refused, and logs failures (at most once per logEvery).
func (p *otelPipeline) exportSpans(spans []span) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.spanExportBudget)
	defer cancel()
	rejected, err := p.traces.export(ctx, appendTraces(nil, p.cfg.resource, spans))
	n := int64(len(spans))
	var partial *partialError
	if errors.As(err, &partial) {
		rejected = min(max(rejected, 0), n)
		p.spansExported.Add(n - rejected)
		failed := p.spansFailed.Add(rejected)
		if p.spanLog.allow() {
			p.logger.Warn("opentelemetry: the collector refused some spans; calls are unaffected", "err", err, "spans", n, "failed_total", failed)
		}
		return nil
	}
	if err == nil {
		p.spansExported.Add(n)
		return nil
	}
	p.spanExportErrors.Add(1)
	failed := p.spansFailed.Add(n)
	if p.spanLog.allow() {
		p.logger.Warn("opentelemetry: exporting spans failed; calls are unaffected", "err", err, "spans", n, "failed_total", failed)
	}
	return fmt.Errorf("opentelemetry: export spans: %w", err)
}

// exportMetrics collects and sends the metrics, counting failures.
// Cumulative metrics need no retry beyond the export's: the next export
// that succeeds carries the totals again.
func (p *otelPipeline) exportMetrics() error {
	ms := p.m.collect(time.Now(), p.cfg.delta)
	if ms == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.metricExportBudget)
	defer cancel()
	_, err := p.metrics.export(ctx, appendMetrics(nil, p.cfg.resource, ms))
	var partial *partialError
	if errors.As(err, &partial) {
		if p.metricLog.allow() {
			p.logger.Warn("opentelemetry: the collector refused some metrics; calls are unaffected", "err", err)
		}
		return nil
	}
	if err != nil {
		n := p.metricExportErrors.Add(1)
		if p.metricLog.allow() {
			p.logger.Warn("opentelemetry: exporting metrics failed; calls are unaffected", "err", err, "failures_total", n)
		}
		return fmt.Errorf("opentelemetry: export metrics: %w", err)
	}
	return nil
}

// errorType is error.type for a call that did not end well: the HTTP
// status when there is an error status, else the outcome; "" for success.
func errorType(rec *ledger.Record) string {
	switch {
	case rec.Status >= 400:
		return strconv.Itoa(rec.Status)
	case rec.Outcome == ledger.OutcomeComplete, rec.Outcome == ledger.OutcomeNoUsage, rec.Outcome == "":
		return ""
	}
	return rec.Outcome
}

// hostPort splits an upstream host[:port].
func hostPort(hp string) (string, int) {
	host, portStr, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	port, _ := strconv.Atoi(portStr)
	return host, port
}

// shutdown stops queuing, exports what is queued and a last collection of
// the metrics, and stops the goroutines. When ctx ends first, the exports
// still under way are cancelled (and what they carried counted as failed).
func (p *otelPipeline) shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errAlreadyShutdown
	}
	p.closed = true
	p.mu.Unlock()
	stopCancel := context.AfterFunc(ctx, p.cancel)
	close(p.stop)
	p.wg.Wait()
	stopCancel()
	p.cancel()
	p.traces.close()
	p.metrics.close()
	err := errors.Join(p.spanFlushErr, p.metricFlushErr)
	if ctx.Err() != nil {
		err = errors.Join(fmt.Errorf("opentelemetry: flush cut short: %w", ctx.Err()), err)
	}
	return err
}

func (p *otelPipeline) stats() Stats {
	return Stats{
		SpansQueued:        len(p.queue),
		SpansDropped:       p.dropped.Load(),
		SpansExported:      p.spansExported.Load(),
		SpansFailed:        p.spansFailed.Load(),
		SpanExportErrors:   p.spanExportErrors.Load(),
		MetricExportErrors: p.metricExportErrors.Load(),
	}
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
