package book

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
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

// staleError is a correction that no longer applies to the source.
type staleError struct{ msg string }

func (e *staleError) Error() string { return e.msg + ": the correction no longer applies" }

func stalef(format string, args ...any) error { return &staleError{fmt.Sprintf(format, args...)} }

// apply changes providers in place and returns the ids of the entries it
// skipped as stale (skipStale), or fails on the first entry that does not
// apply.
func (o *Overlay) apply(providers []*srcProvider, skipStale bool) ([]string, error) {
	byID := map[string]*srcProvider{}
	for _, p := range providers {
		byID[p.ID] = p
	}
	var stale []string
	done := func(id string, err error) error {
		var se *staleError
		if err != nil && skipStale && errors.As(err, &se) {
			stale = append(stale, id)
			return nil
		}
		return err
	}
	ids := map[string]bool{}
	for i, c := range o.Corrections {
		if err := checkEvidence("corrections", i, c.ID, c.URL, c.Reason); err != nil {
			return nil, err
		}
		if ids[c.ID] {
			return nil, fmt.Errorf("overlay corrections[%d]: duplicate id %q", i, c.ID)
		}
		ids[c.ID] = true
		if err := done(c.ID, c.apply(byID, skipStale)); err != nil {
			return nil, err
		}
	}
	for i, mo := range o.Multipliers {
		if err := checkEvidence("multipliers", i, mo.ID, mo.URL, mo.Reason); err != nil {
			return nil, err
		}
		if ids[mo.ID] {
			return nil, fmt.Errorf("overlay multipliers[%d]: duplicate id %q", i, mo.ID)
		}
		ids[mo.ID] = true
		what := fmt.Sprintf("overlay multiplier %s", mo.ID)
		if mo.Field == "" || mo.Equals == "" {
			return nil, fmt.Errorf("%s: needs field and equals", what)
		}
		if f := mo.Factor * 1000; f <= 0 || f > 1e6 || math.Abs(f-math.Round(f)) > 1e-9 {
			return nil, fmt.Errorf("%s: factor %v: want a positive number with at most 3 decimals", what, mo.Factor)
		}
		_, err := findModels(byID, mo.Provider, mo.Models, what)
		if err := done(mo.ID, err); err != nil {
			return nil, err
		}
	}
	return stale, nil
}

// skipped reports whether the multiplier was left out as stale.
func (mo MultiplierOverlay) skipped(stale []string) bool { return slices.Contains(stale, mo.ID) }

// apply makes one correction, checking first that all of it applies; with
// partial, a tier_start applies to those of its models that still need it
// and is stale only if none does.
func (c Correction) apply(byID map[string]*srcProvider, partial bool) error {
	what := fmt.Sprintf("overlay correction %s", c.ID)
	if c.AddModel != nil {
		if c.TierStart != nil || len(c.Models) > 0 {
			return fmt.Errorf("%s: add_model takes no models and no other operation", what)
		}
		return addModel(byID[c.Provider], c.AddModel, what)
	}
	if c.TierStart == nil {
		return fmt.Errorf("%s: no operation (want tier_start or add_model)", what)
	}
	from, to := c.TierStart.From, c.TierStart.To
	if from == to || to < 0 {
		return fmt.Errorf("%s: tier_start from %d to %d changes nothing", what, from, to)
	}
	var models []*srcModel
	for _, id := range c.Models {
		found, err := findModels(byID, c.Provider, []string{id}, what)
		var se *staleError
		if partial && errors.As(err, &se) {
			continue
		}
		if err != nil {
			return err
		}
		models = append(models, found...)
	}
	if len(models) == 0 && len(c.Models) > 0 {
		return stalef("%s: %s has none of its models", what, c.Provider)
	}
	if len(c.Models) == 0 {
		return fmt.Errorf("%s: no models", what)
	}
	var tiers []*srcTier
	applied := 0
	for _, m := range models {
		n := len(tiers)
		for _, per := range m.periods {
			for _, pr := range per.Prices {
				for k := range pr.Tiers {
					if pr.Tiers[k].Start == from {
						tiers = append(tiers, &pr.Tiers[k])
					}
				}
			}
		}
		if len(tiers) > n {
			applied++
		} else if !partial {
			return stalef("%s: %s/%s has no tier starting at %d", what, c.Provider, m.ID, from)
		}
	}
	if applied == 0 {
		return stalef("%s: none of its models has a tier starting at %d", what, from)
	}
	for _, t := range tiers {
		t.Start = to
	}
	return nil
}

// addModel appends a model to p, refusing one the list already has or
// already prices under one of its names.
func addModel(p *srcProvider, raw json.RawMessage, what string) error {
	if p == nil {
		return stalef("%s: unknown provider", what)
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
				return stalef("%s: %s/%s already prices %q", what, p.ID, old.ID, name)
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
		return nil, stalef("%s: unknown provider %q", what, provider)
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
			return nil, stalef("%s: %s has no model %q", what, provider, id)
		}
		out = append(out, found)
	}
	return out, nil
}

func (mo MultiplierOverlay) compiled() Multiplier {
	return Multiplier{Provider: mo.Provider, Models: mo.Models, Field: mo.Field, Equals: mo.Equals,
		Factor: int64(math.Round(mo.Factor * 1000))}
}
