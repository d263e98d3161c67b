package parsers

import "github.com/valyala/fastjson"

// responsesFormat reads OpenAI Responses
// (https://platform.openai.com/docs/api-reference/responses).
//
// Streams name each event (event: response.output_text.delta, …) and repeat
// the name in data.type; there is no [DONE]. The response object, with its
// "usage" (null until the end), rides on response.created, .in_progress,
// .queued and the terminal .completed, .incomplete and .failed events. The
// terminal events embed the whole output and can be several MB: past the
// scanner's cap their data tail still holds the usage, found by its key. A
// top-level {"type":"error"} event reports a failure. Deltas and other
// events carry no usage and are skipped without parsing.
//
// Usage has input_tokens (cache reads and writes included) with
// input_tokens_details {cached_tokens, cache_write_tokens, audio_tokens,
// image_tokens}, and output_tokens (reasoning included) with
// output_tokens_details {reasoning_tokens, audio_tokens, image_tokens}.
type responsesFormat struct {
	input, cached, cacheWrite count
	output, reasoning         count
	audioIn, imageIn          count
	audioOut, imageOut        count
	raw                       rawUsage // the usage object as last seen
}

func (f *responsesFormat) event(m *Meter, name, data []byte, oversize bool) {
	switch string(name) {
	case "", "error", "response.created", "response.in_progress", "response.queued",
		"response.completed", "response.incomplete", "response.failed":
	default:
		return
	}
	if oversize {
		m.tail(data)
		f.terminal(m, string(name), nil)
		return
	}
	v := m.parse(data)
	if v == nil {
		if string(name) == "error" {
			m.failText("error", data)
		}
		return
	}
	typ := string(name)
	if t := str(get(v, "type")); len(t) > 0 {
		typ = string(t)
	}
	if typ == "error" {
		// The SSE stream's error event has its code and message at the top;
		// the WebSocket mode's in-band error nests them in "error".
		if e := get(v, "error"); isObject(e) {
			f.recordError(m, e)
		} else {
			f.recordError(m, v)
		}
		return
	}
	r := get(v, "response")
	if !isObject(r) {
		return
	}
	m.setModel(get(r, "model"))
	m.setID(get(r, "id"))
	if u := get(r, "usage"); isObject(u) {
		f.readUsage(m, u)
	}
	f.terminal(m, typ, r)
}

// terminal marks the end of the stream on a terminal event; r is the
// response object, nil when it could not be read.
func (f *responsesFormat) terminal(m *Meter, typ string, r *fastjson.Value) {
	switch typ {
	case "response.completed", "response.incomplete":
		m.terminal = true
	case "response.failed":
		m.terminal = true
		m.failed = true
		if e := get(r, "error"); isObject(e) {
			f.recordError(m, e)
		}
	}
}

// recordError records an error object ({code, message} or a top-level error
// event {type:"error", code, message}).
func (*responsesFormat) recordError(m *Meter, e *fastjson.Value) {
	m.failed = true
	code := get(e, "code")
	typ := str(code)
	if typ == nil && code != nil && code.Type() == fastjson.TypeNumber {
		typ = code.MarshalTo(nil)
	}
	if typ == nil {
		if t := str(get(e, "type")); string(t) != "error" {
			typ = t
		}
	}
	m.setError(typ, str(get(e, "message")))
}

// object reads a non-streaming response body: the response object itself,
// or an {"error":{…}} body.
func (f *responsesFormat) object(m *Meter, v *fastjson.Value) {
	m.setModel(get(v, "model"))
	m.setID(get(v, "id"))
	if u := get(v, "usage"); isObject(u) {
		f.readUsage(m, u)
	}
	if e := get(v, "error"); isObject(e) {
		f.recordError(m, e)
	} else if string(str(get(v, "status"))) == "failed" {
		m.failed = true
	}
}

func (*responsesFormat) usageKey() string { return "usage" }

// readUsage reads one Responses usage object.
func (f *responsesFormat) readUsage(_ *Meter, u *fastjson.Value) {
	f.input.set(get(u, "input_tokens"), "input_tokens")
	f.output.set(get(u, "output_tokens"), "output_tokens")
	if d := get(u, "input_tokens_details"); d != nil {
		f.cached.set(get(d, "cached_tokens"), "input_tokens_details.cached_tokens")
		f.cacheWrite.set(get(d, "cache_write_tokens"), "input_tokens_details.cache_write_tokens")
		f.audioIn.set(get(d, "audio_tokens"), "input_tokens_details.audio_tokens")
		f.imageIn.set(get(d, "image_tokens"), "input_tokens_details.image_tokens")
	}
	if d := get(u, "output_tokens_details"); d != nil {
		f.reasoning.set(get(d, "reasoning_tokens"), "output_tokens_details.reasoning_tokens")
		f.audioOut.set(get(d, "audio_tokens"), "output_tokens_details.audio_tokens")
		f.imageOut.set(get(d, "image_tokens"), "output_tokens_details.image_tokens")
	}
	f.raw.set(u)
}

func (f *responsesFormat) fill(r *Result) (seen, inputKnown bool) {
	var t tally
	t.add(&f.input, &f.cached, &f.cacheWrite, &f.output, &f.reasoning,
		&f.audioIn, &f.imageIn, &f.audioOut, &f.imageOut)
	r.Invalid = t.problem
	u := &r.Usage
	u.InputTokens, u.CachedInputTokens, u.CacheWriteTokens = f.input.v, f.cached.v, f.cacheWrite.v
	u.OutputTokens, u.ReasoningTokens = f.output.v, f.reasoning.v
	u.AudioInputTokens, u.ImageInputTokens = f.audioIn.v, f.imageIn.v
	u.AudioOutputTokens, u.ImageOutputTokens = f.audioOut.v, f.imageOut.v
	u.Raw = f.raw.keep()
	return t.seen, f.input.ok
}
