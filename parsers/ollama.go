package parsers

import (
	"bytes"

	"github.com/valyala/fastjson"
)

// ollamaFormat reads Ollama's native /api/chat and /api/generate
// (https://github.com/ollama/ollama/blob/main/docs/api.md): NDJSON when streaming (the default), one object
// otherwise. The final object has done:true with prompt_eval_count (cached
// prompt included; old builds omitted it for cached prompts, leaving input
// unknown), eval_count, newer builds' prompt_eval_cached_count, and
// *_duration timings. An {"error":"…"} object reports a failure. Ollama has
// no usage object, so Usage.Raw is built from the done object's *_count and
// *_duration members.
type ollamaFormat struct {
	prompt, eval, cached count
	raw                  rawUsage
}

func (f *ollamaFormat) event(m *Meter, _, data []byte, _ bool) {
	if v := m.parse(data); v != nil {
		f.object(m, v)
	}
}

func (f *ollamaFormat) object(m *Meter, v *fastjson.Value) {
	m.setModel(get(v, "model"))
	if e := get(v, "error"); e != nil && e.Type() != fastjson.TypeNull {
		m.fail(e)
	}
	if d := get(v, "done"); d == nil || d.Type() != fastjson.TypeTrue {
		return
	}
	m.terminal = true
	f.prompt.set(get(v, "prompt_eval_count"), "prompt_eval_count")
	f.eval.set(get(v, "eval_count"), "eval_count")
	f.cached.set(get(v, "prompt_eval_cached_count"), "prompt_eval_cached_count")
	o, err := v.Object()
	if err != nil {
		return
	}
	b := append(f.raw.reset(), '{')
	o.Visit(func(k []byte, x *fastjson.Value) {
		if !bytes.HasSuffix(k, []byte("_count")) && !bytes.HasSuffix(k, []byte("_duration")) {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendQuoted(b, k)
		b = append(b, ':')
		b = x.MarshalTo(b)
	})
	if b = append(b, '}'); len(b) == 2 {
		b = b[:0]
	}
	f.raw.b = b
}

// Ollama has no usage object: its counts are members of the done object.
func (*ollamaFormat) usageKey() string { return "" }

func (*ollamaFormat) readUsage(*Meter, *fastjson.Value) {}

// selfEnding: a stream is a sequence of objects, the last with done:true.
func (*ollamaFormat) selfEnding() {}

func (f *ollamaFormat) fill(r *Result) (seen, inputKnown bool) {
	var t tally
	t.add(&f.prompt, &f.eval, &f.cached)
	r.Invalid = t.problem
	u := &r.Usage
	u.InputTokens, u.CachedInputTokens, u.OutputTokens = f.prompt.v, f.cached.v, f.eval.v
	u.Raw = f.raw.keep()
	return t.seen, f.prompt.ok
}
