package fakeprovider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Seen is one request as the fake received it.
type Seen struct {
	Method   string
	Path     string // r.URL.Path
	RawQuery string // r.URL.RawQuery, unchanged (it may hold a key=)
	Host     string // r.Host: what the client (or a proxy) put in Host
	Proto    string // "HTTP/1.1", "HTTP/2.0"
	// Header is a copy of the request headers (Go's canonical keys).
	Header http.Header
	// Body is the body's first Options.RecordBodyBytes bytes.
	Body []byte
	// BodyLen is the body's full length as read (up to MaxBodyBytes+1).
	BodyLen int64
	// BodySHA256 is the SHA-256 of the whole body as read, so tests can check
	// a large body arrived intact without keeping it.
	BodySHA256 [32]byte
}

// Server is the fake provider: an http.Handler that answers the HTTP and
// WebSocket endpoints listed in the package doc. Build it
// with New; it is safe for concurrent use.
type Server struct {
	opts Options

	mu   sync.Mutex
	seen []Seen // ring of the latest requests
	next int    // where the next Seen goes once the ring is full

	closed    context.Context
	closeFunc context.CancelFunc
}

// New returns a Server with the given defaults (the zero Options are fine).
func New(opts Options) *Server {
	if opts.KeepRequests == 0 {
		opts.KeepRequests = DefaultKeepRequests
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RecordBodyBytes <= 0 {
		opts.RecordBodyBytes = DefaultRecordBodyBytes
	}
	if opts.Events <= 0 {
		opts.Events = DefaultEvents
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, closed: ctx, closeFunc: cancel}
	if opts.KeepRequests > 0 {
		s.seen = make([]Seen, 0, min(opts.KeepRequests, 64))
	}
	return s
}

// Close ends every hanging request and every pending delay: their
// connections are cut. Requests arriving later are served normally
// (without delays). Close is idempotent and safe to call concurrently;
// call it before closing the http.Server or httptest.Server that serves
// s, or that server's Close waits for hung handlers.
func (s *Server) Close() { s.closeFunc() }

// Requests returns the latest requests received (at most
// Options.KeepRequests), oldest first. The slice and the Seen values are
// copies the caller owns.
func (s *Server) Requests() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Seen, 0, len(s.seen))
	if len(s.seen) == s.opts.KeepRequests {
		out = append(out, s.seen[s.next:]...)
		out = append(out, s.seen[:s.next]...)
	} else {
		out = append(out, s.seen...)
	}
	for i := range out {
		out[i].Header = out[i].Header.Clone()
		out[i].Body = bytes.Clone(out[i].Body)
	}
	return out
}

// Reset forgets the requests recorded so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = s.seen[:0]
	s.next = 0
}

// record keeps r in the ring.
func (s *Server) record(seen Seen) {
	if s.opts.Observe != nil {
		s.opts.Observe(seen)
	}
	if s.opts.KeepRequests < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) < s.opts.KeepRequests {
		s.seen = append(s.seen, seen)
		return
	}
	s.seen[s.next] = seen
	s.next = (s.next + 1) % s.opts.KeepRequests
}

// errTooLarge marks a body over Options.MaxBodyBytes.
var errTooLarge = errors.New("request body too large")

// readBody reads and records the request. The body is nil for a body over
// the limit (with errTooLarge) or one that failed to read.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	seen := Seen{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Host:     r.Host,
		Proto:    r.Proto,
		Header:   r.Header.Clone(),
	}
	sum := sha256.New()
	var buf bytes.Buffer
	n, err := io.Copy(io.MultiWriter(&buf, sum), io.LimitReader(r.Body, s.opts.MaxBodyBytes+1))
	seen.BodyLen = n
	copy(seen.BodySHA256[:], sum.Sum(nil))
	seen.Body = bytes.Clone(buf.Bytes()[:min(buf.Len(), s.opts.RecordBodyBytes)])
	s.record(seen)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if n > s.opts.MaxBodyBytes {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// sleep waits d or until ctx ends.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if s.opts.Sleep != nil {
		return s.opts.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// now is the time responses report.
func (s *Server) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock()
	}
	return Epoch
}

// ServeHTTP answers one request: it records it, routes it by path suffix,
// checks the credential, the body and the knobs, then writes the provider's
// response.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, bodyErr := s.readBody(r)

	// ctx ends when the client goes away or Close is called.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.closed, cancel)
	defer stop()

	if isWebSocketUpgrade(r) {
		s.serveWebSocket(ctx, w, r)
		return
	}
	ep := route(r.Method, r.URL.Path)
	prov := guessProvider(r)
	if ep != nil {
		prov = ep.provider
	}
	k, knobErr := parseKnobs(r.Header, &s.opts)
	if knobErr != nil {
		k = defaultKnobs(&s.opts)
	}
	e := newEmitter(ctx, s, w, k, prov, body)

	switch {
	case ep == nil:
		e.fail(http.StatusNotFound, invalidURLMessage(prov, r))
		return
	case prov == providerBedrock && len(s.opts.AWSCredentials) > 0 && bodyErr == nil:
		if err := verifySigV4(r, body, s.opts.AWSCredentials); errors.Is(err, errNoSignature) {
			e.fail(http.StatusForbidden, missingKeyMessage(prov))
			return
		} else if err != nil {
			e.fail(http.StatusForbidden, badSignatureMessage)
			return
		}
	case needsCredential(prov, ep) && !hasCredential(r):
		e.fail(http.StatusUnauthorized, missingKeyMessage(prov))
		return
	}
	switch {
	case errors.Is(bodyErr, errTooLarge):
		e.fail(http.StatusRequestEntityTooLarge, "Request body too large.")
		return
	case bodyErr != nil:
		e.fail(http.StatusBadRequest, bodyErr.Error())
		return
	case knobErr != nil:
		e.fail(http.StatusBadRequest, knobErr.Error())
		return
	}
	req, err := parseBody(body)
	if err != nil {
		e.fail(http.StatusBadRequest, badJSONMessage(prov, err))
		return
	}
	p := newPlan(ep, r.URL.Path, r.URL.Query(), body, req, k, &s.opts)
	p.now = s.now()
	p.hdr = r.Header
	p.applyAzure(r, &s.opts)

	if k.hang {
		<-ctx.Done()
		e.abort()
	}
	if k.firstByte > 0 {
		e.sleep(k.firstByte)
	}
	if k.status != 0 {
		e.fail(k.status, statusMessage(prov, k.status))
		return
	}
	ep.serve(e, p)
}

// needsCredential reports whether a request to ep must carry a
// credential: not for Ollama (it has none), nor for Bedrock and Vertex's
// Anthropic endpoints, which Claude Code's skip-auth modes call without
// one (Bedrock can check SigV4 instead: Options.AWSCredentials).
func needsCredential(prov provider, ep *endpoint) bool {
	switch {
	case prov == providerOllama, prov == providerBedrock:
		return false
	case ep != nil && strings.HasSuffix(ep.name, "awPredict"):
		return false
	}
	return true
}

// hasCredential reports whether the request carries any of the credentials
// the providers accept. Their values are not checked.
func hasCredential(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" ||
		r.Header.Get("X-Api-Key") != "" ||
		r.Header.Get("Api-Key") != "" ||
		r.Header.Get("X-Goog-Api-Key") != "" ||
		r.URL.Query().Get("key") != ""
}

// provider is an API family: it decides error shapes and headers.
type provider int

const (
	providerOpenAI provider = iota
	providerAnthropic
	providerGemini
	providerOllama
	providerBedrock
)

// guessProvider picks the error shape for a path no endpoint matched.
func guessProvider(r *http.Request) provider {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/") || strings.Contains(p, "/api/"):
		return providerOllama
	case strings.Contains(p, ":") || strings.Contains(p, "/v1beta"):
		return providerGemini
	case r.Header.Get("Anthropic-Version") != "" || r.Header.Get("X-Api-Key") != "":
		return providerAnthropic
	default:
		return providerOpenAI
	}
}

// endpoint is one API operation the fake answers.
type endpoint struct {
	name     string
	provider provider
	method   string
	usage    bool // reports consumption
	serve    func(e *emitter, p *plan)
}

// endpoints, matched in order by path suffix: longer suffixes first.
var endpoints []*endpoint

func init() {
	endpoints = []*endpoint{
		{"/chat/completions", providerOpenAI, http.MethodPost, true, serveChat},
		{"/completions", providerOpenAI, http.MethodPost, true, serveCompletions},
		{"/responses", providerOpenAI, http.MethodPost, true, serveResponses},
		{"/embeddings", providerOpenAI, http.MethodPost, true, serveEmbeddings},
		{"/messages/count_tokens", providerAnthropic, http.MethodPost, false, serveCountTokens},
		{"/messages", providerAnthropic, http.MethodPost, true, serveMessages},
		{":streamGenerateContent", providerGemini, http.MethodPost, true, serveGemini},
		{":generateContent", providerGemini, http.MethodPost, true, serveGemini},
		{":countTokens", providerGemini, http.MethodPost, false, serveGeminiCount},
		{"/api/chat", providerOllama, http.MethodPost, true, serveOllama},
		{"/api/generate", providerOllama, http.MethodPost, true, serveOllama},
		{"/models", providerOpenAI, http.MethodGet, false, serveModels},
		{"/invoke-with-response-stream", providerBedrock, http.MethodPost, true, serveBedrockInvoke},
		{"/invoke", providerBedrock, http.MethodPost, true, serveBedrockInvoke},
		{"/converse-stream", providerBedrock, http.MethodPost, true, serveConverse},
		{"/converse", providerBedrock, http.MethodPost, true, serveConverse},
		{":streamRawPredict", providerAnthropic, http.MethodPost, true, serveMessages},
		{":rawPredict", providerAnthropic, http.MethodPost, true, serveMessages},
	}
}

// route finds the endpoint for method and path, nil when none.
func route(method, path string) *endpoint {
	for _, ep := range endpoints {
		if strings.HasSuffix(path, ep.name) && method == ep.method {
			return ep
		}
	}
	return nil
}

// plan is everything one response is generated from.
type plan struct {
	ep    *endpoint
	path  string
	query url.Values
	seed  []byte // makes ids: the endpoint and the body
	req   reqBody
	hdr   http.Header // request headers; nil in ExpectedUsage
	k     knobs
	now   time.Time

	memo  map[string]string       // ids, computed once per response
	words [len(vocabulary)]string // content texts after the first, by i mod len

	stream       bool
	prewarm      bool   // Responses generate:false: no output, no usage
	azure        bool   // an Azure OpenAI request (applyAzure)
	includeUsage bool   // OpenAI stream_options.include_usage
	model        string // as requested (or from the Gemini path)
	respModel    string // as reported
	prompt       int    // uncached prompt tokens: words + PromptOverhead
	events       int    // content events = content word-tokens
}

// newPlan works out the response's shape and figures from the request.
func newPlan(ep *endpoint, path string, query url.Values, body []byte, req reqBody, k knobs, o *Options) *plan {
	p := &plan{ep: ep, path: path, query: query, req: req, k: k, now: Epoch}
	p.seed = append([]byte(ep.name+"\x00"), body...)
	p.model = req.str("model")
	switch {
	case ep.provider == providerGemini:
		p.model = geminiModel(path)
	case ep.provider == providerBedrock:
		p.model = bedrockModel(path)
	case strings.HasSuffix(ep.name, "awPredict"): // Vertex: models/claude-haiku-4-5@20251001:rawPredict
		p.model = geminiModel(path)
	}
	if p.model == "" {
		p.model = "fake-model"
	}
	p.respModel = p.model
	if k.model != "" {
		p.respModel = k.model
	}
	p.prompt = promptWords(map[string]any(req)) + PromptOverhead

	switch ep.provider {
	case providerGemini:
		p.stream = ep.name == ":streamGenerateContent"
	case providerBedrock:
		p.stream = strings.HasSuffix(ep.name, "-stream")
	case providerAnthropic:
		p.stream, _ = req.boolean("stream")
		if ep.name == ":streamRawPredict" {
			p.stream = true
		}
	case providerOllama:
		p.stream = true
		if v, ok := req.boolean("stream"); ok {
			p.stream = v
		}
	default:
		p.stream, _ = req.boolean("stream")
	}
	p.includeUsage, _ = req.boolean("stream_options", "include_usage")
	if gen, ok := req.boolean("generate"); ok && !gen && ep.name == "/responses" {
		p.prewarm = true
	}

	p.events = k.events
	if p.prewarm {
		p.events = 0
	}
	if p.events < 0 {
		p.events = p.maxTokens()
	}
	if p.events < 0 {
		p.events = o.Events
		if p.events <= 0 {
			p.events = DefaultEvents
		}
	}
	return p
}

// maxTokens is the output limit the request asks for, -1 when none.
func (p *plan) maxTokens() int {
	var n int
	switch p.ep.provider {
	case providerGemini:
		n = p.req.integer("generationConfig", "maxOutputTokens")
	case providerOllama:
		n = p.req.integer("options", "num_predict")
	case providerBedrock:
		n = p.req.integer("inferenceConfig", "maxTokens")
		if n < 0 {
			n = p.req.integer("max_tokens")
		}
	default:
		n = p.req.integer("max_completion_tokens")
		if n < 0 {
			n = p.req.integer("max_tokens")
		}
		if n < 0 {
			n = p.req.integer("max_output_tokens")
		}
	}
	return n
}

// usage is the normalized usage of the complete response.
func (p *plan) usage() Usage {
	u := Usage{
		InputTokens:       p.prompt + p.k.cached,
		CachedInputTokens: p.k.cached,
		OutputTokens:      p.events + p.k.reasoning,
		ReasoningTokens:   p.k.reasoning,
	}
	switch {
	case p.prewarm:
		u = Usage{}
	case p.ep.name == "/embeddings":
		u = Usage{InputTokens: p.prompt}
	case p.ep.name == "/converse" || p.ep.name == "/converse-stream":
		// Converse reports cache writes without their TTL.
		u.CacheWrite5mTokens = p.k.write5m + p.k.write1h
		u.InputTokens += p.k.write5m + p.k.write1h
		u.ReasoningTokens = 0
	case p.ep.provider == providerAnthropic || p.ep.provider == providerBedrock:
		u.CacheWrite5mTokens = p.k.write5m
		u.CacheWrite1hTokens = p.k.write1h
		u.InputTokens += p.k.write5m + p.k.write1h
		u.ReasoningTokens = 0 // counted in output_tokens, never reported apart
	case p.ep.provider == providerOllama:
		// Counted in prompt_eval_count and eval_count, never reported apart.
		u.CachedInputTokens, u.ReasoningTokens = 0, 0
	}
	return u
}

// header is a request header's value, "" when absent.
func (p *plan) header(name string) string {
	if p.hdr == nil {
		return ""
	}
	return p.hdr.Get(name)
}

// word is the text of content event i (cached: big events are built once
// per response, not once per event).
func (p *plan) word(i int) string {
	if i == 0 {
		return word(0, p.k.eventBytes)
	}
	j := i % len(vocabulary)
	if p.words[j] == "" {
		p.words[j] = word(i, p.k.eventBytes)
	}
	return p.words[j]
}

// id returns the id named key, making it once per response.
func (p *plan) id(key string, make func() string) string {
	if v, ok := p.memo[key]; ok {
		return v
	}
	if p.memo == nil {
		p.memo = map[string]string{}
	}
	v := make()
	p.memo[key] = v
	return v
}

// text is the whole generated text.
func (p *plan) text() string { return fullText(p.events, p.k.eventBytes) }

// created is the response time in Unix seconds.
func (p *plan) created() int64 { return p.now.Unix() }
