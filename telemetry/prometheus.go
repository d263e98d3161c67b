package telemetry

import (
	"compress/gzip"
	"math"
	"net/http"
	"os"
	"runtime/metrics"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// Token kinds, the values of the kind label of conduit_tokens_total. They
// follow the ledger's normalized usage: input includes cached_input and
// cache_write; output includes reasoning.
const (
	KindInput       = "input"
	KindOutput      = "output"
	KindCachedInput = "cached_input"
	KindCacheWrite  = "cache_write"
	KindReasoning   = "reasoning"
)

// tokenKinds are the kinds in the order of callSeries.tokens.
var tokenKinds = [...]string{KindInput, KindOutput, KindCachedInput, KindCacheWrite, KindReasoning}

// Bucket boundaries, in seconds.
var (
	// addedLatencyBuckets: Conduit's own time per call is sub-millisecond
	// to a few milliseconds when all is well; the top buckets show a
	// request body read slowly from the client or a stalled host.
	addedLatencyBuckets = newBuckets(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
	// durationBuckets: LLM calls take from a fraction of a second (token
	// counting, embeddings) to many minutes (long agent turns).
	durationBuckets = newBuckets(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640)
)

// The families served at /metrics.
var (
	famCalls = mustFamily("conduit_calls_total",
		"Calls proxied, by outcome (complete, incomplete, client_cancelled, upstream_error, no_usage).",
		typeCounter, "provider", "api", "model", "client", "outcome")
	famErrors = mustFamily("conduit_call_errors_total",
		"Calls that ended in an upstream error, by the HTTP status the client got (0: none).",
		typeCounter, "provider", "api", "model", "client", "status")
	famTokens = mustFamily("conduit_tokens_total",
		"Tokens used, by kind: input (all prompt tokens, cached_input and cache_write included), output (reasoning included), cached_input (cache reads), cache_write, reasoning.",
		typeCounter, "provider", "api", "model", "client", "kind")
	famCost = mustFamily("conduit_cost_usd_total", "Cost of the priced calls, in US dollars.",
		typeCounter, "provider", "api", "model", "client")
	famDuration = mustFamily("conduit_call_duration_seconds", "Calls from request received to response finished.",
		typeHistogram, "provider", "api", "model")
	famAddedLatency = mustFamily("conduit_added_latency_seconds",
		"Time Conduit itself added to each call: its whole duration less the time spent waiting on the upstream.",
		typeHistogram, "provider", "api")

	famLedgerQueue   = mustFamily("conduit_ledger_queue_depth", "Records waiting to be written to the ledger.", typeGauge)
	famLedgerBytes   = mustFamily("conduit_ledger_queue_bytes", "Memory of the records waiting to be written to the ledger, as bounded by [ledger] queue_bytes.", typeGauge)
	famLedgerWritten = mustFamily("conduit_ledger_records_written_total", "Records committed to the ledger.", typeCounter)
	famLedgerDropped = mustFamily("conduit_ledger_records_dropped_total", "Records lost because the ledger's queue was full.", typeCounter)
	famLedgerErrors  = mustFamily("conduit_ledger_write_errors_total", "Failed attempts to write a batch to the ledger (each is retried, or split to find a refused record).", typeCounter)
	famLedgerAside   = mustFamily("conduit_ledger_records_set_aside_total", "Records the ledger refused for what they hold, kept apart ('conduit export --set-aside') so the rest is written.", typeCounter)
	famLedgerFailing = mustFamily("conduit_ledger_failing", "1 while the last write to the ledger failed and records wait for a retry, else 0.", typeGauge)

	famOTelQueue   = mustFamily("conduit_otel_queue_depth", "Calls waiting to become OpenTelemetry spans.", typeGauge)
	famOTelDropped = mustFamily("conduit_otel_spans_dropped_total",
		"Spans lost: queue_full (the collector could not keep up) or export_failed (the collector refused or was unreachable).",
		typeCounter, "reason")
	famOTelExported = mustFamily("conduit_otel_spans_exported_total", "Spans the collector accepted.", typeCounter)
	famOTelErrors   = mustFamily("conduit_otel_export_errors_total", "Failed OpenTelemetry exports, by signal.", typeCounter, "signal")

	// The health of the process itself, under the names the Prometheus Go
	// client gives them, so that existing dashboards and alerts find them.
	famGoroutines = mustFamily("go_goroutines", "Number of goroutines that currently exist.", typeGauge)
	famHeapAlloc  = mustFamily("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", typeGauge)
	famResident   = mustFamily("process_resident_memory_bytes", "Resident memory size in bytes.", typeGauge)
	famStartTime  = mustFamily("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", typeGauge)
)

// Label sets of the per-call series.
type (
	callKey    struct{ provider, api, model, client string }
	outcomeKey struct {
		callKey
		outcome string
	}
	statusKey struct {
		callKey
		status int
	}
	durationKey struct{ provider, api, model string }
	latencyKey  struct{ provider, api string }
)

// callSeries are the counters of one call label set, and its calls'
// histograms (shared with the other clients of the same provider, API and
// model). A token kind or the cost is served once it is above zero: only
// positive amounts are ever added.
type callSeries struct {
	tokens   [len(tokenKinds)]atomic.Uint64
	cost     atomicFloat
	duration *histogramSeries
	latency  *histogramSeries
}

// histogramSeries is one series of a histogram: counts[i] counts the
// observations in (bounds[i-1], bounds[i]], the last those above every
// bound.
type histogramSeries struct {
	b      *buckets
	counts []atomic.Uint64
	sum    atomicFloat
}

func newHistogramSeries(b *buckets) *histogramSeries {
	return &histogramSeries{b: b, counts: make([]atomic.Uint64, len(b.bounds)+1)}
}

func (h *histogramSeries) observe(v float64) {
	h.counts[sort.SearchFloat64s(h.b.bounds, v)].Add(1)
	h.sum.add(v)
}

// atomicFloat is a float64 that concurrent adds never lose.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) add(v float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (f *atomicFloat) load() float64 { return math.Float64frombits(f.bits.Load()) }

// runtimeStats are the process's own figures, read at each scrape.
type runtimeStats struct {
	goroutines, heapAlloc uint64
	resident              uint64 // zero: unknown (no /proc)
}

// processStart stands for the process's start time: the package is
// initialised as the program starts.
var processStart = time.Now()

// readRuntime reads runtimeStats from runtime/metrics, which does not stop
// the world as runtime.ReadMemStats does, and /proc where there is one.
func readRuntime() runtimeStats {
	s := []metrics.Sample{{Name: "/sched/goroutines:goroutines"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	var rs runtimeStats
	if s[0].Value.Kind() == metrics.KindUint64 {
		rs.goroutines = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		rs.heapAlloc = s[1].Value.Uint64()
	}
	// statm: size, resident, … in pages
	// (https://man7.org/linux/man-pages/man5/proc_pid_statm.5.html).
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				rs.resident = pages * uint64(os.Getpagesize())
			}
		}
	}
	return rs
}

// promMetrics are the Prometheus series of one Telemetry, served by
// ServeHTTP. Observe finds a call's series under a read lock (the write
// lock is taken only the first time a label set is seen; labels are
// bounded, so that is rare) and counts with atomics; a scrape lists the
// series under the read lock and reads the atomics after it.
type promMetrics struct {
	ledger  StatsSource         // nil: no ledger series
	otel    *otelPipeline       // nil: no OpenTelemetry series
	runtime func() runtimeStats // readRuntime; tests fix it
	start   time.Time           // process_start_time_seconds

	mu        sync.RWMutex
	series    map[callKey]*callSeries
	calls     map[outcomeKey]*atomic.Uint64
	errors    map[statusKey]*atomic.Uint64
	durations map[durationKey]*histogramSeries
	latencies map[latencyKey]*histogramSeries
}

func newPromMetrics(ledgerStats StatsSource, t *Telemetry) *promMetrics {
	return &promMetrics{
		ledger:    ledgerStats,
		otel:      t.otel,
		runtime:   readRuntime,
		start:     processStart,
		series:    map[callKey]*callSeries{},
		calls:     map[outcomeKey]*atomic.Uint64{},
		errors:    map[statusKey]*atomic.Uint64{},
		durations: map[durationKey]*histogramSeries{},
		latencies: map[latencyKey]*histogramSeries{},
	}
}

// observe adds one call to the series.
func (p *promMetrics) observe(rec *intercept.Call, l *callLabelValues) {
	k := callKey{l.provider, l.api, l.model, l.client}
	ok := outcomeKey{k, l.outcome}
	p.mu.RLock()
	s, calls := p.series[k], p.calls[ok]
	p.mu.RUnlock()
	if s == nil || calls == nil {
		s, calls = p.create(k, ok)
	}
	calls.Add(1)
	if rec.Outcome == ledger.OutcomeUpstreamError {
		p.errorCounter(statusKey{k, rec.Status}).Add(1)
	}
	if rec.HasUsage {
		for i, n := range [len(tokenKinds)]int64{rec.InputTokens, rec.OutputTokens, rec.CachedInputTokens, rec.CacheWriteTokens, rec.ReasoningTokens} {
			if n > 0 {
				s.tokens[i].Add(uint64(n))
			}
		}
	}
	if rec.CostUSD != nil && *rec.CostUSD > 0 {
		s.cost.add(*rec.CostUSD)
	}
	s.duration.observe(rec.Duration.Seconds())
	s.latency.observe(addedLatency(rec).Seconds())
}

// create returns the series of a label set seen for the first time,
// making what is missing.
func (p *promMetrics) create(k callKey, ok outcomeKey) (*callSeries, *atomic.Uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.series[k]
	if s == nil {
		dk, lk := durationKey{k.provider, k.api, k.model}, latencyKey{k.provider, k.api}
		if p.durations[dk] == nil {
			p.durations[dk] = newHistogramSeries(durationBuckets)
		}
		if p.latencies[lk] == nil {
			p.latencies[lk] = newHistogramSeries(addedLatencyBuckets)
		}
		s = &callSeries{duration: p.durations[dk], latency: p.latencies[lk]}
		p.series[k] = s
	}
	c := p.calls[ok]
	if c == nil {
		c = new(atomic.Uint64)
		p.calls[ok] = c
	}
	return s, c
}

func (p *promMetrics) errorCounter(k statusKey) *atomic.Uint64 {
	p.mu.RLock()
	c := p.errors[k]
	p.mu.RUnlock()
	if c != nil {
		return c
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c = p.errors[k]; c == nil {
		c = new(atomic.Uint64)
		p.errors[k] = c
	}
	return c
}

// row is one series: its label values, in its family's order, and where
// its value is.
type row[V any] struct {
	values []string
	v      V
}

// rows lists m's series sorted by label values.
func rows[K comparable, V any](m map[K]V, values func(K) []string) []row[V] {
	out := make([]row[V], 0, len(m))
	for k, v := range m {
		out = append(out, row[V]{values(k), v})
	}
	slices.SortFunc(out, func(a, b row[V]) int { return slices.Compare(a.values, b.values) })
	return out
}

func (k callKey) values() []string { return []string{k.provider, k.api, k.model, k.client} }

// appendTo appends the exposition of every series to b. Families without
// a series are left out.
func (p *promMetrics) appendTo(b []byte) []byte {
	p.mu.RLock()
	series := rows(p.series, callKey.values)
	calls := rows(p.calls, func(k outcomeKey) []string { return append(k.values(), k.outcome) })
	errs := rows(p.errors, func(k statusKey) []string { return append(k.values(), strconv.Itoa(k.status)) })
	durations := rows(p.durations, func(k durationKey) []string { return []string{k.provider, k.api, k.model} })
	latencies := rows(p.latencies, func(k latencyKey) []string { return []string{k.provider, k.api} })
	p.mu.RUnlock()

	e := exposition{b: b}
	for _, f := range []struct {
		fam  *family
		rows []row[*atomic.Uint64]
	}{{famCalls, calls}, {famErrors, errs}} {
		if len(f.rows) > 0 {
			e.header(f.fam)
		}
		for _, r := range f.rows {
			e.series(f.fam, "", r.values, "")
			e.count(r.v.Load())
		}
	}
	var kindValues []string
	header := true
	for _, r := range series {
		for i := range r.v.tokens {
			n := r.v.tokens[i].Load()
			if n == 0 {
				continue
			}
			if header {
				e.header(famTokens)
				header = false
			}
			kindValues = append(append(kindValues[:0], r.values...), tokenKinds[i])
			e.series(famTokens, "", kindValues, "")
			e.count(n)
		}
	}
	header = true
	for _, r := range series {
		if c := r.v.cost.load(); c > 0 {
			if header {
				e.header(famCost)
				header = false
			}
			e.sample(famCost, r.values, c)
		}
	}
	for _, f := range []struct {
		fam  *family
		rows []row[*histogramSeries]
	}{{famDuration, durations}, {famAddedLatency, latencies}} {
		if len(f.rows) > 0 {
			e.header(f.fam)
		}
		counts := make([]uint64, 0, len(durationBuckets.bounds)+1)
		for _, r := range f.rows {
			counts = counts[:0]
			for i := range r.v.counts {
				counts = append(counts, r.v.counts[i].Load())
			}
			e.histogram(f.fam, r.values, r.v.b, counts, r.v.sum.load())
		}
	}

	if p.ledger != nil {
		st := p.ledger.Stats()
		failing := 0.0
		if st.Failing {
			failing = 1
		}
		for _, s := range []struct {
			fam *family
			v   float64
		}{
			{famLedgerQueue, float64(st.Queued)},
			{famLedgerBytes, float64(st.QueuedBytes)},
			{famLedgerWritten, float64(st.Written)},
			{famLedgerDropped, float64(st.Dropped)},
			{famLedgerErrors, float64(st.WriteErrors)},
			{famLedgerAside, float64(st.SetAside)},
			{famLedgerFailing, failing},
		} {
			e.header(s.fam)
			e.sample(s.fam, nil, s.v)
		}
	}
	if o := p.otel; o != nil {
		e.header(famOTelQueue)
		e.sample(famOTelQueue, nil, float64(len(o.queue)))
		e.header(famOTelDropped)
		e.sample(famOTelDropped, []string{"export_failed"}, float64(o.spansFailed.Load()))
		e.sample(famOTelDropped, []string{"queue_full"}, float64(o.dropped.Load()))
		e.header(famOTelExported)
		e.sample(famOTelExported, nil, float64(o.spansExported.Load()))
		e.header(famOTelErrors)
		e.sample(famOTelErrors, []string{"metrics"}, float64(o.metricExportErrors.Load()))
		e.sample(famOTelErrors, []string{"traces"}, float64(o.spanExportErrors.Load()))
	}

	rs := p.runtime()
	e.header(famGoroutines)
	e.sample(famGoroutines, nil, float64(rs.goroutines))
	e.header(famHeapAlloc)
	e.sample(famHeapAlloc, nil, float64(rs.heapAlloc))
	if rs.resident > 0 {
		e.header(famResident)
		e.sample(famResident, nil, float64(rs.resident))
	}
	e.header(famStartTime)
	e.sample(famStartTime, nil, float64(p.start.UnixMicro())/1e6)
	return e.b
}

// ServeHTTP serves the exposition, gzip-compressed when the scraper
// accepts it (Prometheus does).
func (p *promMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := p.appendTo(nil)
	h := w.Header()
	h.Set("Content-Type", expositionContentType)
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	zw := gzip.NewWriter(w)
	zw.Write(body)
	zw.Close()
}

// acceptsGzip reports whether an Accept-Encoding value
// (https://www.rfc-editor.org/rfc/rfc9110#name-accept-encoding) gives gzip
// a weight above zero, by name or else through *.
func acceptsGzip(v string) bool {
	gzip, star := -1.0, -1.0
	for part := range strings.SplitSeq(v, ",") {
		coding, params, _ := strings.Cut(part, ";")
		q := 1.0
		if name, value, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.EqualFold(strings.TrimSpace(name), "q") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				q = f
			}
		}
		switch coding = strings.TrimSpace(coding); {
		case strings.EqualFold(coding, "gzip"):
			gzip = q
		case coding == "*":
			star = q
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}
