package intercept

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/valohai/conduit/examples/fakeprovider"
)

// TestMetricsRoute guards GET /metrics: served by Options.Metrics when set,
// a JSON 404 saying metrics are off when not, and never a provider call or
// a record either way.
func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.Handler
		status  int
		want    string // substring of the body
	}{
		{"handler set", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "conduit_calls_total 3\n")
		}), 200, "conduit_calls_total 3"},
		{"metrics off", nil, 404, "conduit_metrics_off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{options: func(o *Options) { o.Metrics = tt.handler }})
			resp, body := do(t, "GET", h.proxyURL+"/metrics", nil, "")
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.want)
			}
			if tt.handler == nil {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					t.Errorf("404 body is not JSON: %q", body)
				}
			}
			h.noRecord(t)
			if n := len(h.fake.Requests()); n != 0 {
				t.Errorf("the provider saw %d requests", n)
			}
		})
	}
}

// TestRecordTimingsAndModels guards the telemetry-only record fields:
// UpstreamTime covers the upstream part of Duration (so Duration −
// UpstreamTime, Conduit's own time, is never negative) and is zero for a call
// that never went upstream; RequestModel keeps the requested model when the
// response names another.
func TestRecordTimingsAndModels(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{options: func(o *Options) { o.MaxRequestBody = 1 << 10 }})
	header := hdr("Authorization", auth, fakeprovider.HeaderModel, "gpt-4o-2024-08-06")
	do(t, "POST", h.proxyURL+"/openai/v1/chat/completions", header, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	r := h.record(t)
	if r.UpstreamTime <= 0 || r.UpstreamTime > r.Duration {
		t.Errorf("upstream time %v, duration %v: want 0 < upstream ≤ duration", r.UpstreamTime, r.Duration)
	}
	if r.RequestModel != "gpt-4o" || r.Model != "gpt-4o-2024-08-06" {
		t.Errorf("request model %q, model %q", r.RequestModel, r.Model)
	}

	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2<<10) + `"}]}`
	resp, _ := do(t, "POST", h.proxyURL+"/openai/v1/chat/completions", hdr("Authorization", auth), big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	if r := h.record(t); r.UpstreamTime != 0 || r.Duration <= 0 {
		t.Errorf("refused call: upstream time %v (want 0), duration %v", r.UpstreamTime, r.Duration)
	}
}
