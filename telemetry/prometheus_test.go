package telemetry

import (
	"context"
	"math"
	"net/http"
	"testing"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// TestPrometheusScrape guards /metrics end to end: calls driven through a
// real proxy are counted by outcome, tokens by kind, cost, errors by status
// and Conduit's added latency, labelled by provider, api, folded model and
// normalized client; the ledger writer's counters are read at scrape time.
func TestPrometheusScrape(t *testing.T) {
	t.Parallel()
	r := newRig(t, Options{
		Prometheus: true,
		MaxModels:  3,
		Ledger:     fakeStats{Queued: 7, QueuedBytes: 7168, Written: 40, Dropped: 2, SetAside: 1, WriteErrors: 3, Failing: true},
	})
	const chat = "/openai/v1/chat/completions"
	calls := []struct {
		name, path, body string
		header           []string
		status           int
	}{
		{"openai plain", chat, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"one two three"}]}`,
			[]string{"User-Agent", "OpenAI/Python 1.40.0", fakeprovider.HeaderCachedTokens, "2", fakeprovider.HeaderReasoningTokens, "3"}, 200},
		{"openai stream, other SDK version", chat, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			[]string{"User-Agent", "OpenAI/Python 1.52.0"}, 200},
		{"anthropic with cache writes", "/anthropic/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"hello there"}]}`,
			[]string{"User-Agent", "claude-cli/1.0.3 (external, cli)", fakeprovider.HeaderCacheWrite5m, "4"}, 200},
		{"rate limited", chat, `{"model":"m-limited","messages":[]}`,
			[]string{"User-Agent", "curl/8.5.0", fakeprovider.HeaderStatus, "429"}, 429},
		{"fourth model folds into other", chat, `{"model":"m-extra","messages":[{"role":"user","content":"x"}]}`,
			[]string{"User-Agent", "curl/8.5.0"}, 200},
	}
	var recs []intercept.Call
	for _, c := range calls {
		status, body, rec := r.call(t, c.path, hdr(c.header...), c.body)
		if status != c.status {
			t.Fatalf("%s: status %d: %s", c.name, status, body)
		}
		recs = append(recs, rec)
	}
	// The fake's usage reached the records (so the sums below are not of
	// zeros).
	want, err := fakeprovider.ExpectedUsage("/v1/chat/completions", hdr(calls[0].header...), []byte(calls[0].body), fakeprovider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0]; !got.HasUsage || got.InputTokens != int64(want.InputTokens) || got.OutputTokens != int64(want.OutputTokens) ||
		got.CachedInputTokens != 2 || got.ReasoningTokens != 3 || got.CostUSD == nil {
		t.Fatalf("record %+v, want usage %+v and a price", got, want)
	}

	fams := r.scrape(t)
	gpt := map[string]string{"provider": "openai", "api": "openai", "model": "gpt-4o-mini", "client": "openai-python"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	claude := map[string]string{"provider": "anthropic", "api": "anthropic", "model": "claude-haiku-4-5", "client": "claude-cli"}
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"calls by outcome, SDK versions merged", "conduit_calls_total", with(gpt, "outcome", "complete"), 2},
		{"anthropic call", "conduit_calls_total", with(claude, "outcome", "complete"), 1},
		{"error outcome", "conduit_calls_total", map[string]string{"model": "m-limited", "client": "curl", "outcome": "upstream_error"}, 1},
		{"errors by status", "conduit_call_errors_total", map[string]string{"model": "m-limited", "status": "429"}, 1},
		{"model past the limit", "conduit_calls_total", map[string]string{"model": "other", "client": "curl", "outcome": "complete"}, 1},
		{"input tokens", "conduit_tokens_total", with(gpt, "kind", "input"), float64(recs[0].InputTokens + recs[1].InputTokens)},
		{"output tokens", "conduit_tokens_total", with(gpt, "kind", "output"), float64(recs[0].OutputTokens + recs[1].OutputTokens)},
		{"cached input tokens", "conduit_tokens_total", with(gpt, "kind", "cached_input"), 2},
		{"reasoning tokens", "conduit_tokens_total", with(gpt, "kind", "reasoning"), 3},
		{"cache write tokens", "conduit_tokens_total", with(claude, "kind", "cache_write"), 4},
		{"claude input includes cache writes", "conduit_tokens_total", with(claude, "kind", "input"), float64(recs[2].InputTokens)},
		{"call duration histogram", "conduit_call_duration_seconds", map[string]string{"provider": "openai", "model": "gpt-4o-mini"}, 2},
		{"added latency histogram", "conduit_added_latency_seconds", map[string]string{"provider": "openai", "api": "openai"}, 4},
		{"ledger queue depth", "conduit_ledger_queue_depth", nil, 7},
		{"ledger queue bytes", "conduit_ledger_queue_bytes", nil, 7168},
		{"ledger written", "conduit_ledger_records_written_total", nil, 40},
		{"ledger dropped", "conduit_ledger_records_dropped_total", nil, 2},
		{"ledger write errors", "conduit_ledger_write_errors_total", nil, 3},
		{"ledger set aside", "conduit_ledger_records_set_aside_total", nil, 1},
		{"ledger failing", "conduit_ledger_failing", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := value(t, fams, tt.metric, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}

	cost, _ := sample(fams, "conduit_cost_usd_total", gpt)
	wantCost := *recs[0].CostUSD + *recs[1].CostUSD
	if cost == nil || math.Abs(cost.Counter.GetValue()-wantCost) > 1e-12 || wantCost <= 0 {
		t.Errorf("cost %v, want %v", cost, wantCost)
	}
	if _, ok := sample(fams, "conduit_calls_total", map[string]string{"model": "m-extra"}); ok {
		t.Error("a model past the limit has its own series")
	}
	// Added latency is duration less upstream time: its sum is bounded by
	// the calls' durations.
	added, _ := sample(fams, "conduit_added_latency_seconds", map[string]string{"provider": "openai"})
	var durations float64
	for _, rec := range recs {
		if rec.Provider == "openai" {
			durations += rec.Duration.Seconds()
		}
	}
	if s := added.Histogram.GetSampleSum(); s < 0 || s > durations {
		t.Errorf("added latency sum %v, want within [0, %v]", s, durations)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := fams["conduit_otel_spans_dropped_total"]; ok {
		t.Error("OpenTelemetry counters exported while OpenTelemetry is off")
	}
}

// TestPrometheusOff guards [metrics] enabled = false: no handler (so the
// proxy answers 404) and Observe does nothing.
func TestPrometheusOff(t *testing.T) {
	t.Parallel()
	r := newRig(t, Options{})
	if r.tel.Handler() != nil {
		t.Fatal("handler with Prometheus off")
	}
	r.call(t, "/openai/v1/chat/completions", nil, `{"model":"m","messages":[]}`)
	resp, err := http.Get(r.proxyURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics: %d, want 404", resp.StatusCode)
	}
}

// TestOtherTrafficNotCounted guards that requests that are no model call
// (a model list, a token count) count in no call series, while a failed
// model call does.
func TestOtherTrafficNotCounted(t *testing.T) {
	r := newRig(t, Options{Prometheus: true})
	for _, path := range []string{"/openai/v1/models", "/anthropic/v1/messages/count_tokens"} {
		if _, _, rec := r.call(t, path, nil, `{"model":"claude-haiku-4-5","messages":[]}`); rec.Kind != ledger.KindOther {
			t.Fatalf("%s recorded as kind %q, want other", path, rec.Kind)
		}
	}
	fams := r.scrape(t)
	for _, name := range []string{"conduit_calls_total", "conduit_call_errors_total", "conduit_tokens_total", "conduit_call_duration_seconds"} {
		if f := fams[name]; f != nil && len(f.GetMetric()) > 0 {
			t.Errorf("%s has series after only other traffic: %v", name, f.GetMetric())
		}
	}
	if status, _, _ := r.call(t, "/openai/v1/chat/completions", hdr(fakeprovider.HeaderStatus, "429"), `{"model":"m","messages":[]}`); status != 429 {
		t.Fatalf("status %d, want the fake's 429", status)
	}
	if f := r.scrape(t)["conduit_calls_total"]; f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("conduit_calls_total after one failed call: %v", f)
	}
}

// TestNilTelemetry guards the documented nil behaviour: every method is a
// no-op.
func TestNilTelemetry(t *testing.T) {
	t.Parallel()
	var tel *Telemetry
	tel.Observe(intercept.Call{Record: ledger.Record{Model: "m"}})
	if tel.Handler() != nil || tel.Stats() != (Stats{}) || tel.Shutdown(context.Background()) != nil {
		t.Fatal("nil Telemetry did something")
	}
}

// TestAddedLatency guards the added-latency rule: duration less upstream
// time, never negative, the whole duration for a call never sent upstream.
func TestAddedLatency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		duration, upstream float64 // ms
		want               float64
	}{
		{"sent upstream", 1500, 1497.5, 2.5},
		{"never sent", 3, 0, 3},
		{"clock skew", 10, 11, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := intercept.Call{Record: ledger.Record{Duration: ms(tt.duration)}, UpstreamTime: ms(tt.upstream)}
			if got := addedLatency(&rec); got != ms(tt.want) {
				t.Errorf("got %v, want %v", got, ms(tt.want))
			}
		})
	}
}
