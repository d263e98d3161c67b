package telemetry

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// Defaults for OTelOptions.
const (
	// DefaultQueueSize bounds the calls waiting to become spans. Behind it
	// the span goroutine holds at most one batch (being exported), so with
	// a collector down memory stays near (DefaultQueueSize +
	// DefaultBatchSize) spans of ~1-2 KiB: a few MiB.
	DefaultQueueSize = 2048
	// DefaultBatchSize is the most spans one export request carries.
	DefaultBatchSize = 512
	// DefaultServiceName is service.name when neither the options nor
	// OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES name one.
	DefaultServiceName = "conduit"
)

// OTelOptions configure the OpenTelemetry export. Everything left zero is
// taken from the standard environment variables
// (https://opentelemetry.io/docs/specs/otel/protocol/exporter/), then from
// their defaults: OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS, _TIMEOUT,
// _COMPRESSION, _CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY (each also
// per signal, as OTEL_EXPORTER_OTLP_TRACES_* and _METRICS_*),
// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_EXPORT_TIMEOUT,
// OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_TIMEOUT, and the span
// attribute limits OTEL_[SPAN_]ATTRIBUTE_VALUE_LENGTH_LIMIT and
// OTEL_[SPAN_]ATTRIBUTE_COUNT_LIMIT. An endpoint or TLS file that cannot
// work makes New fail; any other malformed value is logged and ignored.
// Export is always OTLP/HTTP with protobuf bodies, which every OTLP/HTTP
// receiver accepts, so OTEL_EXPORTER_OTLP_PROTOCOL is not read.
type OTelOptions struct {
	// Endpoint is the collector's OTLP/HTTP base URL, e.g.
	// "http://collector:4318": spans go to <Endpoint>/v1/traces and metrics
	// to <Endpoint>/v1/metrics. http:// is plaintext, https:// uses the
	// system roots (or OTEL_EXPORTER_OTLP_CERTIFICATE). "":
	// OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal variables, used as
	// they are), else http://localhost:4318.
	Endpoint string
	// Headers are sent with every export (e.g. a backend's API key); nil:
	// OTEL_EXPORTER_OTLP_HEADERS (or the per-signal variables). Set, they
	// replace those variables.
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
	// OTEL_EXPORTER_OTLP_TIMEOUT, else 10 s. Retries of an export stop
	// after OTEL_BSP_EXPORT_TIMEOUT (spans) or OTEL_METRIC_EXPORT_TIMEOUT
	// (metrics), else 30 s.
	ExportTimeout time.Duration

	getenv func(string) string // nil: os.Getenv (tests set it)
	retry  *retryPolicy        // nil: defaultRetry (tests shorten it)
}

// Defaults of the settings only the environment sets.
const (
	defaultEndpoint          = "http://localhost:4318"
	defaultExportTimeout     = 10 * time.Second
	defaultBatchTimeout      = 5 * time.Second
	defaultSpanExportBudget  = 30 * time.Second
	defaultExportInterval    = 60 * time.Second
	defaultMetricExportLimit = 30 * time.Second
	// defaultAttrValueLength keeps an error message or a tag, never a body.
	defaultAttrValueLength = 4096
	defaultAttrCount       = 128
)

// envPrefix names the OTLP exporter variables.
const envPrefix = "OTEL_EXPORTER_OTLP_"

// otelConfig is OTelOptions resolved against the environment.
type otelConfig struct {
	traces, metrics signalConfig
	resource        []keyValue

	queueSize, batchSize int
	batchTimeout         time.Duration
	spanExportBudget     time.Duration // one span export, retries included
	exportInterval       time.Duration
	metricExportBudget   time.Duration // one metric export, retries included
	delta                bool          // delta temporality, else cumulative
	attrValueLength      int           // span attribute values, in characters; negative: no limit
	attrCount            int           // attributes per span; negative: no limit
}

// signalConfig is where and how one signal is sent.
type signalConfig struct {
	url     string
	headers map[string]string
	timeout time.Duration // one request
	gzip    bool
	tls     *tls.Config // nil: the system roots, no client certificate
}

// env reads the OpenTelemetry variables and warns about malformed ones.
type env struct {
	getenv func(string) string
	logger *slog.Logger
}

func (e env) get(name string) string { return strings.TrimSpace(e.getenv(name)) }

// first returns the first set variable of names, with its name.
func (e env) first(names ...string) (value, variable string) {
	for _, v := range names {
		if s := e.get(v); s != "" {
			return s, v
		}
	}
	return "", ""
}

// signal returns the first set of OTEL_EXPORTER_OTLP_<sig>_<name> and
// OTEL_EXPORTER_OTLP_<name>, with the variable's name.
func (e env) signal(sig, name string) (value, variable string) {
	return e.first(envPrefix+sig+"_"+name, envPrefix+name)
}

// int reads the first set variable of names as an integer.
func (e env) int(def int, names ...string) int {
	s, name := e.first(names...)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		e.logger.Warn("opentelemetry: ignoring "+name+": not an integer", "value", s)
		return def
	}
	return n
}

// millis reads the first set variable of names as a count of milliseconds
// (the specification's unit for durations), more than zero.
func (e env) millis(def time.Duration, names ...string) time.Duration {
	s, name := e.first(names...)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		e.logger.Warn("opentelemetry: ignoring "+name+": not a count of milliseconds above zero", "value", s)
		return def
	}
	return time.Duration(n) * time.Millisecond
}

func resolveOTel(o OTelOptions, logger *slog.Logger) (otelConfig, error) {
	e := env{getenv: o.getenv, logger: logger}
	if e.getenv == nil {
		e.getenv = os.Getenv
	}
	c := otelConfig{
		queueSize:          orDefault(o.QueueSize, DefaultQueueSize),
		batchSize:          orDefault(o.BatchSize, DefaultBatchSize),
		batchTimeout:       o.BatchTimeout,
		spanExportBudget:   e.millis(defaultSpanExportBudget, "OTEL_BSP_EXPORT_TIMEOUT"),
		exportInterval:     o.ExportInterval,
		metricExportBudget: e.millis(defaultMetricExportLimit, "OTEL_METRIC_EXPORT_TIMEOUT"),
		attrValueLength:    e.int(defaultAttrValueLength, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
		attrCount:          e.int(defaultAttrCount, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"),
		resource:           e.resource(o),
	}
	if c.batchTimeout <= 0 {
		c.batchTimeout = e.millis(defaultBatchTimeout, "OTEL_BSP_SCHEDULE_DELAY")
	}
	if c.exportInterval <= 0 {
		c.exportInterval = e.millis(defaultExportInterval, "OTEL_METRIC_EXPORT_INTERVAL")
	}
	switch t := strings.ToLower(e.get(envPrefix + "METRICS_TEMPORALITY_PREFERENCE")); t {
	case "", "cumulative":
	case "delta", "lowmemory": // the same for counters and histograms, all Conduit has
		c.delta = true
	default:
		logger.Warn("opentelemetry: ignoring "+envPrefix+"METRICS_TEMPORALITY_PREFERENCE: not cumulative, delta or lowmemory", "value", t)
	}
	var err error
	if c.traces, err = e.signalConfig(o, "TRACES", "/v1/traces"); err != nil {
		return c, err
	}
	if c.metrics, err = e.signalConfig(o, "METRICS", "/v1/metrics"); err != nil {
		return c, err
	}
	return c, nil
}

func (e env) signalConfig(o OTelOptions, sig, urlPath string) (signalConfig, error) {
	sc := signalConfig{headers: o.Headers, timeout: o.ExportTimeout, gzip: true}
	var err error
	if sc.url, err = e.endpoint(o, sig, urlPath); err != nil {
		return sc, err
	}
	if sc.headers == nil {
		if v, name := e.signal(sig, "HEADERS"); v != "" {
			sc.headers = e.headers(name, v)
		}
	}
	if sc.timeout <= 0 {
		sc.timeout = e.millis(defaultExportTimeout, envPrefix+sig+"_TIMEOUT", envPrefix+"TIMEOUT")
	}
	switch v, name := e.signal(sig, "COMPRESSION"); v {
	case "", "gzip":
	case "none":
		sc.gzip = false
	default:
		e.logger.Warn("opentelemetry: ignoring "+name+": not gzip or none", "value", v)
	}
	sc.tls, err = e.tlsConfig(sig)
	return sc, err
}

// endpoint is the signal's URL: the option's base URL + urlPath, else the
// per-signal variable as it is, else the general variable + urlPath.
func (e env) endpoint(o OTelOptions, sig, urlPath string) (string, error) {
	base, name := o.Endpoint, "endpoint"
	if base == "" {
		if v := e.get(envPrefix + sig + "_ENDPOINT"); v != "" {
			u, err := httpURL(v, envPrefix+sig+"_ENDPOINT")
			if err != nil {
				return "", err
			}
			if u.Path == "" {
				u.Path = "/"
			}
			return u.String(), nil
		}
		base, name = e.get(envPrefix+"ENDPOINT"), envPrefix+"ENDPOINT"
	}
	if base == "" {
		base = defaultEndpoint
	}
	u, err := httpURL(base, name)
	if err != nil {
		return "", err
	}
	u.Path = path.Join("/", u.Path, urlPath)
	u.RawPath = ""
	return u.String(), nil
}

func httpURL(s, name string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %q is not an http(s) URL", name, s)
	}
	return u, nil
}

// headers parses name=value,name=value with percent-encoded values. A
// malformed pair is skipped with a warning that never shows a value: it
// may be a credential.
func (e env) headers(variable, s string) map[string]string {
	h := map[string]string{}
	for i, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || !isToken(k) {
			e.logger.Warn(fmt.Sprintf("opentelemetry: ignoring entry %d of %s: not name=value", i+1, variable))
			continue
		}
		dv, err := url.PathUnescape(v)
		if err != nil {
			e.logger.Warn(fmt.Sprintf("opentelemetry: ignoring header %s of %s: bad percent-encoding", k, variable))
			continue
		}
		h[k] = strings.TrimSpace(dv)
	}
	return h
}

// isToken reports whether s is an HTTP field name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// tlsConfig reads the signal's CA and client certificate files; nil when
// none is set.
func (e env) tlsConfig(sig string) (*tls.Config, error) {
	ca, caVar := e.signal(sig, "CERTIFICATE")
	cert, certVar := e.signal(sig, "CLIENT_CERTIFICATE")
	key, keyVar := e.signal(sig, "CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", caVar, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", caVar, ca)
		}
	}
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s and %s: %w", certVar, keyVar, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	case cert != "":
		return nil, fmt.Errorf("%s is set without %sCLIENT_KEY", certVar, envPrefix)
	case key != "":
		return nil, fmt.Errorf("%s is set without %sCLIENT_CERTIFICATE", keyVar, envPrefix)
	}
	return tc, nil
}

// resource describes this Conduit, later entries replacing earlier ones:
// service.name "conduit", service.version, host.name, telemetry.sdk.*,
// OTEL_RESOURCE_ATTRIBUTES (e.g. enduser.id=alice,team=ml), then
// OTEL_SERVICE_NAME, then the ServiceName option.
func (e env) resource(o OTelOptions) []keyValue {
	var r attrSet
	r.set("service.name", DefaultServiceName)
	if o.ServiceVersion != "" {
		r.set("service.version", o.ServiceVersion)
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		r.set("host.name", host)
	}
	// Not the OpenTelemetry SDK: the semantic conventions ask for the
	// module of the implementation instead.
	r.set("telemetry.sdk.name", instrumentationName)
	r.set("telemetry.sdk.language", "go")
	if o.ServiceVersion != "" {
		r.set("telemetry.sdk.version", o.ServiceVersion)
	}
	if attrs := e.get("OTEL_RESOURCE_ATTRIBUTES"); attrs != "" {
		for i, pair := range strings.Split(attrs, ",") {
			k, v, ok := strings.Cut(pair, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				e.logger.Warn(fmt.Sprintf("opentelemetry: ignoring entry %d of OTEL_RESOURCE_ATTRIBUTES: not key=value", i+1))
				continue
			}
			v = strings.TrimSpace(v)
			if dv, err := url.PathUnescape(v); err == nil {
				v = dv
			}
			r.set(k, v)
		}
	}
	if name := e.get("OTEL_SERVICE_NAME"); name != "" {
		r.set("service.name", name)
	}
	if o.ServiceName != "" {
		r.set("service.name", o.ServiceName)
	}
	return r.kvs
}

// attrSet is string attributes in order, a later set replacing the value.
type attrSet struct{ kvs []keyValue }

func (s *attrSet) set(k, v string) {
	kv := stringKV(k, v)
	for i := range s.kvs {
		if s.kvs[i].key == kv.key {
			s.kvs[i] = kv
			return
		}
	}
	s.kvs = append(s.kvs, kv)
}
