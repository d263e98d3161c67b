package parsers

import (
	"bytes"
	"encoding/json"
	"math"
	"mime"
	"strings"
	"sync"

	"github.com/valohai/conduit/sse"
	"github.com/valyala/fastjson"
)

// Limits on what a meter keeps of one response.
const (
	// DefaultHeadSize caps the bytes kept of one JSON body (or one element
	// of a streamed JSON array, or one NDJSON line) for a full parse.
	DefaultHeadSize = 32 << 20
	// DefaultTailSize is how much of an oversize body or event is kept to
	// find a trailing usage object in.
	DefaultTailSize = 64 << 10
	// maxErrorText caps the error type and message kept from a response.
	maxErrorText = 1024
)

// format is the API format a meter reads, chosen from the endpoint kind.
type format uint8

const (
	fmtNone      format = iota // not metered
	fmtOpenAI                  // Chat Completions, legacy Completions, Embeddings
	fmtResponses               // OpenAI Responses
	fmtAnthropic               // Anthropic Messages
	fmtGemini                  // Gemini generateContent
	fmtOllama                  // Ollama /api/chat, /api/generate
)

// framing is how the body is cut into JSON documents.
type framing uint8

const (
	frameSniff  framing = iota // unknown content type: decided by the first byte
	frameSSE                   // text/event-stream
	frameNDJSON                // one JSON object per line
	frameJSON                  // one JSON value, a stream of values, or an array of them
	frameNone                  // nothing to read
)

// slot indexes a count a meter has read; each format uses its own set.
type slot uint8

const (
	sInput         slot = iota // OpenAI prompt_tokens, Responses input_tokens, Ollama prompt_eval_count
	sCached                    // cache reads
	sCacheWrite                // cache writes (OpenRouter cache_write_tokens, Anthropic cache_creation_input_tokens)
	sCW5m                      // Anthropic cache_creation.ephemeral_5m_input_tokens
	sCW1h                      // Anthropic cache_creation.ephemeral_1h_input_tokens
	sOutput                    // completion_tokens, output_tokens, eval_count
	sReasoning                 // reasoning_tokens, thinking_tokens
	sDeepSeekHit               // DeepSeek prompt_cache_hit_tokens
	sAnthInput                 // Anthropic input_tokens (uncached part only)
	sAnthRead                  // Anthropic cache_read_input_tokens
	sGemPrompt                 // Gemini promptTokenCount
	sGemCandidates             // Gemini candidatesTokenCount
	sGemThoughts               // Gemini thoughtsTokenCount
	sGemToolUse                // Gemini toolUsePromptTokenCount
	sGemCached                 // Gemini cachedContentTokenCount
	numSlots
)

// count is one count read from the response: the last non-null value seen.
type count struct {
	v  int64
	ok bool
}

// Meter reads one response body as it passes and produces its Result.
//
// Body bytes arrive decoded (identity). Write never retains p, never fails
// and never panics whatever the input; memory is bounded: SSE events are
// capped by the sse scanner (16 MiB, keeping a 64 KiB data tail beyond);
// a JSON body (or array element, or NDJSON line) keeps a 32 MiB head and a
// 64 KiB tail, and an oversize one is read by finding its last usage
// object in the tail. A Meter is not safe for concurrent use; use one per
// response.
type Meter struct {
	ep    Endpoint
	req   Request
	fmt   format
	frame framing
	// parser is taken from idleParsers at the first parse and given back
	// by Finish: a parser's buffers grow to fit the documents it parsed,
	// so one reused across calls parses a small body without allocating,
	// where a fresh one per call allocated most of the meter's garbage.
	parser    *fastjson.Parser
	parsedMax int // the largest document parser parsed
	// parseEveryChunk turns off openAIEvent's shortcut for chunks that
	// change nothing, so tests can compare both paths; chunkMemo serves
	// that shortcut.
	parseEveryChunk bool
	chunkMemo       chunkMemo

	headCap, tailCap int
	eventCap         int // the SSE scanner's MaxEventSize (0: its default)

	sc    *sse.Scanner
	js    jsonSplitter
	lines lineSplitter

	n        [numSlots]count
	seen     bool // some count was read
	cost     count
	costUSD  float64
	raw      []byte // the provider's usage object as last seen (not Anthropic)
	merged   []rawMember
	model    []byte
	respID   []byte
	terminal bool
	failed   bool
	errType  []byte
	errMsg   []byte

	finished bool
	broken   bool // a bug was caught: stop reading, keep what was read
	result   Result
}

// rawMember is one member of Anthropic's merged usage object.
type rawMember struct {
	key string
	val []byte
}

// NewMeter returns a meter for one response of endpoint e. contentType (the
// response's Content-Type) decides the framing: text/event-stream is read
// as SSE; application/x-ndjson (Ollama) as lines; JSON as one value, a
// sequence of values, or an array whose elements are read one by one
// (Gemini's streamGenerateContent without alt=sse); anything else is
// decided by the first non-space byte ('{' or '[' for JSON, else SSE). For
// an endpoint that is not Metered the meter does nothing, cheaply.
func NewMeter(e Endpoint, contentType string, req Request) *Meter {
	m := &Meter{ep: e, req: req, headCap: DefaultHeadSize, tailCap: DefaultTailSize}
	if e.Metered() {
		switch e.Kind {
		case ChatCompletions, Completions, Embeddings:
			m.fmt = fmtOpenAI
		case Responses:
			m.fmt = fmtResponses
		case Messages:
			m.fmt = fmtAnthropic
		case GenerateContent:
			m.fmt = fmtGemini
		case OllamaChat, OllamaGenerate:
			m.fmt = fmtOllama
		}
	}
	if m.fmt == fmtNone {
		m.frame = frameNone
		return m
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	switch mt {
	case "text/event-stream":
		m.frame = frameSSE
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		m.frame = frameNDJSON
	case "application/json":
		m.frame = frameJSON
	default:
		m.frame = frameSniff
	}
	return m
}

// scanner returns the SSE scanner, made on first use.
func (m *Meter) scanner() *sse.Scanner {
	if m.sc == nil {
		m.sc = sse.NewScanner(m.sseEvent, sse.Options{MaxEventSize: m.eventCap, TailSize: m.tailCap})
	}
	return m.sc
}

// recoverPanics is switched off by tests, so that fuzzing sees bugs.
var recoverPanics = true

// guard turns a panic in the meter into a stopped meter: a parse bug must
// never break the proxying it observes.
func (m *Meter) guard() {
	if !recoverPanics {
		return
	}
	if r := recover(); r != nil {
		m.broken = true
	}
}

// Write reads p (the next bytes of the body). It never retains p and always
// returns len(p), nil. Writes after Finish are ignored.
func (m *Meter) Write(p []byte) (int, error) {
	if m.frame == frameNone || m.finished || m.broken {
		return len(p), nil
	}
	defer m.guard()
	if m.frame == frameSniff {
		// Leading space decides nothing: it goes to the SSE scanner, which
		// must see every byte if the body turns out to be SSE (and which is
		// dropped if it turns out to be JSON).
		i := skipSpace(p, 0)
		switch {
		case i == len(p):
			m.scanner().Write(p)
			return len(p), nil
		case p[i] == '{' || p[i] == '[':
			m.frame, m.sc = frameJSON, nil
		default:
			m.frame = frameSSE
		}
	}
	switch m.frame {
	case frameSSE:
		m.scanner().Write(p)
	case frameNDJSON:
		m.lines.write(m, p)
	case frameJSON:
		m.js.write(m, p)
	}
	return len(p), nil
}

// Finish ends the reading and returns the Result. eof reports that the body
// was read to its end (rather than cut); for an endpoint that is not
// metered it is the Result's Terminal, otherwise Terminal comes from the
// body itself. Finish is idempotent: later calls return the same Result.
// Result.Raw is a copy the caller may keep.
func (m *Meter) Finish(eof bool) Result {
	if m.finished {
		return m.result
	}
	m.finished = true
	if m.frame == frameNone {
		m.result = Result{Model: m.resolveModel(), Terminal: eof}
		return m.result
	}
	func() {
		defer m.guard()
		if m.broken {
			return
		}
		switch m.frame {
		case frameSSE, frameSniff:
			if m.sc != nil {
				m.sc.Close()
			}
		case frameNDJSON:
			m.lines.finish(m)
		case frameJSON:
			m.js.finish(m)
		}
	}()
	m.result = m.buildResult()
	// Nothing parses after Finish, and no value of the parser's outlives
	// it (the result holds copies): the parser can serve another meter.
	if m.parser != nil {
		if m.parsedMax <= maxPooledDoc {
			putParser(m.parser)
		}
		m.parser = nil
	}
	return m.result
}

// resolveModel picks the response's model, else the request's, else the path's.
func (m *Meter) resolveModel() string {
	switch {
	case len(m.model) > 0:
		return string(m.model)
	case m.req.Model != "":
		return m.req.Model
	}
	return m.ep.Model
}

// buildResult turns the counts read into the normalized Result.
func (m *Meter) buildResult() Result {
	r := Result{
		Model:        m.resolveModel(),
		ResponseID:   string(m.respID),
		Terminal:     m.terminal,
		Failed:       m.failed,
		ErrorType:    string(m.errType),
		ErrorMessage: string(m.errMsg),
	}
	if !m.seen {
		return r
	}
	u := &r.Usage
	u.Seen = true
	n := &m.n
	inputKnown := false
	switch m.fmt {
	case fmtAnthropic:
		// Anthropic's input_tokens is only the uncached part.
		inputKnown = n[sAnthInput].ok || n[sCacheWrite].ok || n[sAnthRead].ok
		u.CachedInputTokens = n[sAnthRead].v
		u.CacheWriteTokens = n[sCacheWrite].v
		if !n[sCacheWrite].ok {
			u.CacheWriteTokens = n[sCW5m].v + n[sCW1h].v
		}
		u.InputTokens = n[sAnthInput].v + u.CacheWriteTokens + u.CachedInputTokens
		u.CacheWrite5mTokens, u.CacheWrite1hTokens = n[sCW5m].v, n[sCW1h].v
		u.OutputTokens, u.ReasoningTokens = n[sOutput].v, n[sReasoning].v
		u.Raw = m.mergedRaw()
	case fmtGemini:
		// promptTokenCount includes the cached part; tool-use prompts are
		// billed as input too. Thoughts are billed as output but are not in
		// candidatesTokenCount.
		inputKnown = n[sGemPrompt].ok || n[sGemToolUse].ok
		u.InputTokens = n[sGemPrompt].v + n[sGemToolUse].v
		u.CachedInputTokens = n[sGemCached].v
		u.OutputTokens = n[sGemCandidates].v + n[sGemThoughts].v
		u.ReasoningTokens = n[sGemThoughts].v
	default:
		inputKnown = n[sInput].ok
		u.InputTokens = n[sInput].v
		u.CachedInputTokens = n[sCached].v
		if !n[sCached].ok {
			u.CachedInputTokens = n[sDeepSeekHit].v
		}
		u.CacheWriteTokens = n[sCacheWrite].v
		u.OutputTokens, u.ReasoningTokens = n[sOutput].v, n[sReasoning].v
	}
	if m.fmt != fmtAnthropic && len(m.raw) > 0 {
		u.Raw = bytes.Clone(m.raw)
	}
	if !json.Valid(u.Raw) {
		// fastjson accepts a few things JSON does not (numbers like "00" or
		// ".", control bytes in keys that it re-escapes Go-style); the
		// ledger stores Raw as JSON, so drop it rather than store garbage.
		u.Raw = nil
	}
	// Keep the invariants whatever the provider sent: reasoning ⊆ output,
	// cache reads and writes ⊆ input.
	u.ReasoningTokens = min(u.ReasoningTokens, u.OutputTokens)
	if inputKnown {
		u.CachedInputTokens = min(u.CachedInputTokens, u.InputTokens)
		u.CacheWriteTokens = min(u.CacheWriteTokens, u.InputTokens-u.CachedInputTokens)
		u.CacheWrite5mTokens = min(u.CacheWrite5mTokens, u.CacheWriteTokens)
		u.CacheWrite1hTokens = min(u.CacheWrite1hTokens, u.CacheWriteTokens-u.CacheWrite5mTokens)
	}
	if m.cost.ok {
		c := m.costUSD
		u.ProviderCostUSD = &c
	}
	return r
}

// tokenCount reads a JSON number as a token count: ok=false for a missing,
// null or non-number value, a negative or non-integral number, or one too
// large for int64. 1.0-style integral floats are accepted.
func tokenCount(v *fastjson.Value) (int64, bool) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	if n, err := v.Int64(); err == nil {
		if n < 0 {
			return 0, false
		}
		return n, true
	}
	f, err := v.Float64()
	if err != nil || f < 0 || f != math.Trunc(f) || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// set records v in slot s when it is a valid count (last non-null wins).
func (m *Meter) set(s slot, v *fastjson.Value) {
	if n, ok := tokenCount(v); ok {
		m.n[s] = count{v: n, ok: true}
		m.seen = true
	}
}

// setCost records the provider's own cost (OpenRouter's usage.cost).
func (m *Meter) setCost(v *fastjson.Value) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return
	}
	f, err := v.Float64()
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return
	}
	m.costUSD, m.cost.ok = f, true
}

// setRaw keeps the usage object v as the raw usage (reusing the buffer).
func (m *Meter) setRaw(v *fastjson.Value) {
	m.raw = v.MarshalTo(m.raw[:0])
}

// str returns v's string bytes, or nil when v is not a string.
func str(v *fastjson.Value) []byte {
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := v.StringBytes()
	return b
}

// setModel keeps the last non-empty model name.
func (m *Meter) setModel(v *fastjson.Value) {
	if b := str(v); len(b) > 0 && !bytes.Equal(b, m.model) {
		m.model = append(m.model[:0], b...)
	}
}

// setID keeps the last non-empty response id.
func (m *Meter) setID(v *fastjson.Value) {
	if b := str(v); len(b) > 0 && !bytes.Equal(b, m.respID) {
		m.respID = append(m.respID[:0], b...)
	}
}

// fail records an error signalled in the body. e is the error value: an
// object with a type (or code, or status) and a message, or a bare string
// message. A later error replaces an earlier one.
func (m *Meter) fail(e *fastjson.Value) {
	m.failed = true
	if e == nil {
		return
	}
	var typ, msg []byte
	switch e.Type() {
	case fastjson.TypeString:
		msg = str(e)
	case fastjson.TypeObject:
		for _, k := range [...]string{"type", "status", "code"} {
			c := e.Get(k)
			if c == nil {
				continue
			}
			if b := str(c); len(b) > 0 {
				typ = b
				break
			}
			if c.Type() == fastjson.TypeNumber {
				typ = c.MarshalTo(nil)
				break
			}
		}
		msg = str(e.Get("message"))
	}
	m.errType = appendCut(m.errType[:0], typ)
	m.errMsg = appendCut(m.errMsg[:0], msg)
}

// failText records an error whose description is plain text.
func (m *Meter) failText(typ string, msg []byte) {
	m.failed = true
	m.errType = appendCut(m.errType[:0], []byte(typ))
	m.errMsg = appendCut(m.errMsg[:0], bytes.TrimSpace(msg))
}

// appendCut appends at most maxErrorText bytes of b.
func appendCut(dst, b []byte) []byte {
	if len(b) > maxErrorText {
		b = b[:maxErrorText]
	}
	return append(dst, b...)
}

// idleParsers are fastjson parsers that finished meters left for later
// ones: a bounded free list rather than a sync.Pool, so that reuse (and so
// a meter's allocations) does not depend on the garbage collector or on
// the race detector's random pool drops.
var idleParsers struct {
	sync.Mutex
	list []*fastjson.Parser
}

// Bounds of idleParsers: how many parsers it keeps, and the largest
// document a parser may have parsed and still be kept (a parser holds a
// copy of its last document). At most ~3 MB stay idle.
const (
	maxIdleParsers = 64
	maxPooledDoc   = 16 << 10
)

func getParser() *fastjson.Parser {
	idleParsers.Lock()
	defer idleParsers.Unlock()
	if n := len(idleParsers.list); n > 0 {
		p := idleParsers.list[n-1]
		idleParsers.list = idleParsers.list[:n-1]
		return p
	}
	return new(fastjson.Parser)
}

func putParser(p *fastjson.Parser) {
	idleParsers.Lock()
	defer idleParsers.Unlock()
	if len(idleParsers.list) < maxIdleParsers {
		idleParsers.list = append(idleParsers.list, p)
	}
}

// parseJSON parses b with the meter's parser (borrowed on first use). The
// value is valid until the next parse.
func (m *Meter) parseJSON(b []byte) (*fastjson.Value, error) {
	if m.parser == nil {
		m.parser = getParser()
	}
	m.parsedMax = max(m.parsedMax, len(b))
	return m.parser.ParseBytes(b)
}

// parse parses one JSON document with the meter's parser; nil if it is not
// an object. The value is valid until the next parse.
func (m *Meter) parse(b []byte) *fastjson.Value {
	v, err := m.parseJSON(b)
	if err != nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	return v
}

// sseEvent handles one SSE event.
func (m *Meter) sseEvent(ev *sse.Event) {
	switch m.fmt {
	case fmtOpenAI:
		m.openAIEvent(ev)
	case fmtResponses:
		m.responsesEvent(ev)
	case fmtAnthropic:
		m.anthropicEvent(ev)
	case fmtGemini:
		m.geminiEvent(ev)
	case fmtOllama:
		if v := m.parse(ev.Data); v != nil {
			m.ollamaObject(v)
		}
	}
}

// object handles one whole JSON object from a JSON body, array element or
// NDJSON line.
func (m *Meter) object(v *fastjson.Value) {
	switch m.fmt {
	case fmtOpenAI:
		m.openAIObject(v)
	case fmtResponses:
		m.responsesObject(v)
	case fmtAnthropic:
		m.anthropicObject(v)
	case fmtGemini:
		m.geminiObject(v)
	case fmtOllama:
		m.ollamaObject(v)
	}
}

// tailKey is the member a format's usage object is found under in the tail
// of an oversize document ("" when the format has none).
func (m *Meter) tailKey() string {
	switch m.fmt {
	case fmtGemini:
		return "usageMetadata"
	case fmtOllama:
		return ""
	}
	return "usage"
}

// tail reads what can be read from the tail of an oversize (or cut)
// document: the last usage object, and names kept near the end.
func (m *Meter) tail(b []byte) {
	key := m.tailKey()
	if key == "" {
		return
	}
	if obj := findTailValue(b, key, '{'); obj != nil {
		if v := m.parse(obj); v != nil {
			m.usageObject(v)
		}
	}
	if m.fmt == fmtGemini {
		// Gemini puts these after usageMetadata, at the very end.
		if s := findTailValue(b, "modelVersion", '"'); s != nil {
			if v, err := m.parseJSON(s); err == nil {
				m.setModel(v)
			}
		}
		if s := findTailValue(b, "responseId", '"'); s != nil {
			if v, err := m.parseJSON(s); err == nil {
				m.setID(v)
			}
		}
		// The last candidate's finishReason closes its text, so a tail that
		// holds the usage usually holds it too.
		if s := findTailValue(b, "finishReason", '"'); len(s) > 2 {
			m.terminal = true
		}
	}
}

// usageObject applies a format's usage object found on its own.
func (m *Meter) usageObject(u *fastjson.Value) {
	switch m.fmt {
	case fmtOpenAI:
		m.openAIUsage(u)
	case fmtResponses:
		m.responsesUsage(u)
	case fmtAnthropic:
		m.anthropicUsage(u)
	case fmtGemini:
		m.geminiUsage(u)
	}
}

// head reads the start of an oversize (or cut) JSON body: the top-level
// "model", "id" and usage members that are whole within the kept head.
func (m *Meter) head(b []byte) {
	key := m.tailKey()
	visitTopLevel(b, func(k []byte, mm member) bool {
		switch {
		case key != "" && keyEquals(k, key):
			if v := m.parse(b[mm.valStart:mm.valEnd]); v != nil {
				m.usageObject(v)
			}
		case keyEquals(k, "model"):
			if v, err := m.parseJSON(b[mm.valStart:mm.valEnd]); err == nil {
				m.setModel(v)
			}
		case keyEquals(k, "id"):
			if v, err := m.parseJSON(b[mm.valStart:mm.valEnd]); err == nil {
				m.setID(v)
			}
		}
		return true
	})
}
