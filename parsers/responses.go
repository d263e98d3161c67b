package parsers

import (
	"github.com/valohai/conduit/sse"
	"github.com/valyala/fastjson"
)

// OpenAI Responses (PROTOCOLS A3).
//
// Streams name each event (event: response.output_text.delta, …) and repeat
// the name in data.type; there is no [DONE]. The response object, with its
// "usage" (null until the end), rides on response.created, .in_progress,
// .queued and the terminal .completed, .incomplete and .failed events. The
// terminal events embed the whole output and can be several MB: past the
// scanner's cap their data tail still holds the usage, found by its key. A
// top-level {"type":"error"} event reports a failure. Deltas and other
// events carry no usage and are skipped without parsing.

func (m *Meter) responsesEvent(ev *sse.Event) {
	switch string(ev.Type) {
	case "", "error", "response.created", "response.in_progress", "response.queued",
		"response.completed", "response.incomplete", "response.failed":
	default:
		return
	}
	name := string(ev.Type)
	if ev.Oversize {
		m.tail(ev.Data)
		m.responsesTerminal(name, nil)
		return
	}
	v := m.parse(ev.Data)
	if v == nil {
		if name == "error" {
			m.failText("error", ev.Data)
		}
		return
	}
	if t := str(v.Get("type")); len(t) > 0 {
		name = string(t)
	}
	if name == "error" {
		m.responsesError(v)
		return
	}
	r := v.Get("response")
	if r == nil || r.Type() != fastjson.TypeObject {
		return
	}
	m.setModel(r.Get("model"))
	m.setID(r.Get("id"))
	if u := r.Get("usage"); u != nil && u.Type() == fastjson.TypeObject {
		m.responsesUsage(u)
	}
	m.responsesTerminal(name, r)
}

// responsesTerminal marks the end of the stream on a terminal event; r is
// the response object, nil when it could not be read.
func (m *Meter) responsesTerminal(name string, r *fastjson.Value) {
	switch name {
	case "response.completed", "response.incomplete":
		m.terminal = true
	case "response.failed":
		m.terminal = true
		m.failed = true
		if r != nil {
			if e := r.Get("error"); e != nil && e.Type() == fastjson.TypeObject {
				m.responsesError(e)
			}
		}
	}
}

// responsesError records an error object ({code, message} or a top-level
// error event {type:"error", code, message}).
func (m *Meter) responsesError(e *fastjson.Value) {
	m.failed = true
	code := e.Get("code")
	typ := str(code)
	if typ == nil && code != nil && code.Type() == fastjson.TypeNumber {
		typ = code.MarshalTo(nil)
	}
	if typ == nil {
		if t := str(e.Get("type")); string(t) != "error" {
			typ = t
		}
	}
	m.errType = appendCut(m.errType[:0], typ)
	m.errMsg = appendCut(m.errMsg[:0], str(e.Get("message")))
}

// responsesObject reads a non-streaming response body: the response object
// itself, or an {"error":{…}} body.
func (m *Meter) responsesObject(v *fastjson.Value) {
	m.setModel(v.Get("model"))
	m.setID(v.Get("id"))
	if u := v.Get("usage"); u != nil && u.Type() == fastjson.TypeObject {
		m.responsesUsage(u)
	}
	if e := v.Get("error"); e != nil && e.Type() == fastjson.TypeObject {
		m.responsesError(e)
	} else if string(str(v.Get("status"))) == "failed" {
		m.failed = true
	}
}

// responsesUsage reads one Responses usage object.
func (m *Meter) responsesUsage(u *fastjson.Value) {
	m.set(sInput, u.Get("input_tokens"))
	m.set(sCached, u.Get("input_tokens_details", "cached_tokens"))
	m.set(sOutput, u.Get("output_tokens"))
	m.set(sReasoning, u.Get("output_tokens_details", "reasoning_tokens"))
	m.setRaw(u)
}
