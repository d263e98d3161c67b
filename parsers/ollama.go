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
	raw                  []byte
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
	f.raw = append(f.raw[:0], '{')
	o.Visit(func(k []byte, x *fastjson.Value) {
		if !bytes.HasSuffix(k, []byte("_count")) && !bytes.HasSuffix(k, []byte("_duration")) {
			return
		}
		if len(f.raw) > 1 {
			f.raw = append(f.raw, ',')
		}
		f.raw = appendQuoted(f.raw, k)
		f.raw = append(f.raw, ':')
		f.raw = x.MarshalTo(f.raw)
	})
	f.raw = append(f.raw, '}')
	if len(f.raw) == 2 {
		f.raw = f.raw[:0]
	}
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
	if len(f.raw) > 0 {
		u.Raw = bytes.Clone(f.raw)
	}
	return t.seen, f.prompt.ok
}
