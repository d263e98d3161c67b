package parsers

import (
	"bytes"
	"time"

	"github.com/valohai/conduit/wsframe"
	"github.com/valyala/fastjson"
)

// liveConn reads the Gemini Live API
// (https://ai.google.dev/api/live): the client's first message is setup
// (naming the model), then clientContent, realtimeInput and toolResponse;
// the server sends setupComplete, then serverContent (parts of the model's
// turn, ending with turnComplete), toolCall and the like, any of them
// carrying usageMetadata for the turn. One model turn is one response. Its
// start is the last client message before the turn's first server message
// (when there was one since the last turn), else that first message. A
// turnComplete message without usageMetadata leaves the turn waiting for
// the next server message: when that holds usageMetadata only, it is the
// turn's final usage; otherwise (or at the end of the connection) the turn
// is reported with what it had.
type liveConn struct {
	lastClient time.Time // the last client content message
	lastEnd    time.Time // when the last turn ended
	held       *openResponse
	heldAt     time.Time // when the held turn completed
}

func (lc *liveConn) client(mm *MessageMeter, msg *wsframe.Message, at time.Time) {
	if msg.Oversize {
		lc.lastClient = at
		return
	}
	v := mm.parse(msg.Data)
	if s := get(v, "setup"); isObject(s) {
		if model := liveModel(str(get(s, "model"))); len(model) > 0 {
			mm.connModel = append(mm.connModel[:0], model...)
		}
		return
	}
	if v != nil {
		lc.lastClient = at
	}
}

// flush reports a turn held for its usage when the connection ends.
func (lc *liveConn) flush(mm *MessageMeter) {
	if lc.held != nil {
		mm.end(lc.held, lc.heldAt)
		lc.held = nil
	}
}

// liveModel is the model of a setup's "models/{model}" (or Vertex's
// "projects/…/publishers/google/models/{model}").
func liveModel(name []byte) []byte {
	if i := bytes.LastIndex(name, []byte("models/")); i >= 0 {
		return name[i+len("models/"):]
	}
	return name
}

func (lc *liveConn) server(mm *MessageMeter, msg *wsframe.Message, at time.Time) {
	var v *fastjson.Value
	if !msg.Oversize {
		if v = mm.parse(msg.Data); v == nil {
			return
		}
	}
	content, tool, usage := get(v, "serverContent"), get(v, "toolCall"), get(v, "usageMetadata")
	if lc.held != nil {
		o := lc.held
		lc.held = nil
		if isObject(usage) && content == nil && tool == nil {
			// The usage of the turn just completed.
			o.m.f.object(o.m, v)
			mm.end(o, lc.heldAt)
			return
		}
		mm.end(o, lc.heldAt)
	}
	if !msg.Oversize && content == nil && tool == nil && !isObject(usage) {
		return // setupComplete, goAway, sessionResumptionUpdate, …
	}
	o := mm.current()
	if o == nil {
		p := pendingRequest{at: at}
		if lc.lastClient.After(lc.lastEnd) {
			p.at = lc.lastClient
		}
		o = mm.begin(nil, p, true, at)
	}
	if msg.Oversize {
		o.feed(nil, msg)
	} else {
		o.m.f.object(o.m, v)
	}
	if !o.m.terminal {
		return
	}
	lc.lastEnd = at
	if !isObject(usage) {
		// The final totals may follow in a message of their own.
		lc.held, lc.heldAt = o, at
		return
	}
	mm.end(o, at)
}

// liveFormat reads one Live turn: the last usageMetadata sent (each repeats
// the turn's totals), and its end at serverContent.turnComplete.
//
// Usage is Gemini's (see geminiFormat) except that the output is
// responseTokenCount (candidatesTokenCount where a server sends that) and
// its modalities responseTokensDetails: input is promptTokenCount (cached
// content included) plus toolUsePromptTokenCount, cache reads are
// cachedContentTokenCount, output adds thoughtsTokenCount, and the audio
// and image shares come from the AUDIO and IMAGE entries of the details.
type liveFormat struct {
	prompt, response, candidates, thoughts, toolUse, cached count
	audioIn, imageIn, audioOut, imageOut                    count
	raw                                                     rawUsage
}

func (f *liveFormat) event(m *Meter, _, data []byte, oversize bool) {
	if oversize {
		m.tail(data)
		if bytes.Contains(data, []byte(`"turnComplete":true`)) {
			m.terminal = true
		}
		return
	}
	if v := m.parse(data); v != nil {
		f.object(m, v)
	}
}

func (f *liveFormat) object(m *Meter, v *fastjson.Value) {
	if u := get(v, "usageMetadata"); isObject(u) {
		f.readUsage(m, u)
	}
	if t := get(v, "serverContent", "turnComplete"); t != nil && t.Type() == fastjson.TypeTrue {
		m.terminal = true
	}
}

func (*liveFormat) usageKey() string { return "usageMetadata" }

func (f *liveFormat) readUsage(_ *Meter, u *fastjson.Value) {
	f.prompt.set(get(u, "promptTokenCount"), "promptTokenCount")
	f.response.set(get(u, "responseTokenCount"), "responseTokenCount")
	f.candidates.set(get(u, "candidatesTokenCount"), "candidatesTokenCount")
	f.thoughts.set(get(u, "thoughtsTokenCount"), "thoughtsTokenCount")
	f.toolUse.set(get(u, "toolUsePromptTokenCount"), "toolUsePromptTokenCount")
	f.cached.set(get(u, "cachedContentTokenCount"), "cachedContentTokenCount")
	prompt := get(u, "promptTokensDetails")
	out := get(u, "responseTokensDetails")
	if out == nil {
		out = get(u, "candidatesTokensDetails")
	}
	f.audioIn.setModality(prompt, "AUDIO", "promptTokensDetails")
	f.imageIn.setModality(prompt, "IMAGE", "promptTokensDetails")
	f.audioOut.setModality(out, "AUDIO", "responseTokensDetails")
	f.imageOut.setModality(out, "IMAGE", "responseTokensDetails")
	f.raw.set(u)
}

func (f *liveFormat) fill(r *Result) (seen, inputKnown bool) {
	var t tally
	t.add(&f.prompt, &f.response, &f.candidates, &f.thoughts, &f.toolUse, &f.cached,
		&f.audioIn, &f.imageIn, &f.audioOut, &f.imageOut)
	r.Invalid = t.problem
	u := &r.Usage
	out := f.response.v
	if !f.response.ok {
		out = f.candidates.v
	}
	u.InputTokens = f.prompt.v + f.toolUse.v
	u.CachedInputTokens = f.cached.v
	u.OutputTokens = out + f.thoughts.v
	u.ReasoningTokens = f.thoughts.v
	u.AudioInputTokens, u.ImageInputTokens = f.audioIn.v, f.imageIn.v
	u.AudioOutputTokens, u.ImageOutputTokens = f.audioOut.v, f.imageOut.v
	u.Raw = f.raw.keep()
	return t.seen, f.prompt.ok || f.toolUse.ok
}
