package fakeprovider

import (
	"cmp"
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"strings"
)

// wsEndpoint is one WebSocket API: an upgrade on a path ending in name.
type wsEndpoint struct {
	name     string
	provider provider
	// serve handles the messages of one connection in order; it returns
	// when msgs is closed (the client went away) or to end the connection.
	serve func(ss *wsSession, msgs <-chan wsMessage)
}

// wsEndpoints, matched in order by path suffix.
var wsEndpoints []*wsEndpoint

func init() {
	wsEndpoints = []*wsEndpoint{
		{"/responses", providerOpenAI, serveResponsesWS},
		{"/realtime", providerOpenAI, serveRealtime},
		{"GenerativeService.BidiGenerateContent", providerGemini, serveLive},
		{"GenerativeService.BidiGenerateContentConstrained", providerGemini, serveLive},
	}
}

// routeWS finds the WebSocket endpoint for path, nil when none.
func routeWS(path string) *wsEndpoint {
	for _, ep := range wsEndpoints {
		if strings.HasSuffix(path, ep.name) {
			return ep
		}
	}
	return nil
}

// wsSession is one accepted WebSocket connection.
type wsSession struct {
	s      *Server
	c      *wsConn
	ctx    context.Context // ends when the connection does or the server closes
	r      *http.Request   // the upgrade request
	prov   provider
	n      int // responses begun, salting their ids
	binary bool
}

// serveWebSocket answers an upgrade request: the provider's HTTP error for
// a bad one (unknown path, no credential, bad knob, HeaderWSStatus or
// HeaderStatus — 426 makes a client fall back to HTTP), else the handshake and the
// endpoint's protocol until either side ends the connection.
func (s *Server) serveWebSocket(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	ep := routeWS(r.URL.Path)
	prov := guessProvider(r)
	if ep != nil {
		prov = ep.provider
	}
	k, knobErr := parseKnobs(r.Header, &s.opts)
	if knobErr != nil {
		k = defaultKnobs(&s.opts)
	}
	wk, wsErr := parseWSKnobs(r.Header, &s.opts)
	seed := []byte(r.URL.Path + "?" + r.URL.RawQuery)
	e := newEmitter(ctx, s, w, k, prov, seed)
	switch {
	case ep == nil:
		e.fail(http.StatusNotFound, invalidURLMessage(prov, r))
		return
	case !hasCredential(r) && !hasSubprotocolKey(r):
		e.fail(http.StatusUnauthorized, missingKeyMessage(prov))
		return
	case knobErr != nil:
		e.fail(http.StatusBadRequest, knobErr.Error())
		return
	case wsErr != nil:
		e.fail(http.StatusBadRequest, wsErr.Error())
		return
	}
	if k.hang {
		<-ctx.Done()
		e.abort()
	}
	if k.firstByte > 0 {
		e.sleep(k.firstByte)
	}
	if k.status != 0 || wk.status != 0 {
		status := cmp.Or(wk.status, k.status)
		e.fail(status, statusMessage(prov, status))
		return
	}
	if prov == providerOpenAI {
		w.Header().Set("X-Request-Id", "req_"+makeHexID(seed, "request-id", 32))
	}
	c := acceptWebSocket(w, r, e, wk, s.opts.MaxBodyBytes)
	if c == nil {
		return
	}
	ss := &wsSession{s: s, c: c, r: r, prov: prov}
	ss.run(ctx, ep)
}

// hasSubprotocolKey reports whether a browser-style client put its key in
// a subprotocol, as OpenAI's Realtime API allows
// ("openai-insecure-api-key.<key>").
func hasSubprotocolKey(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.HasPrefix(strings.TrimSpace(p), "openai-insecure-api-key.") {
				return true
			}
		}
	}
	return false
}

// run reads the client's messages on a goroutine and hands them to the
// endpoint. A knob cut (abort), a failed write, Server.Close or the
// client's close all end the connection here.
func (ss *wsSession) run(parent context.Context, ep *wsEndpoint) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	ss.ctx = ctx
	stop := context.AfterFunc(ctx, ss.c.cut)
	defer stop()
	msgs := make(chan wsMessage)
	go func() {
		_ = ss.c.readLoop(ctx, msgs) // why it ended does not matter: the connection is over
		cancel()
	}()
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			panic(v)
		}
		ss.c.cut()
	}()
	ep.serve(ss, msgs)
}

// knobsFor resolves the knobs of one response: the upgrade request's
// headers and Options, overridden by X-Fake-… entries of the message's
// metadata object (which real clients may send, so a test can vary knobs
// per response on one connection).
func (ss *wsSession) knobsFor(metadata any) (knobs, error) {
	return metadataKnobs(ss.r.Header, metadata, &ss.s.opts)
}

// metadataKnobs parses the knobs of h overridden by metadata's X-Fake-…
// string entries.
func metadataKnobs(h http.Header, metadata any, o *Options) (knobs, error) {
	if m, ok := metadata.(map[string]any); ok {
		h = h.Clone()
		for key, v := range m {
			if s, ok := v.(string); ok && strings.HasPrefix(strings.ToLower(key), "x-fake-") {
				h.Set(key, s)
			}
		}
	}
	return parseKnobs(h, o)
}

// emitter returns an emitter writing this session's messages with k.
func (ss *wsSession) emitter(k knobs, seed []byte) *emitter {
	e := newEmitter(ss.ctx, ss.s, nil, k, ss.prov, seed)
	e.ws, e.wsOp = ss.c, opText
	if ss.binary {
		e.wsOp = opBinary
	}
	return e
}

// record keeps a client message in the request ring as a Seen with Method
// "WS" and the upgrade's path, query, Host and headers.
func (ss *wsSession) record(data []byte) {
	seen := Seen{
		Method:   "WS",
		Path:     ss.r.URL.Path,
		RawQuery: ss.r.URL.RawQuery,
		Host:     ss.r.Host,
		Proto:    ss.r.Proto,
		Header:   ss.r.Header.Clone(),
		BodyLen:  int64(len(data)),
	}
	seen.Body = append([]byte(nil), data[:min(len(data), ss.s.opts.RecordBodyBytes)]...)
	seen.BodySHA256 = sha256.Sum256(data)
	ss.s.record(seen)
}

// seed is what a response's ids derive from: the endpoint, the response's
// number on the connection and the message, so equal sessions get equal
// ids and two equal messages on one connection get different ones.
func (ss *wsSession) seed(ep string, msg []byte) []byte {
	return append([]byte(ep+"\x00"+strconv.Itoa(ss.n)+"\x00"), msg...)
}

// parseWSKnobs reads the WebSocket knob headers over Options.
func parseWSKnobs(h http.Header, o *Options) (wsKnobs, error) {
	k := wsKnobs{deflate: strings.ToLower(o.WSDeflate), fragment: o.WSFragment, ping: o.WSPing, status: o.WSStatus}
	if v := h.Get(HeaderWSDeflate); v != "" {
		k.deflate = strings.ToLower(strings.TrimSpace(v))
	}
	switch k.deflate {
	case "":
		k.deflate = DeflateAuto
	case DeflateAuto, DeflateOff, DeflateNoContextTakeover, DeflateServerNoContextTakeover, DeflateClientNoContextTakeover:
	default:
		return k, &knobError{HeaderWSDeflate, k.deflate, "is not auto, off, no-context-takeover, server-no-context-takeover or client-no-context-takeover"}
	}
	if v := h.Get(HeaderWSFragment); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > maxEventBytes {
			return k, &knobError{HeaderWSFragment, v, "is not a non-negative integer"}
		}
		k.fragment = n
	}
	if v := h.Get(HeaderWSStatus); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return k, &knobError{HeaderWSStatus, v, "is not a 4xx or 5xx status"}
		}
		k.status = n
	}
	if k.status != 0 && (k.status < 400 || k.status > 599) {
		return k, &knobError{HeaderWSStatus, strconv.Itoa(k.status), "is not a 4xx or 5xx status"}
	}
	if v := h.Get(HeaderWSPing); v != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return k, &knobError{HeaderWSPing, v, "is not a boolean (1, 0, true, false)"}
		}
		k.ping = b
	}
	return k, nil
}
