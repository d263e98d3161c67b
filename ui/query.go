package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/valohai/conduit/ledger"
)

// Window is the time span the dashboard shows: its calls, header totals,
// spend chart and groups.
type Window int

// Windows. The zero Window is the last 24 hours.
const (
	WindowDay   Window = iota // the last 24 hours
	WindowHour                // the last 60 minutes
	WindowToday               // since local midnight
	WindowWeek                // the last 7 days
	WindowAll                 // everything in the ledger
	WindowMonth               // the last 30 days
	windowDate                // one local day, chosen from the grouped view
)

// windowCycle is the order `w` steps through the windows.
var windowCycle = []Window{WindowHour, WindowToday, WindowDay, WindowWeek, WindowMonth, WindowAll}

// nextWindow is the window after w in the cycle (before it, for back).
func nextWindow(w Window, back bool) Window {
	i := slices.Index(windowCycle, w)
	if i < 0 { // one day: back to the default
		return WindowDay
	}
	d := 1
	if back {
		d = len(windowCycle) - 1
	}
	return windowCycle[(i+d)%len(windowCycle)]
}

// ParseWindow parses a --window value: 1h, today, 24h, 7d, 30d or all
// ("" is 24h).
func ParseWindow(s string) (Window, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1h", "hour":
		return WindowHour, nil
	case "today":
		return WindowToday, nil
	case "24h", "day", "":
		return WindowDay, nil
	case "7d", "week":
		return WindowWeek, nil
	case "30d", "month":
		return WindowMonth, nil
	case "all":
		return WindowAll, nil
	}
	return 0, fmt.Errorf("unknown window %q: want 1h, today, 24h, 7d, 30d or all", s)
}

// String is the window's name as --window takes it.
func (w Window) String() string {
	switch w {
	case WindowHour:
		return "1h"
	case WindowToday:
		return "today"
	case WindowDay:
		return "24h"
	case WindowWeek:
		return "7d"
	case WindowMonth:
		return "30d"
	case WindowAll:
		return "all"
	}
	return "day"
}

// query is what the dashboard asks of the ledger: which calls (filter and
// window), in which order, and whether grouped.
type query struct {
	filter ledger.Filter // Since and Until unused: the window sets them
	window Window
	date   time.Time // windowDate: local midnight of the day
	order  ledger.Order
	group  ledger.GroupBy // "": the list of calls
}

// bounds returns the window's [since, until) at now in loc; zero times are
// open ends.
func (q query) bounds(now time.Time, loc *time.Location) (since, until time.Time) {
	switch q.window {
	case WindowHour:
		return now.Add(-time.Hour), time.Time{}
	case WindowToday:
		y, m, d := now.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Time{}
	case WindowDay:
		return now.Add(-24 * time.Hour), time.Time{}
	case WindowWeek:
		return now.Add(-7 * 24 * time.Hour), time.Time{}
	case WindowMonth:
		return now.Add(-30 * 24 * time.Hour), time.Time{}
	case windowDate:
		y, m, d := q.date.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return time.Time{}, time.Time{}
}

// ledgerFilter is the query's filter with the window applied at now.
func (q query) ledgerFilter(now time.Time, loc *time.Location) ledger.Filter {
	f := q.filter
	f.Since, f.Until = q.bounds(now, loc)
	return f
}

// sliding reports whether the window moves with the clock, so that totals
// must be recomputed as time passes even when nothing is written.
func (q query) sliding() bool {
	return q.window == WindowHour || q.window == WindowDay || q.window == WindowWeek || q.window == WindowMonth
}

// live reports whether the window includes the present.
func (q query) live() bool { return q.window != windowDate }

// step is the width of the timeline buckets read for the window: fine
// enough that the chart can sum them into its own buckets of local time
// (minutes, hours, days, weeks or months). Over a long ledger the ledger
// widens the hours as it must to fit timelineMax; the chart's buckets are
// then weeks or months, which a few hours' offset does not blur.
func (q query) step() time.Duration {
	if q.window == WindowHour {
		return time.Minute
	}
	return time.Hour
}

// windowLabel names the window for the header.
func (q query) windowLabel(loc *time.Location) string {
	switch q.window {
	case WindowHour:
		return "last hour"
	case WindowToday:
		return "today"
	case WindowDay:
		return "last 24h"
	case WindowWeek:
		return "last 7d"
	case WindowMonth:
		return "last 30d"
	case WindowAll:
		return "all time"
	}
	return q.date.In(loc).Format("Mon 2006-01-02")
}

// filterKeys are the fields the filter prompt accepts, in the order they
// are written back.
var filterKeys = []string{"provider", "model", "client", "tag", "project", "session", "status"}

// outcomeNames maps the words `status:` accepts to outcomes.
var outcomeNames = map[string]string{
	"ok":               ledger.OutcomeComplete,
	"complete":         ledger.OutcomeComplete,
	"error":            ledger.OutcomeUpstreamError,
	"failed":           ledger.OutcomeUpstreamError,
	"upstream_error":   ledger.OutcomeUpstreamError,
	"incomplete":       ledger.OutcomeIncomplete,
	"cancelled":        ledger.OutcomeClientCancelled,
	"client_cancelled": ledger.OutcomeClientCancelled,
	"no_usage":         ledger.OutcomeNoUsage,
}

// statusWords are the status values the prompt completes.
var statusWords = []string{"ok", "error", "incomplete", "cancelled", "no_usage"}

// isGlob reports whether a filter value is a pattern rather than a value.
func isGlob(v string) bool { return strings.ContainsAny(v, "*?[") }

// parseFilter parses the filter prompt: space-separated key:value terms
// (provider, model, client, tag, project, session, status; p, m, c, t for
// short), values in double quotes when they hold spaces. A value with * ?
// or [ is a glob (model:gpt-4* , tag:team-?), else it must match exactly.
// A bare word (or "quoted phrase") searches: the calls with it in their
// provider, model, client, project, session or tags, ignoring case.
// status takes an HTTP status (429) or an outcome (ok, error, incomplete,
// cancelled, no_usage). An empty text clears the filter.
func parseFilter(text string) (ledger.Filter, error) {
	var f ledger.Filter
	terms, err := splitTerms(text)
	if err != nil {
		return f, err
	}
	for _, t := range terms {
		key, val, ok := strings.Cut(t, ":")
		if !ok {
			key, val, ok = strings.Cut(t, "=")
		}
		if !ok || strings.HasPrefix(t, `"`) {
			if f.Text != "" {
				return f, fmt.Errorf("search for one text at a time (quote a phrase: \"%s %s\")", f.Text, unquote(t))
			}
			f.Text = unquote(t)
			continue
		}
		val = unquote(val)
		if val == "" {
			return f, fmt.Errorf("%s: no value", key)
		}
		exact, glob := (*string)(nil), (*string)(nil)
		switch strings.ToLower(key) {
		case "provider", "p":
			exact, glob = &f.Provider, &f.Glob.Provider
		case "model", "m":
			exact, glob = &f.Model, &f.Glob.Model
		case "client", "c":
			exact, glob = &f.Client, &f.Glob.Client
		case "tag", "t":
			exact, glob = &f.Tag, &f.Glob.Tag
		case "project", "proj":
			exact, glob = &f.Project, &f.Glob.Project
		case "session", "sess":
			exact, glob = &f.Session, &f.Glob.Session
		case "status", "s", "outcome":
			if n, err := strconv.Atoi(val); err == nil && n >= 100 && n <= 599 {
				f.Status = n
			} else if o, ok := outcomeNames[strings.ToLower(val)]; ok {
				f.Outcome = o
			} else {
				return f, fmt.Errorf("status %q: want an HTTP status or one of %s", val, strings.Join(statusWords, ", "))
			}
			continue
		default:
			return f, fmt.Errorf("unknown field %q: want one of %s, or a bare word to search", key, strings.Join(filterKeys, ", "))
		}
		if isGlob(val) {
			*glob = val
		} else {
			*exact = val
		}
	}
	return f, nil
}

// formatFilter writes f back in the prompt's syntax ("" for no filter).
func formatFilter(f ledger.Filter) string {
	var terms []string
	add := func(k, v string) {
		if v != "" {
			terms = append(terms, k+":"+quoteTerm(v))
		}
	}
	for _, kv := range [][3]string{
		{"provider", f.Provider, f.Glob.Provider}, {"model", f.Model, f.Glob.Model}, {"client", f.Client, f.Glob.Client},
		{"tag", f.Tag, f.Glob.Tag}, {"project", f.Project, f.Glob.Project}, {"session", f.Session, f.Glob.Session},
	} {
		add(kv[0], kv[1])
		add(kv[0], kv[2])
	}
	if f.Status != 0 {
		add("status", strconv.Itoa(f.Status))
	}
	if f.Outcome != "" {
		word := f.Outcome
		for _, w := range statusWords {
			if outcomeNames[w] == f.Outcome {
				word = w
				break
			}
		}
		add("status", word)
	}
	if f.Text != "" {
		terms = append(terms, quoteTerm(f.Text))
	}
	return strings.Join(terms, " ")
}

// splitTerms splits on spaces outside double quotes.
func splitTerms(s string) ([]string, error) {
	var terms []string
	var cur strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
		case unicode.IsSpace(r) && !inQuote:
			if cur.Len() > 0 {
				terms = append(terms, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unclosed quote")
	}
	if cur.Len() > 0 {
		terms = append(terms, cur.String())
	}
	return terms, nil
}

// lastTermStart is the byte offset where the last term of text starts: after
// the last space outside double quotes.
func lastTermStart(text string) int {
	start, inQuote := 0, false
	for i, r := range text {
		switch {
		case r == '"':
			inQuote = !inQuote
		case unicode.IsSpace(r) && !inQuote:
			start = i + len(string(r))
		}
	}
	return start
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func quoteTerm(s string) string {
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return `"` + s + `"`
	}
	return s
}

// complete completes the last term of the prompt text from the known
// values of its field: the first value with the typed prefix, or, when the
// term already is a known value, the next one (so Tab cycles). It returns
// text unchanged when nothing fits.
func complete(text string, values map[string][]string) string {
	start := lastTermStart(text)
	term := text[start:]
	key, val, ok := strings.Cut(term, ":")
	if !ok {
		// Complete a field name.
		for _, k := range filterKeys {
			if strings.HasPrefix(k, strings.ToLower(term)) {
				return text[:start] + k + ":"
			}
		}
		return text
	}
	full := key
	for _, k := range filterKeys {
		if strings.HasPrefix(k, strings.ToLower(key)) && key != "" {
			full = k
			break
		}
	}
	cands := values[full]
	if full == "status" {
		cands = statusWords
	}
	val = unquote(val)
	if i := slices.Index(cands, val); i >= 0 && len(cands) > 0 {
		return text[:start] + key + ":" + quoteTerm(cands[(i+1)%len(cands)])
	}
	for _, c := range cands {
		if strings.HasPrefix(strings.ToLower(c), strings.ToLower(val)) {
			return text[:start] + key + ":" + quoteTerm(c)
		}
	}
	return text
}
