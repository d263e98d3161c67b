package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

func TestCompactNum(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1.00k"}, {1234, "1.23k"}, {12345, "12.3k"}, {123456, "123k"},
		{1234567, "1.23M"}, {45_600_000_000, "45.6B"}, {-2500, "-2.50k"},
	} {
		if got := compactNum(tt.n); got != tt.want {
			t.Errorf("compactNum(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestCells(t *testing.T) {
	priced := ledger.Row{Record: ledger.Record{HasUsage: true, InputTokens: 1234, CostUSD: f64(0.0042)}}
	unpriced := ledger.Row{Record: ledger.Record{HasUsage: true, InputTokens: 5}}
	noUsage := ledger.Row{Record: ledger.Record{Outcome: ledger.OutcomeUpstreamError, Status: 529}}
	for _, tt := range []struct {
		name string
		got  string
		want string
	}{
		{"priced cost", costCell(&priced), "$0.0042"},
		{"unpriced cost", costCell(&unpriced), "unpriced"},
		{"unknown cost", costCell(&noUsage), "-"},
		{"tokens", tokens(true, 1234), "1,234"},
		{"zero tokens", tokens(true, 0), "0"},
		{"unknown tokens", tokens(false, 0), "-"},
		{"failed status", statusText(&noUsage), "529 error"},
		{"no response", statusText(&ledger.Row{Record: ledger.Record{Outcome: ledger.OutcomeUpstreamError}}), "- error"},
		{"ok status", statusText(&ledger.Row{Record: ledger.Record{Status: 200, Outcome: ledger.OutcomeComplete}}), "200"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestDurationAndAgo(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "-"}, {0, "<1ms"}, {850 * time.Millisecond, "850ms"}, {1234 * time.Millisecond, "1.23s"},
		{12345 * time.Millisecond, "12.3s"}, {125 * time.Second, "2m05s"}, {62 * time.Minute, "1h02m"},
	} {
		if got := duration(tt.d); got != tt.want {
			t.Errorf("duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	now := testNow
	for _, tt := range []struct {
		ago  time.Duration
		want string
	}{
		{-time.Minute, "now"}, {500 * time.Millisecond, "now"}, {12 * time.Second, "12s ago"},
		{3 * time.Minute, "3m ago"}, {26 * time.Hour, "26h ago"}, {72 * time.Hour, "3d ago"},
	} {
		if got := ago(now, now.Add(-tt.ago)); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", tt.ago, got, tt.want)
		}
	}
}

func TestTruncatePad(t *testing.T) {
	for _, tt := range []struct {
		s     string
		w     int
		right bool
		want  string
	}{
		{"gpt-4.1", 10, false, "gpt-4.1   "},
		{"1,234", 8, true, "   1,234"},
		{"claude-sonnet-4-5", 10, false, "claude-so…"},
		{"claude-sonnet-4-5", 1, false, "…"},
		{"", 3, true, "   "},
		{"日本語モデル", 7, false, "日本語…"}, {"日本語モデル", 6, false, "日本… "}, // wide runes: never half a character
	} {
		got := pad(tt.s, tt.w, tt.right)
		if got != tt.want || width(got) != tt.w {
			t.Errorf("pad(%q, %d, %v) = %q (width %d), want %q", tt.s, tt.w, tt.right, got, width(got), tt.want)
		}
	}
	if truncate("abc", 0) != "" {
		t.Error("truncate to 0 cells")
	}
}

func TestHbar(t *testing.T) {
	for _, tt := range []struct {
		frac float64
		w    int
		want string
	}{
		{1, 4, "████"}, {0.5, 4, "██"}, {0.55, 4, "██▎"}, {0, 4, ""}, {0.0001, 4, "▏"}, {2, 3, "███"},
	} {
		if got := hbar(tt.frac, tt.w); got != tt.want {
			t.Errorf("hbar(%v, %d) = %q, want %q", tt.frac, tt.w, got, tt.want)
		}
	}
}

// TestLayoutColumns checks which columns show at common widths, that they
// fit, and the drop order.
func TestLayoutColumns(t *testing.T) {
	names := func(cols []placed) string {
		var out []string
		for _, c := range cols {
			if c.id != colMark {
				out = append(out, c.title)
			}
		}
		return strings.Join(out, ",")
	}
	for _, tt := range []struct {
		w       int
		absTime bool
		want    string
	}{
		{80, false, "Time,Provider,Model,Status,Input,Output,Cost"},
		{80, true, "Time,Provider,Model,Input,Output,Cost"},
		{60, false, "Time,Model,Input,Output,Cost"},
		{100, false, "Time,Provider,Model,Status,Input,Output,Cost,TTFB,Duration"},
		{90, false, "Time,Provider,Model,Status,Input,Output,Cost,Duration"},
		{200, false, "Time,Provider,Model,Status,Input,Cache rd,Cache wr,Output,Reason,Cost,TTFB,Duration,Tag,Client"},
		{50, false, "Time,Model,Input,Cost"}, // the cost stays whole; output goes before input
		{40, false, "Time,Model,Cost"},       // then the tokens
		{30, false, "Time,Model,Cost"},       // the model gives up cells, not the cost
	} {
		cols := layoutColumns(tt.w, tt.absTime, "")
		if got := names(cols); got != tt.want {
			t.Errorf("width %d abs %v: %s\nwant %s", tt.w, tt.absTime, got, tt.want)
		}
		last := cols[len(cols)-1]
		if end := last.x + last.w; end > tt.w || (tt.w >= 80 && end != tt.w) {
			t.Errorf("width %d: columns end at %d", tt.w, end)
		}
		for _, c := range cols {
			if c.id == colCost && c.w < c.min {
				t.Errorf("width %d: cost %d cells wide", tt.w, c.w)
			}
		}
	}
	// The column sorted by is shown, wide enough for its title and arrow.
	for _, k := range sortKeys {
		i := slices.IndexFunc(layoutColumns(80, false, k), func(c placed) bool { return c.sort == k })
		if i < 0 {
			t.Errorf("sorted by %s: the column is dropped", k)
		} else if c := layoutColumns(80, false, k)[i]; c.w < len(c.title)+2 {
			t.Errorf("sorted by %s: %q in %d cells", k, c.title, c.w)
		}
	}
}

func TestJSONLines(t *testing.T) {
	text := func(ls []line) string {
		var b strings.Builder
		for _, l := range ls {
			for _, s := range l {
				b.WriteString(s.text)
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	for _, tt := range []struct {
		name, in, want string
	}{
		{"nested", `{"b":1,"a":{"x":[1,2.5,"s"],"e":{},"n":null,"t":true}}`, `{
  "b": 1,
  "a": {
    "x": [
      1,
      2.5,
      "s"
    ],
    "e": {},
    "n": null,
    "t": true
  }
}
`},
		{"scalar", `42`, "42\n"},
		{"escapes", `{"k":"a\"b<c>\n"}`, "{\n  \"k\": \"a\\\"b<c>\\n\"\n}\n"},
		{"invalid", `{"k":`, "{\"k\":\n"},
		{"trailing", `{} x`, "{} x\n"},
	} {
		if got := text(jsonLines([]byte(tt.in), "")); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
	// Roles: keys, strings, numbers, literals and punctuation apart.
	ls := jsonLines([]byte(`{"k":"v","n":1,"b":false}`), "")
	roles := map[string]role{}
	for _, l := range ls {
		for _, s := range l {
			roles[s.text] = s.role
		}
	}
	for text, want := range map[string]role{`"k"`: roleJSONKey, `"v"`: roleJSONString, "1": roleJSONNumber, "false": roleJSONLiteral, "{": roleJSONPunct} {
		if roles[text] != want {
			t.Errorf("%s: role %d, want %d", text, roles[text], want)
		}
	}
	// Bounded.
	huge := "[" + strings.Repeat("1,", 5000) + "1]"
	if n := len(jsonLines([]byte(huge), "")); n != maxJSONLines {
		t.Errorf("huge array: %d lines", n)
	}
}

func TestLogBuffer(t *testing.T) {
	b := NewLogBuffer(3)
	for _, s := range []string{"a\n", "b\nc\n", "d\n"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatal(n, err)
		}
	}
	if got := strings.Join(b.Lines(), ","); got != "b,c,d" {
		t.Errorf("lines %q", got)
	}
	var nilBuf *LogBuffer
	if nilBuf.Lines() != nil {
		t.Error("nil buffer has lines")
	}
}

func TestThemes(t *testing.T) {
	for _, name := range ThemeNames() {
		th, err := LookupTheme(strings.ToUpper(name), false)
		if err != nil || th.Name != name || !strings.Contains(th.BadgeFormat, "%s") {
			t.Errorf("%s: %+v, %v", name, th, err)
		}
		mono, err := LookupTheme(name, true)
		if err != nil || mono.Name != "mono" {
			t.Errorf("%s with NO_COLOR: %v, %v", name, mono.Name, err)
		}
	}
	if _, err := LookupTheme("solarized", true); err == nil || !strings.Contains(err.Error(), "qbasic") {
		t.Errorf("unknown theme: %v", err)
	}
	for _, kind := range []string{"banana", "snake"} {
		seen := map[string]bool{}
		for tick := range 40 {
			f := decorationFrame(kind, tick)
			if width(f) != width(decorationFrame(kind, 0)) || strings.TrimSpace(f) == "" {
				t.Fatalf("%s frame %d: %q", kind, tick, f)
			}
			seen[f] = true
		}
		if len(seen) < 4 {
			t.Errorf("%s: only %d distinct frames", kind, len(seen))
		}
	}
}
