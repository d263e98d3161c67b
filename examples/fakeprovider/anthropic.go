package fakeprovider

// anthropicUsage is the Messages usage object. message_start and the
// non-streaming message carry every field; message_delta omits
// cache_creation and service_tier (its counts are cumulative).
type anthropicUsage struct {
	InputTokens              int                     `json:"input_tokens"`
	CacheCreationInputTokens int                     `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int                     `json:"cache_read_input_tokens"`
	CacheCreation            *anthropicCacheCreation `json:"cache_creation,omitempty"`
	OutputTokens             int                     `json:"output_tokens"`
	ServiceTier              string                  `json:"service_tier,omitempty"`
}

type anthropicCacheCreation struct {
	Ephemeral5mInputTokens int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1hInputTokens int `json:"ephemeral_1h_input_tokens"`
}

type anthropicBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicMessage struct {
	ID           string           `json:"id"`
	Type         string           `json:"type"`
	Role         string           `json:"role"`
	Model        string           `json:"model"`
	Content      []anthropicBlock `json:"content"`
	StopReason   *string          `json:"stop_reason"`
	StopSequence *string          `json:"stop_sequence"`
	Usage        anthropicUsage   `json:"usage"`
}

// anthropicEvent is one Messages stream event; unused fields are omitted.
type anthropicEvent struct {
	Type         string            `json:"type"`
	Message      *anthropicMessage `json:"message,omitempty"`
	Index        *int              `json:"index,omitempty"`
	ContentBlock *anthropicBlock   `json:"content_block,omitempty"`
	Delta        any               `json:"delta,omitempty"`
	Usage        *anthropicUsage   `json:"usage,omitempty"`
}

type anthropicTextDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicStopDelta struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

func anthropicMessageID(p *plan) string {
	return p.id("msg", func() string { return "msg_01" + makeID(p.seed, "msg", 22) })
}

// anthropicUsageOf is the full usage object; outputTokens replaces the
// output count (message_start reports 1).
func anthropicUsageOf(p *plan, outputTokens int) anthropicUsage {
	u := p.usage()
	return anthropicUsage{
		InputTokens:              p.prompt,
		CacheCreationInputTokens: u.CacheWriteTokens(),
		CacheReadInputTokens:     u.CachedInputTokens,
		CacheCreation: &anthropicCacheCreation{
			Ephemeral5mInputTokens: u.CacheWrite5mTokens,
			Ephemeral1hInputTokens: u.CacheWrite1hTokens,
		},
		OutputTokens: outputTokens,
		ServiceTier:  "standard",
	}
}

// serveMessages answers /v1/messages.
func serveMessages(e *emitter, p *plan) {
	if !p.stream {
		stop := "end_turn"
		e.object("application/json", anthropicMessage{
			ID:         anthropicMessageID(p),
			Type:       "message",
			Role:       "assistant",
			Model:      p.respModel,
			Content:    []anthropicBlock{{Type: "text", Text: p.text()}},
			StopReason: &stop,
			Usage:      anthropicUsageOf(p, p.usage().OutputTokens),
		})
		return
	}
	e.startStream("text/event-stream; charset=utf-8")
	e.run(&messagesStream{p: p}, p, p.events)
}

// messagesStream generates the Messages event sequence: message_start
// (full usage), content_block_start, ping, one content_block_delta per
// word, content_block_stop, message_delta (cumulative usage),
// message_stop.
type messagesStream struct{ p *plan }

func (s *messagesStream) preamble(e *emitter) {
	zero := 0
	e.sse("message_start", anthropicEvent{Type: "message_start", Message: &anthropicMessage{
		ID:      anthropicMessageID(s.p),
		Type:    "message",
		Role:    "assistant",
		Model:   s.p.respModel,
		Content: []anthropicBlock{},
		Usage:   anthropicUsageOf(s.p, 1),
	}})
	e.sse("content_block_start", anthropicEvent{Type: "content_block_start", Index: &zero, ContentBlock: &anthropicBlock{Type: "text"}})
	if !e.es { // Bedrock relays no pings
		e.frame([]byte("event: ping\ndata: {\"type\": \"ping\"}\n\n"))
	}
}

func (s *messagesStream) content(e *emitter, _ int, text string) {
	zero := 0
	e.sse("content_block_delta", anthropicEvent{Type: "content_block_delta", Index: &zero, Delta: anthropicTextDelta{Type: "text_delta", Text: text}})
}

func (s *messagesStream) trailer(e *emitter) {
	zero := 0
	e.sse("content_block_stop", anthropicEvent{Type: "content_block_stop", Index: &zero})
	full := anthropicUsageOf(s.p, s.p.usage().OutputTokens)
	full.CacheCreation, full.ServiceTier = nil, ""
	e.sse("message_delta", anthropicEvent{Type: "message_delta", Delta: anthropicStopDelta{StopReason: "end_turn"}, Usage: &full})
	e.sse("message_stop", anthropicEvent{Type: "message_stop"})
}

func (s *messagesStream) fail(e *emitter) {
	e.sse("error", anthropicError{Type: "error", Error: anthropicErrorDetail{Type: "overloaded_error", Message: "Overloaded"}})
}

// serveCountTokens answers /v1/messages/count_tokens: the uncached prompt
// tokens a Messages call with this body would report as input_tokens.
func serveCountTokens(e *emitter, p *plan) {
	e.object("application/json", struct {
		InputTokens int `json:"input_tokens"`
	}{p.prompt})
}
