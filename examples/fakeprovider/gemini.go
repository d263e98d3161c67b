package fakeprovider

import (
	"bytes"
	"encoding/json"
	"strings"
)

type geminiResponse struct {
	Candidates    []geminiCandidate `json:"candidates"`
	UsageMetadata *geminiUsage      `json:"usageMetadata,omitempty"`
	ModelVersion  string            `json:"modelVersion"`
	ResponseID    string            `json:"responseId"`
}

type geminiCandidate struct {
	Content      geminiContent `json:"content"`
	FinishReason string        `json:"finishReason,omitempty"`
	Index        *int          `json:"index,omitempty"`
}

type geminiContent struct {
	Parts []geminiPart `json:"parts"`
	Role  string       `json:"role"`
}

type geminiPart struct {
	Text string `json:"text"`
}

// geminiUsage is usageMetadata; like the API, zero counts other than the
// prompt and total are left out.
type geminiUsage struct {
	PromptTokenCount        int              `json:"promptTokenCount"`
	CandidatesTokenCount    int              `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int              `json:"totalTokenCount"`
	CachedContentTokenCount int              `json:"cachedContentTokenCount,omitempty"`
	PromptTokensDetails     []geminiModality `json:"promptTokensDetails,omitempty"`
	CacheTokensDetails      []geminiModality `json:"cacheTokensDetails,omitempty"`
	ThoughtsTokenCount      int              `json:"thoughtsTokenCount,omitempty"`
}

type geminiModality struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

// geminiModel is the model named in a path such as
// /v1beta/models/gemini-2.0-flash:generateContent.
func geminiModel(path string) string {
	i := strings.LastIndex(path, "models/")
	if i < 0 {
		return ""
	}
	m := path[i+len("models/"):]
	if j := strings.IndexByte(m, ':'); j >= 0 {
		m = m[:j]
	}
	return m
}

// geminiUsageOf is the running usage after `words` content words (thoughts
// are all counted from the first chunk on).
func geminiUsageOf(p *plan, words int) *geminiUsage {
	u := p.usage()
	g := &geminiUsage{
		PromptTokenCount:        u.InputTokens,
		CandidatesTokenCount:    words,
		TotalTokenCount:         u.InputTokens + words + u.ReasoningTokens,
		CachedContentTokenCount: u.CachedInputTokens,
		PromptTokensDetails:     []geminiModality{{"TEXT", u.InputTokens}},
		ThoughtsTokenCount:      u.ReasoningTokens,
	}
	if u.CachedInputTokens > 0 {
		g.CacheTokensDetails = []geminiModality{{"TEXT", u.CachedInputTokens}}
	}
	return g
}

func geminiResponseID(p *plan) string {
	return p.id("gemini", func() string { return makeID(p.seed, "gemini-response", 22) })
}

// geminiChunk is one response (or stream chunk) carrying text.
func (p *plan) geminiChunk(text string, final bool, words int) geminiResponse {
	c := geminiCandidate{Content: geminiContent{Parts: []geminiPart{{Text: text}}, Role: "model"}}
	if final {
		zero := 0
		c.FinishReason, c.Index = "STOP", &zero
	}
	return geminiResponse{
		Candidates:    []geminiCandidate{c},
		UsageMetadata: geminiUsageOf(p, words),
		ModelVersion:  p.respModel,
		ResponseID:    geminiResponseID(p),
	}
}

// serveGemini answers :generateContent (one pretty-printed JSON object) and
// :streamGenerateContent: with alt=sse, CRLF-framed events whose data is
// JSON with ": " separators; without, one streamed pretty-printed JSON
// array, flushed per element.
func serveGemini(e *emitter, p *plan) {
	if !p.stream {
		e.whole(200, "application/json; charset=UTF-8", geminiIndent(marshal(p.geminiChunk(p.text(), true, p.events))))
		return
	}
	sse := p.query.Get("alt") == "sse"
	if sse {
		e.startStream("text/event-stream")
	} else {
		e.startStream("application/json; charset=UTF-8")
	}
	e.run(&geminiStream{p: p, sse: sse}, p, p.events)
}

// geminiStream generates one chunk per word with running usageMetadata,
// then a final chunk with finishReason STOP and the full usage.
type geminiStream struct {
	p     *plan
	sse   bool
	count int // elements written (array mode)
}

func (s *geminiStream) send(e *emitter, v any) {
	b := marshal(v)
	if s.sse {
		out := append([]byte("data: "), geminiSpaced(b)...)
		e.frame(append(out, "\r\n\r\n"...))
		return
	}
	sep := "["
	if s.count > 0 {
		sep = "\n,\r\n"
	}
	s.count++
	e.frame(append([]byte(sep), geminiIndent(b)...))
}

func (s *geminiStream) end(e *emitter) {
	if s.sse {
		return
	}
	if s.count == 0 {
		e.frame([]byte("["))
	}
	e.frame([]byte("\n]"))
}

func (s *geminiStream) preamble(*emitter) {}

func (s *geminiStream) content(e *emitter, i int, text string) {
	s.send(e, s.p.geminiChunk(text, false, i+1))
}

func (s *geminiStream) trailer(e *emitter) {
	s.send(e, s.p.geminiChunk("", true, s.p.events))
	s.end(e)
}

func (s *geminiStream) fail(e *emitter) {
	s.send(e, geminiError{Error: geminiErrorDetail{Code: 500, Message: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", Status: "INTERNAL"}})
	s.end(e)
}

// serveGeminiCount answers :countTokens.
func serveGeminiCount(e *emitter, p *plan) {
	e.whole(200, "application/json; charset=UTF-8", geminiIndent(marshal(struct {
		TotalTokens         int              `json:"totalTokens"`
		PromptTokensDetails []geminiModality `json:"promptTokensDetails"`
	}{p.prompt, []geminiModality{{"TEXT", p.prompt}}})))
}

// geminiIndent pretty-prints JSON with two-space indents, as Gemini's
// JSON bodies are.
func geminiIndent(b []byte) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return b
	}
	return out.Bytes()
}

// geminiSpaced puts a space after every ':' outside strings, as Gemini's
// SSE data lines have ({"text": "Hi"},"role": "model").
func geminiSpaced(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/8)
	inString, escaped := false, false
	for _, c := range b {
		out = append(out, c)
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == ':':
			out = append(out, ' ')
		}
	}
	return out
}
