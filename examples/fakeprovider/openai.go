package fakeprovider

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
)

// openAIUsage is the usage object of Chat Completions and legacy
// Completions, with the vendor extras the style knobs add.
type openAIUsage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *openAIPromptDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *openAICompletionDetails `json:"completion_tokens_details,omitempty"`
	// DeepSeek.
	PromptCacheHitTokens  *int `json:"prompt_cache_hit_tokens,omitempty"`
	PromptCacheMissTokens *int `json:"prompt_cache_miss_tokens,omitempty"`
	// Groq (seconds).
	QueueTime      json.Number `json:"queue_time,omitempty"`
	PromptTime     json.Number `json:"prompt_time,omitempty"`
	CompletionTime json.Number `json:"completion_time,omitempty"`
	TotalTime      json.Number `json:"total_time,omitempty"`
	// OpenRouter (USD).
	Cost json.Number `json:"cost,omitempty"`
}

type openAIPromptDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type openAICompletionDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

// seconds formats a duration in seconds as a JSON number.
func seconds(s float64) json.Number {
	return json.Number(strconv.FormatFloat(s, 'f', -1, 64))
}

// openAIUsageOf is the usage object for the plan, styled by the knobs.
func openAIUsageOf(p *plan) *openAIUsage {
	u := p.usage()
	ou := &openAIUsage{
		PromptTokens:            u.InputTokens,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             u.InputTokens + u.OutputTokens,
		PromptTokensDetails:     &openAIPromptDetails{CachedTokens: u.CachedInputTokens},
		CompletionTokensDetails: &openAICompletionDetails{ReasoningTokens: u.ReasoningTokens},
		Cost:                    json.Number(p.k.cost),
	}
	switch p.k.style {
	case StyleDeepSeek:
		hit, miss := u.CachedInputTokens, u.InputTokens-u.CachedInputTokens
		ou.PromptCacheHitTokens, ou.PromptCacheMissTokens = &hit, &miss
	case StyleGroq:
		// Deterministic timings: 0.1 ms per prompt token, 1 ms per output token.
		pt := float64(u.InputTokens) / 10000
		ct := float64(u.OutputTokens) / 1000
		ou.QueueTime = seconds(0.001)
		ou.PromptTime = seconds(pt)
		ou.CompletionTime = seconds(ct)
		ou.TotalTime = seconds(math.Round((pt+ct)*1e9) / 1e9)
	}
	return ou
}

// xGroq is Groq's extension object on stream chunks.
type xGroq struct {
	ID    string       `json:"id"`
	Usage *openAIUsage `json:"usage,omitempty"`
}

// chatMessage is the assistant message of a non-streaming completion.
type chatMessage struct {
	Role        string  `json:"role"`
	Content     string  `json:"content"`
	Refusal     *string `json:"refusal"`
	Annotations []any   `json:"annotations"`
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      chatMessage `json:"message"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason string      `json:"finish_reason"`
}

type chatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []chatChoice `json:"choices"`
	Usage             *openAIUsage `json:"usage"`
	ServiceTier       string       `json:"service_tier"`
	SystemFingerprint string       `json:"system_fingerprint"`
	// Azure.
	PromptFilterResults []azurePromptFilter `json:"prompt_filter_results,omitempty"`
}

// chatDelta is a stream chunk's delta; Role and Refusal only on the first.
type chatDelta struct {
	Role    string          `json:"role,omitempty"`
	Content *string         `json:"content,omitempty"`
	Refusal json.RawMessage `json:"refusal,omitempty"`
}

type chatChunkChoice struct {
	Index        int       `json:"index"`
	Delta        chatDelta `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

// chatChunk is one chat.completion.chunk. Usage is a json.RawMessage so a
// chunk can carry "usage":null (include_usage on), an object, or nothing.
type chatChunk struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Created           int64             `json:"created"`
	Model             string            `json:"model"`
	ServiceTier       string            `json:"service_tier"`
	SystemFingerprint string            `json:"system_fingerprint"`
	Choices           []chatChunkChoice `json:"choices"`
	Usage             json.RawMessage   `json:"usage,omitempty"`
	XGroq             *xGroq            `json:"x_groq,omitempty"`
}

var jsonNull = json.RawMessage("null")

func chatID(p *plan) string {
	return p.id("chatcmpl", func() string { return "chatcmpl-" + makeID(p.seed, "chatcmpl", 29) })
}

func fingerprint(p *plan) string {
	return p.id("fp", func() string { return "fp_" + makeHexID(p.seed, "fingerprint", 10) })
}

func groqID(p *plan) string {
	return p.id("groq", func() string { return "req_" + makeID(p.seed, "groq", 26) })
}

// serveChat answers /v1/chat/completions.
func serveChat(e *emitter, p *plan) {
	if !p.stream {
		e.object("application/json", chatCompletion{
			ID:      chatID(p),
			Object:  "chat.completion",
			Created: p.created(),
			Model:   p.respModel,
			Choices: []chatChoice{{
				Message:      chatMessage{Role: "assistant", Content: p.text(), Annotations: []any{}},
				FinishReason: "stop",
			}},
			Usage:               openAIUsageOf(p),
			ServiceTier:         "default",
			SystemFingerprint:   fingerprint(p),
			PromptFilterResults: azureFilters(p),
		})
		return
	}
	e.startStream("text/event-stream; charset=utf-8")
	e.run(&chatStream{p: p}, p, p.events)
}

// chatStream generates a Chat Completions stream: a role chunk, one chunk
// per word, a finish chunk, the usage chunk when asked, and [DONE].
type chatStream struct{ p *plan }

func (s *chatStream) chunk(choices []chatChunkChoice) chatChunk {
	c := chatChunk{
		ID:                chatID(s.p),
		Object:            "chat.completion.chunk",
		Created:           s.p.created(),
		Model:             s.p.respModel,
		ServiceTier:       "default",
		SystemFingerprint: fingerprint(s.p),
		Choices:           choices,
	}
	if s.p.includeUsage {
		c.Usage = jsonNull
	}
	return c
}

func (s *chatStream) preamble(e *emitter) {
	if s.p.azure {
		e.sse("", azureFirstChunk{Choices: []any{}, PromptFilterResults: azurePromptFilters()})
	}
	empty := ""
	c := s.chunk([]chatChunkChoice{{Delta: chatDelta{Role: "assistant", Content: &empty, Refusal: jsonNull}}})
	if s.p.k.style == StyleGroq {
		c.XGroq = &xGroq{ID: groqID(s.p)}
	}
	e.sse("", c)
}

func (s *chatStream) content(e *emitter, _ int, text string) {
	e.sse("", s.chunk([]chatChunkChoice{{Delta: chatDelta{Content: &text}}}))
}

func (s *chatStream) trailer(e *emitter) {
	stop := "stop"
	c := s.chunk([]chatChunkChoice{{Delta: chatDelta{}, FinishReason: &stop}})
	if s.p.k.style == StyleGroq {
		c.XGroq = &xGroq{ID: groqID(s.p), Usage: openAIUsageOf(s.p)}
	}
	e.sse("", c)
	if s.p.includeUsage {
		u := s.chunk([]chatChunkChoice{})
		u.Usage = marshal(openAIUsageOf(s.p))
		e.sse("", u)
	}
	e.frame([]byte("data: [DONE]\n\n"))
}

func (s *chatStream) fail(e *emitter) { openAIStreamError(e) }

// azureFilters is the prompt_filter_results of an Azure response, nil for
// others.
func azureFilters(p *plan) []azurePromptFilter {
	if !p.azure {
		return nil
	}
	return azurePromptFilters()
}

// openAIStreamError writes the mid-stream error OpenAI sends as a data
// event; the stream ends without [DONE].
func openAIStreamError(e *emitter) {
	e.sse("", openAIError{Error: openAIErrorDetail{
		Message: "The server had an error while processing your request. Sorry about that!",
		Type:    "server_error",
	}})
}

type completionChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

// completion is a text_completion object or stream chunk (legacy
// Completions put model after choices in chunks; the order is kept).
type completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []completionChoice `json:"choices"`
	SystemFingerprint string             `json:"system_fingerprint,omitempty"`
	Usage             json.RawMessage    `json:"usage,omitempty"`
	XGroq             *xGroq             `json:"x_groq,omitempty"`
}

func completionID(p *plan) string {
	return p.id("cmpl", func() string { return "cmpl-" + makeID(p.seed, "cmpl", 29) })
}

// serveCompletions answers the legacy /v1/completions.
func serveCompletions(e *emitter, p *plan) {
	if !p.stream {
		stop := "stop"
		e.object("application/json", completion{
			ID:      completionID(p),
			Object:  "text_completion",
			Created: p.created(),
			Model:   p.respModel,
			Choices: []completionChoice{{Text: p.text(), FinishReason: &stop}},
			Usage:   marshal(openAIUsageOf(p)),
		})
		return
	}
	e.startStream("text/event-stream; charset=utf-8")
	e.run(&completionStream{p: p}, p, p.events)
}

// completionStream generates a legacy Completions stream: one chunk per
// word, a finish chunk, the usage chunk when asked, and [DONE].
type completionStream struct{ p *plan }

func (s *completionStream) chunk(choices []completionChoice) completion {
	c := completion{
		ID:      completionID(s.p),
		Object:  "text_completion",
		Created: s.p.created(),
		Model:   s.p.respModel,
		Choices: choices,
	}
	if s.p.includeUsage {
		c.Usage = jsonNull
	}
	return c
}

func (s *completionStream) preamble(*emitter) {}

func (s *completionStream) content(e *emitter, i int, text string) {
	c := s.chunk([]completionChoice{{Text: text}})
	if i == 0 && s.p.k.style == StyleGroq {
		c.XGroq = &xGroq{ID: groqID(s.p)}
	}
	e.sse("", c)
}

func (s *completionStream) trailer(e *emitter) {
	stop := "stop"
	c := s.chunk([]completionChoice{{FinishReason: &stop}})
	if s.p.k.style == StyleGroq {
		c.XGroq = &xGroq{ID: groqID(s.p), Usage: openAIUsageOf(s.p)}
	}
	e.sse("", c)
	if s.p.includeUsage {
		u := s.chunk([]completionChoice{})
		u.Usage = marshal(openAIUsageOf(s.p))
		e.sse("", u)
	}
	e.frame([]byte("data: [DONE]\n\n"))
}

func (s *completionStream) fail(e *emitter) { openAIStreamError(e) }

type embedding struct {
	Object    string          `json:"object"`
	Index     int             `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

type embeddingList struct {
	Object string         `json:"object"`
	Data   []embedding    `json:"data"`
	Model  string         `json:"model"`
	Usage  embeddingUsage `json:"usage"`
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// defaultDimensions is the vector size when the request names none (kept
// small: the fake is about usage, not vectors).
const defaultDimensions = 8

// serveEmbeddings answers /v1/embeddings: one deterministic vector per
// input (float list, or base64 of little-endian float32 when
// encoding_format is "base64", as the Node SDK asks by default).
func serveEmbeddings(e *emitter, p *plan) {
	inputs := 1
	if list, ok := p.req.get("input").([]any); ok {
		inputs = max(len(list), 1)
	}
	dims := p.req.integer("dimensions")
	if dims <= 0 {
		dims = defaultDimensions
	}
	dims = min(dims, 4096)
	b64 := p.req.str("encoding_format") == "base64"
	out := embeddingList{Object: "list", Model: p.respModel}
	for i := range inputs {
		vec := vector(p.seed, i, dims)
		var raw json.RawMessage
		if b64 {
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			raw = marshal(base64.StdEncoding.EncodeToString(buf))
		} else {
			raw = marshal(vec)
		}
		out.Data = append(out.Data, embedding{Object: "embedding", Index: i, Embedding: raw})
	}
	u := p.usage()
	out.Usage = embeddingUsage{PromptTokens: u.InputTokens, TotalTokens: u.InputTokens}
	e.object("application/json", out)
}

// vector is a deterministic unit-range vector for input i.
func vector(seed []byte, i, dims int) []float32 {
	vec := make([]float32, dims)
	sum := sha256.Sum256(append([]byte(strconv.Itoa(i)+"\x00"), seed...))
	for j := range vec {
		if j%8 == 0 && j > 0 {
			sum = sha256.Sum256(sum[:])
		}
		v := binary.LittleEndian.Uint32(sum[(j%8)*4:])
		vec[j] = float32(int32(v)) / float32(math.MaxInt32)
	}
	return vec
}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// serveModels answers GET /v1/models in OpenAI's list shape, or
// Anthropic's when the request carries anthropic-version.
func serveModels(e *emitter, p *plan) {
	created := p.created()
	if e.prov == providerAnthropic || p.header("Anthropic-Version") != "" {
		e.prov = providerAnthropic
		ids := []string{"claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"}
		var data []anthropicModel
		for _, id := range ids {
			data = append(data, anthropicModel{Type: "model", ID: id, DisplayName: id, CreatedAt: p.now.UTC().Format("2006-01-02T15:04:05Z")})
		}
		e.object("application/json", struct {
			Data    []anthropicModel `json:"data"`
			HasMore bool             `json:"has_more"`
			FirstID string           `json:"first_id"`
			LastID  string           `json:"last_id"`
		}{data, false, ids[0], ids[len(ids)-1]})
		return
	}
	ids := []string{"gpt-4o-mini", "gpt-4o", "o3-mini", "text-embedding-3-small"}
	if p.k.model != "" {
		ids = append([]string{p.k.model}, ids...)
	}
	var data []openAIModel
	for _, id := range ids {
		data = append(data, openAIModel{ID: id, Object: "model", Created: created, OwnedBy: "system"})
	}
	e.object("application/json", struct {
		Object string        `json:"object"`
		Data   []openAIModel `json:"data"`
	}{"list", data})
}
