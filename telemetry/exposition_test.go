package telemetry

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// promOnly is a Telemetry with Prometheus alone, its process figures fixed
// so that the exposition is the same at every run. With otel, the
// OpenTelemetry counters are served too, read from o.
func promOnly(t *testing.T, stats StatsSource, o *otelPipeline) *Telemetry {
	t.Helper()
	tel, err := New(t.Context(), Options{Prometheus: true, MaxModels: 4, Ledger: stats, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tel.prom.otel = o
	tel.prom.runtime = func() runtimeStats { return runtimeStats{goroutines: 12, heapAlloc: 3 << 20, resident: 20 << 20} }
	tel.prom.start = time.Unix(1767225600, 250e6)
	return tel
}

// goldenRecords are calls of every shape the series count: each outcome,
// errors with and without a status, usage of every kind or none, priced
// and unpriced, durations on a bucket bound and past the last, model names
// that need escaping, and a fifth model folded into "other".
func goldenRecords() []intercept.Call {
	cost := func(v float64) *float64 { return &v }
	base := ledger.Record{Provider: "openai", API: "openai", Client: "OpenAI/Python 1.40.0", Outcome: ledger.OutcomeComplete}
	with := func(f func(r *intercept.Call)) intercept.Call {
		r := intercept.Call{Record: base}
		f(&r)
		return r
	}
	return []intercept.Call{
		with(func(r *intercept.Call) {
			r.Model, r.HasUsage, r.InputTokens, r.OutputTokens, r.CachedInputTokens, r.ReasoningTokens = "gpt-4o", true, 1200, 300, 1000, 40
			r.CostUSD, r.Duration, r.UpstreamTime = cost(0.0125), 100*time.Millisecond, 99*time.Millisecond
		}),
		with(func(r *intercept.Call) {
			r.Model, r.HasUsage, r.InputTokens, r.OutputTokens = "gpt-4o", true, 10, 5
			r.CostUSD, r.Duration, r.UpstreamTime = cost(0.0005), 2*time.Second, 1998*time.Millisecond
			r.Client = "OpenAI/Python 1.52.0"
		}),
		with(func(r *intercept.Call) {
			r.Provider, r.API, r.Model, r.Client = "anthropic", "anthropic", "claude-haiku-4-5", "claude-cli/1.0.3 (external, cli)"
			r.HasUsage, r.InputTokens, r.OutputTokens, r.CacheWriteTokens = true, 50, 7, 30
			r.Duration, r.UpstreamTime = 700*time.Second, 700*time.Second
		}),
		with(func(r *intercept.Call) {
			r.Model, r.Outcome, r.Status, r.Client = "gpt-4o", ledger.OutcomeUpstreamError, 429, "curl/8.5.0"
			r.Duration, r.UpstreamTime = 30*time.Millisecond, 29*time.Millisecond
		}),
		with(func(r *intercept.Call) {
			r.Model, r.Outcome, r.Client = "gpt-4o", ledger.OutcomeUpstreamError, "curl/8.5.0"
			r.Duration = 5 * time.Second // never reached the upstream
		}),
		with(func(r *intercept.Call) {
			r.Model, r.Outcome = "we\"ird\\model\nname", ledger.OutcomeClientCancelled
			r.Duration, r.UpstreamTime = time.Second, 900*time.Millisecond
		}),
		with(func(r *intercept.Call) {
			r.Model, r.Outcome, r.Client = "", ledger.OutcomeNoUsage, ""
			r.Duration, r.UpstreamTime = 250*time.Millisecond, 249*time.Millisecond
		}),
		with(func(r *intercept.Call) {
			r.Model, r.Outcome = "m4", ledger.OutcomeIncomplete
			r.Duration, r.UpstreamTime = 40*time.Second, 40*time.Second
		}),
		with(func(r *intercept.Call) {
			r.Model, r.HasUsage, r.InputTokens, r.CostUSD = "m5-past-the-limit", true, 3, cost(0)
			r.Duration, r.UpstreamTime = 640*time.Second, 639*time.Second
		}),
	}
}

// TestExpositionGolden guards the exact text served at /metrics: every
// family's HELP and TYPE, every series and value, label escaping, and
// histogram buckets. Run with -update to rewrite testdata/exposition.golden
// after a deliberate change, and read the diff.
func TestExpositionGolden(t *testing.T) {
	t.Parallel()
	o := &otelPipeline{queue: make(chan intercept.Call, 8)}
	o.queue <- intercept.Call{}
	o.dropped.Store(4)
	o.spansFailed.Store(2)
	o.spansExported.Store(90)
	o.spanExportErrors.Store(1)
	o.metricExportErrors.Store(3)
	tel := promOnly(t, fakeStats{Queued: 7, QueuedBytes: 7168, Written: 40, Dropped: 2, SetAside: 1, WriteErrors: 3, Failing: true}, o)
	for _, rec := range goldenRecords() {
		tel.Observe(rec)
	}
	got := scrapeHandler(t, tel.Handler(), "")

	path := filepath.Join("testdata", "exposition.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("exposition differs from %s (run with -update and read the diff):\n%s", path, got)
	}
	// The golden text itself is what the official parser reads.
	parseText(t, want)
}

// scrapeHandler GETs h, checks the Content-Type, and returns the body,
// decompressed.
func scrapeHandler(t *testing.T, h http.Handler, acceptEncoding string) []byte {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	resp := rw.Result()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body := rw.Body.Bytes()
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return body
}

// parseText parses an exposition with the official parser, as a Prometheus
// server reads it.
func parseText(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, b)
	}
	return fams
}

// flatten lists every sample of the parsed families as
// name{label="value",…} (labels sorted by name) → value; a histogram gives
// its _bucket (le), _sum and _count samples. It fails on a family whose
// type is not the one its samples have.
func flatten(t *testing.T, fams map[string]*dto.MetricFamily) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	key := func(name string, lps []*dto.LabelPair, extra ...string) string {
		labels := make([]string, 0, len(lps)+1)
		for _, lp := range lps {
			labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
		}
		for i := 0; i+1 < len(extra); i += 2 {
			labels = append(labels, fmt.Sprintf("%s=%q", extra[i], extra[i+1]))
		}
		slices.Sort(labels)
		return name + "{" + strings.Join(labels, ",") + "}"
	}
	for name, f := range fams {
		for _, m := range f.Metric {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key(name, m.Label)] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[key(name, m.Label)] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.Histogram
				for _, b := range h.Bucket {
					out[key(name+"_bucket", m.Label, "le", model.FloatString(b.GetUpperBound()).String())] = float64(b.GetCumulativeCount())
				}
				out[key(name+"_bucket", m.Label, "le", "+Inf")] = float64(h.GetSampleCount())
				out[key(name+"_sum", m.Label)] = h.GetSampleSum()
				out[key(name+"_count", m.Label)] = float64(h.GetSampleCount())
			default:
				t.Errorf("%s has type %v", name, f.GetType())
			}
		}
	}
	return out
}

// expected computes, straight from the records, every per-call sample the
// exposition must hold, keyed as flatten keys them. Labels are the records'
// own values: the records here have neither folded nor empty names.
func expected(recs []intercept.Call) map[string]float64 {
	want := map[string]float64{}
	key := func(name string, kv ...string) string {
		labels := make([]string, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			labels = append(labels, fmt.Sprintf("%s=%q", kv[i], kv[i+1]))
		}
		slices.Sort(labels)
		return name + "{" + strings.Join(labels, ",") + "}"
	}
	histogram := func(name string, b *buckets, v float64, kv ...string) {
		for _, bound := range b.bounds {
			k := key(name+"_bucket", append(kv, "le", model.FloatString(bound).String())...)
			want[k] += 0 // every bucket is served, empty ones too
			if v <= bound {
				want[k]++
			}
		}
		want[key(name+"_bucket", append(kv, "le", "+Inf")...)]++
		want[key(name+"_sum", kv...)] += v
		want[key(name+"_count", kv...)]++
	}
	for _, r := range recs {
		call := []string{"provider", r.Provider, "api", r.API, "model", r.Model, "client", ClientName(r.Client)}
		want[key("conduit_calls_total", append(call, "outcome", r.Outcome)...)]++
		if r.Outcome == ledger.OutcomeUpstreamError {
			want[key("conduit_call_errors_total", append(call, "status", fmt.Sprint(r.Status))...)]++
		}
		if r.HasUsage {
			for kind, n := range map[string]int64{KindInput: r.InputTokens, KindOutput: r.OutputTokens,
				KindCachedInput: r.CachedInputTokens, KindCacheWrite: r.CacheWriteTokens, KindReasoning: r.ReasoningTokens} {
				if n > 0 {
					want[key("conduit_tokens_total", append(call, "kind", kind)...)] += float64(n)
				}
			}
		}
		if r.CostUSD != nil && *r.CostUSD > 0 {
			want[key("conduit_cost_usd_total", call...)] += *r.CostUSD
		}
		histogram("conduit_call_duration_seconds", durationBuckets, r.Duration.Seconds(), call[:6]...)
		histogram("conduit_added_latency_seconds", addedLatencyBuckets, max(r.Duration-r.UpstreamTime, 0).Seconds(), call[:4]...)
	}
	return want
}

// TestExpositionParsed guards every series and value of random calls, as
// the official parser reads them: nothing missing, nothing extra, counts
// and sums exact, label values with quotes, backslashes, line feeds and
// multi-byte characters intact.
func TestExpositionParsed(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	for round := range 20 {
		tel := promOnly(t, nil, nil)
		tel.models = newLimiter(1000)
		var recs []intercept.Call
		for range 1 + r.IntN(60) {
			rec := intercept.Call{Record: ledger.Record{
				Provider: pick("openai", "anthropic", "local"), API: pick("openai", "anthropic", "ollama"),
				Model:   pick("gpt-4o", "claude-haiku-4-5", `a"b`, `c\d`, "e\nf", "日本語", "x{y}=z,", "le"),
				Client:  pick("OpenAI/Python 1.40.0", "curl/8.5.0", "claude-cli/1.0.3"),
				Outcome: pick(ledger.OutcomeComplete, ledger.OutcomeIncomplete, ledger.OutcomeClientCancelled, ledger.OutcomeUpstreamError, ledger.OutcomeNoUsage),
				Status:  []int{0, 200, 429, 500}[r.IntN(4)], HasUsage: r.IntN(3) > 0,
				InputTokens: r.Int64N(1e6) - 10, OutputTokens: r.Int64N(1e4), CachedInputTokens: r.Int64N(3) * r.Int64N(1e5),
				CacheWriteTokens: r.Int64N(2) * r.Int64N(1e5), ReasoningTokens: r.Int64N(2) * r.Int64N(1e3),
				Duration: time.Duration(r.Int64N(int64(1000 * time.Second))),
			}}
			if r.IntN(4) == 0 {
				rec.Duration = time.Duration(durationBuckets.bounds[r.IntN(len(durationBuckets.bounds))] * float64(time.Second))
			}
			rec.UpstreamTime = rec.Duration - time.Duration(r.Int64N(int64(2*time.Millisecond)))
			if r.IntN(2) == 0 {
				c := r.Float64() / 100
				rec.CostUSD = &c
			}
			recs = append(recs, rec)
			tel.Observe(rec)
		}
		got := flatten(t, parseText(t, scrapeHandler(t, tel.Handler(), "")))
		want := expected(recs)
		for k, v := range want {
			g, ok := got[k]
			if !ok {
				t.Errorf("round %d: no sample %s", round, k)
			} else if g != v {
				t.Errorf("round %d: %s = %v, want %v", round, k, g, v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok && strings.HasPrefix(k, "conduit_") {
				t.Errorf("round %d: unexpected sample %s = %v", round, k, got[k])
			}
		}
		for _, k := range []string{"go_goroutines{}", "go_memstats_heap_alloc_bytes{}", "process_resident_memory_bytes{}", "process_start_time_seconds{}"} {
			if _, ok := got[k]; !ok {
				t.Errorf("no %s", k)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// TestExpositionConcurrent guards Observe and scrapes at once (run with
// -race): no count is lost, and every scrape is consistent on its own
// terms, each histogram's buckets cumulative and its +Inf bucket equal to
// its count.
func TestExpositionConcurrent(t *testing.T) {
	t.Parallel()
	tel := promOnly(t, nil, nil)
	const goroutines, calls = 4, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				tel.Observe(intercept.Call{Record: ledger.Record{Provider: "p", API: "openai", Model: fmt.Sprintf("m%d", (g+i)%3), Client: "curl/1",
					Outcome: ledger.OutcomeComplete, HasUsage: true, InputTokens: 2, Duration: time.Duration(i) * time.Millisecond}})
			}
		})
	}
	scrapes := 0
	check := func() {
		fams := parseText(t, scrapeHandler(t, tel.Handler(), ""))
		for _, m := range fams["conduit_call_duration_seconds"].GetMetric() {
			h := m.Histogram
			var last uint64
			for _, b := range h.Bucket {
				if b.GetCumulativeCount() < last {
					t.Fatalf("buckets not cumulative: %v", h)
				}
				last = b.GetCumulativeCount()
			}
			if last > h.GetSampleCount() {
				t.Fatalf("a bucket counts more than the histogram: %v", h)
			}
		}
		scrapes++
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			check()
		}
	}
	fams := parseText(t, scrapeHandler(t, tel.Handler(), ""))
	var total, tokens float64
	for _, m := range fams["conduit_calls_total"].GetMetric() {
		total += m.Counter.GetValue()
	}
	for _, m := range fams["conduit_tokens_total"].GetMetric() {
		tokens += m.Counter.GetValue()
	}
	var count uint64
	for _, m := range fams["conduit_added_latency_seconds"].GetMetric() {
		count += m.Histogram.GetSampleCount()
	}
	if total != goroutines*calls || tokens != 2*goroutines*calls || count != goroutines*calls {
		t.Errorf("after %d scrapes: %v calls, %v tokens, %d latencies; want %d, %d, %d", scrapes, total, tokens, count,
			goroutines*calls, 2*goroutines*calls, goroutines*calls)
	}
}

// TestExpositionGzip guards compression: a scraper that accepts gzip gets
// the same exposition compressed, one that does not, plain.
func TestExpositionGzip(t *testing.T) {
	t.Parallel()
	tel := promOnly(t, nil, nil)
	tel.Observe(goldenRecords()[0])
	plain := scrapeHandler(t, tel.Handler(), "")
	for _, enc := range []string{"gzip", "identity;q=0.5, gzip;q=1", "*"} {
		rw := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		tel.Handler().ServeHTTP(rw, req)
		if rw.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding %q: not compressed", enc)
		}
		if got := scrapeHandler(t, tel.Handler(), enc); !bytes.Equal(got, plain) {
			t.Errorf("Accept-Encoding %q: decompressed body differs", enc)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=1.0, *;q=0.5": true, "br": false,
		"gzip;q=0": false, "gzip; q=0.001": true, "*": true, "*;q=0": false, "*;q=1, gzip;q=0": false,
		"gzip;q=0, *": false, "identity": false, "x-gzip": false,
	}
	for v, want := range tests {
		if got := acceptsGzip(v); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestExpositionEscaping guards the text format's escapes: in label
// values backslash, double quote and line feed; in HELP backslash and line
// feed (a quote stays as it is); everything else, multi-byte characters
// included, verbatim.
func TestExpositionEscaping(t *testing.T) {
	t.Parallel()
	f := mustFamily("x_total", "say \"hi\"\\\nthere", typeCounter, "a", "b")
	var e exposition
	e.header(f)
	e.sample(f, []string{"q\"b\\n\nz", "日本 {},="}, 1.5)
	want := "# HELP x_total say \"hi\"\\\\\\nthere\n# TYPE x_total counter\n" +
		"x_total{a=\"q\\\"b\\\\n\\nz\",b=\"日本 {},=\"} 1.5\n"
	if string(e.b) != want {
		t.Fatalf("got\n%s\nwant\n%s", e.b, want)
	}
	fam := parseText(t, e.b)["x_total"]
	if fam.GetHelp() != f.help {
		t.Errorf("help parsed as %q", fam.GetHelp())
	}
	labels := fam.Metric[0].Label
	if labels[0].GetValue() != "q\"b\\n\nz" || labels[1].GetValue() != "日本 {},=" || fam.Metric[0].Counter.GetValue() != 1.5 {
		t.Errorf("parsed %v", fam.Metric[0])
	}
}

// TestAppendFloat guards the value spellings, each read back exactly by
// the parser.
func TestAppendFloat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-1, "-1"}, {0.0001, "0.0001"}, {0.00025, "0.00025"}, {1e-7, "1e-07"}, {640, "640"},
		{1767225600.25, "1.76722560025e+09"}, {math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		got := string(appendFloat(nil, tt.v))
		if got != tt.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tt.v, got, tt.want)
			continue
		}
		f := mustFamily("v", "", typeGauge)
		var e exposition
		e.header(f)
		e.sample(f, nil, tt.v)
		parsed := parseText(t, e.b)["v"].Metric[0].Gauge.GetValue()
		if parsed != tt.v && !(math.IsNaN(parsed) && math.IsNaN(tt.v)) {
			t.Errorf("%q parsed as %v, want %v", got, parsed, tt.v)
		}
	}
}

// TestNames guards the metric and label name rules against the official
// ones, and that a bad name in a family is refused.
func TestNames(t *testing.T) {
	t.Parallel()
	names := []string{"", "a", "_", ":", "a:b", "a_b9", "9a", "a-b", "a.b", "é", "__name__", "__x", "_x", "le", "A_Z", "a b", "a\n"}
	for _, n := range names {
		if got, want := validMetricName(n), model.LegacyValidation.IsValidMetricName(n); got != want {
			t.Errorf("validMetricName(%q) = %v, want %v", n, got, want)
		}
		if got, want := validLabelName(n), model.LegacyValidation.IsValidLabelName(n) && !strings.HasPrefix(n, "__"); got != want {
			t.Errorf("validLabelName(%q) = %v, want %v", n, got, want)
		}
	}
	for _, bad := range []func(){
		func() { mustFamily("9bad", "", typeCounter) },
		func() { mustFamily("ok", "", typeCounter, "bad-label") },
		func() { mustFamily("ok", "", typeCounter, "__reserved") },
		func() { mustFamily("ok", "", typeHistogram, "le") },
		func() { newBuckets(1, 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a bad family was accepted")
				}
			}()
			bad()
		}()
	}
}
