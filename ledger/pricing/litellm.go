package pricing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// liteLLMEntry holds the fields of one model in LiteLLM's
// model_prices_and_context_window.json that pricing uses. Rates are USD per
// token there.
type liteLLMEntry struct {
	Provider         string   `json:"litellm_provider"`
	Mode             string   `json:"mode"`
	Input            *float64 `json:"input_cost_per_token"`
	Output           *float64 `json:"output_cost_per_token"`
	CacheRead        *float64 `json:"cache_read_input_token_cost"`
	CacheWrite       *float64 `json:"cache_creation_input_token_cost"`
	CacheWrite1h     *float64 `json:"cache_creation_input_token_cost_above_1hr"`
	ProviderSpecific struct {
		US   float64 `json:"us"`
		Fast float64 `json:"fast"`
	} `json:"provider_specific_entry"`
}

// liteLLMTierKey matches the long-context variants of the rate keys, e.g.
// input_cost_per_token_above_200k_tokens.
var liteLLMTierKey = regexp.MustCompile(`^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost|cache_creation_input_token_cost_above_1hr)_above_(\d+)k_tokens$`)

// liteLLMProviderPrefixes are the key prefixes under which LiteLLM lists the
// providers' own APIs ("gemini/gemini-2.5-pro"); the bare model name is
// registered too unless the file lists it itself.
var liteLLMProviderPrefixes = []string{"openai/", "anthropic/", "gemini/"}

// loadLiteLLMFile reads a LiteLLM-format price file. Entries without both an
// input and an output token rate (images, audio, per-second pricing) and
// entries of modes other than chat, completion and responses are skipped.
func loadLiteLLMFile(path string) (*catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pricing file: %w", err)
	}
	c, err := parseLiteLLM(data)
	if err != nil {
		return nil, fmt.Errorf("pricing file %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	c.version = "sha256:" + hex.EncodeToString(sum[:])[:12]
	return c, nil
}

func parseLiteLLM(data []byte) (*catalog, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object of models: %w", err)
	}
	c := &catalog{byKey: make(map[string]*entry, len(raw))}
	aliases := make(map[string]*entry)
	for key, msg := range raw {
		if key == "sample_spec" {
			continue
		}
		var le liteLLMEntry
		if json.Unmarshal(msg, &le) != nil {
			continue // not a model object; LiteLLM files carry a few
		}
		switch le.Mode {
		case "", "chat", "completion", "responses":
		default:
			continue
		}
		if le.Input == nil || le.Output == nil {
			continue
		}
		e, err := liteLLMToEntry(key, le, msg)
		if err != nil {
			return nil, err
		}
		c.byKey[key] = e
		for _, pfx := range liteLLMProviderPrefixes {
			if bare, ok := strings.CutPrefix(key, pfx); ok && bare != "" {
				aliases[bare] = e
			}
		}
	}
	for bare, e := range aliases {
		if _, ok := c.byKey[bare]; !ok {
			c.byKey[bare] = e
		}
	}
	return c, nil
}

func liteLLMToEntry(key string, le liteLLMEntry, msg json.RawMessage) (*entry, error) {
	family := ""
	switch {
	case le.Provider == "anthropic":
		family = apiAnthropic
	case le.Provider == "openai" || le.Provider == "text-completion-openai":
		family = apiOpenAI
	case le.Provider == "gemini" || strings.HasPrefix(le.Provider, "vertex_ai"):
		family = apiGemini
	}
	perM := func(v *float64) *float64 {
		if v == nil {
			return nil
		}
		f := *v * 1e6
		return &f
	}
	base := tableRates{Input: perM(le.Input), Output: perM(le.Output), CachedInput: perM(le.CacheRead),
		CacheWrite5m: perM(le.CacheWrite), CacheWrite1h: perM(le.CacheWrite1h)}
	t, cachedGiven, err := base.tier(family, key)
	if err != nil {
		return nil, err
	}
	e := &entry{base: t, cachedGiven: cachedGiven,
		geoUS: le.ProviderSpecific.US, speedFast: le.ProviderSpecific.Fast}

	// Long-context tier: the smallest threshold the entry names.
	var fields map[string]json.RawMessage
	if json.Unmarshal(msg, &fields) != nil {
		return e, nil
	}
	var above int64
	tierRates := map[string]float64{}
	for k, v := range fields {
		m := liteLLMTierKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		n, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		var f float64
		if json.Unmarshal(v, &f) != nil {
			continue
		}
		if above == 0 || n*1000 < above {
			above = n * 1000
			clear(tierRates)
		}
		if n*1000 == above {
			tierRates[m[1]] = f * 1e6
		}
	}
	if above > 0 {
		// Rates the tier does not name scale with its input rate.
		scale := 1.0
		if v, ok := tierRates["input_cost_per_token"]; ok && *base.Input > 0 {
			scale = v / *base.Input
		}
		scaled := func(v *float64) *float64 {
			if v == nil {
				return nil
			}
			f := *v * scale
			return &f
		}
		long := tableRates{Input: base.Input, Output: base.Output, CachedInput: scaled(base.CachedInput),
			CacheWrite5m: scaled(base.CacheWrite5m), CacheWrite1h: scaled(base.CacheWrite1h)}
		pick := func(name string, dst **float64) {
			if v, ok := tierRates[name]; ok {
				*dst = &v
			}
		}
		pick("input_cost_per_token", &long.Input)
		pick("output_cost_per_token", &long.Output)
		pick("cache_read_input_token_cost", &long.CachedInput)
		pick("cache_creation_input_token_cost", &long.CacheWrite5m)
		pick("cache_creation_input_token_cost_above_1hr", &long.CacheWrite1h)
		lt, _, err := long.tier(family, key+" long context")
		if err != nil {
			return nil, err
		}
		e.longAbove, e.long = above, lt
	}
	return e, nil
}
