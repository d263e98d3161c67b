package telemetry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"maps"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// envOf is a getenv over a fixed environment.
func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// TestResolveOTel guards how the options and the standard OpenTelemetry
// variables combine into the export's settings: options win, per-signal
// variables beat the general ones, per-signal endpoints are used as they
// are, and malformed values are ignored with a warning that never shows a
// header's value.
func TestResolveOTel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  OTelOptions
		env   map[string]string
		check func(t *testing.T, c otelConfig)
		warn  string // in the log; "": nothing logged
	}{
		{"defaults", OTelOptions{}, nil, func(t *testing.T, c otelConfig) {
			want := otelConfig{queueSize: DefaultQueueSize, batchSize: DefaultBatchSize, batchTimeout: 5 * time.Second, spanExportBudget: 30 * time.Second,
				exportInterval: time.Minute, metricExportBudget: 30 * time.Second, attrValueLength: 4096, attrCount: 128}
			c.traces, c.metrics, c.resource = signalConfig{}, signalConfig{}, nil
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got %+v, want %+v", c, want)
			}
		}, ""},
		{"default endpoint", OTelOptions{}, nil, func(t *testing.T, c otelConfig) {
			urls("http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics")(t, c)
			for _, sc := range []signalConfig{c.traces, c.metrics} {
				if sc.timeout != 10*time.Second || !sc.gzip || sc.headers != nil || sc.tls != nil {
					t.Errorf("%+v", sc)
				}
			}
		}, ""},
		{"option endpoint with a path", OTelOptions{Endpoint: "https://c:4318/otlp/"}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://env:2/t"},
			urls("https://c:4318/otlp/v1/traces", "https://c:4318/otlp/v1/metrics"), ""},
		{"general variable", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318"},
			urls("https://c:4318/v1/traces", "https://c:4318/v1/metrics"), ""},
		{"general variable with a path", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c/otlp"},
			urls("http://c/otlp/v1/traces", "http://c/otlp/v1/metrics"), ""},
		{"per-signal variables as they are", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/custom",
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:2"}, urls("http://t:1/custom", "http://m:2/"), ""},
		{"headers", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=k1, x-b = x%20y ", "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "m=1"},
			func(t *testing.T, c otelConfig) {
				if !maps.Equal(c.traces.headers, map[string]string{"api-key": "k1", "x-b": "x y"}) || !maps.Equal(c.metrics.headers, map[string]string{"m": "1"}) {
					t.Errorf("headers %v %v", c.traces.headers, c.metrics.headers)
				}
			}, ""},
		{"option headers replace the variables", OTelOptions{Headers: map[string]string{"o": "1"}}, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2"},
			func(t *testing.T, c otelConfig) {
				if !maps.Equal(c.traces.headers, map[string]string{"o": "1"}) || !maps.Equal(c.metrics.headers, map[string]string{"o": "1"}) {
					t.Errorf("headers %v %v", c.traces.headers, c.metrics.headers)
				}
			}, ""},
		{"malformed header", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "sk-secret-value,bad name=sk-other-secret,ok=1"},
			func(t *testing.T, c otelConfig) {
				if !maps.Equal(c.traces.headers, map[string]string{"ok": "1"}) {
					t.Errorf("headers %v", c.traces.headers)
				}
			}, "ignoring entry 1 of OTEL_EXPORTER_OTLP_HEADERS"},
		{"timeouts", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "100"},
			func(t *testing.T, c otelConfig) {
				if c.traces.timeout != 2500*time.Millisecond || c.metrics.timeout != 100*time.Millisecond {
					t.Errorf("timeouts %v %v", c.traces.timeout, c.metrics.timeout)
				}
			}, ""},
		{"option timeout", OTelOptions{ExportTimeout: time.Second}, map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"},
			func(t *testing.T, c otelConfig) {
				if c.traces.timeout != time.Second || c.metrics.timeout != time.Second {
					t.Errorf("timeouts %v %v", c.traces.timeout, c.metrics.timeout)
				}
			}, ""},
		{"timeout not in milliseconds", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
			func(t *testing.T, c otelConfig) {
				if c.traces.timeout != 10*time.Second {
					t.Errorf("timeout %v", c.traces.timeout)
				}
			}, "ignoring OTEL_EXPORTER_OTLP_TIMEOUT"},
		{"compression", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "none", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "gzip"},
			func(t *testing.T, c otelConfig) {
				if c.traces.gzip || !c.metrics.gzip {
					t.Errorf("gzip %v %v", c.traces.gzip, c.metrics.gzip)
				}
			}, ""},
		{"unknown compression", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
			func(t *testing.T, c otelConfig) {
				if !c.traces.gzip {
					t.Error("not gzip")
				}
			}, "ignoring OTEL_EXPORTER_OTLP_COMPRESSION"},
		{"delta", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "Delta"}, func(t *testing.T, c otelConfig) {
			if !c.delta {
				t.Error("not delta")
			}
		}, ""},
		{"low memory", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "lowmemory"}, func(t *testing.T, c otelConfig) {
			if !c.delta {
				t.Error("not delta")
			}
		}, ""},
		{"unknown temporality", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "sometimes"}, func(t *testing.T, c otelConfig) {
			if c.delta {
				t.Error("delta")
			}
		}, "METRICS_TEMPORALITY_PREFERENCE"},
		{"schedule variables", OTelOptions{}, map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "250", "OTEL_BSP_EXPORT_TIMEOUT": "1000",
			"OTEL_METRIC_EXPORT_INTERVAL": "15000", "OTEL_METRIC_EXPORT_TIMEOUT": "2000"}, func(t *testing.T, c otelConfig) {
			if c.batchTimeout != 250*time.Millisecond || c.spanExportBudget != time.Second || c.exportInterval != 15*time.Second || c.metricExportBudget != 2*time.Second {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"schedule options", OTelOptions{BatchTimeout: time.Second, ExportInterval: 2 * time.Second}, map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "250",
			"OTEL_METRIC_EXPORT_INTERVAL": "15000"}, func(t *testing.T, c otelConfig) {
			if c.batchTimeout != time.Second || c.exportInterval != 2*time.Second {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"zero interval", OTelOptions{}, map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "0"}, func(t *testing.T, c otelConfig) {
			if c.exportInterval != time.Minute {
				t.Errorf("interval %v", c.exportInterval)
			}
		}, "ignoring OTEL_METRIC_EXPORT_INTERVAL"},
		{"attribute limits", OTelOptions{}, map[string]string{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "10", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "20",
			"OTEL_ATTRIBUTE_COUNT_LIMIT": "-1"}, func(t *testing.T, c otelConfig) {
			if c.attrValueLength != 20 || c.attrCount != -1 {
				t.Errorf("limits %d %d", c.attrValueLength, c.attrCount)
			}
		}, ""},
		{"queue and batch", OTelOptions{QueueSize: 7, BatchSize: 3}, nil, func(t *testing.T, c otelConfig) {
			if c.queueSize != 7 || c.batchSize != 3 {
				t.Errorf("%+v", c)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			tt.opts.getenv = envOf(tt.env)
			c, err := resolveOTel(tt.opts, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
			if got := logs.String(); tt.warn == "" && got != "" || !strings.Contains(got, tt.warn) {
				t.Errorf("log %q, want %q", got, tt.warn)
			}
			if strings.Contains(logs.String(), "secret") {
				t.Errorf("a header value was logged: %s", logs.String())
			}
		})
	}
}

func urls(traces, metrics string) func(t *testing.T, c otelConfig) {
	return func(t *testing.T, c otelConfig) {
		if c.traces.url != traces || c.metrics.url != metrics {
			t.Errorf("urls %s %s, want %s %s", c.traces.url, c.metrics.url, traces, metrics)
		}
	}
}

// TestResolveOTelErrors guards the settings that cannot work and stop New,
// each naming its variable.
func TestResolveOTelErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts OTelOptions
		env  map[string]string
		want string
	}{
		{"option without a scheme", OTelOptions{Endpoint: "collector:4318"}, nil, `endpoint "collector:4318" is not an http(s) URL`},
		{"general variable without a scheme", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"per-signal variable not http", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://c/x"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"missing CA file", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": filepath.Join(dir, "none.pem")}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{"CA file without PEM", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE": notPEM}, "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: no PEM certificate"},
		{"client certificate without key", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": notPEM}, "set without OTEL_EXPORTER_OTLP_CLIENT_KEY"},
		{"client key without certificate", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": notPEM}, "set without OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
		{"unreadable key pair", OTelOptions{}, map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": notPEM, "OTEL_EXPORTER_OTLP_CLIENT_KEY": notPEM}, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.getenv = envOf(tt.env)
			_, err := New(context.Background(), Options{OTel: &tt.opts, Logger: slog.New(slog.DiscardHandler)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// TestOTelResource guards the resource every export carries: service.name
// from the option, else OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES,
// else "conduit"; the variable's other attributes percent-decoded; and
// host.name.
func TestOTelResource(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	resAttrs := "enduser.id=alice, team=ml%20ops,service.name=from-attrs,broken"
	tests := []struct {
		name string
		opts OTelOptions
		env  map[string]string
		want map[string]any
	}{
		{"defaults", OTelOptions{}, nil, map[string]any{"service.name": "conduit", "host.name": host,
			"telemetry.sdk.name": instrumentationName, "telemetry.sdk.language": "go"}},
		{"version", OTelOptions{ServiceVersion: "v9"}, nil, map[string]any{"service.name": "conduit", "service.version": "v9", "telemetry.sdk.version": "v9"}},
		{"resource attributes", OTelOptions{}, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": resAttrs},
			map[string]any{"service.name": "from-attrs", "enduser.id": "alice", "team": "ml ops"}},
		{"service name variable", OTelOptions{}, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": resAttrs, "OTEL_SERVICE_NAME": "from-var"},
			map[string]any{"service.name": "from-var", "enduser.id": "alice"}},
		{"service name option", OTelOptions{ServiceName: "from-option"}, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": resAttrs, "OTEL_SERVICE_NAME": "from-var"},
			map[string]any{"service.name": "from-option", "team": "ml ops"}},
		{"not UTF-8", OTelOptions{}, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=ml\xff,\xfe=x"},
			map[string]any{"team": "ml\uFFFD", "\uFFFD": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.getenv = envOf(tt.env)
			c, err := resolveOTel(tt.opts, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			got := attrs(pbAttrs(t, c.resource))
			if len(got) != len(c.resource) {
				t.Errorf("duplicate keys in %v", c.resource)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// TestOTelExportFromEnvironment guards an export configured by the
// variables alone, end to end: endpoint, headers, no compression and the
// resource attributes.
func TestOTelExportFromEnvironment(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    rc.url,
		"OTEL_EXPORTER_OTLP_HEADERS":     "x-team-key=team-k1",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "none",
		"OTEL_RESOURCE_ATTRIBUTES":       "enduser.id=alice",
		"OTEL_SERVICE_NAME":              "svc",
	}
	tel, err := New(context.Background(), Options{OTel: &OTelOptions{getenv: envOf(env)}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tel.Observe(intercept.Call{Record: ledger.Record{ID: "c1", Model: "m", Endpoint: "chat_completions", Duration: time.Second, HasUsage: true, InputTokens: 3}})
	if err := shutdown(t, tel); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.traces) != 1 || len(rc.metrics) != 1 {
		t.Fatalf("%d trace and %d metric exports, want 1 each (paths %v)", len(rc.traces), len(rc.metrics), rc.paths)
	}
	for _, h := range rc.headers {
		if h.Get("x-team-key") != "team-k1" || h.Get("Content-Encoding") != "" {
			t.Errorf("headers %v", h)
		}
	}
	for _, res := range []map[string]any{attrs(rc.traces[0].ResourceSpans[0].Resource.Attributes), attrs(rc.metrics[0].ResourceMetrics[0].Resource.Attributes)} {
		if res["service.name"] != "svc" || res["enduser.id"] != "alice" {
			t.Errorf("resource %v", res)
		}
	}
}

// TestOTelExportTLS guards OTEL_EXPORTER_OTLP_CERTIFICATE (the roots the
// collector's certificate is checked against) and the client certificate
// a collector may require.
func TestOTelExportTLS(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	srv := httptest.NewUnstartedServer(rc)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	rc.url = srv.URL

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writePEM(t, ca, "CERTIFICATE", srv.Certificate().Raw)
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certFile, "CERTIFICATE", der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)

	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":           srv.URL,
		"OTEL_EXPORTER_OTLP_CERTIFICATE":        ca,
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certFile,
		"OTEL_EXPORTER_OTLP_CLIENT_KEY":         keyFile,
	}
	tel, err := New(context.Background(), Options{OTel: &OTelOptions{getenv: envOf(env), retry: &retryPolicy{}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tel.Observe(intercept.Call{Record: ledger.Record{ID: "c1", Duration: time.Second}})
	if err := shutdown(t, tel); err != nil {
		t.Fatal(err)
	}
	if st := tel.Stats(); st.SpansExported != 1 || st.MetricExportErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

func writePEM(t *testing.T, name, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
