package intercept

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// Provider is one configured upstream: base-URL calls to /<Key>/… go to
// Upstream, read as API.
type Provider struct {
	Key      string
	Upstream *url.URL // scheme://host[:port][/base path], no trailing slash
	API      parsers.API
	// InjectStreamUsage adds stream_options.include_usage to OpenAI Chat
	// Completions and Completions streams that did not ask for usage (and
	// hides the extra event from the client).
	InjectStreamUsage bool
	// Deployments maps Azure OpenAI deployment names to the models they
	// serve: a call to /openai/deployments/{d}/… that names no model is
	// recorded as Deployments[d] until its response names one. Nil: the
	// deployment name stands for the model.
	Deployments map[string]string
}

// Timeouts bound each call. Zero durations take the defaults.
type Timeouts struct {
	Connect        time.Duration // dial and TLS handshake; default 30 s
	ResponseHeader time.Duration // request sent → response headers; default 30 s
	Total          time.Duration // the whole call, body included; default 10 min
	// Drain is how long an abandoned response is still read for its final
	// usage after the client left. Nil: the default, 60 s. Zero: not at
	// all — the upstream request is cancelled as soon as the client
	// leaves. (A pointer, because zero is a choice here, not "unset".)
	// On a WebSocket it is how long the client is still relayed what the
	// provider sends after the provider's side has ended. A client that
	// goes away cuts the provider's connection at once, as it would
	// without Conduit: that connection cannot be half-closed, and
	// keeping it open would keep the provider generating (and billing) a
	// response nobody reads.
	Drain *time.Duration
	// WebSocketIdle ends a relayed WebSocket connection (with a close
	// frame to each side) once nothing has passed either way for this
	// long; default 10 min.
	WebSocketIdle time.Duration
	// WebSocketTotal ends a relayed WebSocket connection this long after
	// it opened, however busy; zero: never.
	WebSocketTotal time.Duration
}

// Defaults for Options.
const (
	DefaultMaxRequestBody = 32 << 20
	defaultConnect        = 30 * time.Second
	defaultResponseHeader = 30 * time.Second
	defaultTotal          = 10 * time.Minute
	defaultDrain          = 60 * time.Second
)

// Options configure a Server.
type Options struct {
	Providers []Provider
	Timeouts  Timeouts
	// MaxRequestBody caps request bodies; default DefaultMaxRequestBody.
	MaxRequestBody int64
	// Admit, if set, is asked before each call goes upstream, once its
	// request has been read: rec is the call's record so far (provider,
	// endpoint, mode, model, stream, client, tags). A non-nil Refusal
	// answers the call at once and records it (see Refusal); nothing is
	// sent upstream. It runs on the call's goroutine, so it must not block.
	// Nil: every call goes upstream.
	Admit func(r *http.Request, rec ledger.Record) *Refusal
	// Record receives every call once it has ended: its record and what
	// only the call in flight knew. It runs on the call's goroutine, so it
	// must not block. Nil: records are only logged.
	Record func(Call)
	// Logger receives one info line per call; nil: slog.Default().
	Logger *slog.Logger
	// Forward configures forward (HTTPS_PROXY) mode. Nil: nothing is
	// intercepted — every CONNECT is tunnelled and every absolute-form
	// request forwarded untouched (except those aimed at Conduit itself,
	// and those to local addresses: AllowPrivateTunnels is false).
	Forward *Forward
	// Upstream configures Conduit's own outbound connections (an upstream
	// proxy, extra roots); the zero value dials directly.
	Upstream Upstream
	// ProxyAuth, if set, is required of every CONNECT and absolute-form
	// (forward-mode) request. Nil: none is asked for.
	ProxyAuth *ProxyAuth
	// Metrics, if set, serves GET /metrics on the proxy's port (Prometheus
	// scrapes). Nil: /metrics answers 404.
	Metrics http.Handler

	// AllowedHosts are Host names (or addresses) that origin-form
	// requests may carry besides Conduit's own: localhost, loopback and
	// local interface addresses, the listen hosts (and this machine's
	// name when listening beyond loopback). Any other Host is refused
	// with 403: it is what a DNS-rebinding page sends.
	AllowedHosts []string
	// AllowedOrigins are the browser origins (scheme://host[:port]) whose
	// pages may make origin-form calls; their preflights are answered.
	// Any other Origin, and Sec-Fetch-Site cross-site or same-site, is
	// refused with 403. Requests without those headers (SDKs, agents)
	// are not affected.
	AllowedOrigins []string
	// MaxTunnelsPerClient bounds the forward-mode tunnels (blind and
	// decrypted) one client IP holds open at once; more are refused with
	// 429. Zero: DefaultMaxTunnelsPerClient.
	MaxTunnelsPerClient int

	// onClientLeft, set by tests, runs when a call notices its client left.
	onClientLeft func()
}

// Server is Conduit's http.Handler: base-URL routes, /health and /metrics
// for origin-form requests, the forward proxy for CONNECT and absolute-form
// ones, on one port. The methods below read as a request's path, top down:
//
//	ServeHTTP → guard (origin-form: Host and browser origin; else the proxy credential), then by the request's form:
//	  CONNECT       → connect: refused │ tunnels.enter, then mitm.serve → decrypted → call │ tunnelBlind → relay
//	  absolute-form → absolute: origin (aimed at Conduit) │ call │ refused │ relay (forwarded as is)
//	  origin-form   → origin: /health │ /metrics │ routes.route → call
//	call → a WebSocket upgrade: refused (forward mode, if configured) │ sockets.serve (relayed, metered)
//	     → else capture.roundTrip (Admit, upstream, tap) → writeResponse
type Server struct {
	auth    *ProxyAuth // nil: forward mode asks for no credential
	self    *selfAddrs
	origins *originGuard // who may send origin-form requests
	metrics http.Handler // nil: /metrics is off
	logger  *slog.Logger

	transport *h1Client                // every outbound call
	relayed   *http.Transport          // plain requests relayed for other hosts
	capture   *capture                 // runs and records the calls of both modes
	sockets   *webSockets              // relays and records the WebSocket connections of both modes
	refuseWS  bool                     // forward mode answers WebSocket upgrades with 426
	routes    *router                  // base-URL mode
	hosts     *forwardHosts            // forward mode: what is intercepted, and as which provider
	mitm      *mitm                    // forward mode: decrypted CONNECTs
	relay     *goproxy.ProxyHttpServer // forward mode: blind tunnels, other hosts' requests
	tunnel    *tunnelDialer            // forward mode: the upstream side of blind tunnels
	tunnelLLM *tunnelDialer            // the same, for intercepted hosts Conduit cannot decrypt: they may be local
	tunnels   *tunnelGate              // forward mode: how many tunnels may be open
}

// New builds a Server. Each piece gets what it needs when it is built, in
// this order; none refers back to the Server.
func New(opts Options) (*Server, error) {
	if len(opts.Providers) == 0 {
		return nil, errors.New("intercept: no providers")
	}
	t, err := opts.Timeouts.resolve()
	if err != nil {
		return nil, err
	}
	fw := opts.Forward
	if fw == nil {
		fw = &Forward{TunnelOthers: true}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}

	self, err := newSelfAddrs(fw.ListenAddrs)
	if err != nil {
		return nil, err
	}
	if up := opts.Upstream.Proxy; up != nil {
		if host, port := splitAuthority(up.Host, defaultPort(up.Scheme)); self.is(host, port, nil) {
			return nil, fmt.Errorf("intercept: the upstream proxy %s is Conduit itself: calls would loop", up.Redacted())
		}
	}
	// Nothing Conduit dials may be Conduit itself; what it relays for
	// others may not reach this machine's or its networks' services
	// either, unless allowed.
	callPolicy := destPolicy{self: self}
	relayPolicy := destPolicy{self: self, private: !fw.AllowPrivateTunnels}
	callDial := opts.Upstream.dialer(t.Connect, callPolicy)
	transport := newTransport(t, opts.Upstream, callDial)
	relayTransport := newTransport(t, opts.Upstream, opts.Upstream.dialer(t.Connect, relayPolicy))
	callClient := newH1Client(transport, t, opts.Upstream, callDial)
	calls := &capture{
		transport:      callClient,
		timeouts:       t,
		admit:          opts.Admit,
		record:         opts.Record,
		logger:         logger,
		maxRequestBody: orDefault(opts.MaxRequestBody, DefaultMaxRequestBody),
		now:            time.Now,
		inflight:       newInflight(),
		onClientLeft:   opts.onClientLeft,
	}
	routes, err := newRouter(opts.Providers, self)
	if err != nil {
		return nil, err
	}
	hosts, err := newForwardHosts(fw, opts.Providers)
	if err != nil {
		return nil, err
	}
	if fw.CA == nil && len(hosts.patterns) > 0 {
		logger.Info("forward mode: no local CA, so HTTPS_PROXY calls to LLM hosts are tunnelled, not recorded; run `conduit ca init` to record them")
	}
	tunnel := func(p destPolicy) *tunnelDialer {
		return &tunnelDialer{
			dial:    opts.Upstream.dialer(t.Connect, p),
			policy:  p,
			proxy:   opts.Upstream.proxyFunc(),
			roots:   opts.Upstream.RootCAs,
			timeout: t.Connect,
		}
	}
	return &Server{
		auth:      opts.ProxyAuth,
		self:      self,
		origins:   newOriginGuard(self, opts.AllowedHosts, opts.AllowedOrigins),
		metrics:   opts.Metrics,
		logger:    logger,
		transport: callClient,
		capture:   calls,
		sockets:   newWebSockets(calls, transport, logger),
		refuseWS:  fw.RefuseWebSockets,
		routes:    routes,
		hosts:     hosts,
		mitm:      newMITM(fw.CA, logger),
		relayed:   relayTransport,
		relay:     newRelay(relayTransport, logger),
		tunnel:    tunnel(relayPolicy),
		tunnelLLM: tunnel(callPolicy),
		tunnels:   newTunnelGate(opts.MaxTunnelsPerClient),
	}, nil
}

// resolve fills in the defaults.
func (t Timeouts) resolve() (Timeouts, error) {
	t.Connect = orDefault(t.Connect, defaultConnect)
	t.ResponseHeader = orDefault(t.ResponseHeader, defaultResponseHeader)
	t.Total = orDefault(t.Total, defaultTotal)
	t.WebSocketIdle = orDefault(t.WebSocketIdle, defaultWebSocketIdle)
	if t.WebSocketTotal < 0 {
		return t, fmt.Errorf("intercept: websocket total timeout %s is negative (zero: none)", t.WebSocketTotal)
	}
	switch {
	case t.Drain == nil:
		t.Drain = new(defaultDrain)
	case *t.Drain < 0:
		return t, fmt.Errorf("intercept: drain timeout %s is negative (zero: no drain)", *t.Drain)
	default:
		t.Drain = new(*t.Drain) // the caller's variable may change later
	}
	return t, nil
}

// orDefault is v, or def when v is not positive.
func orDefault[T ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func newTransport(t Timeouts, u Upstream, dial dialFunc) *http.Transport {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSHandshakeTimeout:   t.Connect,
		ResponseHeaderTimeout: t.ResponseHeader,
		ExpectContinueTimeout: time.Second,
		// HTTP/1.1 upstream, even to providers that offer HTTP/2: a pooled
		// connection per concurrent call, each with its own TCP window,
		// instead of every call to a host multiplexed over one connection
		// and its one read loop. For an agent's many small calls and
		// parallel streams Go's HTTP/2 client costs more CPU per call
		// (a flushed frame write each for headers and body) and serves
		// fewer calls per second: measured ~23% more req/s in forward
		// mode with HTTP/1.1 (conduit-bench -only forward).
		ForceAttemptHTTP2: false,
		// Agents run many calls at once against one or two hosts; Go's
		// default of 2 idle connections per host would churn connections.
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	if pf := u.proxyFunc(); pf != nil {
		tr.Proxy = func(r *http.Request) (*url.URL, error) { return pf(r.URL) }
	}
	if u.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: u.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return tr
}

// ServeHTTP serves one request on the listener: after the guard, a CONNECT,
// an absolute-form (forward-mode) request or an origin-form (base-URL)
// one.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A forward-mode request's attribution is in its proxy credential,
	// which the guard checks and removes.
	var attr Attribution
	var attrErr error
	if r.Method == http.MethodConnect || r.URL.IsAbs() {
		attr, attrErr = proxyAttribution(r.Header, s.authUser())
	}
	if !s.guard(w, r) {
		return
	}
	if attrErr != nil {
		s.logger.Warn("forward mode: refused a request whose proxy user name has a malformed attribution", "err", attrErr, "host", r.Host)
		refuse(w, http.StatusBadRequest, fmt.Sprintf("conduit: the attribution in the proxy user name is malformed: %v\n", attrErr))
		return
	}
	switch {
	case r.Method == http.MethodConnect:
		s.connect(w, r, attr)
	case r.URL.IsAbs():
		s.absolute(w, r, attr)
	default:
		s.origin(w, r)
	}
}

// authUser is the proxy user name forward-mode clients authenticate as,
// "" when none is asked for.
func (s *Server) authUser() string {
	if s.auth == nil {
		return ""
	}
	return s.auth.User
}

// guard is where a request Conduit serves to no one is refused, before it
// is routed anywhere; it answers the client and returns false: an
// origin-form request under a foreign Host or from another site's browser
// page (an allowed origin's preflight is answered here too), a
// forward-mode request without the proxy credential.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodConnect && !r.URL.IsAbs() {
		return s.origins.check(w, r, s.routes.apiFor(r))
	}
	if s.auth != nil && !s.auth.allows(r.Header) {
		s.logger.Debug("forward mode: refused a request without the proxy credential",
			"method", r.Method, "host", r.Host, "remote", r.RemoteAddr)
		challenge(w)
		return false
	}
	// The credential was for Conduit: it never goes further.
	r.Header.Del("Proxy-Authorization")
	return true
}

// connect decides a CONNECT: refused, decrypted and served as calls, or
// tunnelled blind. Every tunnel is admitted by the gate first, and holds
// its place until it ends.
func (s *Server) connect(w http.ResponseWriter, r *http.Request, attr Attribution) {
	authority := r.URL.Host
	if authority == "" {
		authority = r.Host
	}
	host, port := splitAuthority(authority, "443")
	i := s.hosts.intercepted(host, port)
	switch {
	case s.self.is(host, port, r):
		writeError(w, "", http.StatusForbidden, typeLoop, fmt.Sprintf("conduit: refusing CONNECT %s: that is Conduit itself; call it directly (add localhost,127.0.0.1 to NO_PROXY)", authority), nil)
		return
	case i < 0 && !s.hosts.others:
		refuse(w, http.StatusForbidden, fmt.Sprintf("conduit: refusing CONNECT %s: not an intercepted LLM host, and [mitm] tunnel_others = false\n", authority))
		return
	}
	release, status, typ, msg := s.tunnels.enter(r)
	if release == nil {
		// At debug level: a flood of refusals must not become a flood of
		// log lines; the client gets the reason.
		s.logger.Debug("forward mode: refused a tunnel", "host", authority, "remote", r.RemoteAddr, "reason", msg)
		w.Header().Set("Connection", "close")
		writeError(w, "", status, typ, msg, nil)
		return
	}
	switch {
	case i >= 0 && s.hosts.mitmable[i]:
		s.mitm.serve(w, host, s.decrypted(host, port, attr), release)
	case i >= 0:
		s.logger.Debug("forward mode: tunnelling an LLM host without recording it (no CA for it)", "host", authority)
		s.tunnelBlind(w, r, s.tunnelLLM, host, port, release)
	default:
		s.tunnelBlind(w, r, s.tunnel, host, port, release)
	}
}

// decrypted serves the requests of one decrypted connection, opened by a
// CONNECT to host:port, as forward-mode calls to that host, attributed as
// the CONNECT was.
func (s *Server) decrypted(host, port string, attr Attribution) http.HandlerFunc {
	// The same for every request on the connection: worked out once, not
	// per call (a host Conduit does not know costs a Provider each time).
	p := s.hosts.providerFor(host, port)
	authority := canonicalAuthority(host, port, "https")
	hostPort := net.JoinHostPort(host, port)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			// A tunnel inside a tunnel: nothing a client of an LLM host
			// needs, and the way to nest tunnels without bound.
			writeError(w, p.API, http.StatusMethodNotAllowed, typeTunnelRefused,
				fmt.Sprintf("conduit: CONNECT inside the decrypted connection to %s is refused: tunnels do not nest", hostPort), nil)
			return
		}
		// The Host header clients send names the CONNECT host as one of
		// these two, which split to host and port: no need to split them.
		if r.Host != "" && r.Host != authority && r.Host != hostPort {
			if rhost, rport := splitAuthority(r.Host, "443"); rhost != host || rport != port {
				writeError(w, p.API, http.StatusMisdirectedRequest, typeMisdirected,
					fmt.Sprintf("conduit: this connection was opened for %s, not %s", hostPort, r.Host), nil)
				return
			}
		}
		t := forwardTarget(r, p, "https", authority)
		t.attr = attr
		s.call(w, r, t)
	}
}

// absolute decides a plain (http://) forward-mode request: served locally
// when aimed at Conduit, as a call when its host is intercepted, else
// refused or forwarded untouched.
func (s *Server) absolute(w http.ResponseWriter, r *http.Request, attr Attribution) {
	scheme := strings.ToLower(r.URL.Scheme)
	host, port := splitAuthority(r.URL.Host, defaultPort(scheme))
	switch {
	case s.self.is(host, port, r):
		s.origin(w, originForm(r))
	case s.hosts.intercepted(host, port) >= 0 && (scheme == "http" || scheme == "https"):
		t := s.hosts.target(r, scheme, host, port)
		t.attr = attr
		s.call(w, r, t)
	case !s.hosts.others:
		refuse(w, http.StatusForbidden, fmt.Sprintf("conduit: %s is not an intercepted LLM host, and [mitm] tunnel_others = false: Conduit relays only the hosts it records\n", r.URL.Host))
	default:
		// The relay's dial judges every address it connects to; a literal
		// one is judged here too, for an upstream proxy would connect to
		// it unseen.
		if ap, err := netip.ParseAddrPort(net.JoinHostPort(host, canonicalPort(port))); err == nil {
			if err := s.tunnel.policy.check(ap); err != nil {
				writeRelayRefusal(w, "forward to "+r.URL.Host, err)
				return
			}
		}
		s.relay.ServeHTTP(w, r)
	}
}

// originForm is an absolute-form request aimed at Conduit itself as the
// origin-form request it means.
func originForm(r *http.Request) *http.Request {
	local := new(http.Request)
	*local = *r
	u := *r.URL
	u.Scheme, u.Host, u.User = "", "", nil
	local.URL = &u
	local.RequestURI = u.RequestURI()
	return local
}

// origin serves an origin-form request: /health, /metrics, or a base-URL
// call.
func (s *Server) origin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "OK")
	case "/metrics":
		if s.metrics == nil {
			writeError(w, "", http.StatusNotFound, typeMetricsOff, "conduit: metrics are turned off in this Conduit's config", nil)
			return
		}
		s.metrics.ServeHTTP(w, r)
	default:
		if t, ok := s.routes.route(w, r); ok {
			s.call(w, r, t)
		}
	}
}

// call serves one call to a provider, whichever mode it came by. It is the
// one place an upgrade is decided: a WebSocket upgrade is relayed and
// metered in both modes (websocket.go), unless forward mode is set to
// refuse them. Any other call the capture runs (admission, upstream, tap)
// and the reply goes to the client.
func (s *Server) call(w http.ResponseWriter, r *http.Request, t target) {
	if isWebSocketUpgrade(r.Header) {
		if t.mode == ledger.ModeForward && s.refuseWS {
			refuseWebSocket(w, r, t, s.logger)
			return
		}
		s.sockets.serve(w, r, t)
		return
	}
	writeResponse(w, s.capture.roundTrip(r, t))
}

// refuse answers a proxy request with a short plain-text error.
func refuse(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Connection", "close")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

// Shutdown gracefully closes the decrypted (forward-mode) connections,
// which the listener's http.Server does not track once they are taken
// over: new CONNECTs to intercepted hosts are no longer decrypted, calls in
// flight finish, idle connections close. It then waits for every call
// still running to be recorded: streams whose client left are read on (for
// at most Timeouts.Drain) for their final usage, although no connection
// tracks them any more. Call it after the http.Server's own Shutdown (and,
// if that gave up, after its Close). When ctx ends first, the remaining
// connections are closed at once, the remaining calls are cancelled and
// recorded with what they read, and ctx's error is returned. Relayed
// WebSocket connections, which no http.Server tracks, get a close frame
// (1001, going away) each way and a few seconds to close before they are
// cut; their responses are recorded. Blind tunnels are not tracked.
func (s *Server) Shutdown(ctx context.Context) error {
	wsErr := make(chan error, 1)
	go func() { wsErr <- s.sockets.shutdown(ctx) }()
	err := s.mitm.shutdown(ctx)
	if werr := <-wsErr; err == nil {
		err = werr
	}
	if werr := s.capture.inflight.wait(ctx); werr != nil {
		if aerr := s.capture.inflight.abort(); aerr != nil {
			s.logger.Error("stopping: "+aerr.Error(), "grace", abortGrace)
		}
		if err == nil {
			err = werr
		}
	}
	return err
}

// CloseIdleConnections closes the upstream connections kept for reuse.
func (s *Server) CloseIdleConnections() {
	s.transport.CloseIdleConnections()
	s.relayed.CloseIdleConnections()
	s.sockets.transport.CloseIdleConnections()
}
