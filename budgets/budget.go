package budgets

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/valohai/conduit/ledger"
)

// Budget is one spending limit: LimitUSD per Period, for the calls in
// Scope.
type Budget struct {
	Name     string  // the [budgets.<name>] key
	LimitUSD float64 // more than zero
	Period   Period
	// WarnAt are the fractions of the limit that warn, each once per
	// period, ascending, each in (0, 1]. Reaching the limit itself always
	// alerts (as threshold 1), whether or not 1 is listed.
	WarnAt []float64
	// Enforce refuses the calls in scope that start once the spend has
	// reached the limit.
	Enforce bool
	Scope   Scope
	// Source says where the budget is configured ("conduit.toml:12"), for
	// the message that tells a refused client how to raise the limit; ""
	// leaves the place out.
	Source string
}

// Scope selects the calls a budget counts. Each field is a pattern (see
// the package doc for the syntax); "" matches any value. A call is in
// scope when every pattern given matches: Tag when any of the call's tags
// does.
type Scope struct {
	Provider string // the [providers.<key>] key, or a built-in name in forward mode
	Model    string
	Tag      string
	Project  string
	Client   string // User-Agent
}

// IsZero reports whether s selects every call.
func (s Scope) IsZero() bool { return s == Scope{} }

// compiled is a Scope ready to match.
type compiled struct {
	provider, model, tag, project, client *glob // nil: any
}

func compileScope(s Scope) (compiled, error) {
	var c compiled
	var errs []error
	for _, f := range []struct {
		key, pattern string
		dst          **glob
	}{
		{"provider", s.Provider, &c.provider}, {"model", s.Model, &c.model}, {"tag", s.Tag, &c.tag},
		{"project", s.Project, &c.project}, {"client", s.Client, &c.client},
	} {
		if f.pattern == "" {
			continue
		}
		g, err := compileGlob(f.pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", f.key, f.pattern, err))
			continue
		}
		*f.dst = g
	}
	return c, errors.Join(errs...)
}

// call is what a scope looks at in a call or a ledger slice.
type call struct {
	provider, model, client, project string
	tags                             []string
	tagsChecked                      bool // the ledger already selected the tag (a literal tag scope)
}

func recordCall(r *ledger.Record) call {
	return call{provider: r.Provider, model: r.Model, client: r.Client, project: r.Project, tags: r.Tags}
}

func (c *compiled) matches(x call) bool {
	one := func(g *glob, v string) bool { return g == nil || g.match(v) }
	if !one(c.provider, x.provider) || !one(c.model, x.model) || !one(c.client, x.client) || !one(c.project, x.project) {
		return false
	}
	if c.tag == nil || x.tagsChecked {
		return true
	}
	return slices.ContainsFunc(x.tags, c.tag.match)
}

// check validates a budget.
func (b *Budget) check() error {
	switch {
	case b.Name == "":
		return errors.New("a budget has no name")
	case !(b.LimitUSD > 0) || math.IsInf(b.LimitUSD, 0):
		return fmt.Errorf("budget %q: limit_usd %v must be more than zero", b.Name, b.LimitUSD)
	}
	if _, err := ParsePeriod(string(b.Period)); err != nil {
		return fmt.Errorf("budget %q: %w", b.Name, err)
	}
	for i, f := range b.WarnAt {
		if !(f > 0 && f <= 1) {
			return fmt.Errorf("budget %q: warn_at %v is not a fraction in (0, 1]", b.Name, f)
		}
		if i > 0 && f <= b.WarnAt[i-1] {
			return fmt.Errorf("budget %q: warn_at must ascend without repeats", b.Name)
		}
	}
	return nil
}

// thresholds are the fractions that alert: WarnAt, then the limit.
func (b *Budget) thresholds() []float64 {
	th := slices.Clone(b.WarnAt)
	if len(th) == 0 || th[len(th)-1] != 1 {
		th = append(th, 1)
	}
	return th
}
