package parsers

import (
	"bytes"
	"math"

	"github.com/valyala/fastjson"
)

// openAIFormat reads OpenAI Chat Completions, legacy Completions and
// Embeddings (https://platform.openai.com/docs/api-reference/chat), and
// every OpenAI-compatible server.
//
// Streams are data-only SSE ending in "data: [DONE]". Usage is read from
// any chunk whose "usage" is an object (not only the chunks with empty
// choices: Gemini's compatible endpoint puts it on the last content chunk),
// and from Groq's legacy "x_groq.usage"; null usage is skipped and each
// field keeps its last non-null value. Cache reads come from
// prompt_tokens_details.cached_tokens, or DeepSeek's prompt_cache_hit_tokens;
// the audio and image shares from the details' audio_tokens and
// image_tokens; OpenRouter's usage.cost is the provider's own cost. Errors
// arrive as {"error":{…}} (as data, or as the whole body) or as an "error"
// event.
type openAIFormat struct {
	prompt, completion  count
	cached, deepSeekHit count
	cacheWrite          count
	reasoning           count
	audioIn, imageIn    count
	audioOut, imageOut  count
	cost                float64
	costOK              bool
	raw                 rawUsage // the usage object as last seen

	// parseEveryChunk turns off the shortcut for chunks that change
	// nothing (openai_fast.go), so tests can compare both paths;
	// chunkMemo serves that shortcut.
	parseEveryChunk bool
	chunkMemo       chunkMemo
}

var doneMarker = []byte("[DONE]")

func (f *openAIFormat) event(m *Meter, name, data []byte, oversize bool) {
	trimmed := bytes.TrimSpace(data)
	if bytes.Equal(trimmed, doneMarker) {
		m.terminal = true
		return
	}
	if oversize {
		m.tail(data)
		return
	}
	isError := string(name) == "error"
	if !isError && !f.parseEveryChunk && f.chunkChangesNothing(m, trimmed) {
		return
	}
	v := m.parse(trimmed)
	if isError {
		if v == nil {
			m.failText("error", trimmed)
			return
		}
		if e := get(v, "error"); e != nil {
			m.fail(e)
		} else {
			m.fail(v)
		}
	}
	if v != nil {
		f.object(m, v)
	}
}

// object reads a chunk or a whole response body.
func (f *openAIFormat) object(m *Meter, v *fastjson.Value) {
	m.setModel(get(v, "model"))
	m.setID(get(v, "id"))
	if e := get(v, "error"); e != nil && e.Type() != fastjson.TypeNull {
		m.fail(e)
	}
	if u := get(v, "x_groq", "usage"); isObject(u) {
		f.readUsage(m, u)
	}
	if u := get(v, "usage"); isObject(u) {
		f.readUsage(m, u)
	}
	// Ollama's /api/embed reports its count at the top level.
	f.prompt.set(get(v, "prompt_eval_count"), "prompt_eval_count")
}

func (*openAIFormat) usageKey() string { return "usage" }

// readUsage reads one usage object.
func (f *openAIFormat) readUsage(_ *Meter, u *fastjson.Value) {
	f.prompt.set(get(u, "prompt_tokens"), "prompt_tokens")
	f.completion.set(get(u, "completion_tokens"), "completion_tokens")
	f.deepSeekHit.set(get(u, "prompt_cache_hit_tokens"), "prompt_cache_hit_tokens")
	if d := get(u, "prompt_tokens_details"); d != nil {
		f.cached.set(get(d, "cached_tokens"), "prompt_tokens_details.cached_tokens")
		f.cacheWrite.set(get(d, "cache_write_tokens"), "prompt_tokens_details.cache_write_tokens")
		f.audioIn.set(get(d, "audio_tokens"), "prompt_tokens_details.audio_tokens")
		f.imageIn.set(get(d, "image_tokens"), "prompt_tokens_details.image_tokens")
	}
	if d := get(u, "completion_tokens_details"); d != nil {
		f.reasoning.set(get(d, "reasoning_tokens"), "completion_tokens_details.reasoning_tokens")
		f.audioOut.set(get(d, "audio_tokens"), "completion_tokens_details.audio_tokens")
		f.imageOut.set(get(d, "image_tokens"), "completion_tokens_details.image_tokens")
	}
	f.setCost(get(u, "cost"))
	f.raw.set(u)
}

// setCost records the provider's own cost (OpenRouter's usage.cost).
func (f *openAIFormat) setCost(v *fastjson.Value) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return
	}
	c, err := v.Float64()
	if err != nil || c < 0 || math.IsInf(c, 0) || math.IsNaN(c) {
		return
	}
	f.cost, f.costOK = c, true
}

func (f *openAIFormat) fill(r *Result) (seen, inputKnown bool) {
	var t tally
	t.add(&f.prompt, &f.completion, &f.cached, &f.deepSeekHit, &f.cacheWrite,
		&f.reasoning, &f.audioIn, &f.imageIn, &f.audioOut, &f.imageOut)
	r.Invalid = t.problem
	u := &r.Usage
	u.InputTokens = f.prompt.v
	u.CachedInputTokens = f.cached.v
	if !f.cached.ok {
		u.CachedInputTokens = f.deepSeekHit.v
	}
	u.CacheWriteTokens = f.cacheWrite.v
	u.OutputTokens, u.ReasoningTokens = f.completion.v, f.reasoning.v
	u.AudioInputTokens, u.ImageInputTokens = f.audioIn.v, f.imageIn.v
	u.AudioOutputTokens, u.ImageOutputTokens = f.audioOut.v, f.imageOut.v
	if f.costOK {
		c := f.cost
		u.ProviderCostUSD = &c
	}
	u.Raw = f.raw.keep()
	return t.seen, f.prompt.ok
}
