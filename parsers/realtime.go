package parsers

import (
	"bytes"
	"time"

	"github.com/valohai/conduit/wsframe"
	"github.com/valyala/fastjson"
)

// realtimeConn reads the OpenAI Realtime API
// (https://platform.openai.com/docs/api-reference/realtime-server-events):
// JSON events both ways. A response runs from response.created to
// response.done, which carries its whole usage; responses may run side by
// side (out-of-band ones), told apart by their id. The session
// (session.created, session.updated) names the model and, when input audio
// is transcribed, the transcription model, whose usage arrives on
// conversation.item.input_audio_transcription.completed. A client
// response.create gives the next response its start; an error event whose
// event_id is a response.create's fails that request.
type realtimeConn struct {
	transcribeModel []byte
}

func (rc *realtimeConn) client(mm *MessageMeter, msg *wsframe.Message, at time.Time) {
	if msg.Oversize {
		// Only audio appends are this large: nothing to read.
		return
	}
	v := mm.parse(msg.Data)
	switch string(str(get(v, "type"))) {
	case "response.create":
		mm.push(pendingRequest{eventID: bytes.Clone(str(get(v, "event_id"))), at: at})
	case "session.update":
		rc.readSession(mm, get(v, "session"), false)
	}
}

// readSession keeps the models a session object names. The client's
// session.update says what it asks for; the server's session.created and
// session.updated say what it is, the model included.
func (rc *realtimeConn) readSession(mm *MessageMeter, s *fastjson.Value, server bool) {
	if !isObject(s) {
		return
	}
	if m := str(get(s, "model")); server && len(m) > 0 {
		mm.connModel = append(mm.connModel[:0], m...)
	}
	// GA sessions: audio.input.transcription; beta ones:
	// input_audio_transcription. A null turns transcription off.
	tr := get(s, "audio", "input", "transcription")
	if tr == nil {
		tr = get(s, "input_audio_transcription")
	}
	if tr == nil {
		return
	}
	rc.transcribeModel = append(rc.transcribeModel[:0], str(get(tr, "model"))...)
}

func (rc *realtimeConn) server(mm *MessageMeter, msg *wsframe.Message, at time.Time) {
	typ := mm.messageType(msg)
	switch string(typ) {
	case "session.created", "session.updated":
		if !msg.Oversize {
			rc.readSession(mm, get(mm.parse(msg.Data), "session"), true)
		}
	case "response.created":
		var id []byte
		if !msg.Oversize {
			id = str(get(mm.parse(msg.Data), "response", "id"))
		}
		p, ok := mm.pop()
		mm.begin(id, p, ok, at).feed(typ, msg)
	case "response.done":
		var id []byte
		if !msg.Oversize {
			id = str(get(mm.parse(msg.Data), "response", "id"))
		}
		o := mm.find(id)
		if o == nil {
			p, ok := mm.pop()
			o = mm.begin(id, p, ok, at)
		}
		o.feed(typ, msg)
		mm.end(o, at)
	case "conversation.item.input_audio_transcription.completed":
		if msg.Oversize || !isObject(get(mm.parse(msg.Data), "usage")) {
			return
		}
		// The transcription is billed apart, to its own model (unknown
		// when the session never named it, rather than the session's).
		o := mm.begin(nil, pendingRequest{}, false, at)
		o.m.req.Model, o.m.ep.Model = string(rc.transcribeModel), ""
		o.feed(typ, msg)
		mm.end(o, at)
	case "error":
		if msg.Oversize {
			return
		}
		v := mm.parse(msg.Data)
		id := str(get(v, "error", "event_id"))
		for i, p := range mm.pending {
			if len(id) > 0 && bytes.Equal(p.eventID, id) {
				mm.pending = append(mm.pending[:i], mm.pending[i+1:]...)
				o := mm.begin(nil, p, true, at)
				o.feed(typ, msg)
				mm.end(o, at)
				return
			}
		}
	}
}

// realtimeFormat reads one Realtime response: response.done's response
// object (status, status_details and usage), or a transcription's usage.
//
// response.usage has input_tokens (cached included) with
// input_token_details {cached_tokens, text_tokens, audio_tokens,
// image_tokens, cached_tokens_details}, and output_tokens with
// output_token_details {text_tokens, audio_tokens}; a transcription's
// usage ("type": "tokens") has input_tokens with input_token_details
// {text_tokens, audio_tokens} and output_tokens ("type": "duration" usage
// has no tokens). The cached tokens' split by modality stays in Raw only.
type realtimeFormat struct {
	input, cached, audioIn, imageIn count
	output, audioOut                count
	raw                             rawUsage
}

func (f *realtimeFormat) event(m *Meter, name, data []byte, oversize bool) {
	if oversize {
		if string(name) == "response.done" {
			m.tail(data)
			m.terminal = true
		}
		return
	}
	if v := m.parse(data); v != nil {
		f.eventValue(m, name, v)
	}
}

// eventValue reads a parsed event of type typ.
func (f *realtimeFormat) eventValue(m *Meter, typ []byte, v *fastjson.Value) {
	switch string(typ) {
	case "response.created":
		m.setID(get(v, "response", "id"))
	case "response.done":
		r := get(v, "response")
		m.setID(get(r, "id"))
		m.terminal = true
		if u := get(r, "usage"); isObject(u) {
			f.readUsage(m, u)
		}
		if string(str(get(r, "status"))) == "failed" {
			if e := get(r, "status_details", "error"); isObject(e) {
				m.fail(e)
			} else {
				m.failed = true
			}
		}
	case "conversation.item.input_audio_transcription.completed":
		m.terminal = true
		if u := get(v, "usage"); isObject(u) {
			f.readUsage(m, u)
		}
	case "error":
		if e := get(v, "error"); isObject(e) {
			m.fail(e)
		} else {
			m.failed = true
		}
	}
}

func (f *realtimeFormat) object(m *Meter, v *fastjson.Value) {
	f.eventValue(m, str(get(v, "type")), v)
}

func (*realtimeFormat) usageKey() string { return "usage" }

// readUsage reads a response's (or a transcription's) usage object.
func (f *realtimeFormat) readUsage(_ *Meter, u *fastjson.Value) {
	f.input.set(get(u, "input_tokens"), "input_tokens")
	f.output.set(get(u, "output_tokens"), "output_tokens")
	if d := get(u, "input_token_details"); d != nil {
		f.cached.set(get(d, "cached_tokens"), "input_token_details.cached_tokens")
		f.audioIn.set(get(d, "audio_tokens"), "input_token_details.audio_tokens")
		f.imageIn.set(get(d, "image_tokens"), "input_token_details.image_tokens")
	}
	if d := get(u, "output_token_details"); d != nil {
		f.audioOut.set(get(d, "audio_tokens"), "output_token_details.audio_tokens")
	}
	f.raw.set(u)
}

func (f *realtimeFormat) fill(r *Result) (seen, inputKnown bool) {
	var t tally
	t.add(&f.input, &f.cached, &f.audioIn, &f.imageIn, &f.output, &f.audioOut)
	r.Invalid = t.problem
	u := &r.Usage
	u.InputTokens, u.CachedInputTokens = f.input.v, f.cached.v
	u.AudioInputTokens, u.ImageInputTokens = f.audioIn.v, f.imageIn.v
	u.OutputTokens, u.AudioOutputTokens = f.output.v, f.audioOut.v
	u.Raw = f.raw.keep()
	return t.seen, f.input.ok
}
