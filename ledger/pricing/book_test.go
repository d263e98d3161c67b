package pricing

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger/pricing/internal/book"
)

// TestBookIsGenerated guards the embedded book against hand edits: it
// must be exactly what the generator makes of the committed source and
// overlay.
func TestBookIsGenerated(t *testing.T) {
	t.Parallel()
	b, err := book.Build("source/source.json", "source/genai-prices.json", "overlay.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := book.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(embeddedBook, want) {
		t.Fatalf("book.json (%d bytes) is not the generator's output for source/ and overlay.json (%d bytes): run `make prices`", len(embeddedBook), len(want))
	}
}

// TestSourcePinned checks that the source's metadata, the oracle's pinned
// npm package and the oracle's recorded results name the same version.
func TestSourcePinned(t *testing.T) {
	t.Parallel()
	var meta book.SourceMeta
	readJSON(t, "source/source.json", &meta)
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
			License   string `json:"license"`
		} `json:"packages"`
	}
	readJSON(t, "internal/oracle/package-lock.json", &lock)
	pkg := lock.Packages["node_modules/"+meta.Name]
	if pkg.Version != meta.Version || pkg.Integrity == "" || pkg.License != meta.License {
		t.Errorf("package-lock pins %s %+v, source.json says %s %s", meta.Name, pkg, meta.Version, meta.License)
	}
	var pj struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	readJSON(t, "internal/oracle/package.json", &pj)
	if v := pj.Dependencies[meta.Name]; v != meta.Version {
		t.Errorf("package.json wants %s %q, not exactly %s", meta.Name, v, meta.Version)
	}
	var o oracleFile
	readJSON(t, "testdata/oracle.json", &o)
	if o.Package != meta.Name || o.Version != meta.Version {
		t.Errorf("oracle.json is from %s %s", o.Package, o.Version)
	}
	if _, err := os.Stat("source/LICENSE"); err != nil {
		t.Errorf("the source's licence must travel with it: %v", err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestBookCoverage checks that the book has the providers Conduit routes
// to, and that every model in it is found by its own id.
func TestBookCoverage(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	for _, id := range []string{"openai", "anthropic", "google", "deepseek", "x-ai", "mistral", "groq", "together", "fireworks", "openrouter", "azure", "aws", "cerebras", "perplexity"} {
		if bp := p.book.byID[id]; bp == nil || len(bp.models) == 0 {
			t.Errorf("no %s models", id)
		}
	}
	models := 0
	for _, bp := range p.book.providers {
		for _, m := range bp.models {
			models++
			if got := bp.find(m.lowerID, false); got != m {
				t.Errorf("%s/%s is not found by its id", bp.id, m.id)
			}
		}
	}
	if models < 1000 {
		t.Errorf("only %d models", models)
	}
}

// withoutCorrections is the book compiled from the source with the
// overlay's corrections left out, to show what each one changes.
func withoutCorrections(t *testing.T) *priceBook {
	t.Helper()
	var ov book.Overlay
	readJSON(t, "overlay.json", &ov)
	ov.Corrections = nil
	ovData, err := json.Marshal(ov)
	if err != nil {
		t.Fatal(err)
	}
	var meta book.SourceMeta
	readJSON(t, "source/source.json", &meta)
	source, err := os.ReadFile("source/genai-prices.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := book.Compile(meta, source, ovData, book.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := book.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := loadBook(data)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// TestOverlay has a case per overlay entry: the call it corrects, priced
// with the entry and (for corrections) without it. An entry without a
// case here fails the test.
func TestOverlay(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	raw := withoutCorrections(t)
	type tc struct {
		provider, model string
		part            usage
		usage           string // the raw usage object
		with, without   string // "" is unpriced
	}
	cases := map[string][]tc{
		// 222k × $5 + 50k × $0.50 + 10k × $30 at exactly 272k; the
		// source's start of 271999 doubled it.
		"openai-long-context-above-272k": {
			{provider: "openai", model: "gpt-5.5", part: usage{input: 272_000, cached: 50_000, output: 10_000}, with: "1.435", without: "2.72"},
			{provider: "openai", model: "gpt-5.5", part: usage{input: 272_001, cached: 50_000, output: 10_000}, with: "2.72001", without: "2.72001"},
			// 272k × $0.20 + 1M out × $1.20 against $0.40 / $1.80
			{provider: "openai", model: "gpt-5.6-luna", part: usage{input: 272_000, output: 1_000_000}, with: "1.2544", without: "1.9088"},
		},
		"openai-davinci-002": {
			{provider: "openai", model: "davinci-002", part: usage{input: 1_000_000, output: 1_000_000}, with: "4", without: ""},
		},
		"openai-babbage-002": {
			{provider: "openai", model: "babbage-002", part: usage{input: 1_000_000, output: 1_000_000}, with: "0.8", without: ""},
		},
		// Multipliers: with the usage field, and (without) the same
		// call with no raw usage. 100k in × $10 (Fable), $5 (Opus),
		// $2 (Sonnet 5); 10k out × $25 (Opus).
		"anthropic-us-only-inference": {
			{provider: "anthropic", model: "claude-fable-5", part: usage{input: 100_000}, usage: `{"inference_geo":"us"}`, with: "1.1", without: "1"},
			{provider: "anthropic", model: "claude-opus-4-6", part: usage{input: 100_000}, usage: `{"inference_geo":"US"}`, with: "0.55", without: "0.5"},
			{provider: "anthropic", model: "claude-opus-4-7", part: usage{input: 100_000}, usage: `{"inference_geo":"us"}`, with: "0.55", without: "0.5"},
			{provider: "anthropic", model: "claude-opus-4-8", part: usage{input: 100_000}, usage: `{"inference_geo":"us"}`, with: "0.55", without: "0.5"},
			{provider: "anthropic", model: "claude-sonnet-5", part: usage{input: 100_000}, usage: `{"inference_geo":"us"}`, with: "0.22", without: "0.2"},
			{provider: "anthropic", model: "claude-sonnet-5", part: usage{input: 100_000}, usage: `{"inference_geo":"global"}`, with: "0.2", without: "0.2"},
		},
		"anthropic-fast-mode-6x": {
			{provider: "anthropic", model: "claude-opus-4-6", part: usage{input: 100_000, output: 10_000}, usage: `{"speed":"fast"}`, with: "4.5", without: "0.75"},
			{provider: "anthropic", model: "claude-opus-4-7-20260101", part: usage{input: 100_000, output: 10_000}, usage: `{"speed":"fast"}`, with: "4.5", without: "0.75"},
			{provider: "anthropic", model: "claude-opus-4-7", part: usage{input: 100_000, output: 10_000}, usage: `{"speed":"standard"}`, with: "0.75", without: "0.75"},
		},
		"anthropic-fast-mode-2x": {
			{provider: "anthropic", model: "claude-opus-4-8", part: usage{input: 100_000, output: 10_000}, usage: `{"speed":"fast"}`, with: "1.5", without: "0.75"},
			{provider: "anthropic", model: "claude-opus-5", part: usage{input: 100_000, output: 10_000}, usage: `{"speed":"fast"}`, with: "1.5", without: "0.75"},
		},
	}
	var ov book.Overlay
	readJSON(t, "overlay.json", &ov)
	var ids []string
	for _, c := range ov.Corrections {
		ids = append(ids, c.ID)
	}
	for _, m := range ov.Multipliers {
		ids = append(ids, m.ID)
	}
	for id := range cases {
		if !slices.Contains(ids, id) {
			t.Errorf("case for %s, which overlay.json does not have", id)
		}
	}
	at := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	for _, id := range ids {
		if len(cases[id]) == 0 {
			t.Errorf("overlay entry %s has no test case", id)
		}
		for _, c := range cases[id] {
			cl := call{provider: c.provider, model: c.model, at: at, hasUsage: true, raw: json.RawMessage(c.usage), parts: []usage{c.part}}
			check := func(what string, r result, want string) {
				t.Helper()
				switch {
				case want == "" && r.priced:
					t.Errorf("%s: %s %s %s = %v, want unpriced", id, what, c.model, c.usage, r.usd)
				case want != "" && (!r.priced || r.usd != usd(t, want)):
					t.Errorf("%s: %s %s %s = %v (priced %v), want %s", id, what, c.model, c.usage, r.usd, r.priced, want)
				}
			}
			check("with", p.price(cl), c.with)
			if slices.ContainsFunc(ov.Multipliers, func(m book.MultiplierOverlay) bool { return m.ID == id }) {
				cl.raw = nil
				check("without", p.price(cl), c.without)
				continue
			}
			q := *p
			q.book = raw
			check("without", q.price(cl), c.without)
		}
	}
}
