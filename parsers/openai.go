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
//
// It and readUsage take the members they read in one walk over the
// object rather than one get each (a walk over all members every time),
// keeping get's answer for each: the last member of a name, which is why
// they are applied only after the walk (FuzzMembers compares the two).
func (f *openAIFormat) object(m *Meter, v *fastjson.Value) {
	var model, id, e, xGroq, u, promptEval *fastjson.Value
	visit(v, func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "model":
			model = x
		case "id":
			id = x
		case "error":
			e = x
		case "x_groq":
			xGroq = x
		case "usage":
			u = x
		case "prompt_eval_count":
			promptEval = x
		}
	})
	m.setModel(model)
	m.setID(id)
	if e != nil && e.Type() != fastjson.TypeNull {
		m.fail(e)
	}
	if gu := get(xGroq, "usage"); isObject(gu) {
		f.readUsage(m, gu)
	}
	if isObject(u) {
		f.readUsage(m, u)
	}
	// Ollama's /api/embed reports its count at the top level.
	f.prompt.set(promptEval, "prompt_eval_count")
}

func (*openAIFormat) usageKey() string { return "usage" }

// readUsage reads one usage object.
func (f *openAIFormat) readUsage(_ *Meter, u *fastjson.Value) {
	var prompt, completion, hit, promptDetails, completionDetails, cost *fastjson.Value
	visit(u, func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "prompt_tokens":
			prompt = x
		case "completion_tokens":
			completion = x
		case "prompt_cache_hit_tokens":
			hit = x
		case "prompt_tokens_details":
			promptDetails = x
		case "completion_tokens_details":
			completionDetails = x
		case "cost":
			cost = x
		}
	})
	f.prompt.set(prompt, "prompt_tokens")
	f.completion.set(completion, "completion_tokens")
	f.deepSeekHit.set(hit, "prompt_cache_hit_tokens")
	var cached, cacheWrite, audioIn, imageIn *fastjson.Value
	visit(promptDetails, func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "cached_tokens":
			cached = x
		case "cache_write_tokens":
			cacheWrite = x
		case "audio_tokens":
			audioIn = x
		case "image_tokens":
			imageIn = x
		}
	})
	f.cached.set(cached, "prompt_tokens_details.cached_tokens")
	f.cacheWrite.set(cacheWrite, "prompt_tokens_details.cache_write_tokens")
	f.audioIn.set(audioIn, "prompt_tokens_details.audio_tokens")
	f.imageIn.set(imageIn, "prompt_tokens_details.image_tokens")
	var reasoning, audioOut, imageOut *fastjson.Value
	visit(completionDetails, func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "reasoning_tokens":
			reasoning = x
		case "audio_tokens":
			audioOut = x
		case "image_tokens":
			imageOut = x
		}
	})
	f.reasoning.set(reasoning, "completion_tokens_details.reasoning_tokens")
	f.audioOut.set(audioOut, "completion_tokens_details.audio_tokens")
	f.imageOut.set(imageOut, "completion_tokens_details.image_tokens")
	f.setCost(cost)
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
	cs := f.all()
	t.add(cs[:]...)
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

// all lists the counts, for a tally.
func (f *openAIFormat) all() [10]*count {
	return [...]*count{&f.prompt, &f.completion, &f.cached, &f.deepSeekHit, &f.cacheWrite,
		&f.reasoning, &f.audioIn, &f.imageIn, &f.audioOut, &f.imageOut}
}
