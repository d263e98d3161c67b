package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	dto "github.com/prometheus/client_model/go"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ledger/pricing"
	"github.com/valohai/conduit/parsers"
)

// auth is the credential every test call carries; it must never reach an
// export.
const auth = "Bearer sk-test-secret"

// rig is a fake provider behind a real Conduit proxy whose Record hook
// prices each call and hands it to a Telemetry, as `conduit proxy` does.
type rig struct {
	tel      *Telemetry
	fakeURL  string
	proxyURL string
	records  chan intercept.Call
	logs     *syncBuffer
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	r := &rig{records: make(chan intercept.Call, 256), logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if opts.Logger == nil {
		opts.Logger = logger
	}
	fake := fakeprovider.New(fakeprovider.Options{})
	fs := httptest.NewServer(fake)
	t.Cleanup(fs.Close)
	t.Cleanup(fake.Close)
	r.fakeURL = fs.URL
	u, _ := url.Parse(fs.URL)

	tel, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	r.tel = tel
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tel.Shutdown(ctx)
	})
	pricer, err := pricing.NewPricer(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := intercept.New(intercept.Options{
		Providers: []intercept.Provider{
			{Key: "openai", Upstream: u, API: parsers.OpenAI, InjectStreamUsage: true},
			{Key: "anthropic", Upstream: u, API: parsers.Anthropic},
		},
		Record: func(rec intercept.Call) {
			pricer.Price(&rec.Record)
			tel.Observe(rec)
			r.records <- rec
		},
		Metrics: tel.Handler(),
		Logger:  logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(srv)
	t.Cleanup(ps.Close)
	t.Cleanup(srv.CloseIdleConnections)
	r.proxyURL = ps.URL
	return r
}

// call makes one call through the proxy and returns its status, body and
// record (Observe has returned by then).
func (r *rig) call(t *testing.T, path string, header http.Header, body string) (int, []byte, intercept.Call) {
	t.Helper()
	req, err := http.NewRequest("POST", r.proxyURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case rec := <-r.records:
		return resp.StatusCode, b, rec
	case <-time.After(10 * time.Second):
		t.Fatal("no record within 10 s")
	}
	return 0, nil, intercept.Call{}
}

// scrape fetches /metrics through the proxy and parses it.
func (r *rig) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(r.proxyURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// sample finds the series of family name whose labels include want; ok is
// false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return nil, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, lp := range m.Label {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// value is the counter, gauge or untyped value of one series, or the
// histogram's count.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := sample(fams, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return m.Untyped.GetValue()
}

// receiver is an in-process OTLP/HTTP collector: it decodes the protobuf
// export requests and keeps them. It decodes them as TracesData and
// MetricsData, which the OTLP protobuf definitions keep wire-compatible
// with the collector's ExportTraceServiceRequest and
// ExportMetricsServiceRequest (whose Go packages link gRPC): field 1,
// repeated ResourceSpans or ResourceMetrics.
type receiver struct {
	url  string
	hold chan struct{} // non-nil: every request waits until it is closed

	mu      sync.Mutex
	answers map[string][]answer // by path, answered in turn before the usual 200
	traces  []*tracepb.TracesData
	metrics []*metricpb.MetricsData
	raw     [][]byte // decompressed bodies of every request
	headers []http.Header
	paths   []string
}

// answer is a scripted reply; hang makes the request wait until the
// client gives up.
type answer struct {
	status int
	header http.Header
	body   []byte
	hang   bool
}

func newReceiver(t testing.TB, hold chan struct{}) *receiver {
	t.Helper()
	rc := &receiver{hold: hold}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

// script queues answers for the next requests to path.
func (rc *receiver) script(path string, a ...answer) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.answers == nil {
		rc.answers = map[string][]answer{}
	}
	rc.answers[path] = append(rc.answers[path], a...)
}

// requests is how many requests arrived.
func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.raw)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a POST of application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	// Held after reading the body: only then does the server notice a
	// client that gives up, and cancel r's context.
	if rc.hold != nil {
		select {
		case <-rc.hold:
		case <-r.Context().Done():
			return
		}
	}
	rc.mu.Lock()
	rc.raw = append(rc.raw, data)
	rc.headers = append(rc.headers, r.Header.Clone())
	rc.paths = append(rc.paths, r.URL.Path)
	var a answer
	if q := rc.answers[r.URL.Path]; len(q) > 0 {
		a, rc.answers[r.URL.Path] = q[0], q[1:]
	}
	if a.status == 0 && !a.hang {
		switch r.URL.Path {
		case "/v1/traces":
			req := &tracepb.TracesData{}
			err = proto.Unmarshal(data, req)
			rc.traces = append(rc.traces, req)
		case "/v1/metrics":
			req := &metricpb.MetricsData{}
			err = proto.Unmarshal(data, req)
			rc.metrics = append(rc.metrics, req)
		default:
			rc.mu.Unlock()
			http.NotFound(w, r)
			return
		}
	}
	rc.mu.Unlock()
	switch {
	case err != nil:
		http.Error(w, err.Error(), 400)
	case a.hang:
		<-r.Context().Done()
	case a.status != 0:
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(a.status)
		w.Write(a.body)
	default:
		// An empty ExportTraceServiceResponse or
		// ExportMetricsServiceResponse: full success.
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
}

// attrs flattens OTLP attributes into Go values: string, int64, float64,
// bool, or []string.
func attrs(kvs []*commonpb.KeyValue) map[string]any {
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.Key] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.Key] = x.IntValue
		case *commonpb.AnyValue_DoubleValue:
			out[kv.Key] = x.DoubleValue
		case *commonpb.AnyValue_BoolValue:
			out[kv.Key] = x.BoolValue
		case *commonpb.AnyValue_ArrayValue:
			var ss []string
			for _, e := range x.ArrayValue.GetValues() {
				ss = append(ss, e.GetStringValue())
			}
			out[kv.Key] = ss
		}
	}
	return out
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeStats is a ledger writer's counters, fixed.
type fakeStats ledger.WriterStats

func (f fakeStats) Stats() ledger.WriterStats { return ledger.WriterStats(f) }
