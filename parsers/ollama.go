package parsers

import (
	"bytes"

	"github.com/valyala/fastjson"
)

// Ollama's native /api/chat and /api/generate (PROTOCOLS A5): NDJSON when
// streaming (the default), one object otherwise. The final object has
// done:true with prompt_eval_count (cached prompt included; old builds
// omitted it for cached prompts, leaving input unknown), eval_count,
// newer builds' prompt_eval_cached_count, and *_duration timings. An
// {"error":"…"} object reports a failure. Ollama has no usage object, so
// Usage.Raw is built from the done object's *_count and *_duration members.

func (m *Meter) ollamaObject(v *fastjson.Value) {
	m.setModel(v.Get("model"))
	if e := v.Get("error"); e != nil && e.Type() != fastjson.TypeNull {
		m.fail(e)
	}
	if v.Get("done") == nil || v.Get("done").Type() != fastjson.TypeTrue {
		return
	}
	m.terminal = true
	m.set(sInput, v.Get("prompt_eval_count"))
	m.set(sOutput, v.Get("eval_count"))
	m.set(sCached, v.Get("prompt_eval_cached_count"))
	o, err := v.Object()
	if err != nil {
		return
	}
	m.raw = append(m.raw[:0], '{')
	o.Visit(func(k []byte, x *fastjson.Value) {
		if !bytes.HasSuffix(k, []byte("_count")) && !bytes.HasSuffix(k, []byte("_duration")) {
			return
		}
		if len(m.raw) > 1 {
			m.raw = append(m.raw, ',')
		}
		m.raw = appendQuoted(m.raw, k)
		m.raw = append(m.raw, ':')
		m.raw = x.MarshalTo(m.raw)
	})
	m.raw = append(m.raw, '}')
	if len(m.raw) == 2 {
		m.raw = m.raw[:0]
	}
}
