package pricing

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ledger/pricing/internal/book"
)

// Explanation says how a Pricer prices a model at a given time, for
// `conduit prices show`.
type Explanation struct {
	Model string
	// Source is the ledger.CostFrom* constant of the source that prices
	// the model, "" when none does.
	Source string
	// Override is the [pricing."<prefix>"] key that prices it (source
	// override).
	Override string

	// The price book's entry (source table).
	Provider    string // the price list's provider id
	ProviderBy  string // what chose it: "upstream host", "provider key" or "model name"
	Entry       string // the entry's id
	MatchedName string // the spelling of the name that matched
	Exact       bool   // matched by an exact name, not by a rule
	Rule        string // the entry's match rule, JSON
	Period      string // the price period in force: "always", "from 2026-07-30", "00:30:00 to 16:30:00 UTC", "by default (…)"
	Periods     int    // how many the entry has
	Rates       []RateLine
	Multipliers []string // "inference_geo = us: × 1.1"

	Version  string    // the book's version
	DataDate time.Time // its data's date
	Origin   string    // "built in", or where it was downloaded from

	Note string // why it is unpriced ("" when priced)
}

// RateLine is one rate of an entry, in USD per its block.
type RateLine struct {
	Key     string // the source's price key, e.g. input_mtok
	Block   string // "1M tokens", "1K requests", …
	USD     float64
	Tiers   []TierLine
	Counted bool // whether Conduit counts this unit for a call
}

// TierLine is a tiered rate: USD per block when input tokens exceed Above.
type TierLine struct {
	Above int64
	USD   float64
}

// Explain says how p prices model for a call through provider key
// provider to host and path ("" when unknown) starting at at.
func (p *Pricer) Explain(provider, host, path, model string, at time.Time) Explanation {
	e := Explanation{Model: model, Version: p.book.version, DataDate: p.book.date, Origin: p.book.origin}
	if o := p.overrides.findKey(model); o != "" {
		e.Source, e.Override = ledger.CostFromOverride, o
		return e
	}
	if p.file.find(model) != nil {
		e.Source = ledger.CostFromFile
		return e
	}
	name := strings.ToLower(strings.TrimSpace(model))
	bp, by := p.book.providerFor(provider, host, path), ""
	switch {
	case bp == nil:
		by = "model name"
	case host != "" && bp.api.MatchString("https://"+strings.ToLower(host)+path):
		by = "upstream host"
	default:
		by = "provider key"
	}
	r := p.book.find(bp, model)
	if r.m == nil {
		e.Note = r.note
		if bp != nil {
			e.Provider, e.ProviderBy = bp.id, by
		}
		return e
	}
	m := r.m
	if bp == nil {
		bp = m.provider
	}
	_, spelling, exact := bp.locate(name, true)
	rule, _ := json.Marshal(m.rule)
	e.Source, e.Provider, e.ProviderBy = ledger.CostFromTable, bp.id, by
	e.Entry, e.MatchedName, e.Exact, e.Rule = m.id, spelling, exact, string(rule)
	if m.provider != bp {
		e.Entry = m.provider.id + "/" + m.id
	}
	per := m.at(at)
	e.Periods = len(m.periods)
	switch {
	case per.window:
		e.Period = fmt.Sprintf("%s to %s UTC", msOfDay(per.startMs), msOfDay(per.endMs))
	case !per.start.IsZero():
		e.Period = "from " + per.start.Format(time.DateOnly)
	case len(m.periods) > 1:
		e.Period = "by default (no other period's constraint holds)"
	default:
		e.Period = "always"
	}
	for _, r := range per.rates {
		line := RateLine{Key: r.unit.PriceKey, Block: block(r.unit), USD: float64(r.base) / 1e6, Counted: r.unit.Metered()}
		for _, t := range r.tiers {
			line.Tiers = append(line.Tiers, TierLine{Above: t.Start, USD: float64(t.Price) / 1e6})
		}
		e.Rates = append(e.Rates, line)
	}
	sort.Slice(e.Rates, func(i, j int) bool { return rateOrder(e.Rates[i].Key) < rateOrder(e.Rates[j].Key) })
	for _, mu := range m.mults {
		e.Multipliers = append(e.Multipliers, fmt.Sprintf("%s = %s: × %s", mu.field, mu.equals, thousandths(mu.factor)))
	}
	if !per.metered && len(per.rates) > 0 {
		e.Source, e.Note = "", "billed only in units Conduit does not count"
	}
	return e
}

// rateOrder lists the usual rates first, in reading order, then the rest
// by key.
func rateOrder(key string) string {
	for i, k := range []string{"input_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok", "output_mtok", "output_reasoning_mtok"} {
		if k == key {
			return fmt.Sprintf("0%d", i)
		}
	}
	return "1" + key
}

func block(u *book.Unit) string {
	switch u.Per {
	case 1_000_000:
		if u.Dimensions["family"] == "tokens" {
			return "1M tokens"
		}
		return "1M " + u.Dimensions["family"]
	case 1000:
		return "1K " + strings.ReplaceAll(u.Dimensions["family"], "_", " ")
	case 3600:
		return "hour"
	}
	return fmt.Sprintf("%d %s", u.Per, u.Dimensions["family"])
}

func msOfDay(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("15:04:05")
}

func thousandths(f int64) string {
	s := fmt.Sprintf("%d.%03d", f/1000, f%1000)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}
