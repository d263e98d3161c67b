package book

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Overlay is Conduit's reviewed list of corrections to the source, and the
// price multipliers the source's schema cannot express. Every entry names
// the provider page that justifies it and why; each is checked to still
// apply, so that a correction the source has since made itself fails the
// build and is removed rather than silently doing nothing.
type Overlay struct {
	About       string              `json:"about"`
	Corrections []Correction        `json:"corrections"`
	Multipliers []MultiplierOverlay `json:"multipliers"`
}

// Correction is one change to the source data. Exactly one operation is
// set.
type Correction struct {
	ID       string   `json:"id"`
	Provider string   `json:"provider"`
	Models   []string `json:"models"`
	URL      string   `json:"url"`
	Reason   string   `json:"reason"`

	// TierStart moves every tier threshold equal to From to To in the
	// models' prices (all periods, all keys).
	TierStart *struct {
		From int64 `json:"from"`
		To   int64 `json:"to"`
	} `json:"tier_start"`
	// AddModel adds a model the provider's list lacks, in the source's
	// shape; Models must be empty.
	AddModel json.RawMessage `json:"add_model"`
}

// MultiplierOverlay scales the cost of the listed models when the call's
// raw usage has Field equal to Equals.
type MultiplierOverlay struct {
	ID       string   `json:"id"`
	Provider string   `json:"provider"`
	Models   []string `json:"models"`
	Field    string   `json:"field"`
	Equals   string   `json:"equals"`
	Factor   float64  `json:"factor"`
	URL      string   `json:"url"`
	Reason   string   `json:"reason"`
}

// ParseOverlay reads an overlay file strictly.
func ParseOverlay(data []byte) (*Overlay, error) {
	var o Overlay
	if err := strict(data, &o); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	return &o, nil
}

func checkEvidence(kind string, i int, id, url, reason string) error {
	switch {
	case id == "":
		return fmt.Errorf("overlay %s[%d]: no id", kind, i)
	case !strings.HasPrefix(url, "https://"):
		return fmt.Errorf("overlay %s[%d] (%s): url must be the https:// page that justifies it", kind, i, id)
	case strings.TrimSpace(reason) == "":
		return fmt.Errorf("overlay %s[%d] (%s): no reason", kind, i, id)
	}
	return nil
}

// apply changes providers in place.
func (o *Overlay) apply(providers []*srcProvider) error {
	byID := map[string]*srcProvider{}
	for _, p := range providers {
		byID[p.ID] = p
	}
	ids := map[string]bool{}
	for i, c := range o.Corrections {
		if err := checkEvidence("corrections", i, c.ID, c.URL, c.Reason); err != nil {
			return err
		}
		if ids[c.ID] {
			return fmt.Errorf("overlay corrections[%d]: duplicate id %q", i, c.ID)
		}
		ids[c.ID] = true
		what := fmt.Sprintf("overlay correction %s", c.ID)
		if c.AddModel != nil {
			if c.TierStart != nil || len(c.Models) > 0 {
				return fmt.Errorf("%s: add_model takes no models and no other operation", what)
			}
			if err := addModel(byID[c.Provider], c.AddModel, what); err != nil {
				return err
			}
			continue
		}
		models, err := findModels(byID, c.Provider, c.Models, what)
		if err != nil {
			return err
		}
		switch {
		case c.TierStart != nil:
			from, to := c.TierStart.From, c.TierStart.To
			if from == to || to < 0 {
				return fmt.Errorf("%s: tier_start from %d to %d changes nothing", what, from, to)
			}
			for _, m := range models {
				n := 0
				for _, per := range m.periods {
					for _, pr := range per.Prices {
						for k := range pr.Tiers {
							if pr.Tiers[k].Start == from {
								pr.Tiers[k].Start = to
								n++
							}
						}
					}
				}
				if n == 0 {
					return fmt.Errorf("%s: %s/%s has no tier starting at %d: the correction no longer applies", what, c.Provider, m.ID, from)
				}
			}
		default:
			return fmt.Errorf("%s: no operation (want tier_start or add_model)", what)
		}
	}
	for i, mo := range o.Multipliers {
		if err := checkEvidence("multipliers", i, mo.ID, mo.URL, mo.Reason); err != nil {
			return err
		}
		if ids[mo.ID] {
			return fmt.Errorf("overlay multipliers[%d]: duplicate id %q", i, mo.ID)
		}
		ids[mo.ID] = true
		what := fmt.Sprintf("overlay multiplier %s", mo.ID)
		if _, err := findModels(byID, mo.Provider, mo.Models, what); err != nil {
			return err
		}
		if mo.Field == "" || mo.Equals == "" {
			return fmt.Errorf("%s: needs field and equals", what)
		}
		if f := mo.Factor * 1000; f <= 0 || f > 1e6 || math.Abs(f-math.Round(f)) > 1e-9 {
			return fmt.Errorf("%s: factor %v: want a positive number with at most 3 decimals", what, mo.Factor)
		}
	}
	return nil
}

// addModel appends a model to p, refusing one the list already has or
// already prices under one of its names.
func addModel(p *srcProvider, raw json.RawMessage, what string) error {
	if p == nil {
		return fmt.Errorf("%s: unknown provider", what)
	}
	var m srcModel
	if err := strict(raw, &m); err != nil {
		return fmt.Errorf("%s.add_model: %w", what, err)
	}
	if m.ID == "" || m.Match == nil {
		return fmt.Errorf("%s.add_model: needs id and match", what)
	}
	var err error
	if m.periods, err = parsePrices(m.Prices); err != nil {
		return fmt.Errorf("%s.add_model.prices%w", what, err)
	}
	for _, name := range equalsNames(*m.Match) {
		for _, old := range p.models {
			if old.ID == m.ID || old.Match.matchesPlain(name) {
				return fmt.Errorf("%s: %s/%s already prices %q: the correction no longer applies", what, p.ID, old.ID, name)
			}
		}
	}
	p.models = append(p.models, m)
	return nil
}

// equalsNames lists the names a rule names outright.
func equalsNames(m Match) []string {
	switch {
	case m.Equals != nil:
		return []string{*m.Equals}
	case m.Or != nil:
		var out []string
		for _, s := range m.Or {
			out = append(out, equalsNames(s)...)
		}
		return out
	}
	return nil
}

func findModels(byID map[string]*srcProvider, provider string, ids []string, what string) ([]*srcModel, error) {
	p := byID[provider]
	if p == nil {
		return nil, fmt.Errorf("%s: unknown provider %q", what, provider)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no models", what)
	}
	var out []*srcModel
	for _, id := range ids {
		var found *srcModel
		for i := range p.models {
			if p.models[i].ID == id {
				found = &p.models[i]
			}
		}
		if found == nil {
			return nil, fmt.Errorf("%s: %s has no model %q", what, provider, id)
		}
		out = append(out, found)
	}
	return out, nil
}

func (mo MultiplierOverlay) compiled() Multiplier {
	return Multiplier{Provider: mo.Provider, Models: mo.Models, Field: mo.Field, Equals: mo.Equals,
		Factor: int64(math.Round(mo.Factor * 1000))}
}
