package parsers

import (
	"bytes"

	"github.com/valyala/fastjson"
)

// Request is what a meter needs to know about the request body.
type Request struct {
	// Model is the request's "model", "" if none (Gemini names it in the
	// path: see Endpoint.Model).
	Model string
	// Stream reports that the request asks for a streamed answer: "stream":
	// true, Ollama's default (streaming unless "stream": false), or a
	// streaming Gemini/Vertex path.
	Stream bool
	// IncludeUsage reports "stream_options": {"include_usage": true}.
	IncludeUsage bool
}

// InspectRequest reads a JSON request body. A body that is not a JSON
// object gives the zero Request (plus the path's own streaming, if any); it
// is not an error because the proxy forwards whatever the client sent.
func InspectRequest(e Endpoint, body []byte) Request {
	r := Request{Stream: e.Stream}
	p := getParser()
	defer putParser(p, len(body))
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject {
		return r
	}
	if m := v.Get("model"); m != nil && m.Type() == fastjson.TypeString {
		r.Model = string(m.GetStringBytes())
	}
	s := v.Get("stream")
	switch {
	case s != nil && s.Type() == fastjson.TypeTrue:
		r.Stream = true
	case e.Kind == OllamaChat || e.Kind == OllamaGenerate:
		// Ollama streams unless told not to.
		r.Stream = s == nil || s.Type() != fastjson.TypeFalse
	}
	if iu := v.Get("stream_options", "include_usage"); iu != nil && iu.Type() == fastjson.TypeTrue {
		r.IncludeUsage = true
	}
	return r
}

// InjectStreamUsage returns body rewritten to carry
// "stream_options":{"include_usage":true}, so that an OpenAI stream reports
// usage. The rewrite only adds bytes: the new member is appended to the
// top-level object (or merged into an existing stream_options object, or
// replaces a null stream_options), and every other byte is kept as sent.
// The returned slice is new; body is never modified.
//
// ok=false, with body returned as is, when the rewrite does not apply: the
// endpoint is not ChatCompletions or Completions; body is not a JSON
// object; "stream" is not true; stream_options.include_usage is already
// present (true or false: the client decided); or stream_options is
// neither an object nor null.
func InjectStreamUsage(e Endpoint, body []byte) (out []byte, ok bool) {
	if e.Kind != ChatCompletions && e.Kind != Completions {
		return body, false
	}
	p := getParser()
	defer putParser(p, len(body))
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject {
		return body, false
	}
	if s := v.Get("stream"); s == nil || s.Type() != fastjson.TypeTrue {
		return body, false
	}
	const member = `"include_usage":true`
	so := v.Get("stream_options")
	if so == nil {
		// Append a member before the top-level object's closing brace (the
		// object has at least "stream", so a comma is due).
		end := bytes.LastIndexByte(body, '}')
		return splice(body, end, end, `,"stream_options":{`+member+`}`), true
	}
	switch so.Type() {
	case fastjson.TypeNull, fastjson.TypeObject:
	default:
		return body, false
	}
	if iu := so.Get("include_usage"); iu != nil && iu.Type() != fastjson.TypeNull {
		return body, false
	}
	m, found := findMember(body, "stream_options")
	if !found {
		return body, false // cannot happen for a body fastjson accepted
	}
	if so.Type() == fastjson.TypeNull {
		return splice(body, m.valStart, m.valEnd, `{`+member+`}`), true
	}
	obj := body[m.valStart:m.valEnd]
	if iu, found := findMember(obj, "include_usage"); found {
		// "include_usage": null means unset: set it in place.
		return splice(body, m.valStart+iu.valStart, m.valStart+iu.valEnd, "true"), true
	}
	// Insert as the object's first member, so no existing byte moves inside it.
	insert := member + ","
	if k := skipSpace(obj, 1); obj[k] == '}' {
		insert = member
	}
	return splice(body, m.valStart+1, m.valStart+1, insert), true
}

// splice returns a new slice holding b with b[from:to] replaced by s.
func splice(b []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(b)-(to-from)+len(s))
	out = append(out, b[:from]...)
	out = append(out, s...)
	return append(out, b[to:]...)
}

// IsUsageOnlyChunk reports whether an SSE data payload is the extra chunk
// that include_usage causes: a chat.completion.chunk or text_completion
// whose "choices" is an empty array and whose "usage" is an object. The
// proxy drops exactly that event from the client's view when it injected
// include_usage itself. data is not retained.
func IsUsageOnlyChunk(data []byte) bool {
	if !bytes.Contains(data, []byte(`"usage"`)) {
		return false
	}
	p := getParser()
	defer putParser(p, len(data))
	v, err := p.ParseBytes(data)
	if err != nil || v.Type() != fastjson.TypeObject {
		return false
	}
	switch string(v.GetStringBytes("object")) {
	case "chat.completion.chunk", "text_completion":
	default:
		return false
	}
	ch := v.Get("choices")
	if ch == nil || ch.Type() != fastjson.TypeArray || len(ch.GetArray()) != 0 {
		return false
	}
	u := v.Get("usage")
	return u != nil && u.Type() == fastjson.TypeObject
}
