package book

import (
	"bytes"
	"strings"
	"testing"
)

var meta = SourceMeta{Name: "@pydantic/genai-prices", Version: "9.9.9", Date: "2026-09-01", License: "MIT", URL: "https://example.com"}

const emptyOverlay = `{"about": "", "corrections": [], "multipliers": []}`

// provider wraps models in a one-provider source.
func provider(models string) string {
	return `[{"id": "acme", "name": "Acme", "api_pattern": "https://api\\.acme\\.com", "models": [` + models + `]}]`
}

const okModel = `{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": 1, "output_mtok": 2}}`

// TestCompileStrict checks that the compiler fails, naming the path, on
// every kind of data it does not understand.
func TestCompileStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, source, wantErr string
	}{
		{"not an array", `{}`, "want a JSON array of providers"},
		{"unknown provider field", `[{"id": "acme", "api_pattern": "x", "models": [` + okModel + `], "colour": "red"}]`, `providers[0]: json: unknown field "colour"`},
		{"provider without id", `[{"api_pattern": "x", "models": [` + okModel + `]}]`, "providers[0] (): no id"},
		{"provider without pattern", `[{"id": "acme", "models": [` + okModel + `]}]`, "providers[0] (acme).api_pattern: missing"},
		{"bad api pattern", `[{"id": "acme", "api_pattern": "(", "models": [` + okModel + `]}]`, "providers[0] (acme).api_pattern"},
		{"unknown fallback", `[{"id": "acme", "api_pattern": "x", "fallback_model_providers": ["nope"], "models": [` + okModel + `]}]`, `unknown provider "nope"`},
		{"unknown model field", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {}, "size": 7}`), `models[0]: json: unknown field "size"`},
		{"duplicate model", provider(okModel + `,` + okModel), "models[1] (m1): duplicate id"},
		{"model without match", provider(`{"id": "m1", "prices": {}}`), "models[0] (m1).match: missing"},
		{"unknown price key", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": 1, "thought_mtok": 2}}`), "models[0] (m1).prices.thought_mtok: unknown price key"},
		{"unknown price key in a period", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": [{"prices": {"input_mtok": 1}}, {"constraint": {"start_date": "2026-01-01"}, "prices": {"imput_mtok": 1}}]}`), "prices[1].prices.imput_mtok: unknown price key"},
		{"unknown match operator", provider(`{"id": "m1", "match": {"fuzzy": "m1"}, "prices": {}}`), `match: unknown operator "fuzzy"`},
		{"two operators", provider(`{"id": "m1", "match": {"equals": "m1", "contains": "m"}, "prices": {}}`), "want exactly one operator"},
		{"nested unknown operator", provider(`{"id": "m1", "match": {"or": [{"equals": "m1"}, {"glob": "m*"}]}, "prices": {}}`), `unknown operator "glob"`},
		{"lookbehind", provider(`{"id": "m1", "match": {"regex": "(?<=x)m1"}, "prices": {}}`), `unsupported construct "(?<="`},
		{"lookahead not at the start", provider(`{"id": "m1", "match": {"regex": "m(?!2)"}, "prices": {}}`), `unsupported construct "(?!"`},
		{"backreference", provider(`{"id": "m1", "match": {"regex": "(m)\\1"}, "prices": {}}`), `unsupported backreference`},
		{"unknown constraint", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": [{"constraint": {"weekday": "mon"}, "prices": {}}]}`), `prices[0].constraint: json: unknown field "weekday"`},
		{"bad start date", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": [{"constraint": {"start_date": "2026-02-30"}, "prices": {}}]}`), "is not a date"},
		{"bad time of day", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": [{"constraint": {"start_time": "25:00:00Z", "end_time": "01:00:00Z"}, "prices": {}}]}`), "is not a time of day"},
		{"start time without end", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": [{"constraint": {"start_time": "01:00:00Z"}, "prices": {}}]}`), "want start_date, or start_time and end_time"},
		{"negative price", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": -1}}`), "models[0] (m1).prices[0].input_mtok: -1 is not a price"},
		{"absurd price", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": 1e9}}`), "is not a price"},
		{"string price", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": "1"}}`), "want a number or {base, tiers}"},
		{"tiers without base", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": {"tiers": [{"start": 10, "price": 2}]}}}`), "needs base and tiers"},
		{"unknown tier field", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": {"base": 1, "tiers": [{"start": 10, "price": 2, "end": 20}]}}}`), `unknown field "end"`},
		{"repeated tier", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": {"base": 1, "tiers": [{"start": 10, "price": 2}, {"start": 10, "price": 3}]}}}`), "start 10 is negative or repeated"},
		{"a part priced without its whole", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": 1, "cache_audio_read_mtok": 1, "cache_read_mtok": 1}}`), "cache_audio_read_mtok is priced but its parent input_audio_mtok is not"},
		{"overlapping parts without their join", provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": 1, "cache_read_mtok": 1, "input_audio_mtok": 2}}`), "cache_read_mtok and input_audio_mtok overlap but their join cache_audio_read_mtok is not priced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(meta, []byte(tt.source), []byte(emptyOverlay), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestCompile checks what a good source compiles to: rates in integer
// micro-dollars, tiers sorted, lookaheads rewritten for RE2, periods kept
// in order, the version and checksums recorded, rounding reported.
func TestCompile(t *testing.T) {
	t.Parallel()
	source := `[{"id": "acme", "name": "Acme", "description": "d", "pricing_urls": ["https://acme.example"], "api_pattern": "https://api\\.acme\\.com",
	  "provider_match": {"contains": "acme"}, "model_match": {"starts_with": "acme-"}, "extractors": [{"anything": 1}], "price_comments": "c",
	  "models": [
	    {"id": "m1", "name": "M1", "match": {"and": [{"starts_with": "m1"}, {"regex": "^(?!.*-[tT][tT][sS](?:$|-))"}]}, "context_window": 1000,
	     "prices": {"input_mtok": {"base": 0.0028, "tiers": [{"start": 200000, "price": 0.2}, {"start": 100000, "price": 0.1}]}, "output_mtok": 0.08333333333333334}},
	    {"id": "m2", "match": {"regex": "^(?![^/]+/)m2"}, "deprecated": true, "price_comments": "x",
	     "prices": [{"prices": {"input_mtok": 1}}, {"constraint": {"start_date": "2026-01-01"}, "prices": {"input_mtok": 2}},
	                {"constraint": {"start_time": "22:00:00Z", "end_time": "02:00:00Z"}, "prices": {"input_mtok": 3}}]}
	  ]}]`
	b, err := Compile(meta, []byte(source), []byte(emptyOverlay), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Version, "genai-prices 9.9.9 + overlay ") || len(b.Source.SHA256) != 64 || len(b.Overlay.SHA256) != 64 {
		t.Errorf("version %q, source %+v, overlay %+v", b.Version, b.Source, b.Overlay)
	}
	p := b.Providers[0]
	if p.ProviderMatch == nil || p.ModelMatch == nil || *p.ModelMatch.StartsWith != "acme-" {
		t.Errorf("provider rules %+v %+v", p.ProviderMatch, p.ModelMatch)
	}
	m1 := p.Models[0]
	in := m1.Periods[0].Prices["input_mtok"]
	if in.Base != 2800 || len(in.Tiers) != 2 || in.Tiers[0] != (Tier{100000, 100000}) || in.Tiers[1] != (Tier{200000, 200000}) {
		t.Errorf("input price %+v", in)
	}
	if out := m1.Periods[0].Prices["output_mtok"]; out.Base != 83333 {
		t.Errorf("output price %+v", out)
	}
	if len(b.Rounded) != 1 || b.Rounded[0] != (Rounded{Provider: "acme", Model: "m1", Key: "output_mtok", From: 0.08333333333333334, To: 83333}) {
		t.Errorf("rounded %+v", b.Rounded)
	}
	// ^(?!X) became not(^(?:X)).
	if and := m1.Match.And; len(and) != 2 || and[1].Not == nil || *and[1].Not.Regex != "^(?:.*-[tT][tT][sS](?:$|-))" {
		t.Errorf("m1 match %+v", m1.Match)
	}
	// ^(?!X)Y became and(not(^(?:X)), ^Y).
	m2 := p.Models[1]
	if and := m2.Match.And; len(and) != 2 || *and[0].Not.Regex != "^(?:[^/]+/)" || *and[1].Regex != "^m2" {
		t.Errorf("m2 match %+v", m2.Match)
	}
	if len(m2.Periods) != 3 || m2.Periods[1].StartDate != "2026-01-01" || m2.Periods[2].StartTime != "22:00:00Z" || m2.Periods[2].EndTime != "02:00:00Z" {
		t.Errorf("m2 periods %+v", m2.Periods)
	}

	// The encoding is deterministic and reads back.
	e1, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := Compile(meta, []byte(source), []byte(emptyOverlay), Options{})
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := Encode(b2)
	if !bytes.Equal(e1, e2) {
		t.Error("two compilations encode differently")
	}
	d, err := Decode(e1)
	if err != nil {
		t.Fatal(err)
	}
	e3, _ := Encode(d)
	if !bytes.Equal(e1, e3) {
		t.Errorf("decode and encode changed the book:\n%s\n%s", e1, e3)
	}
	if _, err := Decode(bytes.Replace(e1, []byte(`"format":1`), []byte(`"format":2`), 1)); err == nil || !strings.Contains(err.Error(), "format 2") {
		t.Errorf("wrong format accepted: %v", err)
	}
}

// TestOverlayChecks checks that overlay entries need their evidence and
// fail when they no longer apply.
func TestOverlayChecks(t *testing.T) {
	t.Parallel()
	source := provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": {"base": 1, "tiers": [{"start": 271999, "price": 2}]}}},
		{"id": "m2", "match": {"starts_with": "m2"}, "prices": {"input_mtok": 1}}`)
	ev := `"url": "https://acme.example/pricing", "reason": "because"`
	tests := []struct {
		name, overlay, wantErr string
	}{
		{"unknown field", `{"corrections": [], "multipliers": [], "notes": 1}`, `unknown field "notes"`},
		{"no url", `{"corrections": [{"id": "c", "provider": "acme", "models": ["m1"], "tier_start": {"from": 271999, "to": 272000}, "reason": "r"}]}`, "url must be the https:// page"},
		{"http url", `{"corrections": [{"id": "c", "provider": "acme", "models": ["m1"], "tier_start": {"from": 271999, "to": 272000}, "url": "http://x", "reason": "r"}]}`, "url must be the https:// page"},
		{"no reason", `{"corrections": [{"id": "c", "provider": "acme", "models": ["m1"], "tier_start": {"from": 271999, "to": 272000}, "url": "https://x", "reason": " "}]}`, "no reason"},
		{"no id", `{"corrections": [{"provider": "acme", "models": ["m1"], "tier_start": {"from": 1, "to": 2}, ` + ev + `}]}`, "no id"},
		{"duplicate id", `{"corrections": [{"id": "c", "provider": "acme", "models": ["m1"], "tier_start": {"from": 271999, "to": 272000}, ` + ev + `}, {"id": "c", "provider": "acme", "models": ["m1"], "tier_start": {"from": 272000, "to": 271999}, ` + ev + `}]}`, `duplicate id "c"`},
		{"unknown provider", `{"corrections": [{"id": "c", "provider": "nope", "models": ["m1"], "tier_start": {"from": 271999, "to": 272000}, ` + ev + `}]}`, `unknown provider "nope"`},
		{"unknown model", `{"corrections": [{"id": "c", "provider": "acme", "models": ["m9"], "tier_start": {"from": 271999, "to": 272000}, ` + ev + `}]}`, `acme has no model "m9"`},
		{"tier no longer there", `{"corrections": [{"id": "c", "provider": "acme", "models": ["m1"], "tier_start": {"from": 200000, "to": 200001}, ` + ev + `}]}`, "acme/m1 has no tier starting at 200000: the correction no longer applies"},
		{"no operation", `{"corrections": [{"id": "c", "provider": "acme", "models": ["m1"], ` + ev + `}]}`, "no operation"},
		{"added model already priced", `{"corrections": [{"id": "c", "provider": "acme", "add_model": {"id": "m2-new", "match": {"equals": "m2-new"}, "prices": {}}, ` + ev + `}]}`, `acme/m2 already prices "m2-new": the correction no longer applies`},
		{"added model with a bad price", `{"corrections": [{"id": "c", "provider": "acme", "add_model": {"id": "m3", "match": {"equals": "m3"}, "prices": {"inptu_mtok": 1}}, ` + ev + `}]}`, "add_model.prices.inptu_mtok: unknown price key"},
		{"multiplier on an unknown model", `{"multipliers": [{"id": "x", "provider": "acme", "models": ["m9"], "field": "speed", "equals": "fast", "factor": 2, ` + ev + `}]}`, `acme has no model "m9"`},
		{"multiplier factor", `{"multipliers": [{"id": "x", "provider": "acme", "models": ["m1"], "field": "speed", "equals": "fast", "factor": 1.0005, ` + ev + `}]}`, "at most 3 decimals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(meta, []byte(source), []byte(tt.overlay), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	good := `{"corrections": [
		{"id": "c1", "provider": "acme", "models": ["m1"], "tier_start": {"from": 271999, "to": 272000}, ` + ev + `},
		{"id": "c2", "provider": "acme", "add_model": {"id": "m3", "match": {"equals": "m3"}, "prices": {"input_mtok": 0.4}}, ` + ev + `}],
	  "multipliers": [{"id": "x", "provider": "acme", "models": ["m1", "m2"], "field": "speed", "equals": "fast", "factor": 1.1, ` + ev + `}]}`
	b, err := Compile(meta, []byte(source), []byte(good), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms := b.Providers[0].Models
	if got := ms[0].Periods[0].Prices["input_mtok"].Tiers[0].Start; got != 272000 {
		t.Errorf("tier start %d, want 272000", got)
	}
	if len(ms) != 3 || ms[2].ID != "m3" || ms[2].Periods[0].Prices["input_mtok"].Base != 400000 {
		t.Errorf("added model %+v", ms)
	}
	if b.Overlay.Corrections != 2 || len(b.Multipliers) != 1 || b.Multipliers[0].Factor != 1100 {
		t.Errorf("overlay %+v, multipliers %+v", b.Overlay, b.Multipliers)
	}
}

func TestParseTimeOfDay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"00:30:00Z", 30 * 60_000, true},
		{"16:30:00.5Z", (16*3600+30*60)*1000 + 500, true},
		{"01:00:00+02:00", 23 * 3_600_000, true}, // 23:00 UTC the day before
		{"23:00:00-01:00", 0, true},
		{"24:00:00Z", 0, false},
		{"1:00:00Z", 0, false},
		{"01:00:00", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseTimeOfDay(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseTimeOfDay(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestSkipStale checks that data downloaded after the overlay was written
// compiles without the corrections it no longer needs, and lists them,
// while a tier correction still applies to the models that still need it.
func TestSkipStale(t *testing.T) {
	t.Parallel()
	source := provider(`{"id": "m1", "match": {"equals": "m1"}, "prices": {"input_mtok": {"base": 1, "tiers": [{"start": 272000, "price": 2}]}}},
		{"id": "m2", "match": {"equals": "m2"}, "prices": {"input_mtok": {"base": 1, "tiers": [{"start": 271999, "price": 2}]}}}`)
	ev := `"url": "https://acme.example/pricing", "reason": "because"`
	overlay := `{"corrections": [
		{"id": "partly-fixed", "provider": "acme", "models": ["m2", "m1", "m-gone"], "tier_start": {"from": 271999, "to": 272000}, ` + ev + `},
		{"id": "fixed-upstream", "provider": "acme", "models": ["m1"], "tier_start": {"from": 271999, "to": 272000}, ` + ev + `},
		{"id": "added-upstream", "provider": "acme", "add_model": {"id": "m1b", "match": {"equals": "m1"}, "prices": {}}, ` + ev + `}],
	  "multipliers": [{"id": "dropped-model", "provider": "acme", "models": ["m9"], "field": "speed", "equals": "fast", "factor": 2, ` + ev + `}]}`
	if _, err := Compile(meta, []byte(source), []byte(overlay), Options{}); err == nil || !strings.Contains(err.Error(), "no longer applies") {
		t.Fatalf("strict compile: %v", err)
	}
	b, err := Compile(meta, []byte(source), []byte(overlay), Options{SkipStale: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"fixed-upstream", "added-upstream", "dropped-model"}; strings.Join(b.Stale, ",") != strings.Join(want, ",") {
		t.Errorf("stale %q, want %q", b.Stale, want)
	}
	if got := b.Providers[0].Models[1].Periods[0].Prices["input_mtok"].Tiers[0].Start; got != 272000 {
		t.Errorf("m2's tier at %d: the partly fixed correction did not apply to it", got)
	}
	if len(b.Providers[0].Models) != 2 || len(b.Multipliers) != 0 || b.Overlay.Corrections != 1 {
		t.Errorf("book %+v", b)
	}
}

func TestSourceDate(t *testing.T) {
	t.Parallel()
	bad := meta
	bad.Date = "2026-9-23"
	if _, err := Compile(bad, []byte(provider(okModel)), []byte(emptyOverlay), Options{}); err == nil || !strings.Contains(err.Error(), "is not a date") {
		t.Errorf("err = %v", err)
	}
}
