package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// Defaults for Options.
const (
	// DefaultMaxModels is how many distinct models get their own label
	// value; later ones are counted under LabelOther.
	DefaultMaxModels = 50
	// DefaultMaxClients is how many distinct clients (see ClientName) get
	// their own label value.
	DefaultMaxClients = 20
)

// StatsSource reports the ledger writer's counters; *ledger.Writer is one.
type StatsSource interface {
	Stats() ledger.WriterStats
}

// Options configure a Telemetry. The zero value turns everything off.
type Options struct {
	// Prometheus enables the metrics registry served by Handler.
	Prometheus bool
	// MaxModels and MaxClients bound the distinct values of the model and
	// client labels (Prometheus and OpenTelemetry metrics alike); zero
	// takes DefaultMaxModels and DefaultMaxClients.
	MaxModels  int
	MaxClients int
	// Ledger, if set, is read at each scrape for the ledger queue depth,
	// records written and dropped, and write errors.
	Ledger StatsSource
	// OTel, if set, exports every call as an OpenTelemetry span and as
	// GenAI metrics over OTLP/HTTP. Nil: no export.
	OTel *OTelOptions
	// Logger receives warnings (drops, failed exports); nil: slog.Default().
	Logger *slog.Logger
}

// Telemetry turns call records into Prometheus series and OpenTelemetry
// spans and metrics. A nil *Telemetry is valid and does nothing. Its methods
// are safe for concurrent use.
type Telemetry struct {
	logger  *slog.Logger
	models  *limiter
	clients *limiter
	prom    *promMetrics  // nil: Prometheus off
	otel    *otelPipeline // nil: OpenTelemetry off
}

// New builds a Telemetry. With OTel set it reads the OpenTelemetry
// environment variables (see OTelOptions) and starts the export goroutines,
// which Shutdown stops. It never connects to the collector before the first
// export, so a collector that is down does not make New fail.
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	t := &Telemetry{
		logger:  opts.Logger,
		models:  newLimiter(orDefault(opts.MaxModels, DefaultMaxModels)),
		clients: newLimiter(orDefault(opts.MaxClients, DefaultMaxClients)),
	}
	if t.logger == nil {
		t.logger = slog.Default()
	}
	if opts.OTel != nil {
		o, err := newOTelPipeline(*opts.OTel, t.logger)
		if err != nil {
			return nil, fmt.Errorf("opentelemetry: %w", err)
		}
		t.otel = o
	}
	if opts.Prometheus {
		t.prom = newPromMetrics(opts.Ledger, t)
	}
	return t, nil
}

func orDefault(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// Handler returns the Prometheus /metrics handler, or nil when Prometheus
// is off (or t is nil). It stays valid for t's lifetime.
func (t *Telemetry) Handler() http.Handler {
	if t == nil || t.prom == nil {
		return nil
	}
	return t.prom
}

// callLabelValues are one record's bounded label values.
type callLabelValues struct {
	provider, api, model, client, outcome string
	requestModel                          string // set for OpenTelemetry only
}

// Observe counts one finished call. It never blocks: Prometheus series and
// OpenTelemetry metrics are updated in place, and the span is queued for
// export (dropped and counted when the queue is full). It keeps rec's maps
// and slices until the span is exported: the caller must not modify them.
// A record of other traffic (ledger.KindOther: a model list, telemetry, a
// token count) is no call and counts nowhere, as in the ledger's totals.
func (t *Telemetry) Observe(rec intercept.Call) {
	if t == nil || (t.prom == nil && t.otel == nil) || rec.Kind == ledger.KindOther {
		return
	}
	l := callLabelValues{
		provider: cleanLabel(rec.Provider),
		api:      cleanLabel(rec.API),
		model:    t.models.fold(rec.Model),
		client:   t.clients.fold(ClientName(rec.Client)),
		outcome:  cleanLabel(rec.Outcome),
	}
	if t.prom != nil {
		t.prom.observe(&rec, &l)
	}
	if t.otel != nil {
		l.requestModel = l.model
		if rec.RequestModel != "" && rec.RequestModel != rec.Model {
			l.requestModel = t.models.fold(rec.RequestModel)
		}
		t.otel.observe(rec, &l)
	}
}

// addedLatency is the time Conduit itself spent on a call: its duration
// less the time spent on the upstream (never negative).
func addedLatency(rec *intercept.Call) time.Duration {
	return max(rec.Duration-rec.UpstreamTime, 0)
}

// Stats is a snapshot of the OpenTelemetry export's counters.
type Stats struct {
	SpansQueued        int   // calls waiting to become spans
	SpansDropped       int64 // calls refused because the queue was full (or after Shutdown)
	SpansExported      int64 // spans the collector accepted
	SpansFailed        int64 // spans in exports that failed
	SpanExportErrors   int64 // failed span exports
	MetricExportErrors int64 // failed metric exports
}

// Stats returns the OpenTelemetry export's counters; zero when OpenTelemetry
// is off.
func (t *Telemetry) Stats() Stats {
	if t == nil || t.otel == nil {
		return Stats{}
	}
	return t.otel.stats()
}

// Shutdown exports what is queued (spans and a last collection of metrics)
// and stops the export goroutines. It returns when done or when ctx ends,
// with ctx's error in the latter case; what was not exported by then is
// lost. Observe after Shutdown counts the span as dropped. Calling it again
// returns nil.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil || t.otel == nil {
		return nil
	}
	err := t.otel.shutdown(ctx)
	if errors.Is(err, errAlreadyShutdown) {
		return nil
	}
	return err
}
