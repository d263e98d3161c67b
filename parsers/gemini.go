package parsers

import "github.com/valyala/fastjson"

// geminiFormat reads Gemini generateContent and streamGenerateContent,
// also on Vertex AI (https://ai.google.dev/api/generate-content).
//
// Every chunk's usageMetadata repeats running totals, so each count keeps
// its last value, and a chunk without usageMetadata changes nothing. The
// stream comes as SSE with CRLF line ends (alt=sse) or, without alt=sse, as
// one JSON array streamed element by element. Input is promptTokenCount
// (cached content included) plus toolUsePromptTokenCount (billed as input);
// cache reads are cachedContentTokenCount; output is candidatesTokenCount +
// thoughtsTokenCount, and reasoning is thoughtsTokenCount. The audio and
// image shares come from the AUDIO and IMAGE entries of promptTokensDetails
// and candidatesTokensDetails. A chunk with a finishReason, or a prompt
// blocked by promptFeedback.blockReason (a 200 without candidates), ends
// the response.
type geminiFormat struct {
	prompt, candidates, thoughts, toolUse, cached count
	audioIn, imageIn, audioOut, imageOut          count
	raw                                           rawUsage // the usageMetadata as last seen
}

func (f *geminiFormat) event(m *Meter, _, data []byte, oversize bool) {
	if oversize {
		m.tail(data)
		return
	}
	if v := m.parse(data); v != nil {
		f.object(m, v)
	}
}

// object reads one GenerateContentResponse (or an error body).
func (f *geminiFormat) object(m *Meter, v *fastjson.Value) {
	if e := get(v, "error"); isObject(e) {
		m.fail(e)
	}
	m.setModel(get(v, "modelVersion"))
	m.setID(get(v, "responseId"))
	if u := get(v, "usageMetadata"); isObject(u) {
		f.readUsage(m, u)
	}
	if c := get(v, "candidates"); c != nil && c.Type() == fastjson.TypeArray {
		items, _ := c.Array()
		for _, it := range items {
			if len(str(get(it, "finishReason"))) > 0 {
				m.terminal = true
			}
		}
	}
	if len(str(get(v, "promptFeedback", "blockReason"))) > 0 {
		m.terminal = true
	}
}

func (*geminiFormat) usageKey() string { return "usageMetadata" }

// readUsage reads one usageMetadata object.
func (f *geminiFormat) readUsage(_ *Meter, u *fastjson.Value) {
	f.prompt.set(get(u, "promptTokenCount"), "promptTokenCount")
	f.candidates.set(get(u, "candidatesTokenCount"), "candidatesTokenCount")
	f.thoughts.set(get(u, "thoughtsTokenCount"), "thoughtsTokenCount")
	f.toolUse.set(get(u, "toolUsePromptTokenCount"), "toolUsePromptTokenCount")
	f.cached.set(get(u, "cachedContentTokenCount"), "cachedContentTokenCount")
	prompt, candidates := get(u, "promptTokensDetails"), get(u, "candidatesTokensDetails")
	f.audioIn.setModality(prompt, "AUDIO", "promptTokensDetails")
	f.imageIn.setModality(prompt, "IMAGE", "promptTokensDetails")
	f.audioOut.setModality(candidates, "AUDIO", "candidatesTokensDetails")
	f.imageOut.setModality(candidates, "IMAGE", "candidatesTokensDetails")
	f.raw.set(u)
}

// readTail reads the members Gemini puts after usageMetadata, at the very
// end of a response.
func (*geminiFormat) readTail(m *Meter, b []byte) {
	m.setModel(m.tailString(b, "modelVersion"))
	m.setID(m.tailString(b, "responseId"))
	// The last candidate's finishReason closes its text, so a tail that
	// holds the usage usually holds it too.
	if s := findTailValue(b, "finishReason", '"'); len(s) > 2 {
		m.terminal = true
	}
}

func (f *geminiFormat) fill(r *Result) (seen, inputKnown bool) {
	var t tally
	t.add(&f.prompt, &f.candidates, &f.thoughts, &f.toolUse, &f.cached,
		&f.audioIn, &f.imageIn, &f.audioOut, &f.imageOut)
	r.Invalid = t.problem
	u := &r.Usage
	// Tool-use prompts are billed as input; thoughts are billed as output
	// but are not in candidatesTokenCount.
	u.InputTokens = f.prompt.v + f.toolUse.v
	u.CachedInputTokens = f.cached.v
	u.OutputTokens = f.candidates.v + f.thoughts.v
	u.ReasoningTokens = f.thoughts.v
	u.AudioInputTokens, u.ImageInputTokens = f.audioIn.v, f.imageIn.v
	u.AudioOutputTokens, u.ImageOutputTokens = f.audioOut.v, f.imageOut.v
	u.Raw = f.raw.keep()
	return t.seen, f.prompt.ok || f.toolUse.ok
}
