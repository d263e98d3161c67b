package fakeprovider

import "encoding/json"

// responseObject is an OpenAI Responses API response object.
type responseObject struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Status             string            `json:"status"`
	Background         bool              `json:"background"`
	Error              json.RawMessage   `json:"error"`
	IncompleteDetails  json.RawMessage   `json:"incomplete_details"`
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Model              string            `json:"model"`
	Output             []responseItem    `json:"output"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          responseReasoning `json:"reasoning"`
	ServiceTier        string            `json:"service_tier"`
	Store              bool              `json:"store"`
	Temperature        float64           `json:"temperature"`
	Text               responseText      `json:"text"`
	ToolChoice         string            `json:"tool_choice"`
	Tools              []any             `json:"tools"`
	TopP               float64           `json:"top_p"`
	Truncation         string            `json:"truncation"`
	Usage              *responseUsage    `json:"usage"`
	User               *string           `json:"user"`
	Metadata           map[string]string `json:"metadata"`
}

type responseReasoning struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type responseText struct {
	Format struct {
		Type string `json:"type"`
	} `json:"format"`
}

// responseItem is an output item of type message.
type responseItem struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Content []outputText `json:"content"`
	Role    string       `json:"role"`
}

type outputText struct {
	Type        string `json:"type"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
	Text        string `json:"text"`
}

type responseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// responseEvent is one Responses stream event; the fields an event type
// does not use are omitted.
type responseEvent struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       *responseObject `json:"response,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	Item           *responseItem   `json:"item,omitempty"`
	Part           *outputText     `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Logprobs       json.RawMessage `json:"logprobs,omitempty"`
}

// responseErrorEvent is the top-level error event of a Responses stream.
type responseErrorEvent struct {
	Type           string  `json:"type"`
	SequenceNumber int     `json:"sequence_number"`
	Code           string  `json:"code"`
	Message        string  `json:"message"`
	Param          *string `json:"param"`
}

// emptyList is a JSON [] that survives omitempty.
var emptyList = json.RawMessage("[]")

func responseID(p *plan) string {
	return p.id("resp", func() string { return "resp_" + makeHexID(p.seed, "resp", 48) })
}

func messageID(p *plan) string {
	return p.id("resp-msg", func() string { return "msg_" + makeHexID(p.seed, "resp-msg", 48) })
}

// Statuses of a Responses response object.
const (
	statusInProgress = "in_progress"
	statusCompleted  = "completed"
	statusFailed     = "failed"
	statusIncomplete = "incomplete"
)

// response builds the response object with the given status: a completed
// or incomplete one carries the text and usage, an in-progress one
// neither, a failed one the error and no usage.
func (p *plan) response(status, text string) *responseObject {
	r := &responseObject{
		ID:                responseID(p),
		Object:            "response",
		CreatedAt:         p.created(),
		Status:            statusInProgress,
		Error:             jsonNull,
		IncompleteDetails: jsonNull,
		Model:             p.respModel,
		Output:            []responseItem{},
		ParallelToolCalls: true,
		ServiceTier:       "auto",
		Store:             true,
		Temperature:       1,
		ToolChoice:        "auto",
		Tools:             []any{},
		TopP:              1,
		Truncation:        "disabled",
		Metadata:          map[string]string{},
	}
	r.Text.Format.Type = "text"
	if s, ok := p.req.get("instructions").(string); ok {
		r.Instructions = &s
	}
	if s, ok := p.req.get("previous_response_id").(string); ok {
		r.PreviousResponseID = &s
	}
	if n := p.req.integer("max_output_tokens"); n >= 0 {
		r.MaxOutputTokens = &n
	}
	switch status {
	case statusFailed:
		r.Status = statusFailed
		r.Error = marshal(map[string]string{"code": "server_error", "message": serverErrorMessage})
	case statusCompleted, statusIncomplete:
		r.Status = status
		r.ServiceTier = "default"
		r.Output = []responseItem{}
		if !p.prewarm {
			r.Output = []responseItem{p.responseItem(status, text)}
		}
		if status == statusIncomplete {
			r.IncompleteDetails = marshal(map[string]string{"reason": "max_output_tokens"})
		}
		u := p.usage()
		ru := &responseUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.InputTokens + u.OutputTokens}
		ru.InputTokensDetails.CachedTokens = u.CachedInputTokens
		ru.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
		r.Usage = ru
	}
	return r
}

// serverErrorMessage is OpenAI's message for a 500.
const serverErrorMessage = "The server had an error while processing your request. Sorry about that!"

// endStatus is how a complete response ends: completed, or incomplete under
// the incomplete knob.
func (p *plan) endStatus() string {
	if p.k.incomplete {
		return statusIncomplete
	}
	return statusCompleted
}

// responseItem is the assistant message item; an in-progress one has no
// content yet.
func (p *plan) responseItem(status, text string) responseItem {
	it := responseItem{ID: messageID(p), Type: "message", Status: status, Content: []outputText{}, Role: "assistant"}
	if status != statusInProgress {
		it.Content = []outputText{newOutputText(text)}
	}
	return it
}

func newOutputText(text string) outputText {
	return outputText{Type: "output_text", Annotations: []any{}, Logprobs: []any{}, Text: text}
}

// serveResponses answers /v1/responses.
func serveResponses(e *emitter, p *plan) {
	if !p.stream {
		e.object("application/json", p.response(p.endStatus(), p.text()))
		return
	}
	e.startStream("text/event-stream; charset=utf-8")
	e.run(&responseStream{p: p}, p, p.events)
}

// responseStream generates the Responses event sequence: created,
// in_progress, output_item.added, content_part.added, one
// output_text.delta per word, output_text.done, content_part.done,
// output_item.done, completed (or incomplete); every event numbered by
// sequence_number. Over SSE the error knob ends it with an error event,
// over WebSocket with response.failed.
type responseStream struct {
	p   *plan
	seq int
	ws  bool
}

func (s *responseStream) send(e *emitter, ev responseEvent) {
	ev.SequenceNumber = s.seq
	s.seq++
	e.sse(ev.Type, ev)
}

func (s *responseStream) preamble(e *emitter) {
	zero := 0
	s.send(e, responseEvent{Type: "response.created", Response: s.p.response(statusInProgress, "")})
	s.send(e, responseEvent{Type: "response.in_progress", Response: s.p.response(statusInProgress, "")})
	item := s.p.responseItem(statusInProgress, "")
	s.send(e, responseEvent{Type: "response.output_item.added", OutputIndex: &zero, Item: &item})
	part := newOutputText("")
	s.send(e, responseEvent{Type: "response.content_part.added", ItemID: messageID(s.p), OutputIndex: &zero, ContentIndex: &zero, Part: &part})
}

func (s *responseStream) content(e *emitter, _ int, text string) {
	zero := 0
	s.send(e, responseEvent{Type: "response.output_text.delta", ItemID: messageID(s.p), OutputIndex: &zero, ContentIndex: &zero, Delta: &text, Logprobs: emptyList})
}

func (s *responseStream) trailer(e *emitter) {
	zero := 0
	text := s.p.text()
	s.send(e, responseEvent{Type: "response.output_text.done", ItemID: messageID(s.p), OutputIndex: &zero, ContentIndex: &zero, Text: &text, Logprobs: emptyList})
	part := newOutputText(text)
	s.send(e, responseEvent{Type: "response.content_part.done", ItemID: messageID(s.p), OutputIndex: &zero, ContentIndex: &zero, Part: &part})
	status := s.p.endStatus()
	item := s.p.responseItem(status, text)
	s.send(e, responseEvent{Type: "response.output_item.done", OutputIndex: &zero, Item: &item})
	s.send(e, responseEvent{Type: "response." + status, Response: s.p.response(status, text)})
}

func (s *responseStream) fail(e *emitter) {
	if s.ws {
		s.send(e, responseEvent{Type: "response.failed", Response: s.p.response(statusFailed, "")})
		return
	}
	ev := responseErrorEvent{
		Type:           "error",
		SequenceNumber: s.seq,
		Code:           "server_error",
		Message:        serverErrorMessage,
	}
	s.seq++
	e.sse("error", ev)
}
