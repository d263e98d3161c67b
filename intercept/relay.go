package intercept

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/elazarl/goproxy"
)

// newRelay builds the goproxy server that relays, untouched and unrecorded,
// what forward mode does not intercept: blind CONNECT tunnels, and
// absolute-form requests to other hosts. Server.ServeHTTP decides what
// reaches it; origin-form requests never do (they would get goproxy's 500).
func newRelay(tr *http.Transport, tunnel *tunnelDialer, logger *slog.Logger) *goproxy.ProxyHttpServer {
	p := goproxy.NewProxyHttpServer()
	p.Logger = slogPrintf{logger}
	p.Tr = tr
	// Never route Conduit's own outbound calls through an exported
	// HTTPS_PROXY: it may point at Conduit itself. Only a configured
	// Upstream.Proxy is used, by the transport and by tunnels.
	p.ConnectDial = nil
	p.ConnectDialWithReq = tunnel.dialTunnel
	// An explicit accept keeps goproxy's built-in CA out of every
	// ConnectAction: a CONNECT that reaches the relay is tunnelled blind.
	p.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return tunnelAction, host
	})
	return p
}

var tunnelAction = &goproxy.ConnectAction{Action: goproxy.ConnectAccept}

// slogPrintf adapts goproxy's Printf logger to slog at debug level: goproxy
// logs only when Verbose, and then per request.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, v ...any) {
	p.l.Debug(fmt.Sprintf(format, v...), "component", "goproxy")
}
