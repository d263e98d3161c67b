package config

import (
	"net/url"
	"path"
	"regexp"
	"slices"
	"time"

	"github.com/BurntSushi/toml"
)

// budgetNamePattern keeps a budget's name a bare TOML key, printable as is
// in tables, logs and shell prompts.
var budgetNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// budgets checks the [budgets.<name>] tables; keys (the file's keys, in
// order) gives them their file order.
func (v *validator) budgets(raw map[string]fileBudget, keys []toml.Key) []Budget {
	var out []Budget
	for _, name := range tableNames(keys, "budgets") {
		b := raw[name]
		key := func(k ...string) []string { return append([]string{"budgets", name}, k...) }
		if !budgetNamePattern.MatchString(name) {
			v.fail(key(), "a budget name may use only A-Z, a-z, 0-9, _ and - (it names the budget in tables, logs and alerts)")
		}
		out = append(out, v.budget(name, b, key))
	}
	return out
}

func (v *validator) budget(name string, b fileBudget, key func(...string) []string) Budget {
	out := Budget{Name: name, WarnAt: slices.Clone(DefaultWarnAt)}
	switch {
	case b.LimitUSD == nil:
		v.fail(key(), `missing "limit_usd", the most to spend per period in USD, e.g. limit_usd = 10.0`)
	case *b.LimitUSD == 0:
		v.fail(key("limit_usd"), "must be more than zero")
	default:
		out.LimitUSD = float64(*b.LimitUSD)
	}
	if b.Period == nil {
		v.fail(key(), `missing "period": "day", "week" or "month" (calendar periods in [budget_settings] timezone)`)
	} else {
		out.Period = string(*b.Period)
		if !slices.Contains(BudgetPeriods, out.Period) {
			v.fail(key("period"), `unknown period %q (use "day", "week" or "month")`, out.Period)
		}
	}
	if b.WarnAt != nil {
		out.WarnAt = slices.Clone([]float64(*b.WarnAt))
		slices.Sort(out.WarnAt)
		out.WarnAt = slices.Compact(out.WarnAt)
	}
	if b.Enforce != nil {
		out.Enforce = bool(*b.Enforce)
	}
	for _, s := range []struct {
		k   string
		raw *tString
		dst *string
	}{
		{"provider", b.Provider, &out.Provider}, {"model", b.Model, &out.Model}, {"tag", b.Tag, &out.Tag},
		{"project", b.Project, &out.Project}, {"client", b.Client, &out.Client},
	} {
		if s.raw == nil {
			continue
		}
		*s.dst = string(*s.raw)
		if *s.dst == "" {
			v.fail(key(s.k), "must not be empty (leave the key out to match anything)")
		} else if _, err := path.Match(*s.dst, ""); err != nil {
			v.fail(key(s.k), `%q is not a valid pattern: * matches any run of characters, ? any one, [a-z] one of a set; \ escapes them`, *s.dst)
		}
	}
	return out
}

// budgetSettings checks the [budget_settings] table.
func (v *validator) budgetSettings(raw fileBudgetSettings) BudgetSettings {
	out := BudgetSettings{Location: time.Local}
	if raw.Timezone == nil {
		return out
	}
	out.Timezone = string(*raw.Timezone)
	if out.Timezone == "" {
		v.fail([]string{"budget_settings", "timezone"}, `must not be empty (leave it out for the system's local time zone)`)
		return out
	}
	loc, err := time.LoadLocation(out.Timezone)
	if err != nil {
		v.fail([]string{"budget_settings", "timezone"}, `unknown time zone %q (an IANA name such as "Europe/Helsinki", "America/New_York" or "UTC"; on a system without a zone database, install tzdata or point ZONEINFO at a zoneinfo.zip)`, out.Timezone)
		return out
	}
	out.Location = loc
	return out
}

// alerts checks the [alerts] table. The webhook URL is a secret (a chat
// hook's URL is its own credential), so no error repeats it.
func (v *validator) alerts(raw fileAlerts) Alerts {
	var out Alerts
	if raw.Desktop != nil {
		out.Desktop = bool(*raw.Desktop)
	}
	if raw.Webhook != nil {
		out.Webhook = string(*raw.Webhook)
		u, err := url.Parse(out.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail([]string{"alerts", "webhook"}, "is not an absolute http(s) URL (such as https://hooks.example.com/…)")
		}
	}
	return out
}

// redactURL shows a URL as scheme://host, with "/…" when it had more.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(a URL)"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		out += "/…"
	}
	return out
}

// tableNames returns the names of the [<table>.<name>] tables in the order
// they first appear, whether as a [header], through a dotted key or in an
// inline table.
func tableNames(keys []toml.Key, table string) []string {
	var out []string
	for _, k := range keys {
		if len(k) >= 2 && k[0] == table && !slices.Contains(out, k[1]) {
			out = append(out, k[1])
		}
	}
	return out
}
