package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/telemetry"
)

// telemetryFlushGrace bounds how long a stopping proxy waits for the last
// spans and metrics to reach the collector: a collector that is down must
// not hold the exit for long.
const telemetryFlushGrace = 5 * time.Second

// startTelemetry builds the proxy's Prometheus metrics ([metrics]) and
// OpenTelemetry export ([otel]); the result is nil when both are off (a nil
// *telemetry.Telemetry does nothing). ledgerStats is read at each scrape.
func startTelemetry(ctx context.Context, logger *slog.Logger, cfg *config.Config, ledgerStats telemetry.StatsSource) (*telemetry.Telemetry, error) {
	if !cfg.Metrics.Enabled && !cfg.OTel.Enabled {
		return nil, nil
	}
	opts := telemetry.Options{Prometheus: cfg.Metrics.Enabled, Ledger: ledgerStats, Logger: logger}
	if cfg.OTel.Enabled {
		opts.OTel = &telemetry.OTelOptions{
			Endpoint:       cfg.OTel.Endpoint,
			Headers:        cfg.OTel.Headers,
			ServiceName:    cfg.OTel.ServiceName,
			ServiceVersion: versionString(),
			ExportInterval: cfg.OTel.ExportInterval,
			QueueSize:      cfg.OTel.QueueSize,
		}
	}
	return telemetry.New(ctx, opts)
}

// logTelemetry says where the metrics and the export go.
func logTelemetry(logger *slog.Logger, cfg *config.Config, addr string) {
	if cfg.Metrics.Enabled {
		logger.Info("prometheus metrics at http://" + addr + "/metrics")
	}
	if cfg.OTel.Enabled {
		endpoint := cfg.OTel.Endpoint
		if endpoint == "" {
			endpoint = "from OTEL_EXPORTER_OTLP_* variables"
		}
		logger.Info("opentelemetry export (OTLP/HTTP) to " + endpoint)
	}
}

// stopTelemetry flushes the OpenTelemetry export, for at most
// telemetryFlushGrace, and says what was lost.
func stopTelemetry(ctx context.Context, logger *slog.Logger, tel *telemetry.Telemetry) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryFlushGrace)
	defer cancel()
	err := tel.Shutdown(fctx)
	if st := tel.Stats(); err != nil || st.SpansDropped > 0 || st.SpansFailed > 0 {
		logger.Warn("opentelemetry: not every call reached the collector", "err", err,
			"spans_exported", st.SpansExported, "spans_dropped", st.SpansDropped, "spans_failed", st.SpansFailed)
	}
}
