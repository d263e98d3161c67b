package fakeprovider

import "time"

type ollamaMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ollamaChunk is one NDJSON line of /api/chat or /api/generate, or the
// whole non-streaming answer; the statistics are on the done:true object.
type ollamaChunk struct {
	Model              string         `json:"model"`
	CreatedAt          string         `json:"created_at"`
	Message            *ollamaMessage `json:"message,omitempty"`
	Response           *string        `json:"response,omitempty"`
	Done               bool           `json:"done"`
	DoneReason         string         `json:"done_reason,omitempty"`
	Context            []int          `json:"context,omitempty"`
	TotalDuration      int64          `json:"total_duration,omitempty"`
	LoadDuration       int64          `json:"load_duration,omitempty"`
	PromptEvalCount    *int           `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64          `json:"prompt_eval_duration,omitempty"`
	EvalCount          *int           `json:"eval_count,omitempty"`
	EvalDuration       int64          `json:"eval_duration,omitempty"`
}

// ollamaChunkOf is a chunk carrying text; i orders created_at.
func (p *plan) ollamaChunk(i int, text string) ollamaChunk {
	c := ollamaChunk{
		Model:     p.respModel,
		CreatedAt: p.now.Add(time.Duration(i) * time.Millisecond).UTC().Format(time.RFC3339Nano),
	}
	if p.ep.name == "/api/generate" {
		c.Response = &text
	} else {
		c.Message = &ollamaMessage{Role: "assistant", Content: text}
	}
	return c
}

// ollamaDone is the final object: done:true with the counts and
// deterministic durations (0.1 ms per prompt token, 1 ms per output token,
// 1 ms to load).
func (p *plan) ollamaDone(i int, text string) ollamaChunk {
	c := p.ollamaChunk(i, text)
	u := p.usage()
	in, out := u.InputTokens, u.OutputTokens
	c.Done = true
	c.DoneReason = "stop"
	if p.ep.name == "/api/generate" {
		c.Context = []int{1, 2, 3}
	}
	c.LoadDuration = int64(time.Millisecond)
	c.PromptEvalCount = &in
	c.PromptEvalDuration = int64(in) * int64(100*time.Microsecond)
	c.EvalCount = &out
	c.EvalDuration = int64(out) * int64(time.Millisecond)
	c.TotalDuration = c.LoadDuration + c.PromptEvalDuration + c.EvalDuration
	return c
}

// serveOllama answers /api/chat and /api/generate: NDJSON by default,
// one object with "stream": false.
func serveOllama(e *emitter, p *plan) {
	if !p.stream {
		e.object("application/json; charset=utf-8", p.ollamaDone(0, p.text()))
		return
	}
	e.startStream("application/x-ndjson")
	e.run(&ollamaStream{p: p}, p, p.events)
}

// ollamaStream writes one line per word, then the done:true line.
type ollamaStream struct{ p *plan }

func (s *ollamaStream) line(e *emitter, v any) {
	e.frame(append(marshal(v), '\n'))
}

func (s *ollamaStream) preamble(*emitter) {}

func (s *ollamaStream) content(e *emitter, i int, text string) {
	s.line(e, s.p.ollamaChunk(i, text))
}

func (s *ollamaStream) trailer(e *emitter) {
	s.line(e, s.p.ollamaDone(s.p.events, ""))
}

func (s *ollamaStream) fail(e *emitter) {
	s.line(e, ollamaError{Error: "an error was encountered while running the model: unexpected EOF"})
}
