package parsers

import (
	"bytes"
	"mime"
	"net/http"
	"strings"

	"github.com/valohai/conduit/eventstream"
	"github.com/valohai/conduit/jsonvalid"
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

// framing is how the body is cut into JSON documents.
type framing uint8

const (
	frameSniff       framing = iota // unknown content type: decided by the first byte
	frameSSE                        // text/event-stream
	frameNDJSON                     // one JSON object per line
	frameJSON                       // one JSON value, a stream of values, or an array of them
	frameEventStream                // application/vnd.amazon.eventstream (Bedrock)
	frameNone                       // nothing to read
)

// Meter reads one response body as it passes and produces its Result.
//
// Body bytes arrive decoded (identity). Write never retains p, never fails
// and never panics whatever the input; memory is bounded: SSE events are
// capped by the sse scanner (16 MiB, keeping a 64 KiB data tail beyond);
// a JSON body (or array element, or NDJSON line) keeps a 32 MiB head and a
// 64 KiB tail, and an oversize one is read by finding its last usage
// object in the tail. A Meter is not safe for concurrent use; use one per
// response.
//
// The Meter does the framing and what every API format shares; its format
// (see format) reads the documents and keeps the counts.
type Meter struct {
	ep    Endpoint
	req   Request
	f     format // nil for an endpoint that is not metered
	frame framing
	// parser is taken from idleParsers at the first parse and given back
	// by Finish.
	parser    *fastjson.Parser
	parsedMax int // the largest document parser parsed

	headCap, tailCap int
	eventCap         int // the SSE scanner's MaxEventSize (0: its default)
	// keepPanics lets a panic through instead of stopping the meter, so
	// that tests and fuzzing see bugs.
	keepPanics bool

	sc     *sse.Scanner
	es     *eventstream.Reader
	esName []byte // the event-stream message's :event-type, for the format
	js     jsonSplitter
	lines  lineSplitter

	response

	finished bool
	broken   bool // a bug was caught: stop reading, keep what was read
	result   Result
}

// response is what a response says, whatever its format; with the
// format's counts it is all the state one response leaves in a Meter.
type response struct {
	model    []byte
	respID   []byte
	terminal bool
	failed   bool
	errType  []byte
	errMsg   []byte
	// unreadable says why a document that holds usage could not be read.
	unreadable string
	// modelBuf and idBuf hold model and respID while they fit: model
	// names and response ids are a few dozen bytes, and a buffer grown
	// for each was two allocations per call.
	modelBuf, idBuf [64]byte
}

// NewMeter returns a meter for one response of endpoint e. contentType (the
// response's Content-Type) decides the framing: text/event-stream is read
// as SSE; application/x-ndjson (Ollama) as lines; JSON as one value, a
// sequence of values, or an array whose elements are read one by one
// (Gemini's streamGenerateContent without alt=sse);
// application/vnd.amazon.eventstream (Bedrock's streams) as AWS event-stream
// messages, each payload one document, an exception message failing the
// call; anything else is decided by the first non-space byte ('{' or '['
// for JSON, else SSE), except that a Bedrock streaming path is read as an
// event stream. For an endpoint that is not Metered the meter does
// nothing, cheaply.
func NewMeter(e Endpoint, contentType string, req Request) *Meter {
	var m *Meter
	if newMeter := formats[e.Kind]; newMeter != nil && e.Metered() {
		m = newMeter()
	} else {
		m = &Meter{frame: frameNone}
	}
	m.ep, m.req, m.headCap, m.tailCap = e, req, DefaultHeadSize, DefaultTailSize
	if m.f == nil {
		return m
	}
	switch mt := MediaType(contentType); mt {
	case "text/event-stream":
		m.frame = frameSSE
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		m.frame = frameNDJSON
	case "application/json":
		m.frame = frameJSON
	case "application/vnd.amazon.eventstream":
		m.frame = frameEventStream
	default:
		m.frame = frameSniff
		if mt == "" && e.Stream && (e.Kind == Invoke || e.Kind == Converse) {
			m.frame = frameEventStream
		}
	}
	return m
}

// commonContentTypes are the Content-Type values providers send, each
// with its media type. They skip mime.ParseMediaType, which allocates a
// parameter map on every call; TestCommonContentTypes holds each to what
// mime.ParseMediaType makes of it.
var commonContentTypes = [...]struct{ value, mediaType string }{
	{"application/json", "application/json"},
	{"application/json; charset=utf-8", "application/json"},
	{"application/json; charset=UTF-8", "application/json"},
	{"text/event-stream", "text/event-stream"},
	{"text/event-stream; charset=utf-8", "text/event-stream"},
	{"application/vnd.amazon.eventstream", "application/vnd.amazon.eventstream"},
	{"application/x-ndjson", "application/x-ndjson"},
}

// MediaType returns contentType's media type in lower case, or, when it
// does not parse, all of it trimmed and in lower case. The meter frames a
// body by it; the proxy decides by it too (which request bodies to read,
// which responses are streams), so that the two never disagree.
func MediaType(contentType string) string {
	for _, c := range commonContentTypes {
		if contentType == c.value {
			return c.mediaType
		}
	}
	return parseMediaType(contentType)
}

// parseMediaType is MediaType without the shortcut.
func parseMediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	return mt
}

// headerReader is a format that reads response headers (Bedrock's token
// counts of a non-streaming InvokeModel, its error type).
type headerReader interface {
	readHeader(m *Meter, h http.Header)
}

// ResponseHeader gives the meter the response's headers, for the formats
// that report something there: Bedrock's InvokeModel puts its token
// counts in x-amzn-bedrock-input-token-count and -output-token-count (the
// fallback when the body has no usage object of its own, as for most
// non-Anthropic models) and its error type in x-amzn-ErrorType. Call it
// before the first Write; h is not retained. Other formats ignore it.
func (m *Meter) ResponseHeader(h http.Header) {
	if hr, ok := m.f.(headerReader); ok && !m.finished && !m.broken {
		defer m.guard()
		hr.readHeader(m, h)
	}
}

// eventStream returns the event-stream reader, made on first use.
func (m *Meter) eventStream() *eventstream.Reader {
	if m.es == nil {
		m.es = eventstream.NewReader(m.esMessage, eventstream.Options{MaxMessageSize: m.eventCap})
	}
	return m.es
}

// esMessage hands one event-stream message to the format, or records the
// exception or error it carries.
func (m *Meter) esMessage(msg *eventstream.Message) {
	switch {
	case msg.Oversize:
		// Skipped by the reader: nothing of it is known.
	case msg.MessageType == "exception":
		typ := msg.ExceptionType
		if typ == "" {
			typ = "exception"
		}
		var text []byte
		if v := m.parse(msg.Payload); v != nil {
			text = str(get(v, "message"))
		}
		m.failText(typ, text)
	case msg.MessageType == "error":
		m.failText(msg.ErrorCode, []byte(msg.ErrorMessage))
	default:
		m.esName = append(m.esName[:0], msg.EventType...)
		m.f.event(m, m.esName, msg.Payload, false)
	}
}

// scanner returns the SSE scanner, made on first use.
func (m *Meter) scanner() *sse.Scanner {
	if m.sc == nil {
		m.sc = sse.NewScanner(m.sseEvent, sse.Options{MaxEventSize: m.eventCap, TailSize: m.tailCap})
	}
	return m.sc
}

// sseEvent hands one SSE event to the format.
func (m *Meter) sseEvent(ev *sse.Event) { m.f.event(m, ev.Type, ev.Data, ev.Oversize) }

// guard turns a panic in the meter into a stopped meter: a parse bug must
// never break the proxying it observes.
func (m *Meter) guard() {
	if m.keepPanics {
		return
	}
	if r := recover(); r != nil {
		m.broken = true
	}
}

// Write reads p (the next bytes of the body). It never retains p and always
// returns len(p), nil, even when it stops on a bug (n is set before the
// guard can cut the call short). Writes after Finish are ignored.
func (m *Meter) Write(p []byte) (n int, err error) {
	n = len(p)
	if m.frame == frameNone || m.finished || m.broken {
		return n, nil
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
			return n, nil
		case p[i] == '{' || p[i] == '[':
			m.frame, m.sc = frameJSON, nil
		default:
			m.frame = frameSSE
		}
	}
	switch m.frame {
	case frameSSE:
		m.scanner().Write(p)
	case frameEventStream:
		m.eventStream().Write(p)
	case frameNDJSON:
		m.lines.write(m, p)
	case frameJSON:
		m.js.write(m, p)
	}
	return n, nil
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
	m.buildResult()
	// Nothing parses after Finish, and no value of the parser's outlives
	// it (the result holds copies): the parser can serve another meter.
	if m.parser != nil {
		putParser(m.parser, m.parsedMax)
		m.parser = nil
	}
	return m.result
}

// resolveModel picks the response's model, else the request's, else the
// path's. On Bedrock the path's model id comes first when it names a model
// (bedrockBilledModel): InvokeModel's body names the foundation model, but
// Bedrock bills the inference profile the call went through, and a global
// profile costs less than a regional one.
func (m *Meter) resolveModel() string {
	if m.ep.Kind == Invoke || m.ep.Kind == Converse {
		if b := bedrockBilledModel(m.ep.Model); b != "" {
			return b
		}
	}
	switch {
	case len(m.model) > 0:
		return string(m.model)
	case m.req.Model != "":
		return m.req.Model
	}
	return m.ep.Model
}

// buildResult turns what was read into m.result, with the invariants of
// Usage kept whatever the provider sent. (It fills the meter's own Result
// in place: one on the stack would escape through the format's fill.)
func (m *Meter) buildResult() {
	m.result = Result{
		Model:        m.resolveModel(),
		ResponseID:   string(m.respID),
		Terminal:     m.terminal,
		Failed:       m.failed,
		ErrorType:    string(m.errType),
		ErrorMessage: string(m.errMsg),
	}
	r := &m.result
	seen, inputKnown := m.f.fill(r)
	if r.Invalid == "" {
		r.Invalid = m.unreadable
	}
	if !seen {
		r.Usage = Usage{}
		return
	}
	u := &r.Usage
	u.Seen = true
	if len(u.Raw) > 0 && !jsonvalid.Valid(u.Raw) {
		// fastjson accepts a few things JSON does not (numbers like "00"
		// or NaN, control bytes in keys that it re-escapes Go-style), which
		// the SDKs' JSON parsers reject; the ledger stores Raw as JSON, so
		// drop it rather than store garbage, and say so.
		u.Raw = nil
		if r.Invalid == "" {
			r.Invalid = "usage: not valid JSON"
		}
	}
	clampUsage(u, inputKnown)
}

// clampUsage keeps the subsets within their totals: reasoning, audio and
// image output within output; cache reads and writes, audio and image
// input within input (when the input total is known).
func clampUsage(u *Usage, inputKnown bool) {
	u.ReasoningTokens = min(u.ReasoningTokens, u.OutputTokens)
	u.AudioOutputTokens = min(u.AudioOutputTokens, u.OutputTokens)
	u.ImageOutputTokens = min(u.ImageOutputTokens, u.OutputTokens-u.AudioOutputTokens)
	if inputKnown {
		u.CachedInputTokens = min(u.CachedInputTokens, u.InputTokens)
		u.CacheWriteTokens = min(u.CacheWriteTokens, u.InputTokens-u.CachedInputTokens)
		u.CacheWrite5mTokens = min(u.CacheWrite5mTokens, u.CacheWriteTokens)
		u.CacheWrite1hTokens = min(u.CacheWrite1hTokens, u.CacheWriteTokens-u.CacheWrite5mTokens)
		u.AudioInputTokens = min(u.AudioInputTokens, u.InputTokens)
		u.ImageInputTokens = min(u.ImageInputTokens, u.InputTokens-u.AudioInputTokens)
	}
}

// setModel keeps the last non-empty model name: where a response names its
// model more than once (a fallback model answering), the last one answered.
func (m *Meter) setModel(v *fastjson.Value) {
	if b := str(v); len(b) > 0 && !bytes.Equal(b, m.model) {
		if m.model == nil {
			m.model = m.modelBuf[:0]
		}
		m.model = append(m.model[:0], b...)
	}
}

// setID keeps the last non-empty response id.
func (m *Meter) setID(v *fastjson.Value) {
	if b := str(v); len(b) > 0 && !bytes.Equal(b, m.respID) {
		if m.respID == nil {
			m.respID = m.idBuf[:0]
		}
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
			c := get(e, k)
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
		msg = str(get(e, "message"))
	}
	m.setError(typ, msg)
}

// failText records an error whose description is plain text.
func (m *Meter) failText(typ string, msg []byte) {
	m.failed = true
	m.setError([]byte(typ), bytes.TrimSpace(msg))
}

// setError keeps an error's type and message, cut to maxErrorText.
func (m *Meter) setError(typ, msg []byte) {
	m.errType = appendCut(m.errType[:0], typ)
	m.errMsg = appendCut(m.errMsg[:0], msg)
}

// appendCut appends at most maxErrorText bytes of b.
func appendCut(dst, b []byte) []byte {
	if len(b) > maxErrorText {
		b = b[:maxErrorText]
	}
	return append(dst, b...)
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
	if err != nil {
		m.checkDepth(b)
		return nil
	}
	if v.Type() != fastjson.TypeObject {
		return nil
	}
	return v
}

// checkDepth notes, for a document fastjson could not parse, that it holds
// usage nested past fastjson's depth limit: such usage is unreadable, and
// the Result says so rather than lose it silently. (The SDKs' parsers
// have limits of the same order: Python's json stops at its recursion
// limit, 1,000 by default.)
func (m *Meter) checkDepth(b []byte) {
	if m.unreadable != "" || !nestsPast(b, fastjson.MaxDepth-1) {
		return
	}
	if key := m.f.usageKey(); key != "" && !bytes.Contains(b, []byte(`"`+key+`"`)) {
		return
	}
	m.unreadable = "usage: unreadable, JSON nested deeper than 300 levels"
}

// tail reads what can be read from the tail of an oversize (or cut)
// document: the last usage object, and what else the format keeps near
// the end.
func (m *Meter) tail(b []byte) {
	if key := m.f.usageKey(); key != "" {
		if obj := findTailValue(b, key, '{'); obj != nil {
			if v := m.parse(obj); v != nil {
				m.f.readUsage(m, v)
			}
		}
	}
	if t, ok := m.f.(tailReader); ok {
		t.readTail(m, b)
	}
}

// tailString parses the last string member named key in b, for setModel
// and setID; nil when none.
func (m *Meter) tailString(b []byte, key string) *fastjson.Value {
	if s := findTailValue(b, key, '"'); s != nil {
		if v, err := m.parseJSON(s); err == nil {
			return v
		}
	}
	return nil
}

// head reads the start of an oversize (or cut) JSON body: the top-level
// "model", "id" and usage members that are whole within the kept head.
func (m *Meter) head(b []byte) {
	key := m.f.usageKey()
	visitTopLevel(b, func(k []byte, mm member) bool {
		switch {
		case key != "" && keyEquals(k, key):
			if v := m.parse(b[mm.valStart:mm.valEnd]); v != nil {
				m.f.readUsage(m, v)
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
