package intercept

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/elazarl/goproxy"
)

// newRelay builds the goproxy server that relays, untouched and unrecorded,
// what forward mode does not intercept: blind CONNECT tunnels, and
// absolute-form requests to other hosts. Server.ServeHTTP decides what
// reaches it; origin-form requests never do (they would get goproxy's 500).
func newRelay(tr *http.Transport, logger *slog.Logger) *goproxy.ProxyHttpServer {
	p := goproxy.NewProxyHttpServer()
	p.Logger = slogPrintf{logger}
	p.Tr = tr
	// Never route Conduit's own outbound calls through an exported
	// HTTPS_PROXY: it may point at Conduit itself. Only a configured
	// Upstream.Proxy is used, by the transport and by tunnels.
	p.ConnectDial = nil
	// Server.tunnelBlind dials (and checks) the tunnel's upstream side
	// before the relay answers the CONNECT.
	p.ConnectDialWithReq = predialed
	// An explicit accept keeps goproxy's built-in CA out of every
	// ConnectAction: a CONNECT that reaches the relay is tunnelled blind.
	p.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return tunnelAction, host
	})
	p.OnResponse().DoFunc(relayedResponse)
	return p
}

// relayedResponse answers, in place of the relay's bare 500, a plain
// request whose destination Conduit refuses to reach; and turns an
// unsolicited 101 Switching Protocols into a 502, since the client, which
// asked for no upgrade, would wait on it for good.
func relayedResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	req := ctx.Req
	if resp == nil {
		status, typ, msg := relayRefusal("forward to "+req.URL.Host, ctx.Error)
		if status == 0 {
			return nil
		}
		return errorResponse(req, status, typ, msg)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols && !headerHasToken(req.Header, "Connection", "upgrade") {
		resp.Body.Close()
		return errorResponse(req, http.StatusBadGateway, typeUnsolicitedUpgrade, fmt.Sprintf("conduit: %s answered 101 Switching Protocols to a request that asked for no upgrade", req.URL.Host))
	}
	return resp
}

// errorResponse is a Conduit error, in the OpenAI shape, as a response.
func errorResponse(req *http.Request, status int, typ, msg string) *http.Response {
	body := errorBody("", status, typ, msg, nil)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Conduit-Error", typ)
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

var tunnelAction = &goproxy.ConnectAction{Action: goproxy.ConnectAccept}

// slogPrintf adapts goproxy's Printf logger to slog at debug level: goproxy
// logs only when Verbose, and then per request.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, v ...any) {
	p.l.Debug(fmt.Sprintf(format, v...), "component", "goproxy")
}

// relayRefusal is the answer to what (a relayed "CONNECT host" or
// "forward to host") when err is a refused destination: 508 for Conduit
// itself, 403 for a private address; status 0 when err is no refusal.
func relayRefusal(what string, err error) (status int, typ, msg string) {
	dr := refusedDest(err)
	switch {
	case dr == nil:
		return 0, "", ""
	case dr.loop:
		return http.StatusLoopDetected, typeLoop, fmt.Sprintf("conduit: refusing to %s: %v; call Conduit directly (add it to NO_PROXY)", what, dr)
	default:
		return http.StatusForbidden, typePrivateRefused, fmt.Sprintf("conduit: refusing to %s: %v", what, dr)
	}
}

// writeRelayRefusal answers what, which err refused (see relayRefusal);
// it returns false, writing nothing, when err is no refusal.
func writeRelayRefusal(w http.ResponseWriter, what string, err error) bool {
	status, typ, msg := relayRefusal(what, err)
	if status == 0 {
		return false
	}
	writeError(w, "", status, typ, msg, nil)
	return true
}
