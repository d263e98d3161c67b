package book

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// The source's shapes: genai-prices' published feed, a JSON array of
// providers (https://github.com/pydantic/genai-prices/blob/main/prices/new_data/v2/data.schema.json).
// Every field the feed has is listed, so that an unknown one is an error;
// fields Conduit does not use (names, descriptions, extractors) are read
// and dropped.

type srcProvider struct {
	ID                     string            `json:"id"`
	Name                   string            `json:"name"`
	Description            string            `json:"description"`
	PricingURLs            []string          `json:"pricing_urls"`
	APIPattern             string            `json:"api_pattern"`
	PriceComments          string            `json:"price_comments"`
	ModelMatch             *Match            `json:"model_match"`
	ProviderMatch          *Match            `json:"provider_match"`
	Extractors             json.RawMessage   `json:"extractors"`
	FallbackModelProviders []string          `json:"fallback_model_providers"`
	Models                 []json.RawMessage `json:"models"`

	models []srcModel
}

type srcModel struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	Match         *Match          `json:"match"`
	ContextWindow *int64          `json:"context_window"`
	PriceComments string          `json:"price_comments"`
	Deprecated    bool            `json:"deprecated"`
	Prices        json.RawMessage `json:"prices"`

	periods []srcPeriod
}

// srcPeriod is one price set as in the source, rates in USD per block.
type srcPeriod struct {
	StartDate string
	StartTime string
	EndTime   string
	Prices    map[string]srcPrice
}

type srcPrice struct {
	Base  float64
	Tiers []srcTier
}

type srcTier struct {
	Start int64   `json:"start"`
	Price float64 `json:"price"`
}

func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// parseSource reads the feed, checking every field.
func parseSource(data []byte) ([]*srcProvider, error) {
	var raw []json.RawMessage
	if err := strict(data, &raw); err != nil {
		return nil, fmt.Errorf("source: want a JSON array of providers: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("source: no providers")
	}
	seen := map[string]bool{}
	out := make([]*srcProvider, 0, len(raw))
	for i, msg := range raw {
		p := new(srcProvider)
		if err := strict(msg, p); err != nil {
			return nil, fmt.Errorf("providers[%d]: %w", i, err)
		}
		path := fmt.Sprintf("providers[%d] (%s)", i, p.ID)
		switch {
		case p.ID == "":
			return nil, fmt.Errorf("%s: no id", path)
		case seen[p.ID]:
			return nil, fmt.Errorf("%s: duplicate id", path)
		case p.APIPattern == "":
			return nil, fmt.Errorf("%s.api_pattern: missing", path)
		case len(p.Models) == 0:
			return nil, fmt.Errorf("%s.models: none", path)
		}
		seen[p.ID] = true
		if _, err := regexp.Compile(p.APIPattern); err != nil {
			return nil, fmt.Errorf("%s.api_pattern: %w", path, err)
		}
		models := map[string]bool{}
		for j, mm := range p.Models {
			var m srcModel
			if err := strict(mm, &m); err != nil {
				return nil, fmt.Errorf("%s.models[%d]: %w", path, j, err)
			}
			mpath := fmt.Sprintf("%s.models[%d] (%s)", path, j, m.ID)
			switch {
			case m.ID == "":
				return nil, fmt.Errorf("%s: no id", mpath)
			case models[m.ID]:
				return nil, fmt.Errorf("%s: duplicate id", mpath)
			case m.Match == nil:
				return nil, fmt.Errorf("%s.match: missing", mpath)
			}
			models[m.ID] = true
			var err error
			if m.periods, err = parsePrices(m.Prices); err != nil {
				return nil, fmt.Errorf("%s.prices%w", mpath, err)
			}
			p.models = append(p.models, m)
		}
		p.Models = nil
		out = append(out, p)
	}
	for _, p := range out {
		for _, f := range p.FallbackModelProviders {
			if !seen[f] {
				return nil, fmt.Errorf("providers (%s).fallback_model_providers: unknown provider %q", p.ID, f)
			}
		}
	}
	return out, nil
}

// parsePrices reads a model's prices: one price set, or a list of them
// with constraints. Errors start with the path below "prices".
func parsePrices(data json.RawMessage) ([]srcPeriod, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf(": missing")
	}
	if data[0] != '[' {
		prices, err := parsePriceSet(data)
		if err != nil {
			return nil, err
		}
		return []srcPeriod{{Prices: prices}}, nil
	}
	var list []struct {
		Constraint json.RawMessage `json:"constraint"`
		Prices     json.RawMessage `json:"prices"`
	}
	if err := strict(data, &list); err != nil {
		return nil, fmt.Errorf(": %w", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf(": empty list")
	}
	out := make([]srcPeriod, len(list))
	for i, cp := range list {
		prices, err := parsePriceSet(cp.Prices)
		if err != nil {
			return nil, fmt.Errorf("[%d].prices%w", i, err)
		}
		out[i].Prices = prices
		if len(cp.Constraint) == 0 || string(cp.Constraint) == "null" {
			continue
		}
		var c struct {
			StartDate *string `json:"start_date"`
			StartTime *string `json:"start_time"`
			EndTime   *string `json:"end_time"`
		}
		if err := strict(cp.Constraint, &c); err != nil {
			return nil, fmt.Errorf("[%d].constraint: %w", i, err)
		}
		switch {
		case c.StartDate != nil && c.StartTime == nil && c.EndTime == nil:
			if t, err := time.Parse(time.DateOnly, *c.StartDate); err != nil || t.Format(time.DateOnly) != *c.StartDate {
				return nil, fmt.Errorf("[%d].constraint.start_date: %q is not a date (YYYY-MM-DD)", i, *c.StartDate)
			}
			out[i].StartDate = *c.StartDate
		case c.StartDate == nil && c.StartTime != nil && c.EndTime != nil:
			for _, v := range []string{*c.StartTime, *c.EndTime} {
				if _, err := ParseTimeOfDay(v); err != nil {
					return nil, fmt.Errorf("[%d].constraint: %w", i, err)
				}
			}
			out[i].StartTime, out[i].EndTime = *c.StartTime, *c.EndTime
		default:
			return nil, fmt.Errorf("[%d].constraint: want start_date, or start_time and end_time", i)
		}
	}
	return out, nil
}

// parsePriceSet reads {price_key: number | {base, tiers}}.
func parsePriceSet(data json.RawMessage) (map[string]srcPrice, error) {
	var raw map[string]json.RawMessage
	if err := strict(data, &raw); err != nil {
		return nil, fmt.Errorf(": want an object of prices: %w", err)
	}
	out := make(map[string]srcPrice, len(raw))
	for key, v := range raw {
		if UnitForPriceKey(key) == nil {
			return nil, fmt.Errorf(".%s: unknown price key", key)
		}
		v = bytes.TrimSpace(v)
		var p srcPrice
		if len(v) > 0 && v[0] == '{' {
			var t struct {
				Base  *float64  `json:"base"`
				Tiers []srcTier `json:"tiers"`
			}
			if err := strict(v, &t); err != nil {
				return nil, fmt.Errorf(".%s: %w", key, err)
			}
			if t.Base == nil || len(t.Tiers) == 0 {
				return nil, fmt.Errorf(".%s: a tiered price needs base and tiers", key)
			}
			p = srcPrice{Base: *t.Base, Tiers: t.Tiers}
		} else if err := json.Unmarshal(v, &p.Base); err != nil {
			return nil, fmt.Errorf(".%s: want a number or {base, tiers}", key)
		}
		out[key] = p
	}
	return out, nil
}

// timeOfDay is genai-prices' syntax for a time-of-day constraint
// (packages/js/src/timeOfDay.ts): HH:MM:SS, optional fraction, Z or ±HH:MM.
var timeOfDay = regexp.MustCompile(`^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$`)

// ParseTimeOfDay reads a time of day as genai-prices does and returns
// milliseconds since UTC midnight (fractions below a millisecond dropped).
func ParseTimeOfDay(s string) (int64, error) {
	m := timeOfDay.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM:SSZ)", s)
	}
	num := func(v string) int64 {
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	h, mi, sec := num(m[1]), num(m[2]), num(m[3])
	oh, om := num(m[7]), num(m[8])
	if h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59 {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM:SSZ)", s)
	}
	frac := (m[4] + "000")[:3]
	ms := (h*3600+mi*60+sec)*1000 + num(frac)
	offset := (oh*60 + om) * 60_000
	if m[6] == "-" {
		offset = -offset
	}
	const day = 86_400_000
	return ((ms-offset)%day + day) % day, nil
}
