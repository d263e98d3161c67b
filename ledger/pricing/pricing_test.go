package pricing

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/internal/cputime"
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

// now is the time the tests' calls start at unless they say otherwise.
var now = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// rec builds a record with usage; counts follow the normalized meaning
// (input includes cache reads and writes, output includes reasoning).
type rec struct {
	provider, host, api, model   string
	at                           time.Time
	input, cached, write, w5, w1 int64
	output, reasoning            int64
	raw                          string
	providerCost                 *float64
	noUsage                      bool
}

func (c rec) record() *ledger.Record {
	at := c.at
	if at.IsZero() {
		at = now
	}
	r := &ledger.Record{
		Provider: c.provider, Host: c.host, API: c.api, Model: c.model, StartedAt: at, HasUsage: !c.noUsage,
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

func checkCost(t *testing.T, r *ledger.Record, want, source string) {
	t.Helper()
	if want == "" {
		if r.CostUSD != nil || r.CostSource != "" {
			t.Fatalf("cost = %v (%q), want unpriced", *r.CostUSD, r.CostSource)
		}
		return
	}
	if r.CostUSD == nil {
		t.Fatalf("unpriced, want %s", want)
	}
	if got, w := *r.CostUSD, usd(t, want); got != w {
		t.Errorf("cost = %.17g, want %.17g (%s)", got, w, want)
	}
	if r.CostSource != source {
		t.Errorf("source = %q, want %q", r.CostSource, source)
	}
}

// TestPriceBook checks each formula against hand-computed costs, bit for
// bit, at the book's rates: exact names and snapshots, cache reads and
// both cache-write durations, tiers on both sides of their start, price
// history, per-request fees, reasoning, multipliers, and what stays
// unpriced.
func TestPriceBook(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	tests := []struct {
		name   string
		call   rec
		want   string // "" means unpriced
		source string
	}{
		{
			// 800k uncached × $2 + 200k cached × $0.50 + 500k out × $8 (reasoning inside) = 1.6 + 0.1 + 4.0
			name: "openai exact name, cached and reasoning",
			call: rec{provider: "openai", model: "gpt-4.1", input: 1_000_000, cached: 200_000, output: 500_000, reasoning: 100_000},
			want: "5.7", source: "table",
		},
		{
			name: "dated snapshot finds its model",
			call: rec{provider: "openai", model: "gpt-4.1-2025-04-14", input: 1_000_000, cached: 200_000, output: 500_000},
			want: "5.7", source: "table",
		},
		{
			// gpt-4.1-mini, not gpt-4.1: 10k × $0.40 + 1k × $1.60
			name: "a sibling's snapshot finds the sibling",
			call: rec{provider: "openai", model: "gpt-4.1-mini-2025-04-14", input: 10_000, output: 1_000},
			want: "0.0056", source: "table",
		},
		{
			// the book lists this snapshot apart at $5 / $15, not gpt-4o's $2.50 / $10
			name: "a snapshot the book prices apart",
			call: rec{provider: "openai", model: "gpt-4o-2024-05-13", input: 1_000, output: 1_000},
			want: "0.02", source: "table",
		},
		{
			name: "a newer version is not priced as an older one",
			call: rec{provider: "openai", model: "gpt-5.9", input: 1_000, output: 1_000},
		},
		{
			// 2k uncached × $3 + 5k reads × $0.30 + 1k 5m writes × $3.75 + 2k 1h writes × $6 + 1k out × $15
			name: "anthropic cache reads and both write durations",
			call: rec{provider: "anthropic", model: "claude-sonnet-4-5-20250929", input: 10_000, cached: 5_000, write: 3_000, w5: 1_000, w1: 2_000, output: 1_000},
			want: "0.03825", source: "table",
		},
		{
			// writes without a 5m/1h split pay the cache-write (5m) rate: 3k × $3.75 + 1k out × $15
			name: "anthropic unsplit cache writes pay the 5m rate",
			call: rec{provider: "anthropic", model: "claude-sonnet-4-5", input: 3_000, write: 3_000, output: 1_000},
			want: "0.02625", source: "table",
		},
		{
			// half split: 1k 1h × $6 + 2k rest × $3.75
			name: "anthropic partly split cache writes",
			call: rec{provider: "anthropic", model: "claude-sonnet-4-5", input: 3_000, write: 3_000, w1: 1_000},
			want: "0.0135", source: "table",
		},
		{
			// above 200k input: 250k × $6 + 1k × $22.50
			name: "anthropic long-context tier",
			call: rec{provider: "anthropic", model: "claude-sonnet-4-5", input: 250_000, output: 1_000},
			want: "1.5225", source: "table",
		},
		{
			// exactly 200k stays on the base tier: 200k × $3 + 1k × $15
			name: "a tier applies above its start",
			call: rec{provider: "anthropic", model: "claude-sonnet-4-5", input: 200_000, output: 1_000},
			want: "0.615", source: "table",
		},
		{
			// the tier counts cache reads and writes: 200,001 input of which 100k read, 50k written:
			// 50,001 × $6 + 100k × $0.60 + 50k × $7.50 + 1k × $22.50
			name: "a tier is chosen by all input tokens",
			call: rec{provider: "anthropic", model: "claude-sonnet-4-5", input: 200_001, cached: 100_000, write: 50_000, output: 1_000},
			want: "0.757506", source: "table",
		},
		{
			// 60k × $1.25 + 40k × $0.125 + 2k × $10
			name: "gemini with cached input",
			call: rec{provider: "gemini", model: "gemini-2.5-pro", input: 100_000, cached: 40_000, output: 2_000},
			want: "0.1", source: "table",
		},
		{
			name: "gemini model named with models/ path",
			call: rec{provider: "gemini", model: "models/gemini-2.5-pro", input: 100_000, cached: 40_000, output: 2_000},
			want: "0.1", source: "table",
		},
		{
			// 300k > 272k: 250k × $10 + 50k × $1 + 10k × $45 = 2.5 + 0.05 + 0.45
			name: "openai long-context tier",
			call: rec{provider: "openai", model: "gpt-5.5", input: 300_000, cached: 50_000, output: 10_000},
			want: "3", source: "table",
		},
		{
			// exactly 272k: standard rates (overlay openai-long-context-above-272k):
			// 222k × $5 + 50k × $0.50 + 10k × $30 = 1.11 + 0.025 + 0.3
			name: "openai long context begins above 272k",
			call: rec{provider: "openai", model: "gpt-5.5", input: 272_000, cached: 50_000, output: 10_000},
			want: "1.435", source: "table",
		},
		{
			// tiny counts where naive float arithmetic drifts: 3 × $0.05 + 7 × $0.40 per 1M
			name: "sub-cent costs are exact",
			call: rec{provider: "openai", model: "gpt-5-nano", input: 3, output: 7},
			want: "0.00000295", source: "table",
		},
		{
			// before DeepSeek's 2026-08-17 prices, outside its peak windows:
			// 1 × $0.435 + 1 × $0.003625 + 1 × $0.87 per 1M
			name: "fractional micro-dollar rates are exact",
			call: rec{provider: "deepseek", model: "deepseek-v4-pro", at: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC), input: 2, cached: 1, output: 1},
			want: "0.000001308625", source: "table",
		},
		{
			// 100k × $1 + 200k × $6, the launch price
			name: "price history: before a cut",
			call: rec{provider: "openai", model: "gpt-5.6-luna", at: time.Date(2026, 7, 29, 23, 59, 59, 0, time.UTC), input: 100_000, output: 200_000},
			want: "1.3", source: "table",
		},
		{
			// 100k × $0.20 + 200k × $1.20, from 2026-07-30
			name: "price history: from the day of a cut",
			call: rec{provider: "openai", model: "gpt-5.6-luna", at: time.Date(2026, 7, 30, 0, 0, 0, 0, time.UTC), input: 100_000, output: 200_000},
			want: "0.26", source: "table",
		},
		{
			// standard hours (00:30–16:30 UTC): 1M × $0.27 + 1M × $1.10
			name: "time-of-day price: standard",
			call: rec{provider: "deepseek", model: "deepseek-chat", at: time.Date(2026, 11, 15, 16, 29, 59, 0, time.UTC), input: 1_000_000, output: 1_000_000},
			want: "1.37", source: "table",
		},
		{
			// off-peak: 1M × $0.135 + 1M × $0.55
			name: "time-of-day price: off-peak",
			call: rec{provider: "deepseek", model: "deepseek-chat", at: time.Date(2026, 11, 15, 16, 30, 0, 0, time.UTC), input: 1_000_000, output: 1_000_000},
			want: "0.685", source: "table",
		},
		{
			// $12 per 1000 requests, and 1k × $1 + 500 × $1 per 1M
			name: "per-request fee",
			call: rec{provider: "perplexity", model: "sonar", input: 1_000, output: 500},
			want: "0.0135", source: "table",
		},
		{
			// reasoning priced apart: 8k × $2 + 2k output × $8 + 7k reasoning × $3
			name: "reasoning tokens priced apart",
			call: rec{provider: "perplexity", model: "sonar-deep-research", input: 8_000, output: 9_000, reasoning: 7_000},
			want: "0.053", source: "table",
		},
		{
			name: "cached above input never goes negative",
			call: rec{provider: "openai", model: "gpt-4.1", input: 100, cached: 500},
			want: "0.00025", source: "table",
		},
		{
			// (1M × $5 + 2M × $25) × 1.1 (overlay anthropic-us-only-inference)
			name: "anthropic US inference multiplier",
			call: rec{provider: "anthropic", model: "claude-opus-4-6", input: 1_000_000, output: 2_000_000, raw: `{"input_tokens":1000000,"output_tokens":2000000,"inference_geo":"us"}`},
			want: "60.5", source: "table",
		},
		{
			// × 1.1 × 6 (overlay anthropic-fast-mode-6x)
			name: "anthropic US inference and fast mode multipliers stack",
			call: rec{provider: "anthropic", model: "claude-opus-4-6", input: 1_000_000, output: 2_000_000, raw: `{"inference_geo":"us","speed":"fast"}`},
			want: "363", source: "table",
		},
		{
			name: "multipliers only for models that declare them",
			call: rec{provider: "anthropic", model: "claude-opus-4-1", input: 1_000_000, raw: `{"inference_geo":"us","speed":"fast"}`},
			want: "15", source: "table",
		},
		{
			name: "provider-reported cost wins",
			call: rec{provider: "openrouter", model: "openai/gpt-4.1", input: 1_000_000, output: 1_000, providerCost: ptr(0.0123)},
			want: "0.0123", source: "provider",
		},
		{
			name: "provider-reported cost even without a known model",
			call: rec{provider: "openrouter", model: "mystery/model", input: 10, providerCost: ptr(0.5)},
			want: "0.5", source: "provider",
		},
		{
			name: "vendor-prefixed name through the vendor's own API",
			call: rec{provider: "openai", model: "openai/gpt-4o-mini", input: 1_000_000},
			want: "0.15", source: "table",
		},
		{name: "unknown model", call: rec{provider: "openai", model: "llama-3.1-70b", input: 10, output: 10}},
		{name: "no usage", call: rec{provider: "openai", model: "gpt-4.1", noUsage: true}},
		{name: "no model", call: rec{provider: "openai", input: 10, output: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.call.record()
			p.Price(r)
			checkCost(t, r, tt.want, tt.source)
		})
	}
}

// TestProviderSelection checks which price list a call is priced from:
// the upstream host first, then the provider key (an id, an alias, the
// source's provider_match rule), then the model alone when unambiguous.
func TestProviderSelection(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	tests := []struct {
		name, provider, host, path, model string
		wantProvider, wantModel           string // "" wantModel: unpriced
		wantNote                          string
	}{
		{"key is a provider id", "openai", "", "", "gpt-4.1", "openai", "gpt-4.1", ""},
		{"gemini key is Google", "gemini", "", "", "gemini-2.5-flash", "google", "gemini-2.5-flash", ""},
		{"vertex key is Google", "vertex", "", "", "gemini-2.5-flash", "google", "gemini-2.5-flash", ""},
		{"xai key is x-ai", "xai", "", "", "grok-4-0709", "x-ai", "grok-4-0709", ""},
		{"bedrock key is AWS", "bedrock", "", "", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "regional.anthropic.claude-sonnet-4-5-20250929-v1:0", ""},
		{"azure key", "azure-openai", "", "", "gpt-4o", "azure", "gpt-4o", ""},
		{"host beats a misleading key", "openai", "api.groq.com", "/openai/v1/chat/completions", "llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile", ""},
		{"azure host, OpenAI's models by fallback", "work", "acme.openai.azure.com", "/openai/deployments/x/chat/completions", "gpt-4o-2024-11-20", "azure", "gpt-4o", ""},
		{"vertex host, Anthropic's models by fallback", "vertex", "us-east5-aiplatform.googleapis.com", "/v1/projects/p", "claude-haiku-4-5@20251001", "google", "claude-haiku-4-5", ""},
		// What the platforms' calls are recorded as: Bedrock's calls carry
		// the id of their path (a model, or the inference profile billed),
		// an application profile's the response's model name; forward
		// mode's key is the host's built-in name.
		{"bedrock, the response's model name", "bedrock", "", "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fx/invoke", "claude-haiku-4-5-20251001", "aws", "regional.anthropic.claude-haiku-4-5-20251001-v1:0", ""},
		{"bedrock converse, profile id", "bedrock", "", "", "us.anthropic.claude-haiku-4-5-20251001-v1:0", "aws", "regional.anthropic.claude-haiku-4-5-20251001-v1:0", ""},
		{"bedrock host, global profile", "bedrock", "bedrock-runtime.eu-west-1.amazonaws.com", "/model/x/converse", "global.anthropic.claude-haiku-4-5-20251001-v1:0", "aws", "global.anthropic.claude-haiku-4-5-20251001-v1:0", ""},
		{"bedrock host beats a gateway key", "work", "bedrock-runtime.us-east-1.amazonaws.com", "/model/x/invoke", "us.anthropic.claude-haiku-4-5-20251001-v1:0", "aws", "regional.anthropic.claude-haiku-4-5-20251001-v1:0", ""},
		{"global vertex host", "vertex", "aiplatform.googleapis.com", "/v1/projects/p/locations/global/publishers/anthropic/models/x:rawPredict", "claude-haiku-4-5@20251001", "google", "claude-haiku-4-5", ""},
		{"vertex gemini", "vertex", "us-central1-aiplatform.googleapis.com", "/v1/projects/p", "gemini-2.5-flash", "google", "gemini-2.5-flash", ""},
		{"azure foundry host", "azure", "acme.services.ai.azure.com", "/openai/deployments/x/chat/completions", "gpt-4o-mini-2024-07-18", "azure", "gpt-4o-mini", ""},
		{"azure cognitiveservices host", "azure", "acme.cognitiveservices.azure.com", "/openai/v1/chat/completions", "gpt-4o-2024-08-06", "azure", "gpt-4o", ""},
		{"unknown host, key decides", "anthropic", "llm-gateway.corp.example", "/v1/messages", "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", ""},
		{"forward-mode host key", "api.deepseek.com", "api.deepseek.com", "/chat/completions", "deepseek-chat", "deepseek", "deepseek-chat", ""},
		{"model's provider by its model_match", "", "", "", "claude-opus-4-7", "anthropic", "claude-opus-4-7", ""},
		{"one provider has it", "", "localhost:8000", "/v1/chat/completions", "llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile", ""},
		{"a model in the wrong provider's list", "groq", "", "", "claude-sonnet-4-5", "groq", "", "model not in groq's price list"},
		{"unknown everywhere", "", "", "", "my-finetune-7b", "", "", "model not in the price book"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bp := p.book.providerFor(tt.provider, tt.host, tt.path)
			r := p.book.find(bp, tt.model)
			gotProvider := ""
			if bp != nil {
				gotProvider = bp.id
			} else if r.m != nil {
				gotProvider = r.m.provider.id
			}
			gotModel := ""
			if r.m != nil {
				gotModel = r.m.id
			}
			if gotProvider != tt.wantProvider || gotModel != tt.wantModel || r.note != tt.wantNote {
				t.Errorf("= %s/%s (%q), want %s/%s (%q)", gotProvider, gotModel, r.note, tt.wantProvider, tt.wantModel, tt.wantNote)
			}
		})
	}
}

// TestLookupCache guards lookup, the cache in front of providerFor and
// find: a call answered from it gets what matching gives, the first time
// and again, and each distinct call is one entry.
func TestLookupCache(t *testing.T) {
	t.Parallel()
	p := freshBook(t)
	calls := []lookupKey{
		{"anthropic", "", "", "claude-sonnet-4-5-20250929"},
		{"anthropic", "api.anthropic.com", "/v1/messages", "claude-sonnet-4-5-20250929"},
		{"work", "api.groq.com", "/openai/v1/chat/completions", "llama-3.3-70b-versatile"},
		{"bedrock", "bedrock-runtime.eu-west-1.amazonaws.com", "/model/x/converse", "global.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{"", "", "", " Claude-Opus-4-7 "},
		{"groq", "", "", "claude-sonnet-4-5"}, // unpriced: the note is cached too
		{"127.0.0.1:8443", "127.0.0.1:8443", "/v1/chat/completions", "my-finetune-7b"},
	}
	for pass := range 2 {
		for _, k := range calls {
			want := p.book.find(p.book.providerFor(k.provider, k.host, k.path), k.model)
			if got := p.book.lookup(k.provider, k.host, k.path, k.model); got != want {
				t.Errorf("pass %d, %+v: lookup = %+v, matching gives %+v", pass+1, k, got, want)
			}
		}
	}
	if n := len(p.book.cache); n != len(calls) {
		t.Errorf("cache holds %d entries for %d distinct calls", n, len(calls))
	}
	// Other data, another book: nothing the first one cached is asked.
	if n := len(freshBook(t).book.cache); n != 0 {
		t.Errorf("a new book starts with %d cached answers", n)
	}
}

// freshBook returns a Pricer of its own copy of the embedded book, whose
// cache no other test fills.
func freshBook(t *testing.T) *Pricer {
	t.Helper()
	p := mustPricer(t, nil, "")
	b, err := loadBook(embeddedBook)
	if err != nil {
		t.Fatal(err)
	}
	p.book = b
	return p
}

// TestLookupCacheBounded guards lookup's cache: hosts and paths come from
// clients, so past maxLookupCache distinct calls it keeps no more, still
// answers each one, and keeps caching the latest.
func TestLookupCacheBounded(t *testing.T) {
	t.Parallel()
	p := freshBook(t)
	var last lookupKey
	for i := range maxLookupCache + 10 {
		last = lookupKey{"work", "api.groq.com", fmt.Sprintf("/openai/v1/x%d", i), "llama-3.3-70b-versatile"}
		r := p.book.lookup(last.provider, last.host, last.path, last.model)
		if r.m == nil || r.m.provider.id != "groq" {
			t.Fatalf("call %d: %+v, want groq's llama-3.3-70b-versatile", i, r)
		}
	}
	if n := len(p.book.cache); n > maxLookupCache {
		t.Errorf("cache holds %d entries, want at most %d", n, maxLookupCache)
	}
	if _, ok := p.book.cache[last]; !ok {
		t.Error("a full cache does not keep the latest answer")
	}
}

// TestAmbiguousModel checks that a model several providers price
// differently is not priced when the call names no provider, and says so.
func TestAmbiguousModel(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	// gpt-oss-120b is on OpenAI's, Cerebras' and Groq's lists among
	// others, at different prices; no model_match claims it.
	r := p.price(call{model: "openai/gpt-oss-20b", hasUsage: true, at: now, parts: []usage{{input: 1000}}})
	if r.priced || !strings.HasPrefix(r.note, "model priced differently by ") {
		t.Fatalf("= %+v, want unpriced as ambiguous", r)
	}
}

// TestNotes checks what a cost says it leaves out or approximates.
func TestNotes(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	tests := []struct {
		name, provider, model string
		part                  usage
		want                  string
		priced                bool
	}{
		{"audio at the text rate", "anthropic", "claude-sonnet-4-5", usage{input: 1000, audioIn: 100}, "audio input tokens priced at the input rate (the price book has no rate of their own for this model)", true},
		{"1h writes at the 5m rate", "google", "claude-sonnet-4-5@20250929", usage{input: 1000, write: 500, write1h: 500}, "1-hour cache writes priced at the cache-write rate (the price book has no rate of their own for this model)", true},
		{"cached audio unknown", "openai", "gpt-realtime", usage{input: 1000, cached: 200, audioIn: 300}, noteCachedAudio, true},
		{"inconsistent counts", "openai", "gpt-4.1", usage{input: 100, cached: 500}, noteInconsistent, true},
		{"only unmetered units", "mistral", "mistral-ocr-latest", usage{input: 100}, "billed per input_annotated_document_pages, input_document_pages, which Conduit does not count", false},
		{"nothing to say", "openai", "gpt-4.1", usage{input: 100, cached: 50, output: 10}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.price(call{provider: tt.provider, model: tt.model, hasUsage: true, at: now, parts: []usage{tt.part}})
			if r.note != tt.want || r.priced != tt.priced {
				t.Errorf("= priced %v, note %q; want priced %v, note %q", r.priced, r.note, tt.priced, tt.want)
			}
		})
	}
}

// TestParts checks that a call's parts are priced each at its own model's
// rates and summed, the per-request fee once, and that an unpriced part
// is said.
func TestParts(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	c := call{provider: "anthropic", model: "claude-sonnet-4-5", hasUsage: true, at: now, parts: []usage{
		{input: 100_000}, // $0.30
		{model: "claude-haiku-4-5", input: 100_000}, // $0.10
		{model: "claude-nonesuch-9", input: 10},
	}}
	r := p.price(c)
	if !r.priced || r.usd != 0.4 || r.source != ledger.CostFromTable || r.note != "claude-nonesuch-9: model not in anthropic's price list" {
		t.Errorf("= %+v", r)
	}
	c = call{provider: "perplexity", model: "sonar", hasUsage: true, at: now, parts: []usage{{input: 1_000}, {input: 1_000}}}
	if r := p.price(c); r.usd != 0.014 { // 2k × $1 per 1M + one request at $12 per 1000
		t.Errorf("per-request fee twice: %v", r.usd)
	}
}

// TestPriceOverrides covers [pricing."<prefix>"]: precedence over the book,
// prefix matching (an override also prices longer names that continue at
// a word boundary), and the derivation of missing cache rates.
func TestPriceOverrides(t *testing.T) {
	t.Parallel()
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
		call rec
		want string
	}{
		{"prefix prices an unknown model", rec{provider: "openai", model: "jev-1.13.0", input: 1_000_000, output: 2_000_000}, "0.042"},
		// a shorter override beats the book: 1M × $1 + 2M × $1
		{"override beats the book", rec{provider: "openai", model: "gpt-5.4", input: 1_000_000, output: 2_000_000}, "3"},
		// gpt-4.1 also prices gpt-4.1-mini: the name goes on after a '-'
		{"an override also prices longer names", rec{provider: "openai", model: "gpt-4.1-mini", input: 1_000_000}, "1.5"},
		// but not gpt-4.10: a digit goes on the word
		{"but not a longer word", rec{provider: "openai", model: "gpt-4.10", input: 1_000_000}, "1"},
		// anthropic derivation: cached 0.1×, 5m 1.25×, 1h 2×:
		// 2k × $2 + 5k × $0.20 + 1k × $2.50 + 2k × $4 + 1k × $10
		{"anthropic derives cache rates from input", rec{provider: "anthropic", api: "anthropic", model: "claude-sonnet-4-5-20250929", input: 10_000, cached: 5_000, write: 3_000, w5: 1_000, w1: 2_000, output: 1_000}, "0.0255"},
		// overrides carry no long-context tier: 250k × $2
		{"no long-context tier on overrides", rec{provider: "anthropic", api: "anthropic", model: "claude-sonnet-4-5", input: 250_000}, "0.5"},
		// openai: cached borrows the book's $0.50 for gpt-4.1: 800k × $1.50 + 200k × $0.50
		{"openai borrows the book's cached rate", rec{provider: "openai", api: "openai", model: "gpt-4.1-2025-04-14", input: 1_000_000, cached: 200_000}, "1.3"},
		// not in the book: cached pays input: 1k × $2
		{"openai without a book entry pays input for cached", rec{provider: "openai", api: "openai", model: "my-model", input: 1_000, cached: 500}, "0.002"},
		// given rates: 1k uncached × $1 + 1k × $0.25 + 1k × $1.50 + 1k × $3 + 1k out × $2
		{"all rates given", rec{provider: "anthropic", api: "anthropic", model: "custom-7b", input: 4_000, cached: 1_000, write: 2_000, w5: 1_000, w1: 1_000, output: 1_000}, "0.00775"},
		// overrides are final: no US multiplier
		{"no multipliers on overrides", rec{provider: "anthropic", api: "anthropic", model: "gpt-x", input: 1_000_000, raw: `{"inference_geo":"us"}`}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.call.record()
			p.Price(r)
			checkCost(t, r, tt.want, "override")
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
  "gpt-5-nano": {"input_cost_per_token": 5e-08, "output_cost_per_token": 4e-07, "litellm_provider": "openai", "mode": "chat"},
  "dall-e-9": {"input_cost_per_image": 0.04, "litellm_provider": "openai", "mode": "image_generation"},
  "tts-9": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "mode": "audio_speech"}
}`

// TestPriceFile covers the LiteLLM-format pricing_file: between overrides
// and the book, provider-prefixed keys, long-context keys, multipliers.
func TestPriceFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(liteLLMSample), 0o600); err != nil {
		t.Fatal(err)
	}
	p := mustPricer(t, map[string]Rates{"gpt-4.1-mini": {Input: 9, Output: 9}, "gpt-5-nano": {Input: 1, Output: 1}}, path)
	tests := []struct {
		name   string
		call   rec
		want   string
		source string
	}{
		// 800k × $1 + 200k × $0.25 + 1M × $4
		{"file beats the book", rec{provider: "openai", model: "gpt-4.1-2025-04-14", input: 1_000_000, cached: 200_000, output: 1_000_000}, "4.85", "file"},
		{"override beats the file", rec{provider: "openai", model: "gpt-4.1-mini", input: 1_000_000}, "9", "override"},
		// the file lists gpt-5-nano without a cached rate: the override's
		// cache reads pay its input rate, not the book's $0.005
		{"override borrows the file's entry, not the book's", rec{provider: "openai", api: "openai", model: "gpt-5-nano", input: 1_000_000, cached: 500_000}, "1", "override"},
		{"book when the file lacks the model", rec{provider: "openai", model: "gpt-4o", input: 1_000_000}, "2.5", "table"},
		{"provider-prefixed key found by bare name", rec{provider: "gemini", model: "gemini-9-pro", input: 100_000, output: 1_000}, "0.108", "file"},
		// 300k > 200k: 300k × $2 + 1k × $12
		{"long-context keys", rec{provider: "gemini", model: "gemini-9-pro", input: 300_000, output: 1_000}, "0.612", "file"},
		// anthropic derivation in file entries: 1k writes × 1.25 × $4, 1k reads × 0.1 × $4; × 1.1
		{"file derivations and multiplier", rec{provider: "anthropic", model: "claude-new-1", input: 2_000, cached: 1_000, write: 1_000, raw: `{"inference_geo":"us"}`}, "0.00594", "file"},
		{"non-token entries are skipped", rec{provider: "openai", model: "dall-e-9", input: 10}, "", ""},
		{"non-chat modes are skipped", rec{provider: "openai", model: "tts-9", input: 10}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.call.record()
			p.Price(r)
			checkCost(t, r, tt.want, tt.source)
		})
	}
}

func TestNewPricerErrors(t *testing.T) {
	t.Parallel()
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

func TestNilPricer(t *testing.T) {
	t.Parallel()
	var p *Pricer
	r := rec{provider: "openai", model: "gpt-4.1", input: 10}.record()
	p.Price(r)
	checkCost(t, r, "", "")
	r = rec{provider: "openai", model: "gpt-4.1", input: 10, providerCost: ptr(1)}.record()
	p.Price(r)
	checkCost(t, r, "1", "provider")
}

// TestZeroStartPricesNow checks that a record without a start time is
// priced at today's rates.
func TestZeroStartPricesNow(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	p.now = func() time.Time { return time.Date(2026, 7, 29, 0, 0, 0, 0, time.UTC) }
	r := p.price(call{provider: "openai", model: "gpt-5.6-luna", hasUsage: true, parts: []usage{{input: 100_000}}})
	if r.usd != 0.1 { // the launch price, in force on that day
		t.Errorf("cost = %v, want 0.1", r.usd)
	}
}

func TestMatchable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model, key string
		want       bool
	}{
		{"gpt-4.1-2025-04-14", "gpt-4.1", true},
		{"gpt-4.1-mini", "gpt-4.1", true},
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

// BenchmarkPrice measures pricing one record from the book, the cost the
// proxy pays per call after the first lookup of a model: by provider key
// alone, and with the upstream host of a forward-mode call (a host no
// provider's pattern matches is the costliest to match).
func BenchmarkPrice(b *testing.B) {
	p, err := NewPricer(nil, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, provider, host string }{
		{"key", "anthropic", ""},
		{"known-host", "anthropic", "api.anthropic.com"},
		{"unknown-host", "127.0.0.1:8443", "127.0.0.1:8443"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := rec{provider: bc.provider, host: bc.host, model: "claude-sonnet-4-5-20250929", input: 10_000, cached: 5_000, write: 3_000, w1: 2_000, output: 1_000}.record()
			b.ReportAllocs()
			cpu0 := cputime.Process()
			for b.Loop() {
				p.Price(r)
			}
			b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestRecordFields checks what Price records beyond the cost: the price
// data's version, the note, and the usage detail and iterations it reads.
func TestRecordFields(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(liteLLMSample), 0o600); err != nil {
		t.Fatal(err)
	}
	p := mustPricer(t, map[string]Rates{"my-model": {Input: 1, Output: 1}}, path)
	base := func(model string) *ledger.Record {
		return rec{provider: "anthropic", model: model, input: 1_000, output: 100}.record()
	}
	tests := []struct {
		name                  string
		r                     *ledger.Record
		wantCost              string
		wantVersion, wantNote string
	}{
		{"book", base("claude-haiku-4-5"), "0.0015", p.Version(), ""},
		{"override", base("my-model"), "0.0011", "", ""},
		{"file", base("claude-new-1"), "0.006", "sha256:", ""},
		{"unpriced", base("claude-nonesuch"), "", "", "model not in anthropic's price list"},
		{"no usage", rec{provider: "anthropic", model: "claude-haiku-4-5", noUsage: true}.record(), "", "", "no usage reported"},
		{"provider cost", rec{provider: "openrouter", model: "x/y", input: 1, providerCost: ptr(0.25)}.record(), "0.25", "", ""},
		{
			// 10k text × $0.30 + 20k audio × $1 + 1k out × $2.50
			"audio input detail",
			func() *ledger.Record {
				r := rec{provider: "gemini", model: "gemini-2.5-flash", input: 30_000, output: 1_000}.record()
				r.Detail = &ledger.UsageDetail{AudioInputTokens: 20_000}
				return r
			}(),
			"0.0255", p.Version(), "",
		},
		{
			// Each iteration at its own model's rates and its own tier:
			// 150k × $3 + 1k × $15, 150k × $3 + 2k × $15 (not the 310k
			// sum's long-context rates), 10k × $5 + 500 × $25 on Opus.
			"iterations",
			func() *ledger.Record {
				r := rec{provider: "anthropic", model: "claude-sonnet-4-5", input: 310_000, output: 3_500}.record()
				r.Detail = &ledger.UsageDetail{Iterations: []ledger.Iteration{
					{Type: "compaction", InputTokens: 150_000, OutputTokens: 1_000},
					{Type: "message", InputTokens: 150_000, OutputTokens: 2_000},
					{Type: "advisor_message", Model: "claude-opus-4-7", InputTokens: 10_000, OutputTokens: 500},
				}}
				return r
			}(),
			"1.0075", p.Version(), "",
		},
		{
			"an iteration on an unknown model",
			func() *ledger.Record {
				r := rec{provider: "anthropic", model: "claude-sonnet-4-5", input: 110_000, output: 1_500}.record()
				r.Detail = &ledger.UsageDetail{Iterations: []ledger.Iteration{
					{Type: "message", InputTokens: 100_000, OutputTokens: 1_000},
					{Type: "advisor_message", Model: "claude-nonesuch-9", InputTokens: 10_000, OutputTokens: 500},
				}}
				return r
			}(),
			"0.315", p.Version(), "claude-nonesuch-9: model not in anthropic's price list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.PriceVersion, tt.r.CostNote = "stale", "stale"
			p.Price(tt.r)
			switch {
			case tt.wantCost == "" && tt.r.CostUSD != nil:
				t.Errorf("cost %v, want unpriced", *tt.r.CostUSD)
			case tt.wantCost != "" && (tt.r.CostUSD == nil || *tt.r.CostUSD != usd(t, tt.wantCost)):
				t.Errorf("cost %v, want %s", tt.r.CostUSD, tt.wantCost)
			}
			if !strings.HasPrefix(tt.r.PriceVersion, tt.wantVersion) || (tt.wantVersion == "") != (tt.r.PriceVersion == "") {
				t.Errorf("price version %q, want %q", tt.r.PriceVersion, tt.wantVersion)
			}
			if tt.r.CostNote != tt.wantNote {
				t.Errorf("note %q, want %q", tt.r.CostNote, tt.wantNote)
			}
		})
	}
}

// TestPriceImplausibleCounts guards the price of a count no call can have:
// a call claiming 2^63−1 input tokens (or a negative count) is unpriced with
// a note, never priced at trillions of dollars.
func TestPriceImplausibleCounts(t *testing.T) {
	p, err := NewPricer(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name          string
		input, output int64
	}{
		{"max int64", math.MaxInt64, 10},
		{"past the bound", ledger.MaxTokenCount + 1, 10},
		{"negative", 100, -5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rec{provider: "openai", model: "gpt-4o", input: tt.input, output: tt.output}.record()
			p.Price(r)
			if r.CostUSD != nil || !strings.Contains(r.CostNote, "invalid usage") {
				t.Errorf("cost %v, note %q", r.CostUSD, r.CostNote)
			}
		})
	}
	ok := rec{provider: "openai", model: "gpt-4o", input: ledger.MaxTokenCount, output: 10}.record()
	if p.Price(ok); ok.CostUSD == nil {
		t.Errorf("a count at the bound is unpriced: %q", ok.CostNote)
	}
}
