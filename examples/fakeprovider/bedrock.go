package fakeprovider

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// Amazon Bedrock runtime: InvokeModel and InvokeModelWithResponseStream
// with an Anthropic Messages body, Converse and ConverseStream. Streams are
// AWS event streams (eventstream.go).

// bedrockModel is the model id of a /model/{modelId}/… path (decoded:
// us.anthropic.claude-haiku-4-5-20251001-v1:0).
func bedrockModel(path string) string {
	i := strings.LastIndex(path, "/model/")
	if i < 0 {
		return ""
	}
	m := path[i+len("/model/"):]
	if j := strings.LastIndexByte(m, '/'); j >= 0 {
		m = m[:j]
	}
	return m
}

// bedrockAnthropicName is the Anthropic model name Bedrock reports for a
// model id: without the cross-region prefix, the vendor and the version
// suffix (us.anthropic.claude-haiku-4-5-20251001-v1:0 →
// claude-haiku-4-5-20251001).
func bedrockAnthropicName(id string) string {
	if i := strings.Index(id, "anthropic."); i >= 0 {
		id = id[i+len("anthropic."):]
	}
	if i := strings.LastIndex(id, "-v"); i > 0 && strings.Contains(id[i:], ":") {
		id = id[:i]
	}
	return id
}

// bedrockRequestID is the x-amzn-requestid of a response, UUID-shaped.
func bedrockRequestID(seed []byte) string {
	h := makeHexID(seed, "amzn-request-id", 32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// bedrockPadding is the "p" field Bedrock adds to stream events so their
// sizes do not reveal the text; deterministic here, varying with i.
func bedrockPadding(i int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	return letters[:1+(i*7)%len(letters)]
}

// bedrockMetrics is amazon-bedrock-invocationMetrics, on the last chunk of
// an InvokeModelWithResponseStream.
type bedrockMetrics struct {
	InputTokenCount           int  `json:"inputTokenCount"`
	OutputTokenCount          int  `json:"outputTokenCount"`
	InvocationLatency         int  `json:"invocationLatency"`
	FirstByteLatency          int  `json:"firstByteLatency"`
	CacheReadInputTokenCount  *int `json:"cacheReadInputTokenCount,omitempty"`
	CacheWriteInputTokenCount *int `json:"cacheWriteInputTokenCount,omitempty"`
}

// latencyMs is the deterministic latency reported: 1 ms per output token
// plus one.
func (p *plan) latencyMs() int { return 1 + p.usage().OutputTokens }

func (p *plan) bedrockMetrics() bedrockMetrics {
	u := p.usage()
	m := bedrockMetrics{InputTokenCount: p.prompt, OutputTokenCount: u.OutputTokens, InvocationLatency: p.latencyMs(), FirstByteLatency: 1}
	if u.CachedInputTokens > 0 || u.CacheWriteTokens() > 0 {
		r, w := u.CachedInputTokens, u.CacheWriteTokens()
		m.CacheReadInputTokenCount, m.CacheWriteInputTokenCount = &r, &w
	}
	return m
}

// serveBedrockInvoke answers /model/{id}/invoke and
// /invoke-with-response-stream with an Anthropic body (anthropic_version
// "bedrock-2023-05-31", no model): the Messages JSON with the token-count
// headers, or its stream events as event-stream chunks.
func serveBedrockInvoke(e *emitter, p *plan) {
	if p.req.str("anthropic_version") == "" {
		e.fail(http.StatusBadRequest, "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.")
		return
	}
	p.respModel = bedrockAnthropicName(p.model)
	if p.k.model != "" {
		p.respModel = p.k.model
	}
	h := e.w.Header()
	if !p.stream {
		u := p.usage()
		h.Set("X-Amzn-Bedrock-Invocation-Latency", strconv.Itoa(p.latencyMs()))
		h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(p.prompt))
		h.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.Itoa(u.OutputTokens))
		if u.CachedInputTokens > 0 || u.CacheWriteTokens() > 0 {
			h.Set("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", strconv.Itoa(u.CachedInputTokens))
			h.Set("X-Amzn-Bedrock-Cache-Write-Input-Token-Count", strconv.Itoa(u.CacheWriteTokens()))
		}
		serveMessages(e, p)
		return
	}
	h.Set("X-Amzn-Bedrock-Content-Type", "application/json")
	e.es = true
	e.startStream("application/vnd.amazon.eventstream")
	e.run(&bedrockMessagesStream{messagesStream{p: p}}, p, p.events)
}

// bedrockMessagesStream is the Messages stream as Bedrock relays it: no
// pings, and the invocation metrics on message_stop.
type bedrockMessagesStream struct{ messagesStream }

func (s *bedrockMessagesStream) trailer(e *emitter) {
	zero := 0
	e.sse("content_block_stop", anthropicEvent{Type: "content_block_stop", Index: &zero})
	full := anthropicUsageOf(s.p, s.p.usage().OutputTokens)
	full.CacheCreation, full.ServiceTier = nil, ""
	e.sse("message_delta", anthropicEvent{Type: "message_delta", Delta: anthropicStopDelta{StopReason: "end_turn"}, Usage: &full})
	e.sse("message_stop", struct {
		Type    string         `json:"type"`
		Metrics bedrockMetrics `json:"amazon-bedrock-invocationMetrics"`
	}{"message_stop", s.p.bedrockMetrics()})
}

func (s *bedrockMessagesStream) fail(e *emitter) { bedrockStreamError(e) }

// bedrockStreamError ends an event stream with Bedrock's exception message.
func bedrockStreamError(e *emitter) {
	e.esMessage(esException("modelStreamErrorException"), marshal(map[string]any{
		"message":            "The model encountered an error while streaming. Try your request again.",
		"originalStatusCode": 529,
		"originalMessage":    `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
	}))
}

// converseUsage is Converse's usage object; its inputTokens exclude cache
// reads and writes, which it reports apart (without the cache TTLs).
type converseUsage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens,omitempty"`
}

func (p *plan) converseUsage() converseUsage {
	u := p.usage()
	return converseUsage{
		InputTokens:           p.prompt,
		OutputTokens:          u.OutputTokens,
		TotalTokens:           u.InputTokens + u.OutputTokens,
		CacheReadInputTokens:  u.CachedInputTokens,
		CacheWriteInputTokens: u.CacheWriteTokens(),
	}
}

type converseMetrics struct {
	LatencyMs int `json:"latencyMs"`
}

type converseResponse struct {
	Output     converseOutput  `json:"output"`
	StopReason string          `json:"stopReason"`
	Usage      converseUsage   `json:"usage"`
	Metrics    converseMetrics `json:"metrics"`
}

type converseOutput struct {
	Message converseMessage `json:"message"`
}

type converseMessage struct {
	Role    string              `json:"role"`
	Content []map[string]string `json:"content"`
}

// serveConverse answers /model/{id}/converse and /converse-stream.
func serveConverse(e *emitter, p *plan) {
	if !p.stream {
		e.object("application/json", converseResponse{
			Output:     converseOutput{converseMessage{"assistant", []map[string]string{{"text": p.text()}}}},
			StopReason: "end_turn",
			Usage:      p.converseUsage(),
			Metrics:    converseMetrics{p.latencyMs()},
		})
		return
	}
	e.es = true
	e.startStream("application/vnd.amazon.eventstream")
	e.run(&converseStream{p: p}, p, p.events)
}

// converseStream generates messageStart, one contentBlockDelta per word,
// contentBlockStop, messageStop and metadata (usage and metrics), each
// event's JSON the payload of an event-stream message named by
// :event-type.
type converseStream struct {
	p *plan
	n int
}

func (s *converseStream) send(e *emitter, eventType string, v map[string]any) {
	v["p"] = bedrockPadding(s.n)
	s.n++
	e.esMessage(esEvent(eventType), marshal(v))
}

func (s *converseStream) preamble(e *emitter) {
	s.send(e, "messageStart", map[string]any{"role": "assistant"})
}

func (s *converseStream) content(e *emitter, _ int, text string) {
	s.send(e, "contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]string{"text": text}})
}

func (s *converseStream) trailer(e *emitter) {
	s.send(e, "contentBlockStop", map[string]any{"contentBlockIndex": 0})
	s.send(e, "messageStop", map[string]any{"stopReason": "end_turn"})
	s.send(e, "metadata", map[string]any{"usage": s.p.converseUsage(), "metrics": converseMetrics{s.p.latencyMs()}})
}

func (s *converseStream) fail(e *emitter) { bedrockStreamError(e) }

// esChunk is the payload of an InvokeModelWithResponseStream chunk: the
// provider's event JSON, base64, with padding.
func esChunk(event []byte, i int) []byte {
	return marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(event), "p": bedrockPadding(i)})
}

// bedrockErrorType is the x-amzn-ErrorType Bedrock gives a status.
func bedrockErrorType(status int) string {
	switch status {
	case 400:
		return "ValidationException"
	case 401, 403:
		return "AccessDeniedException"
	case 404:
		return "ResourceNotFoundException"
	case 408:
		return "ModelTimeoutException"
	case 413:
		return "ValidationException"
	case 424:
		return "ModelErrorException"
	case 429:
		return "ThrottlingException"
	case 503:
		return "ServiceUnavailableException"
	}
	if status >= 500 {
		return "InternalServerException"
	}
	return "ValidationException"
}
