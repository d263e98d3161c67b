package parsers

import (
	"github.com/valohai/conduit/sse"
	"github.com/valyala/fastjson"
)

// Anthropic Messages (PROTOCOLS A4), mirroring the SDK's accumulation.
//
// The stream starts from message_start.message.usage, the only place with
// the cache_creation 5m/1h split and service_tier; every message_delta
// usage then replaces the counts it carries (they are cumulative, there may
// be several, and some compatible servers send only output_tokens). The
// stream ends at message_stop; an "error" event (possible after a 200)
// marks the call failed and keeps what usage arrived. Content deltas and
// pings are skipped without parsing.
//
// Usage.Raw for Anthropic is a merged object: the message_start usage with
// each later usage's non-null members replacing (or, if new, appending)
// the members of the same name, in first-seen order. For a non-streaming
// body it is that body's usage object.

func (m *Meter) anthropicEvent(ev *sse.Event) {
	switch string(ev.Type) {
	case "content_block_delta", "content_block_start", "content_block_stop", "ping":
		return
	}
	if ev.Oversize {
		m.tail(ev.Data)
		if string(ev.Type) == "message_stop" {
			m.terminal = true
		}
		return
	}
	v := m.parse(ev.Data)
	if v == nil {
		if string(ev.Type) == "error" {
			m.failText("error", ev.Data)
		}
		return
	}
	typ := str(v.Get("type"))
	if len(typ) == 0 {
		typ = ev.Type
	}
	switch string(typ) {
	case "message_start":
		msg := v.Get("message")
		if msg == nil || msg.Type() != fastjson.TypeObject {
			return
		}
		m.setModel(msg.Get("model"))
		m.setID(msg.Get("id"))
		if u := msg.Get("usage"); u != nil && u.Type() == fastjson.TypeObject {
			m.anthropicUsage(u)
		}
	case "message_delta":
		if u := v.Get("usage"); u != nil && u.Type() == fastjson.TypeObject {
			m.anthropicUsage(u)
		}
	case "message_stop":
		m.terminal = true
	case "error":
		if e := v.Get("error"); e != nil && e.Type() == fastjson.TypeObject {
			m.fail(e)
		} else {
			m.fail(v)
		}
	}
}

// anthropicObject reads a non-streaming body: a message, or an error.
func (m *Meter) anthropicObject(v *fastjson.Value) {
	if string(str(v.Get("type"))) == "error" {
		m.fail(v.Get("error"))
		return
	}
	m.setModel(v.Get("model"))
	m.setID(v.Get("id"))
	if u := v.Get("usage"); u != nil && u.Type() == fastjson.TypeObject {
		m.anthropicUsage(u)
	}
}

// anthropicUsage applies one usage object: each count it carries (non-null)
// replaces the one held.
func (m *Meter) anthropicUsage(u *fastjson.Value) {
	m.set(sAnthInput, u.Get("input_tokens"))
	m.set(sCacheWrite, u.Get("cache_creation_input_tokens"))
	m.set(sAnthRead, u.Get("cache_read_input_tokens"))
	m.set(sCW5m, u.Get("cache_creation", "ephemeral_5m_input_tokens"))
	m.set(sCW1h, u.Get("cache_creation", "ephemeral_1h_input_tokens"))
	m.set(sOutput, u.Get("output_tokens"))
	m.set(sReasoning, u.Get("output_tokens_details", "thinking_tokens"))
	m.mergeRaw(u)
}

// maxMergedMembers bounds the merged usage object (Anthropic's has about
// ten members), so a hostile stream cannot grow it without limit.
const maxMergedMembers = 64

// mergeRaw folds u's non-null members into the merged raw usage object.
func (m *Meter) mergeRaw(u *fastjson.Value) {
	o, err := u.Object()
	if err != nil {
		return
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if v.Type() == fastjson.TypeNull {
			return
		}
		for i := range m.merged {
			if m.merged[i].key == string(k) {
				m.merged[i].val = v.MarshalTo(m.merged[i].val[:0])
				return
			}
		}
		if len(m.merged) < maxMergedMembers {
			m.merged = append(m.merged, rawMember{key: string(k), val: v.MarshalTo(nil)})
		}
	})
}

// mergedRaw returns the merged usage object as JSON (nil if none).
func (m *Meter) mergedRaw() []byte {
	if len(m.merged) == 0 {
		return nil
	}
	out := []byte{'{'}
	for i, kv := range m.merged {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendQuoted(out, []byte(kv.key))
		out = append(out, ':')
		out = append(out, kv.val...)
	}
	return append(out, '}')
}
