package valohai

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/valohai/conduit/ledger"
)

var testProviderNames = map[string]string{"api.openai.com": "openai", "api.anthropic.com": "anthropic"}

// TestTransitJSON guards the wire shape the Rust Conduit sends: the field
// names and order, and absent fields omitted, never null.
func TestTransitJSON(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *ledger.Record)
		want string
	}{
		{"every field", func(r *ledger.Record) {},
			`{"transit_id":"0193a000-0000-7000-8000-000000000001","provider":"openai","header_id":"req_abc","body_id":"chatcmpl-123","vh_headers":{"x-vh-run":"r1"},"model":"gpt-4.1","usage":{"prompt_tokens":1200,"completion_tokens":300},"estimated_cost_usd":0.0045}`},
		{"only the required fields", func(r *ledger.Record) {
			*r = ledger.Record{ID: "id-2", Provider: "local", Host: "127.0.0.1:11434"}
		}, `{"transit_id":"id-2","provider":"local"}`},
		{"zero cost is a known cost", func(r *ledger.Record) {
			*r = ledger.Record{ID: "id-3", Provider: "local", CostUSD: f64(0)}
		}, `{"transit_id":"id-3","provider":"local","estimated_cost_usd":0}`},
		{"null, invalid or blank usage and a NaN cost are left out", func(r *ledger.Record) {
			*r = ledger.Record{ID: "id-4", Provider: "local", UsageRaw: json.RawMessage(" null "), CostUSD: f64(math.NaN())}
		}, `{"transit_id":"id-4","provider":"local"}`},
		{"truncated usage is left out", func(r *ledger.Record) {
			*r = ledger.Record{ID: "id-5", Provider: "local", UsageRaw: json.RawMessage(`{"prompt_tokens":12`), CostUSD: f64(math.Inf(1))}
		}, `{"transit_id":"id-5","provider":"local"}`},
		{"header names lowercased, only x-vh-*", func(r *ledger.Record) {
			r.VHHeaders = map[string]string{"X-VH-Execution-ID": "e1", "x-vh-project": "<p&q>", "x-vhx": "no", "x-vh-": "no"}
		}, `"vh_headers":{"x-vh-execution-id":"e1","x-vh-project":"<p&q>"}`},
		{"no x-vh header left: no vh_headers", func(r *ledger.Record) {
			r.VHHeaders = map[string]string{"x-other": "1"}
		}, `"body_id":"chatcmpl-123","model":"gpt-4.1"`},
		{"built-in name of a known host, whatever the key", func(r *ledger.Record) {
			r.Provider, r.Host = "work-claude", "API.Anthropic.com:443"
		}, `"provider":"anthropic"`},
		{"config key, lower case, for other hosts", func(r *ledger.Record) {
			r.Provider, r.Host = "MyVLLM", "gpu-box:8000"
		}, `"provider":"myvllm"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := eligibleRecord(1)
			tt.edit(&r)
			b, err := encodePayload([]Transit{NewTransit(&r, testProviderNames)})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.TrimSpace(string(b))
			if strings.HasPrefix(tt.want, "{") {
				if got != "["+tt.want+"]" {
					t.Errorf("payload\n got %s\nwant [%s]", got, tt.want)
				}
			} else if !strings.Contains(got, tt.want) {
				t.Errorf("payload %s\nlacks %s", got, tt.want)
			}
			if strings.Contains(got, "null") {
				t.Errorf("payload has a null: %s", got)
			}
		})
	}
}

// TestPayloadHasNoProviderCredentials: even if a record somehow held a
// provider's credentials (in its headers, path or client), the payload
// carries none of them.
func TestPayloadHasNoProviderCredentials(t *testing.T) {
	const secret = "sk-PROVIDER-SECRET-42"
	r := eligibleRecord(1)
	r.VHHeaders = map[string]string{
		"x-vh-run": "r1", "Authorization": "Bearer " + secret, "x-api-key": secret,
		"api-key": secret, "x-goog-api-key": secret, "Cookie": "s=" + secret,
	}
	r.Path = "/v1beta/models/x:generateContent?key=" + secret
	r.Client = "tool " + secret
	r.Tags = []string{secret}
	c := &Client{ProviderNames: testProviderNames}
	b, err := encodePayload(c.Payload([]ledger.Record{r}))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{secret, "uthorization", "api-key", "api_key", "ookie"} {
		if strings.Contains(strings.ToLower(string(b)), strings.ToLower(bad)) {
			t.Errorf("payload holds %q: %s", bad, b)
		}
	}
	if !strings.Contains(string(b), `"vh_headers":{"x-vh-run":"r1"}`) {
		t.Errorf("payload lost the x-vh header: %s", b)
	}
}

// TestNewTransitSharesNoMemory: a Transit outlives the record it came
// from.
func TestNewTransitSharesNoMemory(t *testing.T) {
	r := eligibleRecord(1)
	tr := NewTransit(&r, nil)
	r.UsageRaw[2] = 'X'
	r.VHHeaders["x-vh-run"] = "changed"
	*r.CostUSD = 99
	if string(tr.Usage) != `{"prompt_tokens":1200,"completion_tokens":300}` || tr.VHHeaders["x-vh-run"] != "r1" || *tr.EstimatedCostUSD != 0.0045 {
		t.Errorf("transit changed with its record: %+v", tr)
	}
}
