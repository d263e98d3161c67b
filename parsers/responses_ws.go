package parsers

import (
	"bytes"
	"time"

	"github.com/valohai/conduit/wsframe"
	"github.com/valyala/fastjson"
)

// responsesConn reads the Responses API's WebSocket mode
// (https://platform.openai.com/docs/guides/websocket-mode): the client
// sends response.create messages (a Responses request body with "type";
// "generate": false asks for a prewarm that produces nothing), the server
// answers each with the Responses stream events, one per message, ending
// at response.completed, .incomplete or .failed; a request-level failure
// arrives in-band as a top-level {"type":"error"}. Responses follow one
// another on the connection.
type responsesConn struct{}

var responsePrefix = []byte("response.")

func (*responsesConn) client(mm *MessageMeter, msg *wsframe.Message, at time.Time) {
	var typ, model []byte
	prewarm := false
	read := func(key string, v *fastjson.Value) {
		switch key {
		case "type":
			typ = bytes.Clone(str(v))
		case "model":
			model = bytes.Clone(str(v))
		case "generate":
			prewarm = v.Type() == fastjson.TypeFalse
		}
	}
	if msg.Oversize {
		// A request past the message cap (a long conversation sent whole):
		// its type and model are near its start.
		mm.headMembers(msg.Head, read, "type", "model", "generate")
	} else if v := mm.parse(msg.Data); v != nil {
		for _, k := range [...]string{"type", "model", "generate"} {
			if x := get(v, k); x != nil {
				read(k, x)
			}
		}
	}
	if string(typ) == "response.create" {
		mm.push(pendingRequest{model: model, at: at, prewarm: prewarm})
	}
}

func (*responsesConn) server(mm *MessageMeter, msg *wsframe.Message, at time.Time) {
	typ := mm.messageType(msg)
	switch {
	case string(typ) == "error":
		o := mm.current()
		if o == nil {
			// The request failed before its response began.
			p, ok := mm.pop()
			if !ok {
				return
			}
			o = mm.begin(nil, p, true, at)
		}
		o.feed(typ, msg)
		mm.end(o, at)
	case bytes.HasPrefix(typ, responsePrefix):
		o := mm.current()
		if o != nil && string(typ) == "response.created" {
			// A new response while one never ended: that one is over.
			mm.end(o, at)
			o = nil
		}
		if o == nil {
			p, ok := mm.pop()
			o = mm.begin(nil, p, ok, at)
		}
		o.feed(typ, msg)
		if o.m.terminal {
			mm.end(o, at)
		}
	}
}

// finish reports the requests that got no answer before the connection
// ended: each was asked for, and may have been billed.
func (*responsesConn) finish(mm *MessageMeter, at time.Time) {
	for {
		p, ok := mm.pop()
		if !ok {
			return
		}
		mm.end(mm.begin(nil, p, true, at), at)
	}
}
