package fakeprovider

import (
	"fmt"
	"net/http"
)

// responsesWSError is the in-band error of the Responses WebSocket mode: a
// request-level failure answered on the open connection instead of an HTTP
// status (the shape Codex's client reads: type, status, error).
type responsesWSError struct {
	Type   string            `json:"type"`
	Status int               `json:"status"`
	Error  openAIErrorDetail `json:"error"`
}

// serveResponsesWS speaks the Responses API over WebSocket: each
// response.create message (a Responses request body with "type") starts one
// response, streamed as one event per text message — the payloads of the
// SSE stream, sequence numbers included — and ended by response.completed,
// response.incomplete or response.failed; responses follow one another on
// the connection. generate:false is a prewarm: response.created then
// response.completed with no output and zero usage. response.processed
// acknowledgements are accepted silently; anything else gets an in-band
// error and the connection stays open.
func serveResponsesWS(ss *wsSession, msgs <-chan wsMessage) {
	ep := route(http.MethodPost, "/v1/responses")
	for m := range msgs {
		ss.record(m.data)
		if m.opcode != opText {
			ss.responsesError(http.StatusBadRequest, "invalid_message", "Binary messages are not supported; send JSON text messages.")
			continue
		}
		req, err := parseBody(m.data)
		if err != nil {
			ss.responsesError(http.StatusBadRequest, "invalid_json", badJSONMessage(providerOpenAI, err))
			continue
		}
		switch t := req.str("type"); t {
		case "response.create":
		case "response.processed":
			continue
		default:
			ss.responsesError(http.StatusBadRequest, "unknown_event_type", fmt.Sprintf("Unsupported event type %q; expected response.create.", t))
			continue
		}
		k, err := ss.knobsFor(req.get("metadata"))
		if err != nil {
			ss.responsesError(http.StatusBadRequest, "invalid_value", err.Error())
			continue
		}
		if k.status != 0 {
			ss.responsesError(k.status, "", statusMessage(providerOpenAI, k.status))
			continue
		}
		ss.n++
		p := newPlan(ep, ss.r.URL.Path, ss.r.URL.Query(), m.data, req, k, &ss.s.opts)
		p.seed = ss.seed(ep.name, m.data)
		p.now, p.hdr, p.stream = ss.s.now(), ss.r.Header, true
		p.applyAzure(ss.r, &ss.s.opts)
		e := ss.emitter(k, p.seed)
		if k.hang {
			<-ss.ctx.Done()
			e.abort()
		}
		e.sleep(k.firstByte)
		st := &responseStream{p: p, ws: true}
		if p.prewarm {
			st.send(e, responseEvent{Type: "response.created", Response: p.response(statusInProgress, "")})
			st.send(e, responseEvent{Type: "response.completed", Response: p.response(statusCompleted, "")})
			continue
		}
		e.run(st, p, p.events)
	}
}

// responsesError sends an in-band error event.
func (ss *wsSession) responsesError(status int, code, message string) {
	typ, c := openAIErrorType(status)
	if code != "" {
		c = &code
	}
	e := ss.emitter(defaultKnobs(&ss.s.opts), nil)
	e.message(responsesWSError{Type: "error", Status: status, Error: openAIErrorDetail{Type: typ, Code: c, Message: message}})
}
