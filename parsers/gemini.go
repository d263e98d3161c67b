package parsers

import (
	"github.com/valohai/conduit/sse"
	"github.com/valyala/fastjson"
)

// Gemini generateContent and streamGenerateContent (PROTOCOLS A5), also on
// Vertex AI.
//
// Every chunk's usageMetadata repeats running totals, so each count keeps
// its last value, and a chunk without usageMetadata changes nothing. The
// stream comes as SSE with CRLF line ends (alt=sse) or, without alt=sse, as
// one JSON array streamed element by element. Input is promptTokenCount
// (cached content included) plus toolUsePromptTokenCount (billed as input);
// cache reads are cachedContentTokenCount; output is candidatesTokenCount +
// thoughtsTokenCount, and reasoning is thoughtsTokenCount. A chunk with a
// finishReason, or a prompt blocked by promptFeedback.blockReason (a 200
// without candidates), ends the response.

func (m *Meter) geminiEvent(ev *sse.Event) {
	if ev.Oversize {
		m.tail(ev.Data)
		return
	}
	if v := m.parse(ev.Data); v != nil {
		m.geminiObject(v)
	}
}

// geminiObject reads one GenerateContentResponse (or an error body).
func (m *Meter) geminiObject(v *fastjson.Value) {
	if e := v.Get("error"); e != nil && e.Type() == fastjson.TypeObject {
		m.fail(e)
	}
	m.setModel(v.Get("modelVersion"))
	m.setID(v.Get("responseId"))
	if u := v.Get("usageMetadata"); u != nil && u.Type() == fastjson.TypeObject {
		m.geminiUsage(u)
	}
	for _, c := range v.GetArray("candidates") {
		if len(str(c.Get("finishReason"))) > 0 {
			m.terminal = true
		}
	}
	if len(str(v.Get("promptFeedback", "blockReason"))) > 0 {
		m.terminal = true
	}
}

// geminiUsage reads one usageMetadata object.
func (m *Meter) geminiUsage(u *fastjson.Value) {
	m.set(sGemPrompt, u.Get("promptTokenCount"))
	m.set(sGemCandidates, u.Get("candidatesTokenCount"))
	m.set(sGemThoughts, u.Get("thoughtsTokenCount"))
	m.set(sGemToolUse, u.Get("toolUsePromptTokenCount"))
	m.set(sGemCached, u.Get("cachedContentTokenCount"))
	m.setRaw(u)
}
