// Package telemetry plugs Conduit into the monitoring a team already runs:
// it turns each call's ledger.Record into Prometheus series (served on the
// proxy's own port at /metrics) and into OpenTelemetry spans and GenAI
// metrics exported over OTLP/HTTP to a collector.
//
// It exists so that Conduit never grows a server of its own for team-wide
// numbers: each developer's Conduit is scraped by Prometheus or pushes to
// one OpenTelemetry Collector, and the team's dashboards do the rest.
//
// Recording never slows a call. Observe runs at the end of every call: it
// updates counters in place and queues the call's span without blocking; a
// full queue (a collector slow or down) drops spans, counts them
// (conduit_otel_spans_dropped_total) and logs a rate-limited warning, and
// memory stays bounded. Label cardinality is bounded too: beyond a limit,
// new model and client names are folded into "other", and clients are
// reduced to the SDK or tool name without its version.
//
// Spans follow the OpenTelemetry GenAI semantic conventions
// (gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model,
// gen_ai.response.model, gen_ai.usage.*) and carry the call's x-vh-* request
// headers (as http.request.header.<name>) and tags, never a credential.
//
// Neither the Prometheus Go client nor the OpenTelemetry SDK is used: the
// binary carries what Conduit sends and no more. /metrics is written in the
// Prometheus text format by exposition.go from counters and histograms
// kept with atomics (prometheus.go). The export is Conduit's own OTLP/HTTP
// client (otlp.go) sending protobuf bodies encoded with protowire alone
// (otlpwire.go; the tests decode them with the generated
// go.opentelemetry.io/proto/otlp types): calls are observed after they
// end, so spans are built straight from the record, and three instruments
// are aggregated in memory (otelmetrics.go). It honours the standard
// OTEL_EXPORTER_OTLP_* and related variables (see OTelOptions).
//
// The package reads records only; it knows nothing of the proxy.
package telemetry
