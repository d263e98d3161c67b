package parsers

import (
	"bytes"

	"github.com/valohai/conduit/sse"
	"github.com/valyala/fastjson"
)

// OpenAI Chat Completions, legacy Completions and Embeddings (PROTOCOLS A1,
// A2, A5), and every OpenAI-compatible server.
//
// Streams are data-only SSE ending in "data: [DONE]". Usage is read from
// any chunk whose "usage" is an object (not only the chunks with empty
// choices: Gemini's compatible endpoint puts it on the last content chunk),
// and from Groq's legacy "x_groq.usage"; null usage is skipped and each
// field keeps its last non-null value. Cache reads come from
// prompt_tokens_details.cached_tokens, or DeepSeek's prompt_cache_hit_tokens;
// OpenRouter's usage.cost is the provider's own cost. Errors arrive as
// {"error":{…}} (as data, or as the whole body) or as an "error" event.

var doneMarker = []byte("[DONE]")

func (m *Meter) openAIEvent(ev *sse.Event) {
	data := bytes.TrimSpace(ev.Data)
	if bytes.Equal(data, doneMarker) {
		m.terminal = true
		return
	}
	if ev.Oversize {
		m.tail(ev.Data)
		return
	}
	if string(ev.Type) != "error" && !m.parseEveryChunk && m.openAIChunkChangesNothing(data) {
		return
	}
	v := m.parse(data)
	if string(ev.Type) == "error" {
		if v == nil {
			m.failText("error", data)
			return
		}
		if e := v.Get("error"); e != nil {
			m.fail(e)
		} else {
			m.fail(v)
		}
	}
	if v != nil {
		m.openAIObject(v)
	}
}

// openAIObject reads a chunk or a whole response body.
func (m *Meter) openAIObject(v *fastjson.Value) {
	m.setModel(v.Get("model"))
	m.setID(v.Get("id"))
	if e := v.Get("error"); e != nil && e.Type() != fastjson.TypeNull {
		m.fail(e)
	}
	if u := v.Get("x_groq", "usage"); u != nil && u.Type() == fastjson.TypeObject {
		m.openAIUsage(u)
	}
	if u := v.Get("usage"); u != nil && u.Type() == fastjson.TypeObject {
		m.openAIUsage(u)
	}
	// Ollama's /api/embed reports its count at the top level.
	m.set(sInput, v.Get("prompt_eval_count"))
}

// openAIUsage reads one usage object.
func (m *Meter) openAIUsage(u *fastjson.Value) {
	m.set(sInput, u.Get("prompt_tokens"))
	m.set(sOutput, u.Get("completion_tokens"))
	m.set(sCached, u.Get("prompt_tokens_details", "cached_tokens"))
	m.set(sCacheWrite, u.Get("prompt_tokens_details", "cache_write_tokens"))
	m.set(sDeepSeekHit, u.Get("prompt_cache_hit_tokens"))
	m.set(sReasoning, u.Get("completion_tokens_details", "reasoning_tokens"))
	m.setCost(u.Get("cost"))
	m.setRaw(u)
}
