package pricing

import (
	"fmt"
	"math"
	"net/url"
	"testing"
	"time"
)

// oracleFile is testdata/oracle.json, written by internal/oracle/oracle.mjs.
type oracleFile struct {
	Package string       `json:"package"`
	Version string       `json:"version"`
	Cases   []oracleCase `json:"cases"`
}

type oracleCase struct {
	Name       string           `json:"name"`
	ProviderID string           `json:"provider_id"`
	APIURL     string           `json:"api_url"`
	Model      string           `json:"model"`
	Timestamp  time.Time        `json:"timestamp"`
	Usage      map[string]int64 `json:"usage"`
	Expect     *struct {
		Total    float64 `json:"total"`
		Provider string  `json:"provider"`
		Model    string  `json:"model"`
	} `json:"expect"`
}

func (c oracleCase) call(t *testing.T) call {
	cl := call{provider: c.ProviderID, model: c.Model, at: c.Timestamp, hasUsage: true}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil {
			t.Fatal(err)
		}
		cl.host, cl.path = u.Host, u.Path
	}
	var part usage
	for k, v := range c.Usage {
		dst := map[string]*int64{
			"input_tokens": &part.input, "cache_read_tokens": &part.cached, "cache_write_tokens": &part.write,
			"cache_write_1h_tokens": &part.write1h, "output_tokens": &part.output, "output_reasoning_tokens": &part.reasoning,
			"input_audio_tokens": &part.audioIn, "output_audio_tokens": &part.audioOut,
			"input_image_tokens": &part.imageIn, "output_image_tokens": &part.imageOut,
			"cache_audio_read_tokens": new(int64),
		}[k]
		if dst == nil {
			t.Fatalf("%s: usage key %s has no Conduit count", c.Name, k)
		}
		*dst = v
	}
	cl.parts = []usage{part}
	return cl
}

// Why Conduit's cost differs from genai-prices' on an oracle case. Every
// disagreement is one of these, listed by case name in oracleDisagreements.
const (
	whyTier272   = "overlay openai-long-context-above-272k: exactly 272,000 input tokens pay the standard rates"
	whyAdded     = "overlay adds this OpenAI base model, which genai-prices lists only under Azure"
	whyRounded   = "OpenRouter's Gemini cache-write rate, 1/12 USD per 1M tokens, is not a whole number of micro-dollars: the book rounds it (book.json \"rounded\")"
	whyVariant   = "Conduit also looks a name up without its snapshot suffix or platform prefix; genai-prices only spells out a compact date"
	whySearch    = "no provider named: Conduit prices a model the providers' lists agree on; genai-prices tries only their model_match rules"
	whySibling   = "a loose source rule matches a different model: Conduit's sibling guard leaves it unpriced or finds the model's own entry"
	whyUnmetered = "priced only in units Conduit does not count (hours, pages, messages): unpriced, not $0"
)

var oracleDisagreements = map[string]string{
	"tier openai gpt-5.4 period 0 input 272000":         whyTier272,
	"tier openai gpt-5.4-pro period 0 input 272000":     whyTier272,
	"tier openai gpt-5.5 period 0 input 272000":         whyTier272,
	"tier openai gpt-5.5-pro period 0 input 272000":     whyTier272,
	"tier openai gpt-5.6-luna period 0 input 272000":    whyTier272,
	"tier openai gpt-5.6-luna period 1 input 272000":    whyTier272,
	"tier openai gpt-5.6-sol period 0 input 272000":     whyTier272,
	"tier openai gpt-5.6-sol period 1 input 272000":     whyTier272,
	"tier openai gpt-5.6-terra period 0 input 272000":   whyTier272,
	"tier openai gpt-5.6-terra period 1 input 272000":   whyTier272,
	"tier openai gpt-6-astra period 0 input 272000":     whyTier272,
	"sibling openai davinci-002":                        whyAdded,
	"sibling openai babbage-002":                        whyAdded,
	"named openrouter google/gemini-3.5-flash-20261001": whyRounded,
	"named openai gpt-4.1-nano-2025-11-01":              whyVariant,
	"named google models/gemini-2.5-flash":              whyVariant,
	"named openrouter openai/gpt-5.5-20260423":          whyVariant,
	"model-only llama-3.3-70b-versatile":                whySearch,
	"sibling google gemini-1.5-flash-8b":                whySibling,
	"sibling google gemini-3.5-flash-lite-image":        whySibling,
	"sibling google gemini-2.5-pro-preview-06-05":       whySibling,
	"sibling anthropic claude-opus-4-10":                whySibling,
	"sibling anthropic claude-haiku-4-5-mini":           whySibling,
	"sibling anthropic claude-sonnet-4-5-lite":          whySibling,
	"sibling deepseek deepseek-v4-flash-lite":           whySibling,
	"sibling deepseek deepseek-chat-realtime":           whySibling,
	"sibling azure o4-mini-deep-research":               whySibling,
	"special openai omni-moderation-latest":             whySibling,
	"special google gemma-3-27b-it":                     whySibling,
	"special x-ai grok-voice-latest":                    whyUnmetered,
	"special mistral mistral-ocr-latest":                whyUnmetered,
}

// TestOracle compares Conduit's cost with genai-prices' own calculation
// (testdata/oracle.json, see internal/oracle) on every case: both
// unpriced, or the same provider list, model and cost to within 1e-9 of
// it (genai-prices computes in floating point). Every disagreement must be
// listed with its reason, and every listed one must still disagree.
func TestOracle(t *testing.T) {
	t.Parallel()
	var f oracleFile
	readJSON(t, "testdata/oracle.json", &f)
	if len(f.Cases) < 150 {
		t.Fatalf("only %d oracle cases", len(f.Cases))
	}
	p := mustPricer(t, nil, "")
	seen := map[string]bool{}
	agree := 0
	for _, c := range f.Cases {
		seen[c.Name] = true
		cl := c.call(t)
		r := p.price(cl)
		bp := p.book.providerFor(cl.provider, cl.host, cl.path)
		got := ""
		if m := p.book.find(bp, cl.model).m; m != nil && r.priced {
			prov := m.provider.id
			if bp != nil {
				prov = bp.id
			}
			got = prov + "/" + m.id
		}
		var same bool
		var want string
		if c.Expect == nil {
			same, want = !r.priced, "unpriced"
		} else {
			want = fmt.Sprintf("$%.12g %s/%s", c.Expect.Total, c.Expect.Provider, c.Expect.Model)
			same = r.priced && got == c.Expect.Provider+"/"+c.Expect.Model &&
				math.Abs(r.usd-c.Expect.Total) <= 1e-9*math.Abs(c.Expect.Total)
		}
		gotS := "unpriced (" + r.note + ")"
		if r.priced {
			gotS = fmt.Sprintf("$%.12g %s", r.usd, got)
		}
		why, listed := oracleDisagreements[c.Name]
		switch {
		case same && listed:
			t.Errorf("%s: now agrees with genai-prices (%s): remove it from oracleDisagreements", c.Name, want)
		case !same && !listed:
			t.Errorf("%s: genai-prices %s, Conduit %s: unexplained", c.Name, want, gotS)
		case !same:
			t.Logf("%s: genai-prices %s, Conduit %s: %s", c.Name, want, gotS, why)
		default:
			agree++
		}
	}
	for name := range oracleDisagreements {
		if !seen[name] {
			t.Errorf("oracleDisagreements lists %q, which oracle.json does not have", name)
		}
	}
	t.Logf("%s %s: %d cases, %d agree, %d differ (each explained)", f.Package, f.Version, len(f.Cases), agree, len(f.Cases)-agree)
}
