// Package book compiles Pydantic's genai-prices data (the published v2 feed,
// https://github.com/pydantic/genai-prices, MIT) and Conduit's reviewed
// overlay of corrections into the price book Conduit embeds, and reads that
// book back.
//
// Compiling is strict: a field, price key, match operator, constraint or
// regular expression the compiler does not understand is an error naming
// its path in the source, so that a change in the upstream schema fails the
// build instead of silently mispricing calls. Rates are converted once, to
// integer micro-dollars per the unit's block (per million tokens, per
// thousand requests), so the runtime does exact integer arithmetic.
package book

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Format is the version of the compiled book's JSON shape.
const Format = 1

// Book is the compiled price book.
type Book struct {
	Format int `json:"format"`
	// Version names the data and the overlay, as recorded with each call
	// priced from the book ("genai-prices 0.1.8 + overlay 1a2b3c4d5e6f").
	Version string      `json:"version"`
	Source  Source      `json:"source"`
	Overlay OverlayInfo `json:"overlay"`
	// Rounded lists the rates that are not a whole number of micro-dollars
	// per block and were rounded to the nearest one.
	Rounded []Rounded `json:"rounded,omitempty"`
	// Stale lists the overlay corrections left out because the data no
	// longer needs them (Options.SkipStale).
	Stale       []string     `json:"stale,omitempty"`
	Multipliers []Multiplier `json:"multipliers,omitempty"`
	Providers   []Provider   `json:"providers"`
}

// Source describes the pinned source data.
type Source struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Date    string `json:"date"` // published, YYYY-MM-DD
	License string `json:"license"`
	URL     string `json:"url"`
	SHA256  string `json:"sha256"` // of the source data file as committed
}

// OverlayInfo describes the overlay applied.
type OverlayInfo struct {
	SHA256      string `json:"sha256"`
	Corrections int    `json:"corrections"`
}

// Rounded is one rate rounded to whole micro-dollars.
type Rounded struct {
	Provider string  `json:"provider"`
	Model    string  `json:"model"`
	Key      string  `json:"key"`
	From     float64 `json:"from"`
	To       int64   `json:"to"`
}

// Multiplier scales the cost of a provider's models when the call's raw
// usage object has Field equal to Equals (Anthropic's inference_geo "us").
// Factor is in thousandths (1100 = 1.1×).
type Multiplier struct {
	Provider string   `json:"provider"`
	Models   []string `json:"models"`
	Field    string   `json:"field"`
	Equals   string   `json:"equals"`
	Factor   int64    `json:"factor_thousandths"`
}

// Provider is one provider's price list.
type Provider struct {
	ID         string `json:"id"`
	APIPattern string `json:"api_pattern"`
	// ProviderMatch finds the provider from a provider name, ModelMatch
	// from a model name when no provider is known.
	ProviderMatch *Match `json:"provider_match,omitempty"`
	ModelMatch    *Match `json:"model_match,omitempty"`
	// Fallback lists providers whose models this one also serves at the
	// same prices (Azure serves OpenAI's), searched in order.
	Fallback []string `json:"fallback,omitempty"`
	Models   []Model  `json:"models"`
}

// Model is one priced model: the names it answers to and its prices over
// time.
type Model struct {
	ID    string `json:"id"`
	Match Match  `json:"match"`
	// Periods are in the source's order; the last one whose constraint a
	// call satisfies prices it, else the first.
	Periods []Period `json:"periods"`
}

// Period is one set of prices and the constraint under which it applies:
// a start date (UTC, YYYY-MM-DD), a UTC time-of-day window
// (HH:MM:SSZ, end exclusive, may wrap midnight), or none.
type Period struct {
	StartDate string           `json:"start_date,omitempty"`
	StartTime string           `json:"start_time,omitempty"`
	EndTime   string           `json:"end_time,omitempty"`
	Prices    map[string]Price `json:"prices"`
}

// Price is a rate in integer micro-dollars per the unit's block, with
// optional tiers: a call whose input tokens exceed a tier's Start pays
// that tier's price for all its tokens of the unit.
type Price struct {
	Base  int64
	Tiers []Tier
}

// Tier is one threshold of a tiered price.
type Tier struct {
	Start int64 `json:"start"`
	Price int64 `json:"price"`
}

// MarshalJSON writes a flat price as a number and a tiered one as
// {"base":…,"tiers":[…]}, the source's shapes.
func (p Price) MarshalJSON() ([]byte, error) {
	if len(p.Tiers) == 0 {
		return []byte(strconv.FormatInt(p.Base, 10)), nil
	}
	return json.Marshal(struct {
		Base  int64  `json:"base"`
		Tiers []Tier `json:"tiers"`
	}{p.Base, p.Tiers})
}

// UnmarshalJSON reads either shape MarshalJSON writes.
func (p *Price) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] != '{' {
		v, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("price %s: want an integer", b)
		}
		*p = Price{Base: v}
		return nil
	}
	var t struct {
		Base  int64  `json:"base"`
		Tiers []Tier `json:"tiers"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return fmt.Errorf("tiered price: %w", err)
	}
	*p = Price{Base: t.Base, Tiers: t.Tiers}
	return nil
}

// Encode writes b as compact JSON with a final newline. The output is
// deterministic: the committed book can be compared byte for byte with a
// fresh compilation.
func Encode(b *Book) ([]byte, error) {
	out, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Decode reads a compiled book and checks its format version and its
// match rules.
func Decode(data []byte) (*Book, error) {
	var b Book
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("price book: %w", err)
	}
	if b.Format != Format {
		return nil, fmt.Errorf("price book: format %d, want %d", b.Format, Format)
	}
	return &b, nil
}
