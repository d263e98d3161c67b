package parsers

import "github.com/valyala/fastjson"

// format is one API format's reader: which events and documents carry its
// usage, which member holds its usage object, and how its own counts turn
// into Usage's meanings. Each format keeps its own counts, in its own file;
// the Meter around it cuts the body into documents (SSE events, a JSON
// body or its streamed array, NDJSON lines), parses them, and keeps what
// every format shares: the model, the response id, errors and the end of
// the response.
//
// A format reads whole documents and never sees the transport, so a
// transport that carries one document per message (a WebSocket message, an
// event-stream frame's payload) feeds it through event as SSE does.
type format interface {
	// event reads one event of a stream. name is the event's own name
	// (SSE's "event" field), empty where the transport has none, and then
	// the data's "type" names the event; data is one JSON document, or
	// only its last bytes when oversize (past the event cap).
	event(m *Meter, name, data []byte, oversize bool)
	// object reads one whole JSON object: a response body, an element of
	// a streamed array, an NDJSON line.
	object(m *Meter, v *fastjson.Value)
	// usageKey is the member that holds the usage object, looked for on
	// its own in the head and tail of a document too large (or too cut) to
	// parse whole; "" when the format has no usage object.
	usageKey() string
	// readUsage reads a usage object found that way.
	readUsage(m *Meter, u *fastjson.Value)
	// fill writes the counts read into r.Usage with Usage's meanings, and
	// Result.Invalid when one is no count a real call can report (r.Model
	// is set before). It reports whether the response sent any count, and
	// whether the input total is known (so cache counts can be bounded by
	// it).
	fill(r *Result) (seen, inputKnown bool)
}

// tailReader is a format that keeps more than its usage object at the end
// of a document, to be read from the tail of an oversize one.
type tailReader interface {
	readTail(m *Meter, b []byte)
}

// selfEnding is a format that sends a stream as a sequence of top-level
// JSON objects and says itself which one ends it (Ollama's done:true), so
// that one whole object does not end the response.
type selfEnding interface {
	selfEnding()
}

// formats gives each metered endpoint kind its format. Adding a format is
// one file with its type and one line here.
var formats = map[Kind]func() *Meter{
	ChatCompletions: meterFor[openAIFormat],
	Completions:     meterFor[openAIFormat],
	Embeddings:      meterFor[openAIFormat],
	Responses:       meterFor[responsesFormat],
	Messages:        meterFor[anthropicFormat],
	GenerateContent: meterFor[geminiFormat],
	OllamaChat:      meterFor[ollamaFormat],
	OllamaGenerate:  meterFor[ollamaFormat],
	Invoke:          meterFor[invokeFormat],
	Converse:        meterFor[converseFormat],
}

// meterWith holds a Meter and its format's state in one allocation.
type meterWith[F any, PF interface {
	*F
	format
}] struct {
	Meter
	f F
}

// meterFor returns a new Meter reading format F.
func meterFor[F any, PF interface {
	*F
	format
}]() *Meter {
	w := new(meterWith[F, PF])
	w.Meter.f = PF(&w.f)
	return &w.Meter
}
