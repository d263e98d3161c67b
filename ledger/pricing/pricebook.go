package pricing

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/valohai/conduit/ledger/pricing/internal/book"
)

// priceBook is the compiled book, ready to price calls. It is immutable
// once loaded, except for its bounded lookup cache.
type priceBook struct {
	version   string
	date      time.Time // the data's publication date
	origin    string    // "built in", or where it was downloaded from
	providers []*bookProvider
	byID      map[string]*bookProvider

	cacheMu sync.Mutex
	cache   map[lookupKey]searchResult // lookup's answers; under cacheMu
}

type bookProvider struct {
	id            string
	api           *regexp.Regexp
	providerMatch *matcher
	modelMatch    *matcher
	fallback      []*bookProvider
	models        []*bookModel
}

type bookModel struct {
	id       string
	lowerID  string
	provider *bookProvider
	match    *matcher
	rule     book.Match // match as compiled, for explanations
	periods  []bookPeriod
	mults    []multiplier
}

type bookPeriod struct {
	start          time.Time // zero: no start date
	window         bool      // a UTC time-of-day window
	startMs, endMs int64
	rates          []bookRate // in decomposition order (see leaves)
	metered        bool
	priced         map[string]bool // the rates' usage keys
}

type bookRate struct {
	unit  *book.Unit
	base  int64
	tiers []book.Tier
	// descendants are the indexes in rates of the other priced units
	// that are kinds of this one (requests aside): their counts are not
	// this unit's own. Fixed once the period is loaded, so pricing a call
	// does not compare units' dimensions again.
	descendants []int
}

type multiplier struct {
	field, equals string
	factor        int64 // thousandths
}

func loadBook(data []byte) (*priceBook, error) {
	b, err := book.Decode(data)
	if err != nil {
		return nil, err
	}
	date, err := time.Parse(time.DateOnly, b.Source.Date)
	if err != nil {
		return nil, fmt.Errorf("price book: source date: %w", err)
	}
	pb := &priceBook{version: b.Version, date: date, origin: "built in", byID: map[string]*bookProvider{}, cache: map[lookupKey]searchResult{}}
	for _, p := range b.Providers {
		bp := &bookProvider{id: p.ID}
		// genai-prices anchors the pattern at the start of the URL.
		if bp.api, err = regexp.Compile(`^(?:` + p.APIPattern + `)`); err != nil {
			return nil, fmt.Errorf("price book: provider %s: api_pattern: %w", p.ID, err)
		}
		for _, m := range []struct {
			src *book.Match
			dst **matcher
		}{{p.ProviderMatch, &bp.providerMatch}, {p.ModelMatch, &bp.modelMatch}} {
			if m.src != nil {
				if *m.dst, err = compileMatch(*m.src); err != nil {
					return nil, fmt.Errorf("price book: provider %s: %w", p.ID, err)
				}
			}
		}
		for _, m := range p.Models {
			bm := &bookModel{id: m.ID, lowerID: strings.ToLower(m.ID), provider: bp, rule: m.Match}
			if bm.match, err = compileMatch(m.Match); err != nil {
				return nil, fmt.Errorf("price book: %s/%s: %w", p.ID, m.ID, err)
			}
			for _, per := range m.Periods {
				bper, err := loadPeriod(per)
				if err != nil {
					return nil, fmt.Errorf("price book: %s/%s: %w", p.ID, m.ID, err)
				}
				bm.periods = append(bm.periods, bper)
			}
			if len(bm.periods) == 0 {
				return nil, fmt.Errorf("price book: %s/%s: no prices", p.ID, m.ID)
			}
			bp.models = append(bp.models, bm)
		}
		pb.providers = append(pb.providers, bp)
		pb.byID[p.ID] = bp
	}
	for i, p := range b.Providers {
		for _, f := range p.Fallback {
			fp := pb.byID[f]
			if fp == nil {
				return nil, fmt.Errorf("price book: provider %s: unknown fallback %s", p.ID, f)
			}
			pb.providers[i].fallback = append(pb.providers[i].fallback, fp)
		}
	}
	for _, mu := range b.Multipliers {
		p := pb.byID[mu.Provider]
		if p == nil {
			return nil, fmt.Errorf("price book: multiplier: unknown provider %s", mu.Provider)
		}
		for _, id := range mu.Models {
			m := p.model(id)
			if m == nil {
				return nil, fmt.Errorf("price book: multiplier: %s has no model %s", mu.Provider, id)
			}
			m.mults = append(m.mults, multiplier{field: mu.Field, equals: mu.Equals, factor: mu.Factor})
		}
	}
	return pb, nil
}

func (p *bookProvider) model(id string) *bookModel {
	for _, m := range p.models {
		if m.id == id {
			return m
		}
	}
	return nil
}

func loadPeriod(per book.Period) (bookPeriod, error) {
	var bp bookPeriod
	switch {
	case per.StartDate != "":
		t, err := time.Parse(time.DateOnly, per.StartDate)
		if err != nil {
			return bp, err
		}
		bp.start = t
	case per.StartTime != "":
		var err error
		if bp.startMs, err = book.ParseTimeOfDay(per.StartTime); err != nil {
			return bp, err
		}
		if bp.endMs, err = book.ParseTimeOfDay(per.EndTime); err != nil {
			return bp, err
		}
		bp.window = true
	}
	for key, pr := range per.Prices {
		u := book.UnitForPriceKey(key)
		if u == nil {
			return bp, fmt.Errorf("unknown price key %s", key)
		}
		bp.rates = append(bp.rates, bookRate{unit: u, base: pr.Base, tiers: pr.Tiers})
		if u.Metered() {
			bp.metered = true
		}
	}
	// genai-prices' decomposition order (decompose.ts computeLeafValues):
	// the most specific units first, so that each unit's own share is
	// what is left after its priced descendants took theirs.
	sort.Slice(bp.rates, func(i, j int) bool {
		a, b := bp.rates[i].unit, bp.rates[j].unit
		if len(a.Dimensions) != len(b.Dimensions) {
			return len(a.Dimensions) > len(b.Dimensions)
		}
		return a.UsageKey < b.UsageKey
	})
	bp.priced = make(map[string]bool, len(bp.rates))
	for i := range bp.rates {
		r := &bp.rates[i]
		bp.priced[r.unit.UsageKey] = true
		for j, d := range bp.rates {
			if d.unit != r.unit && r.unit.IsAncestorOf(d.unit) && d.unit.UsageKey != "requests" {
				r.descendants = append(r.descendants, j)
			}
		}
	}
	return bp, nil
}

// at returns the period in force at t, as genai-prices chooses it
// (engine.ts getActiveModelPrice): the last one whose constraint holds,
// else the first.
func (m *bookModel) at(t time.Time) *bookPeriod {
	t = t.UTC()
	for i := len(m.periods) - 1; i >= 0; i-- {
		p := &m.periods[i]
		switch {
		case p.window:
			ms := int64(t.Hour())*3_600_000 + int64(t.Minute())*60_000 + int64(t.Second())*1000 + int64(t.Nanosecond()/1e6)
			if p.endMs < p.startMs {
				if ms >= p.startMs || ms < p.endMs {
					return p
				}
			} else if ms >= p.startMs && ms < p.endMs {
				return p
			}
		case !p.start.IsZero():
			if !t.Before(p.start) {
				return p
			}
		default:
			return p
		}
	}
	return &m.periods[0]
}

// providerFor picks the price list for a call: the upstream URL against
// each provider's API pattern first (the host is what the call really
// went to), then the provider key from conduit.toml as genai-prices reads
// a provider id (its id, else its provider_match rule). nil: no provider
// known, search by model.
func (b *priceBook) providerFor(key, host, path string) *bookProvider {
	if host != "" {
		u := "https://" + strings.ToLower(host) + path
		for _, p := range b.providers {
			if p.api.MatchString(u) {
				return p
			}
		}
	}
	key = strings.ToLower(strings.TrimSpace(key))
	if key == "" {
		return nil
	}
	if p := b.byID[key]; p != nil {
		return p
	}
	// Azure has no provider_match in the source, and "azure-openai"
	// would otherwise be taken for OpenAI.
	if strings.Contains(key, "azure") && b.byID["azure"] != nil {
		return b.byID["azure"]
	}
	for _, p := range b.providers {
		if p.providerMatch != nil && p.providerMatch.match(key) {
			return p
		}
	}
	return nil
}

type searchResult struct {
	m    *bookModel
	note string
}

// lookupKey is what lookup decides by.
type lookupKey struct{ provider, host, path, model string }

// maxLookupCache bounds the lookup cache: provider keys, hosts, paths and
// model names come from clients.
const maxLookupCache = 4096

// lookup is find(providerFor(provider, host, path), model), remembered.
//
// Every call is priced on its own goroutine, and with the provider's and
// the model's answers cached apart, matching (two locks and two maps, the
// name lowered each time) was still a fifth of pricing a call; the whole
// answer is now one entry, so repeated calls to a model skip matching. The
// cache is bounded: when it is full, a new answer replaces an arbitrary
// one (Go's map iteration starts at random). It belongs to the book, so a
// Pricer given other data (UseUpdate) never sees the old book's answers.
func (b *priceBook) lookup(provider, host, path, model string) searchResult {
	k := lookupKey{provider, host, path, model}
	b.cacheMu.Lock()
	r, ok := b.cache[k]
	b.cacheMu.Unlock()
	if ok {
		return r
	}
	r = b.find(b.providerFor(provider, host, path), model)
	b.cacheMu.Lock()
	if len(b.cache) >= maxLookupCache {
		for old := range b.cache {
			delete(b.cache, old)
			break
		}
	}
	b.cache[k] = r
	b.cacheMu.Unlock()
	return r
}

// find returns the book's model for a call's model name through provider
// p (nil: unknown), or why there is none.
func (b *priceBook) find(p *bookProvider, model string) searchResult {
	return b.search(p, strings.ToLower(strings.TrimSpace(model)))
}

func (b *priceBook) search(p *bookProvider, name string) searchResult {
	if p != nil {
		if m := p.find(name, true); m != nil {
			return searchResult{m: m}
		}
		return searchResult{note: fmt.Sprintf("model not in %s's price list", p.id)}
	}
	// No provider known: the provider whose models the name looks like
	// (genai-prices' model_match), then any provider, if they agree.
	for _, p := range b.providers {
		if p.modelMatch != nil && p.modelMatch.match(name) {
			if m := p.find(name, true); m != nil {
				return searchResult{m: m}
			}
			break
		}
	}
	var found []*bookModel
	for _, p := range b.providers {
		if m := p.find(name, false); m != nil {
			found = append(found, m)
		}
	}
	switch {
	case len(found) == 0:
		return searchResult{note: "model not in the price book"}
	case samePrices(found):
		return searchResult{m: found[0]}
	}
	ids := make([]string, len(found))
	for i, m := range found {
		ids[i] = m.provider.id
	}
	return searchResult{note: "model priced differently by " + strings.Join(ids, ", ") + ": name its provider in conduit.toml"}
}

func samePrices(ms []*bookModel) bool {
	for _, m := range ms[1:] {
		if !reflect.DeepEqual(m.periods, ms[0].periods) {
			return false
		}
	}
	return true
}

// find looks name up in p's models: each spelling of the name
// (nameVariants) first as an exact name (a model's id, or a name its rule
// lists with equals), then by the source's rules under the sibling guard
// (matcher.guarded); then, if fallback, in the providers p serves models
// of.
func (p *bookProvider) find(name string, fallback bool) *bookModel {
	m, _, _ := p.locate(name, fallback)
	return m
}

// locate is find, also saying which spelling matched and whether exactly.
func (p *bookProvider) locate(name string, fallback bool) (m *bookModel, spelling string, exact bool) {
	for _, v := range nameVariants(name) {
		for _, m := range p.models {
			if m.lowerID == v || m.match.exact(v) {
				return m, v, true
			}
		}
		for _, m := range p.models {
			if m.match.guarded(v) {
				return m, v, false
			}
		}
	}
	if fallback {
		for _, f := range p.fallback {
			if m, v, exact := f.locate(name, false); m != nil {
				return m, v, exact
			}
		}
	}
	return nil, "", false
}

// Notes on what a cost leaves out or approximates.
const (
	noteUnmetered     = "billed per %s, which Conduit does not count"
	noteParentRate    = "%s priced at the %s rate (the price book has no rate of their own for this model)"
	noteCachedAudio   = "cached audio tokens are not reported apart: all cache reads priced at the text rate"
	noteInconsistent  = "usage counts inconsistent (a part exceeds its total): the excess is not priced"
	noteNoModel       = "no model name"
	noteNoUsage       = "no usage reported"
	noteNotInBook     = "model not in the price book"
	noteOverflowFloat = "token counts too large for exact arithmetic: cost computed in floating point"
)

// usageValue is the count of unit u in part, as genai-prices' usage keys
// (units.yml) name the counts Conduit normalizes.
func usageValue(u *book.Unit, part usage) int64 {
	switch u.UsageKey {
	case "input_tokens":
		return part.input
	case "cache_read_tokens":
		return part.cached
	case "cache_write_tokens":
		return part.write
	case "cache_write_5m_tokens":
		return part.write5m
	case "cache_write_1h_tokens":
		return part.write1h
	case "output_tokens":
		return part.output
	case "output_reasoning_tokens":
		return part.reasoning
	case "input_audio_tokens":
		return part.audioIn
	case "output_audio_tokens":
		return part.audioOut
	case "input_image_tokens":
		return part.imageIn
	case "output_image_tokens":
		return part.imageOut
	}
	return 0
}

// cost prices part at period per, as genai-prices does (engine.ts
// calcPrice): each priced unit is charged for its own share of the counts
// (what its priced descendants did not take), at its tier for the part's
// input tokens. requests says whether this part carries the call's
// per-request fee.
func (per *bookPeriod) cost(part usage, requests bool, a *accumulator) (notes []string) {
	if len(per.rates) > 0 && !per.metered {
		var keys []string
		for _, r := range per.rates {
			keys = append(keys, r.unit.UsageKey)
		}
		sort.Strings(keys)
		a.unpriced = fmt.Sprintf(noteUnmetered, strings.Join(keys, ", "))
		return nil
	}
	priced := per.priced
	// Each rate's own count, by its index in rates: a book period has a
	// handful of rates, so this stays on the stack.
	var leafBuf [16]int64
	leaf := leafBuf[:0]
	if len(per.rates) > len(leafBuf) {
		leaf = make([]int64, 0, len(per.rates))
	}
	leaf = leaf[:len(per.rates)]
	inconsistent := false
	for i, r := range per.rates {
		if r.unit.UsageKey == "requests" {
			continue
		}
		v := usageValue(r.unit, part)
		for _, j := range r.descendants {
			v -= leaf[j]
		}
		if v < 0 {
			v, inconsistent = 0, true
		}
		leaf[i] = v
	}
	if inconsistent {
		notes = append(notes, noteInconsistent)
	}
	for i, r := range per.rates {
		n := leaf[i]
		if r.unit.UsageKey == "requests" {
			if !requests {
				continue
			}
			n = 1
		}
		if n == 0 {
			continue
		}
		rate := r.base
		for _, t := range r.tiers {
			if part.input > t.Start {
				rate = t.Price
			}
		}
		// Rates are micro-dollars per block of Per counts; metered
		// blocks (a million tokens, a thousand requests) divide a
		// million, so this stays in whole picodollars.
		a.add(n, rate*(1_000_000/r.unit.Per))
	}
	for _, s := range []struct {
		count                int64
		key, parentKey       string
		what, parentRateName string
	}{
		{part.audioIn, "input_audio_tokens", "input_tokens", "audio input tokens", "input"},
		{part.audioOut, "output_audio_tokens", "output_tokens", "audio output tokens", "output"},
		{part.imageIn, "input_image_tokens", "input_tokens", "image input tokens", "input"},
		{part.imageOut, "output_image_tokens", "output_tokens", "image output tokens", "output"},
		{part.write1h, "cache_write_1h_tokens", "cache_write_tokens", "1-hour cache writes", "cache-write"},
	} {
		if s.count > 0 && !priced[s.key] && priced[s.parentKey] {
			notes = append(notes, fmt.Sprintf(noteParentRate, s.what, s.parentRateName))
		}
	}
	if priced["cache_audio_read_tokens"] && part.audioIn > 0 && part.cached > 0 {
		notes = append(notes, noteCachedAudio)
	}
	return notes
}

// multiply applies m's multipliers whose usage field the call's raw usage
// object has, exactly: pico × Π factor / 1000ⁿ, rounded half up once.
func (m *bookModel) multiply(pico int64, raw json.RawMessage) int64 {
	if len(m.mults) == 0 || len(raw) == 0 {
		return pico
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return pico
	}
	num, den := big.NewInt(pico), big.NewInt(1)
	for _, mu := range m.mults {
		var v string
		if json.Unmarshal(fields[mu.field], &v) != nil || !strings.EqualFold(v, mu.equals) {
			continue
		}
		num.Mul(num, big.NewInt(mu.factor))
		den.Mul(den, big.NewInt(1000))
	}
	if den.Cmp(big.NewInt(1)) == 0 {
		return pico
	}
	num.Mul(num, big.NewInt(2)).Add(num, den)
	den.Mul(den, big.NewInt(2))
	q := new(big.Int).Quo(num, den)
	if !q.IsInt64() {
		return pico
	}
	return q.Int64()
}
