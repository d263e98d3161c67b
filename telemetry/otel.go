package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/valohai/conduit/ledger"
)

// Defaults for OTelOptions.
const (
	// DefaultQueueSize bounds the calls waiting to become spans. Behind it
	// the SDK's batch processor holds at most two batches (one queued, one
	// being exported), so with a collector down memory stays near
	// (DefaultQueueSize + 2×DefaultBatchSize) spans of ~1-2 KiB: a few MiB.
	DefaultQueueSize = 2048
	// DefaultBatchSize is the most spans one export request carries.
	DefaultBatchSize = 512
	// DefaultServiceName is service.name when neither the options nor
	// OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES name one.
	DefaultServiceName = "conduit"
)

// instrumentationName names Conduit's tracer and meter.
const instrumentationName = "github.com/valohai/conduit/telemetry"

// OTelOptions configure the OpenTelemetry export. Everything left zero is
// taken from the standard OTEL_EXPORTER_OTLP_* (and OTEL_BSP_*,
// OTEL_METRIC_EXPORT_*, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME)
// environment variables by the SDK, then from its defaults.
type OTelOptions struct {
	// Endpoint is the collector's OTLP/HTTP base URL, e.g.
	// "http://collector:4318": spans go to <Endpoint>/v1/traces and metrics
	// to <Endpoint>/v1/metrics. http:// is plaintext, https:// uses the
	// system roots. "": OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal
	// variables), else http://localhost:4318.
	Endpoint string
	// Headers are sent with every export (e.g. a backend's API key); nil:
	// OTEL_EXPORTER_OTLP_HEADERS. Set, they replace that variable.
	Headers map[string]string
	// ServiceName is service.name; "": OTEL_SERVICE_NAME, else
	// DefaultServiceName.
	ServiceName string
	// ServiceVersion is service.version ("": not set).
	ServiceVersion string
	// QueueSize bounds the calls waiting to become spans; zero takes
	// DefaultQueueSize. When full, calls are still proxied and recorded,
	// but their spans are dropped and counted.
	QueueSize int
	// BatchSize is the most spans per export; zero takes DefaultBatchSize.
	BatchSize int
	// BatchTimeout is the longest a span waits for its batch to fill; zero:
	// OTEL_BSP_SCHEDULE_DELAY, else 5 s.
	BatchTimeout time.Duration
	// ExportInterval is how often metrics are exported; zero:
	// OTEL_METRIC_EXPORT_INTERVAL, else 60 s.
	ExportInterval time.Duration
	// ExportTimeout bounds one export request; zero:
	// OTEL_EXPORTER_OTLP_TIMEOUT, else 10 s.
	ExportTimeout time.Duration

	// noRetry turns the exporters' retries off (tests).
	noRetry bool
}

// Bucket boundaries advised by the GenAI semantic conventions.
var (
	tokenUsageBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	opDurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
)

var errAlreadyShutdown = errors.New("telemetry: already shut down")

// otelPipeline exports calls: metrics are recorded at once (the SDK
// aggregates them in memory), spans are queued for one goroutine that builds
// them and hands them to the SDK's batch processor. The processor blocks
// that goroutine (never a call) when its own queue is full, so every span
// that cannot be kept is refused at one place, Observe, and counted there.
type otelPipeline struct {
	logger *slog.Logger
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	tracer trace.Tracer

	tokenUsage genaiconv.ClientTokenUsage
	opDuration genaiconv.ClientOperationDuration
	cost       metric.Float64Counter

	mu     sync.RWMutex // closed; held for reading while queuing
	closed bool
	queue  chan ledger.Record
	stop   chan struct{} // closed by shutdown
	done   chan struct{} // closed when the span goroutine exits

	dropped            atomic.Int64
	spansExported      atomic.Int64
	spansFailed        atomic.Int64
	spanExportErrors   atomic.Int64
	metricExportErrors atomic.Int64
	dropLog            rateLimiter
	exportLog          rateLimiter
}

func newOTelPipeline(ctx context.Context, o OTelOptions, logger *slog.Logger) (*otelPipeline, error) {
	queueSize := orDefault(o.QueueSize, DefaultQueueSize)
	batchSize := orDefault(o.BatchSize, DefaultBatchSize)
	p := &otelPipeline{
		logger: logger,
		queue:  make(chan ledger.Record, queueSize),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	// The SDK reports export failures through the process-wide handler;
	// the exporters below already count and log them (rate-limited), so
	// the rest go to debug.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Debug("opentelemetry", "err", err)
	}))

	res, err := newResource(ctx, o)
	if err != nil {
		return nil, err
	}
	spanExp, metricExp, err := newExporters(ctx, o)
	if err != nil {
		return nil, err
	}

	bspOpts := []sdktrace.BatchSpanProcessorOption{
		sdktrace.WithMaxQueueSize(batchSize),
		sdktrace.WithMaxExportBatchSize(batchSize),
		sdktrace.WithBlocking(),
	}
	if o.BatchTimeout > 0 {
		bspOpts = append(bspOpts, sdktrace.WithBatchTimeout(o.BatchTimeout))
	}
	limits := sdktrace.NewSpanLimits()
	if limits.AttributeValueLengthLimit < 0 {
		limits.AttributeValueLengthLimit = 4096 // an error message or tag, never a body
	}
	p.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithRawSpanLimits(limits),
		sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(&countingSpanExporter{SpanExporter: spanExp, p: p}, bspOpts...)),
	)
	p.tracer = p.tp.Tracer(instrumentationName)

	var readerOpts []sdkmetric.PeriodicReaderOption
	if o.ExportInterval > 0 {
		readerOpts = append(readerOpts, sdkmetric.WithInterval(o.ExportInterval))
	}
	p.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(&countingMetricExporter{Exporter: metricExp, p: p}, readerOpts...)),
	)
	meter := p.mp.Meter(instrumentationName)
	if p.tokenUsage, err = genaiconv.NewClientTokenUsage(meter, metric.WithExplicitBucketBoundaries(tokenUsageBuckets...)); err != nil {
		return nil, err
	}
	if p.opDuration, err = genaiconv.NewClientOperationDuration(meter, metric.WithExplicitBucketBoundaries(opDurationBuckets...)); err != nil {
		return nil, err
	}
	if p.cost, err = meter.Float64Counter("conduit.client.cost",
		metric.WithUnit("{USD}"), metric.WithDescription("Cost of the priced GenAI calls, in US dollars.")); err != nil {
		return nil, err
	}
	go p.run()
	return p, nil
}

// newResource describes this Conduit: service.name (option, else
// OTEL_SERVICE_NAME, else "conduit"), service.version, host.name, the SDK,
// and OTEL_RESOURCE_ATTRIBUTES (e.g. enduser.id=alice, team=ml).
func newResource(ctx context.Context, o OTelOptions) (*resource.Resource, error) {
	base := []attribute.KeyValue{semconv.ServiceName(DefaultServiceName)}
	if o.ServiceVersion != "" {
		base = append(base, semconv.ServiceVersion(o.ServiceVersion))
	}
	opts := []resource.Option{
		resource.WithAttributes(base...),
		resource.WithHost(),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	}
	if o.ServiceName != "" {
		opts = append(opts, resource.WithAttributes(semconv.ServiceName(o.ServiceName)))
	}
	res, err := resource.New(ctx, opts...)
	if err != nil && res == nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	// A partial resource (say, no host name) is still worth exporting.
	return res, nil
}

// noProxy keeps exports off an exported HTTPS_PROXY, which may point at
// Conduit itself.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

func newExporters(ctx context.Context, o OTelOptions) (sdktrace.SpanExporter, sdkmetric.Exporter, error) {
	topts := []otlptracehttp.Option{
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithProxy(noProxy),
	}
	mopts := []otlpmetrichttp.Option{
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression),
		otlpmetrichttp.WithProxy(noProxy),
	}
	if o.Endpoint != "" {
		base := strings.TrimRight(o.Endpoint, "/")
		if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, fmt.Errorf("endpoint %q is not an http(s) URL", o.Endpoint)
		}
		topts = append(topts, otlptracehttp.WithEndpointURL(base+"/v1/traces"))
		mopts = append(mopts, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"))
	}
	if o.Headers != nil {
		topts = append(topts, otlptracehttp.WithHeaders(o.Headers))
		mopts = append(mopts, otlpmetrichttp.WithHeaders(o.Headers))
	}
	if o.ExportTimeout > 0 {
		topts = append(topts, otlptracehttp.WithTimeout(o.ExportTimeout))
		mopts = append(mopts, otlpmetrichttp.WithTimeout(o.ExportTimeout))
	}
	if o.noRetry {
		topts = append(topts, otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
		mopts = append(mopts, otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	}
	se, err := otlptracehttp.New(ctx, topts...)
	if err != nil {
		return nil, nil, fmt.Errorf("trace exporter: %w", err)
	}
	me, err := otlpmetrichttp.New(ctx, mopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("metric exporter: %w", err)
	}
	return se, me, nil
}

// observe records the call's metrics and queues its span, never blocking.
func (p *otelPipeline) observe(rec ledger.Record, l *callLabelValues) {
	ctx := context.Background()
	op := genaiconv.OperationNameAttr(Operation(rec.Endpoint))
	prov := genaiconv.ProviderNameAttr(ProviderName(&rec))
	// Metric attributes are bounded: folded model and client names, no
	// per-call values.
	attrs := []attribute.KeyValue{
		semconv.GenAIRequestModel(l.requestModel),
		semconv.GenAIResponseModel(l.model),
		attribute.String("conduit.provider", l.provider),
		attribute.String("conduit.client", l.client),
	}
	if host, port := hostPort(rec.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if rec.HasUsage {
		p.tokenUsage.Record(ctx, rec.InputTokens, op, prov, genaiconv.TokenTypeInput, attrs...)
		p.tokenUsage.Record(ctx, rec.OutputTokens, op, prov, genaiconv.TokenTypeOutput, attrs...)
	}
	if rec.CostUSD != nil && *rec.CostUSD > 0 {
		p.cost.Add(ctx, *rec.CostUSD, metric.WithAttributes(append(attrs[:len(attrs):len(attrs)],
			semconv.GenAIOperationNameKey.String(string(op)), semconv.GenAIProviderNameKey.String(string(prov)))...))
	}
	if et := errorType(&rec); et != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
	}
	p.opDuration.Record(ctx, rec.Duration.Seconds(), op, prov, attrs...)

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

// run turns queued calls into spans until shutdown, then drains the queue.
func (p *otelPipeline) run() {
	defer close(p.done)
	for {
		select {
		case rec := <-p.queue:
			p.span(&rec)
		case <-p.stop:
			for {
				select {
				case rec := <-p.queue:
					p.span(&rec)
				default:
					return
				}
			}
		}
	}
}

// span exports one call as a CLIENT span named "<operation> <model>", with
// the GenAI attributes, the x-vh-* headers and tags, never a credential.
func (p *otelPipeline) span(rec *ledger.Record) {
	op := Operation(rec.Endpoint)
	reqModel := rec.RequestModel
	if reqModel == "" {
		reqModel = rec.Model
	}
	name := op
	if reqModel != "" {
		name += " " + reqModel
	}
	attrs := make([]attribute.KeyValue, 0, 40)
	attrs = append(attrs,
		semconv.GenAIOperationNameKey.String(op),
		semconv.GenAIProviderNameKey.String(ProviderName(rec)),
		attribute.String("conduit.call.id", rec.ID),
		attribute.String("conduit.provider", rec.Provider),
		attribute.String("conduit.api", rec.API),
		attribute.String("conduit.mode", rec.Mode),
		attribute.String("conduit.outcome", rec.Outcome),
		attribute.Float64("conduit.added_latency", addedLatency(rec).Seconds()),
		semconv.HTTPRequestMethodKey.String(rec.Method),
		semconv.GenAIRequestStream(rec.Stream),
	)
	if rec.Endpoint != "" {
		attrs = append(attrs, attribute.String("conduit.endpoint", rec.Endpoint))
	}
	if reqModel != "" {
		attrs = append(attrs, semconv.GenAIRequestModel(reqModel))
	}
	if rec.Model != "" {
		attrs = append(attrs, semconv.GenAIResponseModel(rec.Model))
	}
	if rec.ResponseID != "" {
		attrs = append(attrs, semconv.GenAIResponseID(rec.ResponseID))
	}
	if host, port := hostPort(rec.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if rec.Status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(rec.Status))
	}
	if rec.HasUsage {
		attrs = append(attrs,
			semconv.GenAIUsageInputTokens(int(rec.InputTokens)),
			semconv.GenAIUsageOutputTokens(int(rec.OutputTokens)),
			semconv.GenAIUsageCacheReadInputTokens(int(rec.CachedInputTokens)),
			semconv.GenAIUsageCacheCreationInputTokens(int(rec.CacheWriteTokens)),
			semconv.GenAIUsageReasoningOutputTokens(int(rec.ReasoningTokens)),
		)
	}
	if rec.Stream && rec.TTFB > 0 {
		attrs = append(attrs, semconv.GenAIResponseTimeToFirstChunk(rec.TTFB.Seconds()))
	}
	if rec.CostUSD != nil {
		attrs = append(attrs, attribute.Float64("conduit.cost_usd", *rec.CostUSD), attribute.String("conduit.cost_source", rec.CostSource))
	}
	if rec.RequestID != "" {
		attrs = append(attrs, attribute.String("conduit.upstream_request_id", rec.RequestID))
	}
	if rec.Client != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(rec.Client), attribute.String("conduit.client", ClientName(rec.Client)))
	}
	if len(rec.Tags) > 0 {
		attrs = append(attrs, attribute.StringSlice("conduit.tags", rec.Tags))
	}
	for name, value := range rec.VHHeaders {
		if exportableHeader(name) {
			attrs = append(attrs, attribute.StringSlice("http.request.header."+strings.ToLower(name), []string{value}))
		}
	}
	et := errorType(rec)
	if et != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
	}

	_, s := p.tracer.Start(context.Background(), name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(rec.StartedAt),
		trace.WithAttributes(attrs...),
	)
	if et != "" && rec.Outcome != ledger.OutcomeClientCancelled {
		s.SetStatus(codes.Error, rec.Error)
	}
	end := rec.FinishedAt
	if end.IsZero() {
		end = rec.StartedAt.Add(rec.Duration)
	}
	s.End(trace.WithTimestamp(end))
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

// shutdown stops queuing, turns what is queued into spans, and flushes both
// providers.
func (p *otelPipeline) shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errAlreadyShutdown
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	var err error
	select {
	case <-p.done:
	case <-ctx.Done():
		err = fmt.Errorf("opentelemetry: %d calls still queued: %w", len(p.queue), ctx.Err())
	}
	if terr := p.tp.Shutdown(ctx); terr != nil {
		err = errors.Join(err, fmt.Errorf("opentelemetry: flush spans: %w", terr))
	}
	if merr := p.mp.Shutdown(ctx); merr != nil {
		err = errors.Join(err, fmt.Errorf("opentelemetry: flush metrics: %w", merr))
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
