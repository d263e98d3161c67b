package pricing

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/valohai/conduit/ledger"
)

// usd parses a decimal dollar amount to the nearest float64: the value an
// exactly computed cost must equal bit for bit.
func usd(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ptr(f float64) *float64 { return &f }

// call builds a record with usage; counts follow the normalized meaning
// (input includes cache reads and writes, output includes reasoning).
type call struct {
	api, model                   string
	input, cached, write, w5, w1 int64
	output, reasoning            int64
	raw                          string
	providerCost                 *float64
	noUsage                      bool
}

func (c call) record() *ledger.Record {
	r := &ledger.Record{
		API: c.api, Model: c.model, HasUsage: !c.noUsage,
		InputTokens: c.input, CachedInputTokens: c.cached, CacheWriteTokens: c.write,
		CacheWrite5mTokens: c.w5, CacheWrite1hTokens: c.w1,
		OutputTokens: c.output, ReasoningTokens: c.reasoning,
		ProviderCostUSD: c.providerCost,
	}
	if c.raw != "" {
		r.UsageRaw = json.RawMessage(c.raw)
	}
	return r
}

func mustPricer(t *testing.T, overrides map[string]Rates, file string) *Pricer {
	t.Helper()
	p, err := NewPricer(overrides, file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPriceEmbeddedTable checks each formula against hand-computed costs,
// bit for bit: table lookups (exact, prefix, longest prefix, word
// boundaries), cache tiers, long-context tiers and multipliers.
func TestPriceEmbeddedTable(t *testing.T) {
	p := mustPricer(t, nil, "")
	tests := []struct {
		name   string
		call   call
		want   string // "" means unpriced
		source string
	}{
		{
			// 800k uncached × $2 + 200k cached × $0.50 + 500k out × $8 (reasoning inside) = 1.6 + 0.1 + 4.0
			name: "openai exact name, cached and reasoning",
			call: call{api: "openai", model: "gpt-4.1", input: 1_000_000, cached: 200_000, output: 500_000, reasoning: 100_000},
			want: "5.7", source: "table",
		},
		{
			name: "dated snapshot finds its prefix",
			call: call{api: "openai", model: "gpt-4.1-2025-04-14", input: 1_000_000, cached: 200_000, output: 500_000},
			want: "5.7", source: "table",
		},
		{
			// gpt-4.1-mini, not gpt-4.1: 10k × $0.40 + 1k × $1.60
			name: "longest prefix wins",
			call: call{api: "openai", model: "gpt-4.1-mini-2025-04-14", input: 10_000, output: 1_000},
			want: "0.0056", source: "table",
		},
		{
			// gpt-4o, not gpt-4 ($30/$60): 1k × $2.50 + 1k × $10
			name: "prefix must end at a word boundary",
			call: call{api: "openai", model: "gpt-4o-2024-08-06", input: 1_000, output: 1_000},
			want: "0.0125", source: "table",
		},
		{
			name: "a newer version is not priced as an older one",
			call: call{api: "openai", model: "gpt-5.9", input: 1_000, output: 1_000},
			want: "",
		},
		{
			// 2k uncached × $3 + 5k reads × $0.30 + 1k 5m writes × $3.75 + 2k 1h writes × $6 + 1k out × $15
			name: "anthropic cache reads and both write tiers",
			call: call{api: "anthropic", model: "claude-sonnet-4-5-20250929", input: 10_000, cached: 5_000, write: 3_000, w5: 1_000, w1: 2_000, output: 1_000},
			want: "0.03825", source: "table",
		},
		{
			// writes without a 5m/1h split pay the 5m rate: 3k × $3.75 + 1k out × $15
			name: "anthropic unsplit cache writes pay the 5m rate",
			call: call{api: "anthropic", model: "claude-sonnet-4-5", input: 3_000, write: 3_000, output: 1_000},
			want: "0.02625", source: "table",
		},
		{
			// half split: 1k 1h × $6 + 2k rest × $3.75
			name: "anthropic partly split cache writes",
			call: call{api: "anthropic", model: "claude-sonnet-4-5", input: 3_000, write: 3_000, w1: 1_000},
			want: "0.0135", source: "table",
		},
		{
			// above 200k input: 250k × $6 + 1k × $22.50
			name: "anthropic long-context tier",
			call: call{api: "anthropic", model: "claude-sonnet-4-5", input: 250_000, output: 1_000},
			want: "1.5225", source: "table",
		},
		{
			// exactly 200k stays on the base tier: 200k × $3 + 1k × $15
			name: "long-context threshold is exclusive",
			call: call{api: "anthropic", model: "claude-sonnet-4-5", input: 200_000, output: 1_000},
			want: "0.615", source: "table",
		},
		{
			// 60k × $1.25 + 40k × $0.125 + 2k × $10
			name: "gemini with cached input",
			call: call{api: "gemini", model: "gemini-2.5-pro", input: 100_000, cached: 40_000, output: 2_000},
			want: "0.1", source: "table",
		},
		{
			name: "gemini model named with models/ path",
			call: call{api: "gemini", model: "models/gemini-2.5-pro", input: 100_000, cached: 40_000, output: 2_000},
			want: "0.1", source: "table",
		},
		{
			// 300k > 272k: 250k × $10 + 50k × $1 + 10k × $45 = 2.5 + 0.05 + 0.45
			name: "openai long-context tier",
			call: call{api: "openai", model: "gpt-5.5", input: 300_000, cached: 50_000, output: 10_000},
			want: "3", source: "table",
		},
		{
			// tiny counts where naive float arithmetic drifts: 3 × $0.05 + 7 × $0.40 per 1M
			name: "sub-cent costs are exact",
			call: call{api: "openai", model: "gpt-5-nano", input: 3, output: 7},
			want: "0.00000295", source: "table",
		},
		{
			// 1 × $0.01875 + 1 × $0.30 per 1M
			name: "fractional micro-dollar rates are exact",
			call: call{api: "gemini", model: "gemini-2.0-flash-lite-001", input: 2, cached: 1, output: 1},
			want: "0.00000039375", source: "table",
		},
		{
			name: "cached above input never goes negative",
			call: call{api: "openai", model: "gpt-4.1", input: 100, cached: 500},
			want: "0.00025", source: "table",
		},
		{
			// the Rust Conduit's multipliers: (1M × $5 + 2M × $25) × 1.1
			name: "anthropic US inference multiplier",
			call: call{api: "anthropic", model: "claude-opus-4-6", input: 1_000_000, output: 2_000_000, raw: `{"input_tokens":1000000,"output_tokens":2000000,"inference_geo":"us"}`},
			want: "60.5", source: "table",
		},
		{
			name: "anthropic US inference and fast mode multipliers stack",
			call: call{api: "anthropic", model: "claude-opus-4-6", input: 1_000_000, output: 2_000_000, raw: `{"inference_geo":"us","speed":"fast"}`},
			want: "363", source: "table",
		},
		{
			name: "multipliers only for models that declare them",
			call: call{api: "anthropic", model: "claude-opus-4-1", input: 1_000_000, raw: `{"inference_geo":"us"}`},
			want: "15", source: "table",
		},
		{
			name: "provider-reported cost wins",
			call: call{api: "openai", model: "gpt-4.1", input: 1_000_000, output: 1_000, providerCost: ptr(0.0123)},
			want: "0.0123", source: "provider",
		},
		{
			name: "provider-reported cost even without a known model",
			call: call{api: "openai", model: "mystery/model", input: 10, providerCost: ptr(0.5)},
			want: "0.5", source: "provider",
		},
		{
			name: "model found in another family",
			call: call{api: "ollama", model: "gpt-4.1", input: 1_000_000},
			want: "2", source: "table",
		},
		{
			name: "vendor-prefixed name",
			call: call{api: "openai", model: "openai/gpt-4o-mini", input: 1_000_000},
			want: "0.15", source: "table",
		},
		{name: "unknown model", call: call{api: "openai", model: "llama-3.1-70b", input: 10, output: 10}},
		{name: "no usage", call: call{api: "openai", model: "gpt-4.1", noUsage: true}},
		{name: "no model", call: call{api: "openai", input: 10, output: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.call.record()
			p.Price(rec)
			checkCost(t, rec, tt.want, tt.source)
		})
	}
}

func checkCost(t *testing.T, rec *ledger.Record, want, source string) {
	t.Helper()
	if want == "" {
		if rec.CostUSD != nil || rec.CostSource != "" {
			t.Fatalf("cost = %v (%q), want unpriced", *rec.CostUSD, rec.CostSource)
		}
		return
	}
	if rec.CostUSD == nil {
		t.Fatalf("unpriced, want %s", want)
	}
	if got, w := *rec.CostUSD, usd(t, want); got != w {
		t.Errorf("cost = %.17g, want %.17g (%s)", got, w, want)
	}
	if rec.CostSource != source {
		t.Errorf("source = %q, want %q", rec.CostSource, source)
	}
}

// TestPriceOverrides covers [pricing."<prefix>"]: precedence over the table,
// prefix matching, and the derivation of missing cache rates.
func TestPriceOverrides(t *testing.T) {
	overrides := map[string]Rates{
		"jev-":              {Input: 0.042, Output: 0},
		"gpt-":              {Input: 1, Output: 1},
		"claude-sonnet-4-5": {Input: 2, Output: 10},
		"my-model":          {Input: 2, Output: 4},
		"gpt-4.1":           {Input: 1.5, Output: 6},
		"custom":            {Input: 1, Output: 2, CachedInput: ptr(0.25), CacheWrite5m: ptr(1.5), CacheWrite1h: ptr(3)},
	}
	p := mustPricer(t, overrides, "")
	tests := []struct {
		name string
		call call
		want string
	}{
		{"prefix prices an unknown model", call{api: "openai", model: "jev-1.13.0", input: 1_000_000, output: 2_000_000}, "0.042"},
		// a shorter override beats a longer table key: 1M × $1 + 2M × $1
		{"override beats the table", call{api: "openai", model: "gpt-5.4", input: 1_000_000, output: 2_000_000}, "3"},
		// anthropic derivation: cached 0.1×, 5m 1.25×, 1h 2×:
		// 2k × $2 + 5k × $0.20 + 1k × $2.50 + 2k × $4 + 1k × $10
		{"anthropic derives cache rates from input", call{api: "anthropic", model: "claude-sonnet-4-5-20250929", input: 10_000, cached: 5_000, write: 3_000, w5: 1_000, w1: 2_000, output: 1_000}, "0.0255"},
		// overrides carry no long-context tier: 250k × $2
		{"no long-context tier on overrides", call{api: "anthropic", model: "claude-sonnet-4-5", input: 250_000}, "0.5"},
		// openai: cached borrows the table's $0.50 for gpt-4.1: 800k × $1.50 + 200k × $0.50
		{"openai borrows the table's cached rate", call{api: "openai", model: "gpt-4.1-2025-04-14", input: 1_000_000, cached: 200_000}, "1.3"},
		// not in the table: cached pays input: 1k × $2
		{"openai without a table entry pays input for cached", call{api: "openai", model: "my-model", input: 1_000, cached: 500}, "0.002"},
		// given rates: 1k uncached × $1 + 1k × $0.25 + 1k × $1.50 + 1k × $3 + 1k out × $2
		{"all rates given", call{api: "anthropic", model: "custom-7b", input: 4_000, cached: 1_000, write: 2_000, w5: 1_000, w1: 1_000, output: 1_000}, "0.00775"},
		// overrides are final: no US multiplier
		{"no multipliers on overrides", call{api: "anthropic", model: "gpt-x", input: 1_000_000, raw: `{"inference_geo":"us"}`}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.call.record()
			p.Price(rec)
			checkCost(t, rec, tt.want, "override")
		})
	}
}

const liteLLMSample = `{
  "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of …", "mode": "chat"},
  "gpt-4.1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 4e-06, "cache_read_input_token_cost": 2.5e-07,
              "litellm_provider": "openai", "mode": "chat"},
  "gemini/gemini-9-pro": {"input_cost_per_token": 1e-06, "input_cost_per_token_above_200k_tokens": 2e-06,
              "output_cost_per_token": 8e-06, "output_cost_per_token_above_200k_tokens": 1.2e-05,
              "cache_read_input_token_cost": 1e-07, "litellm_provider": "gemini", "mode": "chat"},
  "claude-new-1": {"input_cost_per_token": 4e-06, "output_cost_per_token": 2e-05,
              "litellm_provider": "anthropic", "mode": "chat", "provider_specific_entry": {"us": 1.1}},
  "dall-e-9": {"input_cost_per_image": 0.04, "litellm_provider": "openai", "mode": "image_generation"},
  "tts-9": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "mode": "audio_speech"}
}`

// TestPriceFile covers the LiteLLM-format pricing_file: between overrides
// and the table, provider-prefixed keys, long-context keys, multipliers.
func TestPriceFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(liteLLMSample), 0o600); err != nil {
		t.Fatal(err)
	}
	p := mustPricer(t, map[string]Rates{"gpt-4.1-mini": {Input: 9, Output: 9}}, path)
	tests := []struct {
		name   string
		call   call
		want   string
		source string
	}{
		// 800k × $1 + 200k × $0.25 + 1M × $4
		{"file beats the table", call{api: "openai", model: "gpt-4.1-2025-04-14", input: 1_000_000, cached: 200_000, output: 1_000_000}, "4.85", "file"},
		{"override beats the file", call{api: "openai", model: "gpt-4.1-mini", input: 1_000_000}, "9", "override"},
		{"table when the file lacks the model", call{api: "openai", model: "gpt-4o", input: 1_000_000}, "2.5", "table"},
		{"provider-prefixed key found by bare name", call{api: "gemini", model: "gemini-9-pro", input: 100_000, output: 1_000}, "0.108", "file"},
		// 300k > 200k: 300k × $2 + 1k × $12
		{"long-context keys", call{api: "gemini", model: "gemini-9-pro", input: 300_000, output: 1_000}, "0.612", "file"},
		// anthropic derivation in file entries: 1k writes × 1.25 × $4, 1k reads × 0.1 × $4; × 1.1
		{"file derivations and multiplier", call{api: "anthropic", model: "claude-new-1", input: 2_000, cached: 1_000, write: 1_000, raw: `{"inference_geo":"us"}`}, "0.00594", "file"},
		{"non-token entries are skipped", call{api: "openai", model: "dall-e-9", input: 10}, "", ""},
		{"non-chat modes are skipped", call{api: "openai", model: "tts-9", input: 10}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.call.record()
			p.Price(rec)
			checkCost(t, rec, tt.want, tt.source)
		})
	}
}

// TestProviderFamilyFirst checks that the table searches the call's own API
// family before the others, and picks deterministically among the others.
func TestProviderFamilyFirst(t *testing.T) {
	table, asOf, err := parseTable([]byte(`{"as_of": "2026-01-01", "models": {
		"openai":    {"shared": {"input": 1, "output": 1}},
		"anthropic": {"shared": {"input": 2, "output": 2}},
		"gemini":    {"shared-model": {"input": 3, "output": 3}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Pricer{table: table, asOf: asOf, families: []string{"anthropic", "gemini", "openai"}, cache: map[lookupKey]lookupResult{}}
	for _, tt := range []struct {
		api, model, want string
	}{
		{"openai", "shared", "1"},
		{"anthropic", "shared", "2"},
		{"gemini", "shared", "2"},         // not its own: first family in order
		{"ollama", "shared-model-x", "3"}, // longest key across families
	} {
		rec := call{api: tt.api, model: tt.model, input: 1_000_000}.record()
		p.Price(rec)
		checkCost(t, rec, tt.want, "table")
	}
}

func TestNewPricerErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`[1,2`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		overrides map[string]Rates
		file      string
		wantErr   string
	}{
		{"negative rate", map[string]Rates{"m": {Input: -1}}, "", `pricing."m".input`},
		{"bad cache rate", map[string]Rates{"m": {Input: 1, CachedInput: ptr(-0.5)}}, "", `pricing."m".cached_input`},
		{"empty prefix", map[string]Rates{"": {Input: 1}}, "", "empty model prefix"},
		{"missing file", nil, filepath.Join(t.TempDir(), "nope.json"), "read pricing file"},
		{"malformed file", nil, bad, "bad.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPricer(tt.overrides, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// TestEmbeddedTableSanity guards the data file: it parses, names its date,
// and every model is priced with output at least input (true of every
// current text model) and cache reads below input.
func TestEmbeddedTableSanity(t *testing.T) {
	p := mustPricer(t, nil, "")
	if p.AsOf() == "" {
		t.Fatal("no as_of")
	}
	n := 0
	for fam, c := range p.table {
		for key, e := range c.byKey {
			n++
			if e.base.input <= 0 || e.base.output < e.base.input {
				t.Errorf("%s/%s: input %d output %d", fam, key, e.base.input, e.base.output)
			}
			if e.base.cached > e.base.input {
				t.Errorf("%s/%s: cached %d above input %d", fam, key, e.base.cached, e.base.input)
			}
			if e.longAbove > 0 && e.long.input <= e.base.input {
				t.Errorf("%s/%s: long-context tier not dearer", fam, key)
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d models", n)
	}
	for _, fam := range []string{"openai", "anthropic", "gemini"} {
		if p.table[fam] == nil {
			t.Errorf("no %s models", fam)
		}
	}
}

func TestLookup(t *testing.T) {
	p := mustPricer(t, map[string]Rates{"x-": {Input: 1, Output: 2}}, "")
	r, src, ok := p.Lookup("anthropic", "claude-haiku-4-5-20251001")
	if !ok || src != "table" || r.Input != 1 || r.Output != 5 || *r.CachedInput != 0.1 || *r.CacheWrite5m != 1.25 || *r.CacheWrite1h != 2 {
		t.Errorf("Lookup = %+v %q %v", r, src, ok)
	}
	r, src, ok = p.Lookup("openai", "x-1")
	if !ok || src != "override" || *r.CachedInput != 1 {
		t.Errorf("override Lookup = %+v %q %v (cached should be input for openai)", r, src, ok)
	}
	if _, _, ok := p.Lookup("openai", "nope"); ok {
		t.Error("unknown model found")
	}
}

func TestNilPricer(t *testing.T) {
	var p *Pricer
	rec := call{api: "openai", model: "gpt-4.1", input: 10}.record()
	p.Price(rec)
	checkCost(t, rec, "", "")
	rec = call{api: "openai", model: "gpt-4.1", input: 10, providerCost: ptr(1)}.record()
	p.Price(rec)
	checkCost(t, rec, "1", "provider")
}

func TestMatchable(t *testing.T) {
	tests := []struct {
		model, key string
		want       bool
	}{
		{"gpt-4.1-2025-04-14", "gpt-4.1", true},
		{"gpt-4.10", "gpt-4.1", false},
		{"gpt-4o", "gpt-4", false},
		{"gpt-5.4", "gpt-5", false},
		{"claude-sonnet-4-5@20250929", "claude-sonnet-4-5", true},
		{"llama3.1:8b", "llama3.1", true},
		{"llama3.1:8b", "llama3.", true},
		{"anything", "any", false},
		{"gpt-x", "gpt-", true},
	}
	for _, tt := range tests {
		if !strings.HasPrefix(tt.model, tt.key) {
			t.Fatalf("bad case %v", tt)
		}
		if got := matchable(tt.model, len(tt.key)); got != tt.want {
			t.Errorf("matchable(%q, %q) = %v, want %v", tt.model, tt.key, got, tt.want)
		}
	}
}
