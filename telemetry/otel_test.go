package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

func shutdown(t *testing.T, tel *Telemetry) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return tel.Shutdown(ctx)
}

// TestOTelExport guards the OpenTelemetry export end to end: calls driven
// through a real proxy reach an OTLP/HTTP collector as CLIENT spans and GenAI
// metrics with the semantic conventions' attributes, the x-vh-* headers and
// tags, the configured headers and service name, and no credential.
func TestOTelExport(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	r := newRig(t, Options{OTel: &OTelOptions{
		Endpoint:       rc.url + "/",
		Headers:        map[string]string{"x-team-key": "team-k1"},
		ServiceName:    "conduit-test",
		ServiceVersion: "v9",
		// Nothing is exported before Shutdown: the test sees one batch
		// and one final collection, whatever the machine's speed.
		BatchTimeout:   time.Hour,
		ExportInterval: time.Hour,
	}})

	_, _, claude := r.call(t, "/anthropic/v1/messages?key=sk-query-secret",
		hdr("x-api-key", "sk-ant-secret", "X-Vh-Project", "p1", "x-vh-run-id", "run-7", "x-vh-api-key", "sk-vh-secret",
			"X-Conduit-Tag", "exp-1, nightly", "User-Agent", "Anthropic/Python 0.40.0", fakeprovider.HeaderCachedTokens, "5", fakeprovider.HeaderCacheWrite5m, "6"),
		`{"model":"claude-haiku-4-5","max_tokens":4,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`)
	_, _, gpt := r.call(t, "/openai/v1/chat/completions", hdr(fakeprovider.HeaderModel, "gpt-4o-2024-08-06"),
		`{"model":"gpt-4o","messages":[{"role":"user","content":"one two"}]}`)
	status, _, failed := r.call(t, "/openai/v1/chat/completions", hdr(fakeprovider.HeaderStatus, "429"), `{"model":"gpt-4o-mini","messages":[]}`)
	if status != 429 || !claude.HasUsage || !gpt.HasUsage || gpt.CostUSD == nil {
		t.Fatalf("calls: status %d, records %+v %+v", status, claude, gpt)
	}
	if err := shutdown(t, r.tel); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if st := r.tel.Stats(); st.SpansExported != 3 || st.SpansDropped != 0 || st.SpansFailed != 0 || st.MetricExportErrors != 0 {
		t.Errorf("stats %+v", st)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, raw := range rc.raw {
		for _, secret := range []string{"sk-test-secret", "sk-ant-secret", "sk-vh-secret", "sk-query-secret"} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("export %d carries the credential %s", i, secret)
			}
		}
	}
	for i, h := range rc.headers {
		if h.Get("x-team-key") != "team-k1" || h.Get("Content-Encoding") != "gzip" || h.Get("User-Agent") != "conduit/v9" {
			t.Errorf("export %d to %s: headers %v", i, rc.paths[i], h)
		}
	}
	if len(rc.traces) != 1 || len(rc.metrics) != 1 {
		t.Errorf("%d trace and %d metric exports, want 1 each", len(rc.traces), len(rc.metrics))
	}

	// Spans.
	spans := map[string]*tracepb.Span{}
	var resource map[string]any
	for _, req := range rc.traces {
		for _, rs := range req.ResourceSpans {
			resource = attrs(rs.GetResource().GetAttributes())
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans[attrs(s.Attributes)["conduit.call.id"].(string)] = s
				}
			}
		}
	}
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	if resource["service.name"] != "conduit-test" || resource["service.version"] != "v9" {
		t.Errorf("resource %v", resource)
	}
	s := spans[claude.ID]
	a := attrs(s.Attributes)
	if s.Name != "chat claude-haiku-4-5" || s.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("span %q kind %v", s.Name, s.Kind)
	}
	if s.StartTimeUnixNano != uint64(claude.StartedAt.UnixNano()) || s.EndTimeUnixNano != uint64(claude.FinishedAt.UnixNano()) {
		t.Errorf("span times %d..%d, want the call's %v..%v", s.StartTimeUnixNano, s.EndTimeUnixNano, claude.StartedAt, claude.FinishedAt)
	}
	wantAttrs := map[string]any{
		"gen_ai.operation.name":                    "chat",
		"gen_ai.provider.name":                     "anthropic",
		"gen_ai.request.model":                     "claude-haiku-4-5",
		"gen_ai.response.model":                    claude.Model,
		"gen_ai.request.stream":                    true,
		"gen_ai.usage.input_tokens":                claude.InputTokens,
		"gen_ai.usage.output_tokens":               claude.OutputTokens,
		"gen_ai.usage.cache_read.input_tokens":     int64(5),
		"gen_ai.usage.cache_creation.input_tokens": int64(6),
		"http.request.method":                      "POST",
		"http.response.status_code":                int64(200),
		"server.address":                           "127.0.0.1",
		"conduit.provider":                         "anthropic",
		"conduit.endpoint":                         "messages",
		"conduit.outcome":                          "complete",
		"conduit.client":                           "anthropic-python",
		"user_agent.original":                      "Anthropic/Python 0.40.0",
	}
	for k, want := range wantAttrs {
		if a[k] != want {
			t.Errorf("claude span %s = %#v, want %#v", k, a[k], want)
		}
	}
	if !slices.Equal(a["http.request.header.x-vh-project"].([]string), []string{"p1"}) ||
		!slices.Equal(a["http.request.header.x-vh-run-id"].([]string), []string{"run-7"}) ||
		!slices.Equal(a["conduit.tags"].([]string), []string{"exp-1", "nightly"}) {
		t.Errorf("claude span headers and tags: %v", a)
	}
	for k := range a {
		if strings.Contains(k, "api-key") || strings.Contains(k, "authorization") {
			t.Errorf("claude span has %s", k)
		}
	}
	if _, ok := a["gen_ai.response.time_to_first_chunk"]; !ok {
		t.Error("stream span without time to first chunk")
	}

	a = attrs(spans[gpt.ID].Attributes)
	if spans[gpt.ID].Name != "chat gpt-4o" || a["gen_ai.request.model"] != "gpt-4o" || a["gen_ai.response.model"] != "gpt-4o-2024-08-06" ||
		a["gen_ai.provider.name"] != "openai" || a["conduit.cost_usd"] != *gpt.CostUSD || a["conduit.client"] != "go-http-client" {
		t.Errorf("gpt span %q %v", spans[gpt.ID].Name, a)
	}
	if _, ok := a["error.type"]; ok || spans[gpt.ID].Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("successful call marked as an error: %v", a)
	}

	s = spans[failed.ID]
	a = attrs(s.Attributes)
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || a["error.type"] != "429" || a["http.response.status_code"] != int64(429) ||
		a["conduit.outcome"] != "upstream_error" {
		t.Errorf("failed span status %v attrs %v", s.Status, a)
	}

	// Metrics: the last export holds the cumulative totals.
	if len(rc.metrics) == 0 {
		t.Fatal("no metrics exported")
	}
	last := rc.metrics[len(rc.metrics)-1]
	type point struct {
		attrs      map[string]any
		count      uint64
		sum, value float64
	}
	points := map[string][]point{}
	for _, rm := range last.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case *metricpb.Metric_Histogram:
					for _, dp := range d.Histogram.DataPoints {
						points[m.Name] = append(points[m.Name], point{attrs: attrs(dp.Attributes), count: dp.Count, sum: dp.GetSum()})
					}
				case *metricpb.Metric_Sum:
					for _, dp := range d.Sum.DataPoints {
						points[m.Name] = append(points[m.Name], point{attrs: attrs(dp.Attributes), value: dp.GetAsDouble()})
					}
				}
			}
		}
	}
	find := func(name string, want map[string]any) (point, bool) {
	next:
		for _, p := range points[name] {
			for k, v := range want {
				if p.attrs[k] != v {
					continue next
				}
			}
			return p, true
		}
		return point{}, false
	}
	metricTests := []struct {
		name, metric string
		attrs        map[string]any
		count        uint64
		sum          float64
	}{
		{"claude input tokens", "gen_ai.client.token.usage", map[string]any{"gen_ai.provider.name": "anthropic", "gen_ai.token.type": "input",
			"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-haiku-4-5", "conduit.client": "anthropic-python"}, 1, float64(claude.InputTokens)},
		{"claude output tokens", "gen_ai.client.token.usage", map[string]any{"gen_ai.provider.name": "anthropic", "gen_ai.token.type": "output"}, 1, float64(claude.OutputTokens)},
		{"gpt models apart", "gen_ai.client.token.usage", map[string]any{"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
			"gen_ai.token.type": "input"}, 1, float64(gpt.InputTokens)},
		{"duration of the failed call", "gen_ai.client.operation.duration", map[string]any{"error.type": "429", "gen_ai.provider.name": "openai"}, 1, failed.Duration.Seconds()},
	}
	for _, tt := range metricTests {
		p, ok := find(tt.metric, tt.attrs)
		if !ok {
			t.Errorf("%s: no %s point with %v in %v", tt.name, tt.metric, tt.attrs, points[tt.metric])
			continue
		}
		if p.count != tt.count || p.sum != tt.sum {
			t.Errorf("%s: count %d sum %v, want %d %v", tt.name, p.count, p.sum, tt.count, tt.sum)
		}
	}
	var calls uint64
	for _, p := range points["gen_ai.client.operation.duration"] {
		calls += p.count
	}
	if calls != 3 {
		t.Errorf("gen_ai.client.operation.duration counts %d calls, want 3", calls)
	}
	if p, ok := find("conduit.client.cost", map[string]any{"gen_ai.response.model": "gpt-4o-2024-08-06"}); !ok || p.value != *gpt.CostUSD {
		t.Errorf("cost point %+v, want %v", p, *gpt.CostUSD)
	}
}

// TestOTelCollectorHung guards a collector that accepts connections but
// never answers: calls are unaffected, the span queue stays bounded, the
// overflow is counted (in Stats and on /metrics) and logged, and once the
// collector answers everything kept is exported.
func TestOTelCollectorHung(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	rc := newReceiver(t, hold)
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	t.Cleanup(release)
	r := newRig(t, Options{Prometheus: true, OTel: &OTelOptions{
		Endpoint:      rc.url,
		QueueSize:     2,
		BatchSize:     1,
		ExportTimeout: time.Minute,
	}})
	const n = 12
	for i := range n {
		status, body, rec := r.call(t, "/openai/v1/chat/completions", nil, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
		if status != 200 || !strings.HasPrefix(string(body), "{") || rec.Outcome != ledger.OutcomeComplete {
			t.Fatalf("call %d: %d %q %s", i, status, body, rec.Outcome)
		}
	}
	// At most the queue (2) and the batch being exported (1) are kept.
	st := r.tel.Stats()
	if st.SpansDropped < n-3 || st.SpansDropped > n-2 || st.SpansQueued > 2 {
		t.Errorf("stats %+v: want %d..%d dropped, at most 2 queued", st, n-3, n-2)
	}
	fams := r.scrape(t)
	if got := value(t, fams, "conduit_otel_spans_dropped_total", map[string]string{"reason": "queue_full"}); got != float64(st.SpansDropped) {
		t.Errorf("/metrics says %v dropped, Stats %d", got, st.SpansDropped)
	}
	if !strings.Contains(r.logs.String(), "span queue full") {
		t.Errorf("no warning logged:\n%s", r.logs)
	}

	release()
	if err := shutdown(t, r.tel); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	st = r.tel.Stats()
	if st.SpansExported+st.SpansDropped != n || st.SpansFailed != 0 {
		t.Errorf("after release: %+v, want exported + dropped = %d", st, n)
	}
	r.tel.Observe(intercept.Call{Record: ledger.Record{Model: "late"}})
	if r.tel.Stats().SpansDropped != st.SpansDropped+1 {
		t.Error("a call observed after Shutdown was not counted as dropped")
	}
}

// TestOTelCollectorDown guards a collector that refuses connections: calls
// are unaffected and every span and metric export that failed is counted
// and logged.
func TestOTelCollectorDown(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(nil)
	url := dead.URL
	dead.Close()
	r := newRig(t, Options{Prometheus: true, OTel: &OTelOptions{Endpoint: url, retry: &retryPolicy{}, BatchTimeout: time.Hour}})
	const n = 3
	for i := range n {
		if status, body, _ := r.call(t, "/openai/v1/chat/completions", nil, `{"model":"gpt-4o-mini","messages":[]}`); status != 200 {
			t.Fatalf("call %d: %d %s", i, status, body)
		}
	}
	shutdown(t, r.tel) // its error (the failed final export) is expected
	st := r.tel.Stats()
	if st.SpansFailed != n || st.SpanExportErrors == 0 || st.MetricExportErrors == 0 || st.SpansExported != 0 {
		t.Errorf("stats %+v, want %d spans failed and both signals' errors counted", st, n)
	}
	if !strings.Contains(r.logs.String(), "exporting spans failed") {
		t.Errorf("no warning logged:\n%s", r.logs)
	}
}

// TestOTelBadEndpoint guards New's validation of the endpoint.
func TestOTelBadEndpoint(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{"collector:4318", "ftp://collector", "http://"} {
		if _, err := New(context.Background(), Options{OTel: &OTelOptions{Endpoint: ep}}); err == nil {
			t.Errorf("endpoint %q accepted", ep)
		}
	}
}

// observeN hands n calls to tel directly, without a proxy.
func observeN(tel *Telemetry, n int) {
	for i := range n {
		tel.Observe(intercept.Call{Record: ledger.Record{ID: "call-" + strconv.Itoa(i), Model: "m", Endpoint: "chat_completions", Provider: "openai",
			Outcome: ledger.OutcomeComplete, Duration: time.Second, HasUsage: true, InputTokens: 3, OutputTokens: 4}})
	}
}

func quietLogs() (*syncBuffer, *slog.Logger) {
	var b syncBuffer
	return &b, slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestOTelShutdownFlush guards Shutdown: every queued call is exported, in
// batches of BatchSize, with a last collection of the metrics, and a
// second Shutdown does nothing.
func TestOTelShutdownFlush(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	_, logger := quietLogs()
	tel, err := New(context.Background(), Options{Logger: logger, OTel: &OTelOptions{Endpoint: rc.url, QueueSize: 100, BatchSize: 10,
		BatchTimeout: time.Hour, ExportInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	observeN(tel, 25)
	if err := shutdown(t, tel); err != nil {
		t.Fatal(err)
	}
	if st := tel.Stats(); st.SpansExported != 25 || st.SpansQueued != 0 || st.SpansDropped != 0 {
		t.Errorf("stats %+v", st)
	}
	rc.mu.Lock()
	var sizes []int
	for _, td := range rc.traces {
		sizes = append(sizes, len(td.ResourceSpans[0].ScopeSpans[0].Spans))
	}
	metrics := len(rc.metrics)
	rc.mu.Unlock()
	if !slices.Equal(sizes, []int{10, 10, 5}) || metrics != 1 {
		t.Errorf("batches %v, %d metric exports; want [10 10 5] and 1", sizes, metrics)
	}
	if err := shutdown(t, tel); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

// TestOTelShutdownCutShort guards a Shutdown whose context ends while the
// collector hangs: it returns the context's error instead of waiting, and
// counts what was not exported.
func TestOTelShutdownCutShort(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	rc := newReceiver(t, hold)
	t.Cleanup(func() { close(hold) }) // before the receiver's Close
	_, logger := quietLogs()
	// Nothing but the cancellation ends the exports: without it the test
	// hangs.
	env := envOf(map[string]string{"OTEL_BSP_EXPORT_TIMEOUT": "3600000", "OTEL_METRIC_EXPORT_TIMEOUT": "3600000"})
	tel, err := New(context.Background(), Options{Logger: logger, OTel: &OTelOptions{Endpoint: rc.url, BatchSize: 1, ExportTimeout: time.Hour, getenv: env}})
	if err != nil {
		t.Fatal(err)
	}
	observeN(tel, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = tel.Shutdown(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("shutdown: %v, want the context's error", err)
	}
	if st := tel.Stats(); st.SpansExported != 0 || st.SpansFailed != 3 || st.MetricExportErrors != 1 {
		t.Errorf("stats %+v: want 3 spans failed and the metric export", st)
	}
}

// TestOTelCollectorRefusesSome guards a collector that accepts an export
// but refuses part of it (a partial success): the refused spans are
// counted as failed and logged, the rest as exported.
func TestOTelCollectorRefusesSome(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	rc.script("/v1/traces", answer{status: 200, body: []byte(tracePartial)})
	logs, logger := quietLogs()
	tel, err := New(context.Background(), Options{Logger: logger, OTel: &OTelOptions{Endpoint: rc.url, BatchTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	observeN(tel, 5)
	if err := shutdown(t, tel); err != nil {
		t.Fatal(err)
	}
	if st := tel.Stats(); st.SpansExported != 2 || st.SpansFailed != 3 || st.SpanExportErrors != 0 {
		t.Errorf("stats %+v: want 2 exported, 3 failed", st)
	}
	if !strings.Contains(logs.String(), "refused some spans") || !strings.Contains(logs.String(), "over quota") {
		t.Errorf("log:\n%s", logs)
	}
}

// TestOTelCollectorBusy guards the retries through the pipeline: a
// collector that answers 503 and then 429 with Retry-After gets the same
// batch again, and nothing is lost or counted as failed.
func TestOTelCollectorBusy(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	rc.script("/v1/traces", answer{status: 503}, answer{status: 429, header: http.Header{"Retry-After": {"2"}}})
	rc.script("/v1/metrics", answer{status: 503})
	s := &sleeps{}
	_, logger := quietLogs()
	tel, err := New(context.Background(), Options{Logger: logger, OTel: &OTelOptions{Endpoint: rc.url, BatchTimeout: time.Hour,
		retry: &retryPolicy{initial: time.Millisecond, max: time.Second, maxElapsed: time.Minute, sleep: s.sleep}}})
	if err != nil {
		t.Fatal(err)
	}
	observeN(tel, 4)
	if err := shutdown(t, tel); err != nil {
		t.Fatal(err)
	}
	if st := tel.Stats(); st.SpansExported != 4 || st.SpansFailed != 0 || st.SpanExportErrors != 0 || st.MetricExportErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.traces) != 1 || len(rc.metrics) != 1 || len(rc.raw) != 5 {
		t.Errorf("%d requests, %d traces and %d metrics accepted; want 5, 1, 1", len(rc.raw), len(rc.traces), len(rc.metrics))
	}
	if !slices.Contains(s.delays(), 2*time.Second) {
		t.Errorf("delays %v: Retry-After not honoured", s.delays())
	}
}
