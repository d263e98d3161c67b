// Package pricing turns a call's normalized token counts into a cost in USD.
//
// Prices come from three sources, the first that knows the model winning:
// overrides from conduit.toml ([pricing."<prefix>"]), an optional
// LiteLLM-format price file ([ledger] pricing_file), and the price book
// compiled into the binary (book.json). A cost the provider reports itself
// (OpenRouter's usage.cost) wins over all three.
//
// # The price book
//
// The book is generated (go generate, or make prices) from a pinned
// version of Pydantic's genai-prices data (source/, MIT licensed) and a
// reviewed overlay of corrections (overlay.json), each with the provider
// page that justifies it; book_test.go checks that the committed book is
// exactly what the generator makes of them. It prices a call as
// genai-prices' own calculation does (packages/js/src/engine.ts):
//
//   - The price list is the provider's: the upstream host against each
//     provider's API pattern, else the provider key in conduit.toml as a
//     provider id or by its match rule. With neither, the model is looked up
//     across providers and priced only if they agree on its prices.
//   - The model is found by an exact name in the list, else by the source's
//     match rules, for the name and for its spellings without platform
//     prefixes (us.anthropic., models/) and snapshot suffixes (-2025-04-14,
//     -20250929, @20251001, -v1:0, -latest). A rule that matches only part
//     of a name (starts_with "gemini-2.5-flash") counts only when the rest
//     is such a prefix or suffix, so a different model (-mini, -lite,
//     -image, a new version number) never takes another's price: it stays
//     unpriced until the book knows it.
//   - A call is priced at the rates in force at its start: the last of the
//     model's price periods whose start date or UTC time-of-day window
//     holds, else the first.
//   - Each priced unit (input, cache reads, cache writes, 1-hour cache
//     writes, output, reasoning, audio and image tokens, requests) is
//     charged for its own share: input tokens less the cache reads, cache
//     writes and audio tokens priced apart, and so on. A tiered rate
//     applies to all the unit's tokens when the call's input tokens
//     (cache reads and writes included) exceed the tier's start.
//   - Units Conduit does not count (pages, hours, web searches) are not
//     charged; a model priced only in such units is unpriced.
//
// # Exact arithmetic
//
// Costs are computed in integer picodollars (1e-12 USD) from rates held as
// integer micro-dollars per million tokens (picodollars per token) and
// converted to float64 once, so no float drift reaches the ledger: the
// stored figure is the float64 nearest the exact cost. A model no source
// knows stays unpriced (nil cost), which the ledger shows as such, never as
// $0.
package pricing

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valohai/conduit/ledger"
)

//go:generate go run ./internal/gen

//go:embed book.json
var embeddedBook []byte

// embedded is the embedded book, parsed once per process: it is immutable
// (its lookup cache is safe for concurrent use).
var embedded = sync.OnceValues(func() (*priceBook, error) { return loadBook(embeddedBook) })

// Rates are one model's prices in USD per million tokens, the shape of a
// [pricing."<prefix>"] table in conduit.toml. Input and Output are required
// (zero means free); a nil cache rate derives from Input: CachedInput is
// 0.1 × Input for Anthropic calls and, for other APIs, the pricing file's
// or the price book's cache-read rate for the model if it has one, else
// Input; CacheWrite5m is 1.25 × Input and CacheWrite1h 2 × Input.
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
// picodollars per token.
const unitsPerUSDPerMTok = 1e6

// picoPerUSD converts picodollars to dollars.
const picoPerUSD = 1e12

// maxRate bounds an override's or a pricing file's rate (USD per million
// tokens) so that products stay far inside int64 for any realistic token
// count.
const maxRate = 1e6

// Pricer prices records. It is safe for concurrent use and immutable after
// NewPricer (but for bounded lookup caches).
type Pricer struct {
	overrides *catalog
	file      *catalog
	book      *priceBook
	now       func() time.Time
}

// NewPricer builds a Pricer from overrides (prefix → rates, nil for none) and
// pricingFile, the path of a LiteLLM-format model_prices_and_context_window.json
// ("" for none). It fails on a rate that is negative, not finite or absurdly
// large, on an empty prefix, and on a pricing file it cannot read or parse.
func NewPricer(overrides map[string]Rates, pricingFile string) (*Pricer, error) {
	b, err := embedded()
	if err != nil {
		return nil, fmt.Errorf("embedded price book: %w", err)
	}
	p := &Pricer{book: b, now: time.Now}
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

// Version names the embedded price book's data and overlay, e.g.
// "genai-prices 0.1.8 + overlay 1a2b3c4d5e6f".
func (p *Pricer) Version() string { return p.book.version }

// Price sets rec.CostUSD, rec.CostSource, rec.PriceVersion and
// rec.CostNote. A provider-reported cost wins (source "provider").
// Otherwise a call with usage and a model some source prices gets the
// computed cost, that source ("override", "file" or "table") and, for the
// book and the pricing file, the version of the data; anything else is
// left unpriced: CostUSD nil, CostSource "". CostNote says why a call is
// unpriced, or what its cost leaves out or approximates ("" when nothing).
// The call's parts are its Detail.Iterations when it has them (each at its
// own model's rates), else the call itself. A nil Pricer leaves every call
// unpriced unless the provider reported a cost.
func (p *Pricer) Price(rec *ledger.Record) {
	rec.CostUSD, rec.CostSource, rec.PriceVersion, rec.CostNote = nil, "", "", ""
	if c := rec.ProviderCostUSD; c != nil && !math.IsNaN(*c) && !math.IsInf(*c, 0) && *c >= 0 {
		v := *c
		rec.CostUSD, rec.CostSource = &v, ledger.CostFromProvider
		return
	}
	if !rec.PlausibleCounts() {
		// A count no call can have would price at an absurd figure.
		rec.CostNote = "invalid usage: a token count no call can have"
		return
	}
	r := p.price(callOf(rec))
	rec.CostNote = r.note
	if r.priced {
		v := r.usd
		rec.CostUSD, rec.CostSource, rec.PriceVersion = &v, r.source, r.version
	}
}

// callOf is the part of a record pricing reads. Audio and image counts and
// reasoning go with the call's own model: with iterations, the first one
// that ran it.
func callOf(rec *ledger.Record) call {
	c := call{
		provider: rec.Provider, host: rec.Host, path: rec.Path, api: rec.API, model: rec.Model,
		at: rec.StartedAt, raw: rec.UsageRaw, hasUsage: rec.HasUsage,
	}
	var d ledger.UsageDetail
	if rec.Detail != nil {
		d = *rec.Detail
	}
	for _, it := range d.Iterations {
		c.parts = append(c.parts, usage{
			model: it.Model, input: it.InputTokens, cached: it.CachedInputTokens, write: it.CacheWriteTokens,
			write5m: it.CacheWrite5mTokens, write1h: it.CacheWrite1hTokens, output: it.OutputTokens,
		})
	}
	own := 0
	if len(c.parts) == 0 {
		c.parts = []usage{{
			input: rec.InputTokens, cached: rec.CachedInputTokens, write: rec.CacheWriteTokens,
			write5m: rec.CacheWrite5mTokens, write1h: rec.CacheWrite1hTokens, output: rec.OutputTokens,
		}}
	} else if i := slices.IndexFunc(c.parts, func(u usage) bool { return u.model == "" || u.model == rec.Model }); i >= 0 {
		own = i
	}
	pt := &c.parts[own]
	pt.reasoning = rec.ReasoningTokens
	pt.audioIn, pt.audioOut, pt.imageIn, pt.imageOut = d.AudioInputTokens, d.AudioOutputTokens, d.ImageInputTokens, d.ImageOutputTokens
	return c
}

// call is one call to price.
type call struct {
	provider, host, path, api, model string
	at                               time.Time // zero: now
	raw                              json.RawMessage
	hasUsage                         bool
	// parts are priced one by one and summed: the call's own usage, or
	// each server-side step with the model that ran it.
	parts []usage
}

// usage is one priced part of a call, in the counts as package parsers
// normalizes them: input includes cache reads and writes and the audio
// and image input tokens; output includes reasoning and the audio and image
// output tokens.
type usage struct {
	model                                                     string // "" = the call's model
	input, cached, write, write5m, write1h, output, reasoning int64
	audioIn, audioOut, imageIn, imageOut                      int64
}

// result is what price found.
type result struct {
	priced  bool
	usd     float64
	source  string // one of the ledger.CostFrom* constants
	version string // the price book's version when the book priced it
	note    string // why unpriced, or what the cost leaves out
}

func (p *Pricer) price(c call) result {
	switch {
	case p == nil:
		return result{note: noteNotInBook}
	case !c.hasUsage:
		return result{note: noteNoUsage}
	case c.model == "" && len(c.parts) == 1:
		return result{note: noteNoModel}
	}
	if c.at.IsZero() {
		c.at = p.now()
	}
	var total accumulator
	var out result
	var notes []string
	for i, part := range c.parts {
		model := part.model
		if model == "" {
			model = c.model
		}
		pr := p.pricePart(c, model, part, i == 0)
		label := func(n string) string {
			if len(c.parts) > 1 {
				return model + ": " + n
			}
			return n
		}
		if pr.unpriced != "" {
			notes = append(notes, label(pr.unpriced))
			continue
		}
		for _, n := range pr.notes {
			notes = append(notes, label(n))
		}
		total.addAll(&pr.accumulator)
		if !out.priced {
			out.priced, out.source, out.version = true, pr.source, pr.version
		}
	}
	if total.inexact {
		notes = append(notes, noteOverflowFloat)
	}
	out.usd = total.usd()
	out.note = strings.Join(notes, "; ")
	if !out.priced {
		out.usd = 0
	}
	return out
}

// partCost is one part's cost and where its prices came from.
type partCost struct {
	accumulator
	source, version string
	notes           []string
}

func (p *Pricer) pricePart(c call, model string, part usage, requests bool) partCost {
	if model == "" {
		return partCost{accumulator: accumulator{unpriced: noteNoModel}}
	}
	if e := p.overrides.find(model); e != nil {
		rates := e.base
		if !e.cachedGiven && c.api != apiAnthropic {
			// An override without a cached rate borrows the file's or
			// the book's cache-read rate for this model, else pays the
			// input rate.
			rates.cached = rates.input
			if fe := p.file.find(model); fe != nil {
				if fe.cachedGiven {
					rates.cached = fe.base.cached
				}
			} else if r, ok := p.bookCachedRate(c, model); ok {
				rates.cached = r
			}
		}
		pc := partCost{source: ledger.CostFromOverride}
		tierCost(rates, part, &pc.accumulator)
		return pc
	}
	if e := p.file.find(model); e != nil {
		rates := e.base
		if e.longAbove > 0 && part.input > e.longAbove {
			rates = e.long
		}
		pc := partCost{source: ledger.CostFromFile, version: p.file.version}
		tierCost(rates, part, &pc.accumulator)
		pc.pico = applyMultipliers(pc.pico, e, c.raw)
		return pc
	}
	r := p.book.lookup(c.provider, c.host, c.path, model)
	if r.m == nil {
		return partCost{accumulator: accumulator{unpriced: r.note}}
	}
	pc := partCost{source: ledger.CostFromTable, version: p.book.version}
	pc.notes = r.m.at(c.at).cost(part, requests, &pc.accumulator)
	if !pc.inexact {
		pc.pico = r.m.multiply(pc.pico, c.raw)
	}
	return pc
}

// bookCachedRate is the book's flat cache-read rate for model (tiers
// aside), in picodollars per token.
func (p *Pricer) bookCachedRate(c call, model string) (int64, bool) {
	r := p.book.lookup(c.provider, c.host, c.path, model)
	if r.m == nil {
		return 0, false
	}
	for _, rate := range r.m.at(c.at).rates {
		if rate.unit.UsageKey == "cache_read_tokens" {
			return rate.base, true
		}
	}
	return 0, false
}

// accumulator sums n × rate products in exact picodollars, falling back to
// float arithmetic only for token counts too large for int64.
type accumulator struct {
	pico     int64
	f        float64
	inexact  bool
	unpriced string // why the part cannot be priced ("" if it can)
}

func (a *accumulator) add(n, rate int64) {
	if !a.inexact && n != 0 && rate > (math.MaxInt64-a.pico)/n {
		a.toFloat()
	}
	if a.inexact {
		a.f += float64(n) * float64(rate)
		return
	}
	a.pico += n * rate
}

func (a *accumulator) toFloat() {
	if !a.inexact {
		a.inexact, a.f = true, float64(a.pico)
	}
}

func (a *accumulator) addAll(b *accumulator) {
	if b.inexact {
		a.toFloat()
		a.f += b.f
		return
	}
	a.add(1, b.pico)
}

func (a *accumulator) usd() float64 {
	if a.inexact {
		return a.f / picoPerUSD
	}
	return float64(a.pico) / picoPerUSD
}

// tierCost adds the cost of part's tokens at rates t, the formula for
// overrides and pricing-file entries:
//
//	uncached = input − cached − cache_write (never negative)
//	cost = uncached×input + cached×cached_rate + w5m×write_5m + w1h×write_1h
//	     + (cache_write − w5m − w1h)×write_5m + output×output_rate
//
// Reasoning tokens are part of output already and are never added again.
func tierCost(t tier, part usage, a *accumulator) {
	nn := func(v int64) int64 { return max(v, 0) }
	input, cached, write := nn(part.input), nn(part.cached), nn(part.write)
	w5, w1 := nn(part.write5m), nn(part.write1h)
	a.add(nn(input-cached-write), t.input)
	a.add(cached, t.cached)
	a.add(w5, t.write5m)
	a.add(w1, t.write1h)
	a.add(nn(write-w5-w1), t.write5m)
	a.add(nn(part.output), t.output)
}

// applyMultipliers applies the Anthropic US-inference and fast-mode
// multipliers a pricing-file entry declares when the call's raw usage asks
// for them, rounding to whole picodollars.
func applyMultipliers(pico int64, e *entry, raw json.RawMessage) int64 {
	if (e.geoUS == 0 && e.speedFast == 0) || len(raw) == 0 {
		return pico
	}
	var u struct {
		InferenceGeo string `json:"inference_geo"`
		Speed        string `json:"speed"`
	}
	if json.Unmarshal(raw, &u) != nil {
		return pico
	}
	m := 1.0
	if e.geoUS != 0 && strings.EqualFold(u.InferenceGeo, "us") {
		m *= e.geoUS
	}
	if e.speedFast != 0 && strings.EqualFold(u.Speed, "fast") {
		m *= e.speedFast
	}
	if m == 1 {
		return pico
	}
	return int64(math.Round(float64(pico) * m))
}
