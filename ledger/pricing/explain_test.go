package pricing

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExplain checks what `conduit prices show` is told about a model:
// the source, the entry and how it was found, the period and rates in
// force, multipliers, and why a model is unpriced.
func TestExplain(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, map[string]Rates{"my-": {Input: 1, Output: 2}}, "")
	at := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

	e := p.Explain("openai", "", "", "gpt-4.1-2025-04-14", at)
	if e.Source != "table" || e.Provider != "openai" || e.ProviderBy != "provider key" || e.Entry != "gpt-4.1" || !e.Exact ||
		e.MatchedName != "gpt-4.1-2025-04-14" || e.Period != "always" || e.Periods != 1 || e.Version != p.Version() || e.Origin != "built in" {
		t.Errorf("exact: %+v", e)
	}
	if len(e.Rates) < 3 || !reflect.DeepEqual(e.Rates[0], RateLine{Key: "input_mtok", Block: "1M tokens", USD: 2, Counted: true}) ||
		e.Rates[1].Key != "cache_read_mtok" || e.Rates[1].USD != 0.5 || e.Rates[2].Key != "output_mtok" || e.Rates[2].USD != 8 {
		t.Errorf("exact rates: %+v", e.Rates)
	}
	if i := slices.IndexFunc(e.Rates, func(r RateLine) bool { return r.Key == "web_searches_kcount" }); i < 0 || e.Rates[i].Counted || e.Rates[i].Block != "1K tool calls" {
		t.Errorf("web searches: %+v", e.Rates)
	}

	e = p.Explain("anthropic", "", "", "claude-sonnet-4-5-20250929", at)
	if e.Exact || e.Entry != "claude-sonnet-4-5" || !strings.Contains(e.Rule, `"starts_with":"claude-sonnet-4-5"`) ||
		len(e.Rates[0].Tiers) != 1 || e.Rates[0].Tiers[0] != (TierLine{Above: 200_000, USD: 6}) {
		t.Errorf("rule: %+v", e)
	}

	if e = p.Explain("work", "api.groq.com", "/openai/v1/chat/completions", "llama-3.3-70b-versatile", at); e.Provider != "groq" || e.ProviderBy != "upstream host" {
		t.Errorf("host: %+v", e)
	}
	if e = p.Explain("", "", "", "claude-haiku-4-5", at); e.Provider != "anthropic" || e.ProviderBy != "model name" {
		t.Errorf("model name: %+v", e)
	}
	if e = p.Explain("azure", "", "", "gpt-4o", at); e.Provider != "azure" || e.Entry != "openai/gpt-4o" {
		t.Errorf("fallback: %+v", e)
	}
	if e = p.Explain("openai", "", "", "gpt-5.6-luna", time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)); e.Period != "from 2026-07-30" || e.Periods != 2 || e.Rates[0].USD != 0.2 {
		t.Errorf("history: %+v", e)
	}
	if e = p.Explain("deepseek", "", "", "deepseek-chat", at); e.Period != "00:30:00 to 16:30:00 UTC" || e.Rates[0].USD != 0.27 {
		t.Errorf("time of day: %+v", e)
	}
	if e = p.Explain("anthropic", "", "", "claude-opus-4-6", at); !slices.Equal(e.Multipliers, []string{"inference_geo = us: × 1.1", "speed = fast: × 6"}) {
		t.Errorf("multipliers: %q", e.Multipliers)
	}
	if e = p.Explain("openai", "", "", "my-finetune", at); e.Source != "override" || e.Override != "my-" || e.Entry != "" {
		t.Errorf("override: %+v", e)
	}
	if e = p.Explain("openai", "", "", "gpt-5.9", at); e.Source != "" || e.Note != "model not in openai's price list" || e.Provider != "openai" {
		t.Errorf("unpriced: %+v", e)
	}
	if e = p.Explain("mistral", "", "", "mistral-ocr-latest", at); e.Source != "" || e.Note == "" || e.Entry != "mistral-ocr-latest" {
		t.Errorf("unmetered: %+v", e)
	}
}
