// Package pricing turns a call's normalized token counts into a cost in USD.
//
// Prices come from three sources, the first that knows the model winning:
// overrides from conduit.toml ([pricing."<prefix>"]), an optional
// LiteLLM-format price file ([ledger] pricing_file), and a table compiled into
// the binary (prices.json, with its as-of date and sources). Within each
// source a model is found by its exact name, else by the longest key that is
// a prefix of it at a word boundary, so dated snapshots such as
// gpt-4.1-2025-04-14 find gpt-4.1 while a newer gpt-5.7 does not silently
// take gpt-5's prices. In the embedded table the provider's own API family is
// searched first, then the others.
//
// Costs are computed in integer picodollars (1e-12 USD) from rates held as
// integer micro-dollars per million tokens, and converted to float64 once,
// so no float drift reaches the ledger: the stored figure is the float64
// nearest the exact cost. A model no source knows stays unpriced (nil cost),
// which the ledger shows as such, never as $0.
package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/valohai/conduit/ledger"
)

//go:embed prices.json
var embeddedPrices []byte

// Rates are one model's prices in USD per million tokens, the shape of a
// [pricing."<prefix>"] table in conduit.toml. Input and Output are required
// (zero means free); a nil cache rate derives from Input: CachedInput is
// 0.1 × Input for Anthropic calls and, for other APIs, the price table's
// cached rate for the model if it has one, else Input; CacheWrite5m is
// 1.25 × Input and CacheWrite1h 2 × Input.
type Rates struct {
	Input, Output                           float64
	CachedInput, CacheWrite5m, CacheWrite1h *float64
}

// API families as in ledger.Record.API.
const (
	apiOpenAI    = "openai"
	apiAnthropic = "anthropic"
	apiGemini    = "gemini"
)

// unitsPerUSDPerMTok converts USD per million tokens into the integer unit
// rates are held in: micro-dollars per million tokens, which is the same as
// picodollars per token. Every published rate is a whole number of them.
const unitsPerUSDPerMTok = 1e6

// picoPerUSD converts picodollars to dollars.
const picoPerUSD = 1e12

// maxRate bounds a rate (USD per million tokens) so that products stay far
// inside int64 for any realistic token count.
const maxRate = 1e6

// tier is one set of rates in picodollars per token.
type tier struct {
	input, cached, write5m, write1h, output int64
}

// entry is one priced model (or prefix) in one source.
type entry struct {
	key    string
	family string // API family the entry belongs to; "" when unknown
	base   tier
	// cachedGiven reports that the source stated the cached-input rate
	// (overrides of non-Anthropic models borrow it, see Rates).
	cachedGiven bool
	// longAbove > 0: calls with more input tokens use long instead.
	longAbove int64
	long      tier
	// Multipliers for Anthropic usage fields (0: not applicable).
	geoUS, speedFast float64
}

// catalog is one source's entries by key.
type catalog struct {
	byKey map[string]*entry
}

// Pricer prices records. It is safe for concurrent use and immutable after
// NewPricer.
type Pricer struct {
	overrides *catalog
	file      *catalog
	table     map[string]*catalog // by API family
	families  []string            // table families in a fixed search order
	asOf      string

	cacheMu sync.Mutex
	cache   map[lookupKey]lookupResult
}

type lookupKey struct{ api, model string }

type lookupResult struct {
	e      *entry
	source string
}

// maxCache bounds the lookup cache: model names come from clients.
const maxCache = 4096

// NewPricer builds a Pricer from overrides (prefix → rates, nil for none) and
// pricingFile, the path of a LiteLLM-format model_prices_and_context_window.json
// ("" for none). It fails on a rate that is negative, not finite or absurdly
// large, on an empty prefix, and on a pricing file it cannot read or parse.
func NewPricer(overrides map[string]Rates, pricingFile string) (*Pricer, error) {
	p := &Pricer{cache: make(map[lookupKey]lookupResult)}
	table, asOf, err := parseTable(embeddedPrices)
	if err != nil {
		return nil, fmt.Errorf("embedded price table: %w", err)
	}
	p.table, p.asOf = table, asOf
	for fam := range table {
		p.families = append(p.families, fam)
	}
	sort.Strings(p.families)

	p.overrides = &catalog{byKey: make(map[string]*entry, len(overrides))}
	for prefix, r := range overrides {
		e, err := overrideEntry(prefix, r)
		if err != nil {
			return nil, err
		}
		p.overrides.byKey[prefix] = e
	}
	if pricingFile != "" {
		c, err := loadLiteLLMFile(pricingFile)
		if err != nil {
			return nil, err
		}
		p.file = c
	}
	return p, nil
}

// AsOf returns the date of the embedded price table (YYYY-MM-DD).
func (p *Pricer) AsOf() string { return p.asOf }

// Price sets rec.CostUSD and rec.CostSource. A provider-reported cost wins
// (source "provider"). Otherwise a call with usage and a model some source
// prices gets the computed cost and that source ("override", "file" or
// "table"); anything else is left unpriced: CostUSD nil, CostSource "".
// A nil Pricer leaves every call unpriced unless the provider reported a cost.
func (p *Pricer) Price(rec *ledger.Record) {
	rec.CostUSD, rec.CostSource = nil, ""
	if c := rec.ProviderCostUSD; c != nil && !math.IsNaN(*c) && !math.IsInf(*c, 0) && *c >= 0 {
		v := *c
		rec.CostUSD, rec.CostSource = &v, ledger.CostFromProvider
		return
	}
	if p == nil || !rec.HasUsage || rec.Model == "" {
		return
	}
	r, rates := p.resolve(rec.API, rec.Model)
	if r.e == nil {
		return
	}
	if r.e.longAbove > 0 && rec.InputTokens > r.e.longAbove {
		rates = r.e.long
	}
	v := cost(rates, rec)
	if r.source != ledger.CostFromOverride {
		v = applyMultipliers(v, r.e, rec)
	}
	rec.CostUSD, rec.CostSource = &v, r.source
}

// Lookup reports the rates a call of model through api would be priced at,
// before long-context tiers and multipliers, and the source they come from.
// ok is false when no source prices the model.
func (p *Pricer) Lookup(api, model string) (r Rates, source string, ok bool) {
	res, t := p.resolve(api, model)
	if res.e == nil {
		return Rates{}, "", false
	}
	usd := func(u int64) float64 { return float64(u) / unitsPerUSDPerMTok }
	cached, w5, w1 := usd(t.cached), usd(t.write5m), usd(t.write1h)
	return Rates{Input: usd(t.input), Output: usd(t.output), CachedInput: &cached, CacheWrite5m: &w5, CacheWrite1h: &w1}, res.source, true
}

// resolve finds the entry pricing model through api and its base rates,
// with an override's missing cached rate resolved for this api.
func (p *Pricer) resolve(api, model string) (lookupResult, tier) {
	if p == nil {
		return lookupResult{}, tier{}
	}
	r := p.lookup(api, model)
	if r.e == nil {
		return r, tier{}
	}
	rates := r.e.base
	if r.source == ledger.CostFromOverride && !r.e.cachedGiven && api != apiAnthropic {
		// An override without a cached rate borrows the file's or the
		// table's cached rate for this model, else pays the input rate.
		rates.cached = rates.input
		if alt := p.lookupBelowOverrides(api, model); alt.e != nil && alt.e.cachedGiven {
			rates.cached = alt.e.base.cached
		}
	}
	return r, rates
}

// cost computes the cost of rec's tokens at rates t:
//
//	uncached = input − cached − cache_write (never negative)
//	cost = uncached×input + cached×cached_rate + w5m×write_5m + w1h×write_1h
//	     + (cache_write − w5m − w1h)×write_5m + output×output_rate
//
// all in picodollars, then converted to dollars once. Reasoning tokens are
// part of output already and are never added again.
func cost(t tier, rec *ledger.Record) float64 {
	nn := func(v int64) int64 { return max(v, 0) }
	input, cached, write := nn(rec.InputTokens), nn(rec.CachedInputTokens), nn(rec.CacheWriteTokens)
	w5, w1 := nn(rec.CacheWrite5mTokens), nn(rec.CacheWrite1hTokens)
	uncached := nn(input - cached - write)
	unsplit := nn(write - w5 - w1)

	terms := [...][2]int64{
		{uncached, t.input},
		{cached, t.cached},
		{w5, t.write5m},
		{w1, t.write1h},
		{unsplit, t.write5m},
		{nn(rec.OutputTokens), t.output},
	}
	var pico int64
	exact := true
	for _, term := range terms {
		n, rate := term[0], term[1]
		if n != 0 && rate > (math.MaxInt64-pico)/n {
			exact = false
			break
		}
		pico += n * rate
	}
	if !exact {
		// Absurd token counts: fall back to float arithmetic rather than
		// overflow.
		var f float64
		for _, term := range terms {
			f += float64(term[0]) * float64(term[1])
		}
		return f / picoPerUSD
	}
	return float64(pico) / picoPerUSD
}

// applyMultipliers applies the Anthropic US-inference and fast-mode
// multipliers the entry declares when rec's raw usage asks for them.
func applyMultipliers(v float64, e *entry, rec *ledger.Record) float64 {
	if (e.geoUS == 0 && e.speedFast == 0) || len(rec.UsageRaw) == 0 {
		return v
	}
	var u struct {
		InferenceGeo string `json:"inference_geo"`
		Speed        string `json:"speed"`
	}
	if json.Unmarshal(rec.UsageRaw, &u) != nil {
		return v
	}
	m := 1.0
	if e.geoUS != 0 && strings.EqualFold(u.InferenceGeo, "us") {
		m *= e.geoUS
	}
	if e.speedFast != 0 && strings.EqualFold(u.Speed, "fast") {
		m *= e.speedFast
	}
	if m == 1 {
		return v
	}
	// Round to whole picodollars so the result stays the float64 nearest a
	// whole number of them.
	return math.Round(v*m*picoPerUSD) / picoPerUSD
}

func (p *Pricer) lookup(api, model string) lookupResult {
	k := lookupKey{api, model}
	p.cacheMu.Lock()
	r, ok := p.cache[k]
	p.cacheMu.Unlock()
	if ok {
		return r
	}
	r = lookupResult{}
	if e := p.overrides.find(model); e != nil {
		r = lookupResult{e, ledger.CostFromOverride}
	} else {
		r = p.lookupBelowOverrides(api, model)
	}
	p.cacheMu.Lock()
	if len(p.cache) < maxCache {
		p.cache[k] = r
	}
	p.cacheMu.Unlock()
	return r
}

// lookupBelowOverrides searches the pricing file, then the embedded table:
// the api's own family first, then every family.
func (p *Pricer) lookupBelowOverrides(api, model string) lookupResult {
	if e := p.file.find(model); e != nil {
		return lookupResult{e, ledger.CostFromFile}
	}
	if c := p.table[api]; c != nil {
		if e := c.find(model); e != nil {
			return lookupResult{e, ledger.CostFromTable}
		}
	}
	var best *entry
	for _, fam := range p.families {
		if fam == api {
			continue
		}
		if e := p.table[fam].find(model); e != nil && (best == nil || len(e.key) > len(best.key)) {
			best = e
		}
	}
	if best != nil {
		return lookupResult{best, ledger.CostFromTable}
	}
	return lookupResult{}
}

// find returns the entry for model: an exact key, else the longest key that
// is a prefix of it ending at a word boundary (see matchable). It also
// tries the name with a "models/" or "<vendor>/" prefix removed and in
// lower case. A nil catalog finds nothing.
func (c *catalog) find(model string) *entry {
	if c == nil || len(c.byKey) == 0 {
		return nil
	}
	for _, m := range candidates(model) {
		for i := len(m); i > 0; i-- {
			if !matchable(m, i) {
				continue
			}
			if e := c.byKey[m[:i]]; e != nil {
				return e
			}
		}
	}
	return nil
}

// candidates lists the spellings of a model name to look up, best first.
func candidates(model string) []string {
	out := []string{model}
	add := func(s string) {
		if s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	add(strings.ToLower(model))
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		add(model[i+1:])
		add(strings.ToLower(model[i+1:]))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// matchable reports whether m[:i] may be used as a key for m: the whole
// name, a prefix followed by a separator (gpt-4.1 for gpt-4.1-2025-04-14,
// claude-sonnet-4-5 for claude-sonnet-4-5@20250929), or a prefix that itself
// ends in punctuation (an override such as "gpt-" matches anything after it).
// A prefix followed by a letter, digit or '.' does not match: gpt-5 must not
// price gpt-5.4, nor gpt-4 gpt-4o.
func matchable(m string, i int) bool {
	if i == len(m) {
		return true
	}
	if !isWordByte(m[i-1]) {
		return true
	}
	return !isWordByte(m[i]) && m[i] != '.'
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// toUnits converts a rate in USD per million tokens to picodollars per
// token, rejecting values that cannot be a price.
func toUnits(usdPerMTok float64, what string) (int64, error) {
	if math.IsNaN(usdPerMTok) || math.IsInf(usdPerMTok, 0) || usdPerMTok < 0 || usdPerMTok > maxRate {
		return 0, fmt.Errorf("%s: %v is not a price in USD per 1M tokens (0 to %g)", what, usdPerMTok, float64(maxRate))
	}
	return int64(math.Round(usdPerMTok * unitsPerUSDPerMTok)), nil
}

// derive fills the rates of t that were not given, from its input rate and
// the family's rules.
func derive(t *tier, family string, cachedGiven, w5Given, w1Given bool) {
	if !cachedGiven {
		if family == apiAnthropic {
			t.cached = roundDiv(t.input, 10)
		} else {
			t.cached = t.input
		}
	}
	if !w5Given {
		t.write5m = roundDiv(t.input*5, 4)
	}
	if !w1Given {
		t.write1h = t.input * 2
	}
}

// roundDiv divides non-negative a by b, rounding half up.
func roundDiv(a, b int64) int64 { return (a + b/2) / b }

func overrideEntry(prefix string, r Rates) (*entry, error) {
	if prefix == "" {
		return nil, fmt.Errorf(`pricing override: empty model prefix (use [pricing."<prefix>"])`)
	}
	what := func(field string) string { return fmt.Sprintf("pricing.%q.%s", prefix, field) }
	e := &entry{key: prefix}
	var err error
	if e.base.input, err = toUnits(r.Input, what("input")); err != nil {
		return nil, err
	}
	if e.base.output, err = toUnits(r.Output, what("output")); err != nil {
		return nil, err
	}
	opt := func(v *float64, field string, dst *int64) (bool, error) {
		if v == nil {
			return false, nil
		}
		u, err := toUnits(*v, what(field))
		*dst = u
		return true, err
	}
	var w5, w1 bool
	if e.cachedGiven, err = opt(r.CachedInput, "cached_input", &e.base.cached); err != nil {
		return nil, err
	}
	if w5, err = opt(r.CacheWrite5m, "cache_write_5m", &e.base.write5m); err != nil {
		return nil, err
	}
	if w1, err = opt(r.CacheWrite1h, "cache_write_1h", &e.base.write1h); err != nil {
		return nil, err
	}
	// The family is only known per call; cached derives at Price time for
	// non-Anthropic calls. Anthropic's 0.1 × input is filled here and
	// replaced at Price time for other APIs (see Price).
	derive(&e.base, apiAnthropic, e.cachedGiven, w5, w1)
	return e, nil
}

// tableFile is the shape of prices.json.
type tableFile struct {
	AsOf    string                              `json:"as_of"`
	Unit    string                              `json:"unit"`
	Sources []string                            `json:"sources"`
	Notes   []string                            `json:"notes"`
	Models  map[string]map[string]tableEntryRaw `json:"models"`
}

type tableRates struct {
	Input        *float64 `json:"input"`
	CachedInput  *float64 `json:"cached_input"`
	CacheWrite5m *float64 `json:"cache_write_5m"`
	CacheWrite1h *float64 `json:"cache_write_1h"`
	Output       *float64 `json:"output"`
}

type tableEntryRaw struct {
	tableRates
	LongContext *struct {
		Above int64 `json:"above"`
		tableRates
	} `json:"long_context"`
	InferenceGeoUS float64 `json:"inference_geo_us"`
	SpeedFast      float64 `json:"speed_fast"`
}

func parseTable(data []byte) (map[string]*catalog, string, error) {
	var f tableFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, "", err
	}
	if f.AsOf == "" {
		return nil, "", fmt.Errorf("no as_of date")
	}
	if f.Unit != "" && f.Unit != "USD per 1M tokens" {
		return nil, "", fmt.Errorf("unit %q: want USD per 1M tokens", f.Unit)
	}
	out := make(map[string]*catalog, len(f.Models))
	for fam, models := range f.Models {
		c := &catalog{byKey: make(map[string]*entry, len(models))}
		for key, raw := range models {
			e := &entry{key: key, family: fam, geoUS: raw.InferenceGeoUS, speedFast: raw.SpeedFast}
			what := fam + "/" + key
			t, cachedGiven, err := raw.tableRates.tier(fam, what)
			if err != nil {
				return nil, "", err
			}
			e.base, e.cachedGiven = t, cachedGiven
			if lc := raw.LongContext; lc != nil {
				if lc.Above <= 0 {
					return nil, "", fmt.Errorf("%s: long_context needs above > 0", what)
				}
				e.longAbove = lc.Above
				if e.long, _, err = lc.tableRates.tier(fam, what+" long_context"); err != nil {
					return nil, "", err
				}
			}
			c.byKey[key] = e
		}
		out[fam] = c
	}
	return out, f.AsOf, nil
}

func (r tableRates) tier(family, what string) (tier, bool, error) {
	var t tier
	if r.Input == nil || r.Output == nil {
		return t, false, fmt.Errorf("%s: input and output rates are required", what)
	}
	var err error
	if t.input, err = toUnits(*r.Input, what+" input"); err != nil {
		return t, false, err
	}
	if t.output, err = toUnits(*r.Output, what+" output"); err != nil {
		return t, false, err
	}
	set := func(v *float64, field string, dst *int64) bool {
		if v == nil || err != nil {
			return false
		}
		*dst, err = toUnits(*v, what+" "+field)
		return true
	}
	c := set(r.CachedInput, "cached_input", &t.cached)
	w5 := set(r.CacheWrite5m, "cache_write_5m", &t.write5m)
	w1 := set(r.CacheWrite1h, "cache_write_1h", &t.write1h)
	if err != nil {
		return t, false, err
	}
	derive(&t, family, c, w5, w1)
	return t, c, nil
}
