package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valohai/conduit/ledger"
)

// detailLabelWidth aligns the detail view's values.
const detailLabelWidth = 15

// detailLines renders every recorded field of a call, its x-vh-* headers,
// tags and the provider's usage object, as lines of styled spans. now only
// feeds the "ago" after the start time.
func detailLines(r *ledger.Row, now time.Time, loc *time.Location) []line {
	var out []line
	field := func(label string, value string, rl role) {
		if value == "" {
			value, rl = "-", roleMuted
		}
		out = append(out, line{{pad(label, detailLabelWidth, false), roleLabel}, {Printable(value), rl}})
	}
	blank := func() { out = append(out, nil) }
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("2006-01-02 15:04:05.000 MST")
	}

	field("Call", fmt.Sprintf("%s  (#%s)", r.ID, groupDigits(r.Seq)), roleText)
	started := stamp(r.StartedAt)
	if !now.IsZero() {
		started += "  (" + ago(now, r.StartedAt) + ")"
	}
	field("Started", started, roleText)
	field("Finished", stamp(r.FinishedAt), roleText)
	field("Provider", r.Provider, roleText)
	field("API", strings.TrimSpace(r.API+" "+r.Endpoint), roleText)
	mode := r.Mode
	switch r.Mode {
	case ledger.ModeBaseURL:
		mode = "base URL"
	case ledger.ModeForward:
		mode = "forward proxy (HTTPS_PROXY)"
	}
	field("Mode", mode, roleText)
	field("Request", strings.TrimSpace(r.Method+" "+r.Host+r.Path), roleText)
	field("Model", r.Model, roleText)
	field("Stream", yesNo(r.Stream), roleText)
	status := strings.TrimSpace(statusCode(r.Status) + "  " + r.Outcome)
	field("Status", status, outcomeRole(r.Outcome))
	if r.Error != "" {
		field("Error", r.Error, roleError)
	}
	blank()
	if r.HasUsage {
		field("Input tokens", groupDigits(r.InputTokens), roleText)
		field("  cache reads", groupDigits(r.CachedInputTokens), roleText)
		cw := groupDigits(r.CacheWriteTokens)
		if r.CacheWrite5mTokens != 0 || r.CacheWrite1hTokens != 0 {
			cw += fmt.Sprintf("  (5m %s, 1h %s)", groupDigits(r.CacheWrite5mTokens), groupDigits(r.CacheWrite1hTokens))
		}
		field("  cache writes", cw, roleText)
		field("Output tokens", groupDigits(r.OutputTokens), roleText)
		field("  reasoning", groupDigits(r.ReasoningTokens), roleText)
	} else {
		field("Tokens", "unknown: the call carried no usage", roleMuted)
	}
	switch {
	case r.CostUSD != nil:
		field("Cost", fmt.Sprintf("$%.6f  (%s)", *r.CostUSD, costSourceName(r.CostSource)), roleText)
	case r.HasUsage:
		field("Cost", "unpriced: no price is known for this model (add [pricing] in conduit.toml)", roleUnpriced)
	default:
		field("Cost", "", roleText)
	}
	if r.ProviderCostUSD != nil {
		field("Provider cost", fmt.Sprintf("$%.6f  (as the provider reported it)", *r.ProviderCostUSD), roleText)
	}
	blank()
	first := ""
	if r.TTFB > 0 || (r.TTFB == 0 && r.Status != 0) {
		first = ttfb(r.TTFB)
	}
	field("TTFB", first, roleText)
	field("Duration", duration(r.Duration), roleText)
	field("Request ID", r.RequestID, roleText)
	field("Response ID", r.ResponseID, roleText)
	field("Client", r.Client, roleText)
	field("Tags", strings.Join(r.Tags, ", "), roleText)
	field("Project", r.Project, roleText)
	field("Session", r.Session, roleText)
	if r.Kind == ledger.KindOther {
		field("Kind", "not an LLM call (not counted in totals)", roleMuted)
	}
	switch {
	case r.SyncedAt != nil:
		field("Valohai sync", "sent "+stamp(*r.SyncedAt), roleText)
	case ledger.SyncEligible(&r.Record):
		field("Valohai sync", "not sent yet", roleWarn)
	default:
		field("Valohai sync", "not eligible (needs usage and an x-vh-* header)", roleMuted)
	}
	blank()
	out = append(out, line{{"Valohai headers (x-vh-*)", roleLabel}})
	if len(r.VHHeaders) == 0 {
		out = append(out, line{{"  none", roleMuted}})
	}
	names := make([]string, 0, len(r.VHHeaders))
	for k := range r.VHHeaders {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		out = append(out, line{{"  " + Printable(k) + ": ", roleLabel}, {Printable(r.VHHeaders[k]), roleText}})
	}
	blank()
	out = append(out, line{{"Usage (as the provider sent it)", roleLabel}})
	if len(r.UsageRaw) == 0 {
		out = append(out, line{{"  none", roleMuted}})
	} else {
		out = append(out, jsonLines(r.UsageRaw, "  ")...)
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func statusCode(s int) string {
	if s == 0 {
		return "no response"
	}
	return fmt.Sprint(s)
}

func costSourceName(s string) string {
	switch s {
	case ledger.CostFromTable:
		return "built-in price table"
	case ledger.CostFromOverride:
		return "[pricing] in conduit.toml"
	case ledger.CostFromFile:
		return "pricing file"
	case ledger.CostFromProvider:
		return "reported by the provider"
	}
	return s
}

// outcomeRole is how a call's outcome is shown: failures in the error
// style, incomplete and cancelled calls in the warning style.
func outcomeRole(outcome string) role {
	switch outcome {
	case ledger.OutcomeUpstreamError:
		return roleError
	case ledger.OutcomeIncomplete, ledger.OutcomeClientCancelled:
		return roleWarn
	}
	return roleText
}
