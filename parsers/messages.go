package parsers

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"github.com/valohai/conduit/wsframe"
	"github.com/valyala/fastjson"
)

// MessageResult is one response read from a connection that carries many
// (a WebSocket API): its Result, and when it happened.
type MessageResult struct {
	Result
	// Start is when the response was asked for: the time of the client
	// message that asked for it (Responses' response.create, Realtime's
	// response.create, the client message that ended a Live turn), else
	// the time of its first server message.
	Start time.Time
	// FirstByte is the time of the response's first server message.
	FirstByte time.Time
	// End is the time of the message that ended it, or the Finish (or
	// server close) time of a response cut short.
	End time.Time
	// Seq numbers a connection's results from 1, in the order they end.
	Seq int
	// Prewarm reports a Responses prewarm (response.create with
	// "generate": false): a response that generates nothing and reports
	// zero usage.
	Prewarm bool
}

// MessageMeter reads the messages of one WebSocket connection to a metered
// endpoint (ClassifyWebSocket) and produces one MessageResult per response
// on it, as each response ends:
//
//   - Responses (Codex's WebSocket mode): the server's messages are the
//     Responses stream events, read as the Responses format reads them;
//     each response.completed, .incomplete or .failed ends one response,
//     and a top-level {"type":"error"} ends the response open (or the one
//     asked for and not begun) as failed. Each client response.create
//     gives the next response its model and start.
//   - OpenAI Realtime: each response.done is one response, with its usage
//     (text, audio, image and cached input; text and audio output); each
//     conversation.item.input_audio_transcription.completed that carries
//     usage is one more, for the session's transcription model.
//     session.created and session.updated name the model. An error event
//     whose event_id names a client response.create fails that request.
//   - Gemini Live: one result per model turn, ending at
//     serverContent.turnComplete, with the turn's usageMetadata
//     (responseTokenCount is the output); the client's setup names the
//     model.
//
// The meter needs no format knowledge from its caller: the relay gives it
// every message each way, with the time it passed, and calls Finish when
// the connection ends. A response still open then (a connection closed
// mid-response) is reported with what arrived, as a cut stream is; so is a
// Responses request that got no answer at all. A close frame from the
// server ends the responses open, failed unless its code is 1000 or 1001.
//
// Memory is bounded: at most a few responses are open at once (Realtime
// may run some side by side), and at most 16 asked-for responses wait.
// A MessageMeter is safe for concurrent use by the relay's two directions.
// onResult is called from whichever call ended a response, with the
// meter's lock held: it must not call back into the meter.
type MessageMeter struct {
	mu       sync.Mutex
	ep       Endpoint
	onResult func(MessageResult)
	conn     connFormat

	parser    *fastjson.Parser // for connection-level messages
	connModel []byte           // the session's model (Realtime, Live)
	open      []*openResponse
	pending   []pendingRequest
	seq       int
	finished  bool
	broken    bool
	// serverClosed: the server sent its close frame, after which it sends
	// nothing (RFC 6455 §5.5.1).
	serverClosed bool
	// keepPanics lets a panic through, for tests and fuzzing.
	keepPanics bool
	typ        []byte // the current message's type, copied
}

// openResponse is one response in progress.
type openResponse struct {
	id           []byte // Realtime's response id
	m            *Meter
	start, first time.Time
	prewarm      bool
}

// pendingRequest is a response asked for and not yet begun.
type pendingRequest struct {
	model   []byte
	eventID []byte // Realtime: the client's event_id, matched by an error
	at      time.Time
	prewarm bool
}

// Bounds on what a connection keeps.
const (
	maxOpenResponses = 8
	maxPending       = 16
)

// connFormat reads a WebSocket API at the connection level: which client
// messages ask for a response, and which server messages open, feed and
// end one. Each response is read by a Meter of the API's format.
type connFormat interface {
	client(mm *MessageMeter, msg *wsframe.Message, at time.Time)
	server(mm *MessageMeter, msg *wsframe.Message, at time.Time)
}

// connFormats gives each WebSocket kind its connection reader and the
// format of its responses.
var connFormats = map[Kind]struct {
	conn   func() connFormat
	format func() *Meter
}{
	Responses: {func() connFormat { return &responsesConn{} }, meterFor[responsesFormat]},
	Realtime:  {func() connFormat { return &realtimeConn{} }, meterFor[realtimeFormat]},
	Live:      {func() connFormat { return &liveConn{} }, meterFor[liveFormat]},
}

// NewMessageMeter returns a meter for one WebSocket connection to ep that
// calls onResult once per response. For an endpoint that is not a metered
// WebSocket kind (Responses, Realtime, Live) the meter reads nothing and
// reports nothing. A nil onResult discards the results.
func NewMessageMeter(ep Endpoint, onResult func(MessageResult)) *MessageMeter {
	mm := &MessageMeter{ep: ep, onResult: onResult}
	if c, ok := connFormats[ep.Kind]; ok {
		mm.conn = c.conn()
	}
	return mm
}

// ClientMessage reads one message the client sent. Only data messages
// (text or binary) are read; msg is not retained.
func (mm *MessageMeter) ClientMessage(msg *wsframe.Message, at time.Time) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if !mm.reading(msg) {
		return
	}
	defer mm.guard()
	mm.conn.client(mm, msg, at)
	mm.dropBigParser(msg)
}

// ServerMessage reads one message the server sent: data messages, and the
// close frame (see MessageMeter), after which the server's messages are
// ignored. msg is not retained.
func (mm *MessageMeter) ServerMessage(msg *wsframe.Message, at time.Time) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.conn == nil || mm.finished || mm.broken || mm.serverClosed || msg == nil {
		return
	}
	defer mm.guard()
	if msg.Opcode == wsframe.OpClose {
		mm.serverClosed = true
		mm.serverClose(msg.CloseCode, msg.CloseReason, at)
		return
	}
	if !mm.reading(msg) {
		return
	}
	mm.conn.server(mm, msg, at)
	mm.dropBigParser(msg)
}

// reading reports whether msg is a data message the meter reads.
func (mm *MessageMeter) reading(msg *wsframe.Message) bool {
	return mm.conn != nil && !mm.finished && !mm.broken && msg != nil &&
		(msg.Opcode == wsframe.OpText || msg.Opcode == wsframe.OpBinary)
}

// Finish ends the connection: every response still open is reported, with
// End set to at, and so is every Responses request that got no answer.
// Later calls do nothing.
func (mm *MessageMeter) Finish(at time.Time) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.finished {
		return
	}
	mm.finished = true
	if mm.conn == nil {
		return
	}
	func() {
		defer mm.guard()
		if f, ok := mm.conn.(interface{ flush(*MessageMeter) }); ok {
			f.flush(mm)
		}
		for len(mm.open) > 0 {
			mm.end(mm.open[0], at)
		}
		if f, ok := mm.conn.(interface {
			finish(*MessageMeter, time.Time)
		}); ok && !mm.broken {
			f.finish(mm, at)
		}
	}()
	if mm.parser != nil {
		putParser(mm.parser, 0)
		mm.parser = nil
	}
}

// guard turns a panic into a stopped meter: a parse bug must never break
// the relay.
func (mm *MessageMeter) guard() {
	if mm.keepPanics {
		return
	}
	if r := recover(); r != nil {
		mm.broken = true
	}
}

// serverClose ends the open responses at a server close frame.
func (mm *MessageMeter) serverClose(code int, reason []byte, at time.Time) {
	for len(mm.open) > 0 {
		o := mm.open[0]
		if code != 1000 && code != 1001 && !o.m.terminal {
			o.m.failText(closeType(code), reason)
		}
		mm.end(o, at)
	}
}

// closeType names a close code as an error type.
func closeType(code int) string { return "websocket_close_" + strconv.Itoa(code) }

// parse parses a connection-level document; nil if it is not an object.
// The value is valid until the next parse.
func (mm *MessageMeter) parse(b []byte) *fastjson.Value {
	if mm.parser == nil {
		mm.parser = getParser()
	}
	v, err := mm.parser.ParseBytes(b)
	if err != nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	return v
}

// dropBigParser lets the connection's parser go after a large message:
// a parser holds a copy of its last document, and a connection lives long.
func (mm *MessageMeter) dropBigParser(msg *wsframe.Message) {
	if mm.parser != nil && len(msg.Data) > maxPooledDoc {
		mm.parser = nil
	}
}

// messageType returns the type of a message whose "type" names it: from
// its head when oversize, else cheaply when "type" comes first, else by
// parsing it. The bytes are the meter's (valid until the next message).
func (mm *MessageMeter) messageType(msg *wsframe.Message) []byte {
	doc := msg.Data
	if msg.Oversize {
		doc = msg.Head
	}
	t := peekType(doc)
	if t == nil && !msg.Oversize {
		t = str(get(mm.parse(doc), "type"))
	}
	mm.typ = append(mm.typ[:0], t...)
	return mm.typ
}

// headMembers calls f with each whole top-level member of an oversize
// message's head named in keys, parsed.
func (mm *MessageMeter) headMembers(head []byte, f func(key string, v *fastjson.Value), keys ...string) {
	visitTopLevel(head, func(k []byte, m member) bool {
		for _, key := range keys {
			if keyEquals(k, key) {
				if v, err := mm.parserFor().ParseBytes(head[m.valStart:m.valEnd]); err == nil {
					f(key, v)
				}
			}
		}
		return true
	})
}

func (mm *MessageMeter) parserFor() *fastjson.Parser {
	if mm.parser == nil {
		mm.parser = getParser()
	}
	return mm.parser
}

// push records a response asked for.
func (mm *MessageMeter) push(p pendingRequest) {
	if len(mm.pending) == maxPending {
		copy(mm.pending, mm.pending[1:])
		mm.pending = mm.pending[:maxPending-1]
	}
	mm.pending = append(mm.pending, p)
}

// pop takes the oldest response asked for.
func (mm *MessageMeter) pop() (pendingRequest, bool) {
	if len(mm.pending) == 0 {
		return pendingRequest{}, false
	}
	p := mm.pending[0]
	copy(mm.pending, mm.pending[1:])
	mm.pending = mm.pending[:len(mm.pending)-1]
	return p, true
}

// begin opens a response first seen at, asked for by p (when ok).
func (mm *MessageMeter) begin(id []byte, p pendingRequest, ok bool, at time.Time) *openResponse {
	if len(mm.open) == maxOpenResponses {
		mm.end(mm.open[0], at)
	}
	model := p.model
	if len(model) == 0 {
		model = mm.connModel
	}
	m := connFormats[mm.ep.Kind].format()
	m.ep, m.req, m.headCap, m.tailCap = mm.ep, Request{Model: string(model)}, DefaultHeadSize, DefaultTailSize
	m.frame, m.keepPanics = frameSniff, mm.keepPanics
	o := &openResponse{id: bytes.Clone(id), m: m, start: at, first: at, prewarm: p.prewarm}
	if ok {
		o.start = p.at
	}
	mm.open = append(mm.open, o)
	return o
}

// current returns the most recently opened response, or nil.
func (mm *MessageMeter) current() *openResponse {
	if len(mm.open) == 0 {
		return nil
	}
	return mm.open[len(mm.open)-1]
}

// find returns the open response with id, else the oldest open one when id
// is unknown, else nil.
func (mm *MessageMeter) find(id []byte) *openResponse {
	for _, o := range mm.open {
		if len(id) > 0 && bytes.Equal(o.id, id) {
			return o
		}
	}
	if len(id) == 0 && len(mm.open) > 0 {
		return mm.open[0]
	}
	return nil
}

// end reports a response and forgets it; a response already ended is not
// reported twice.
func (mm *MessageMeter) end(o *openResponse, at time.Time) {
	found := false
	for i, x := range mm.open {
		if x == o {
			copy(mm.open[i:], mm.open[i+1:])
			mm.open[len(mm.open)-1] = nil
			mm.open = mm.open[:len(mm.open)-1]
			found = true
			break
		}
	}
	if !found {
		return
	}
	r := o.m.Finish(true)
	mm.seq++
	if mm.onResult != nil {
		mm.onResult(MessageResult{Result: r, Start: o.start, FirstByte: o.first, End: at, Seq: mm.seq, Prewarm: o.prewarm})
	}
}

// feed hands a server message to a response's format, by its type.
func (o *openResponse) feed(typ []byte, msg *wsframe.Message) {
	o.m.f.event(o.m, typ, msg.Data, msg.Oversize)
}
