package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

func TestParseFilter(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    ledger.Filter
		wantErr string
	}{
		{"", ledger.Filter{}, ""},
		{"provider:openai model:gpt-4.1", ledger.Filter{Provider: "openai", Model: "gpt-4.1"}, ""},
		{"p=anthropic t:eval", ledger.Filter{Provider: "anthropic", Tag: "eval"}, ""},
		{`client:"OpenAI/Python 1.99.0"`, ledger.Filter{Client: "OpenAI/Python 1.99.0"}, ""},
		{"gpt-4.1-mini", ledger.Filter{Text: "gpt-4.1-mini"}, ""},
		{`"sonnet 4"`, ledger.Filter{Text: "sonnet 4"}, ""},
		{"model:gpt-4* p:open?i", ledger.Filter{Glob: ledger.Globs{Model: "gpt-4*", Provider: "open?i"}}, ""},
		{"project:web session:s[12] tag:team-*", ledger.Filter{Project: "web", Glob: ledger.Globs{Session: "s[12]", Tag: "team-*"}}, ""},
		{"model:gpt-4.1 model:*mini web", ledger.Filter{Model: "gpt-4.1", Glob: ledger.Globs{Model: "*mini"}, Text: "web"}, ""},
		{"one two", ledger.Filter{}, "one text at a time"},
		{"status:429", ledger.Filter{Status: 429}, ""},
		{"status:error", ledger.Filter{Outcome: ledger.OutcomeUpstreamError}, ""},
		{"s:ok", ledger.Filter{Outcome: ledger.OutcomeComplete}, ""},
		{"status:incomplete", ledger.Filter{Outcome: ledger.OutcomeIncomplete}, ""},
		{"status:cancelled", ledger.Filter{Outcome: ledger.OutcomeClientCancelled}, ""},
		{"status:nope", ledger.Filter{}, "want an HTTP status"},
		{"status:42", ledger.Filter{}, "want an HTTP status"},
		{"colour:red", ledger.Filter{}, `unknown field "colour"`},
		{"model:", ledger.Filter{}, "no value"},
		{`client:"open`, ledger.Filter{}, "unclosed quote"},
	} {
		got, err := parseFilter(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseFilter(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseFilter(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		// What the prompt writes back parses to the same filter.
		if again, err := parseFilter(formatFilter(got)); err != nil || again != got {
			t.Errorf("round trip of %q via %q: %+v, %v", tt.in, formatFilter(got), again, err)
		}
	}
}

func TestComplete(t *testing.T) {
	values := map[string][]string{"model": {"gpt-4.1", "gpt-4.1-mini", "claude-sonnet-4-5"}, "client": {"OpenAI/Python 1.99.0"}}
	for _, tt := range []struct{ in, want string }{
		{"mo", "model:"},
		{"provider:openai st", "provider:openai status:"},
		{"model:gpt", "model:gpt-4.1"},
		{"model:gpt-4.1", "model:gpt-4.1-mini"},                                        // Tab again: the next value
		{"model:claude-sonnet-4-5", "model:gpt-4.1"},                                   // and round
		{"m:CLA", "m:claude-sonnet-4-5"},                                               // short key, any case
		{"status:inc", "status:incomplete"},                                            // fixed words
		{"client:Open", `client:"OpenAI/Python 1.99.0"`},                               // quoted when it has spaces
		{`tag:x client:"OpenAI/Python 1.99.0"`, `tag:x client:"OpenAI/Python 1.99.0"`}, // the only value, again
		{"model:zzz", "model:zzz"},                                                     // nothing fits
		{"xyz", "xyz"},
	} {
		if got := complete(tt.in, values); got != tt.want {
			t.Errorf("complete(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWindows(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2026, 11, 20, 1, 30, 0, 0, loc) // 23:30 UTC the day before
	for _, tt := range []struct {
		name         string
		w            Window
		since, until time.Time
	}{
		{"1h", WindowHour, now.Add(-time.Hour), time.Time{}},
		{"today", WindowToday, time.Date(2026, 11, 20, 0, 0, 0, 0, loc), time.Time{}},
		{"24h", WindowDay, now.Add(-24 * time.Hour), time.Time{}},
		{"7d", WindowWeek, now.Add(-7 * 24 * time.Hour), time.Time{}},
		{"30d", WindowMonth, now.Add(-30 * 24 * time.Hour), time.Time{}},
		{"all", WindowAll, time.Time{}, time.Time{}},
	} {
		w, err := ParseWindow(tt.name)
		if err != nil || w != tt.w || w.String() != tt.name {
			t.Errorf("ParseWindow(%q) = %v (%s), %v", tt.name, w, w, err)
		}
		since, until := query{window: w}.bounds(now, loc)
		if !since.Equal(tt.since) || !until.Equal(tt.until) {
			t.Errorf("%s: [%v, %v), want [%v, %v)", tt.name, since, until, tt.since, tt.until)
		}
	}
	day := query{window: windowDate, date: time.Date(2026, 11, 3, 0, 0, 0, 0, loc)}
	since, until := day.bounds(now, loc)
	if !since.Equal(time.Date(2026, 11, 3, 0, 0, 0, 0, loc)) || !until.Equal(time.Date(2026, 11, 4, 0, 0, 0, 0, loc)) {
		t.Errorf("one day: [%v, %v)", since, until)
	}
	if day.live() || !(query{window: WindowHour}).sliding() || (query{window: WindowToday}).sliding() {
		t.Error("live / sliding")
	}
	if _, err := ParseWindow("fortnight"); err == nil {
		t.Error("bad window accepted")
	}
	if w, err := ParseWindow(""); err != nil || w != WindowDay || Window(0) != WindowDay {
		t.Errorf("default window %v, %v", w, err)
	}
	var cycle []string
	for w := WindowHour; len(cycle) < 7; w = nextWindow(w, false) {
		cycle = append(cycle, w.String())
	}
	if got := strings.Join(cycle, " "); got != "1h today 24h 7d 30d all 1h" {
		t.Errorf("w cycles %s", got)
	}
	if nextWindow(WindowHour, true) != WindowAll || nextWindow(windowDate, false) != WindowDay {
		t.Error("W / from one day")
	}
}
