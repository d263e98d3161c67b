package intercept

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
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
}

// Timeouts bound each call. Zero values take the defaults.
type Timeouts struct {
	Connect        time.Duration // dial and TLS handshake; default 30 s
	ResponseHeader time.Duration // request sent → response headers; default 30 s
	Total          time.Duration // the whole call, body included; default 10 min
	// Drain is how long an abandoned response is still read for its final
	// usage after the client left; default 60 s. Negative: not at all.
	Drain time.Duration
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
	// Record receives every call's record once the call has ended. It runs
	// on the call's goroutine, so it must not block. Nil: records are only
	// logged.
	Record func(ledger.Record)
	// Logger receives one info line per call; nil: slog.Default().
	Logger *slog.Logger
	// Transport overrides the upstream transport (tests); nil: one built
	// from Timeouts and Upstream.
	Transport http.RoundTripper
	// Forward configures forward (HTTPS_PROXY) mode. Nil: nothing is
	// intercepted — every CONNECT is tunnelled and every absolute-form
	// request forwarded untouched (except those aimed at Conduit itself).
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

	// onClientLeft, set by tests, runs when a call notices its client left.
	onClientLeft func()
}

// Server is Conduit's http.Handler: base-URL routes, /health and /metrics
// for origin-form requests, the forward proxy for CONNECT and absolute-form
// ones, on one port.
type Server struct {
	proxy     *goproxy.ProxyHttpServer
	transport *http.Transport // nil when Options.Transport was given
	capture   *capture
	forward   *forwarder
	auth      *ProxyAuth // nil: forward mode asks for no credential
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	if len(opts.Providers) == 0 {
		return nil, errors.New("intercept: no providers")
	}
	t := opts.Timeouts
	t.Connect = orDefault(t.Connect, defaultConnect)
	t.ResponseHeader = orDefault(t.ResponseHeader, defaultResponseHeader)
	t.Total = orDefault(t.Total, defaultTotal)
	switch {
	case t.Drain == 0:
		t.Drain = defaultDrain
	case t.Drain < 0:
		t.Drain = 0
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{auth: opts.ProxyAuth}
	rt := opts.Transport
	if rt == nil {
		s.transport = newTransport(t, opts.Upstream)
		rt = s.transport
	}
	s.capture = &capture{
		transport:      rt,
		timeouts:       t,
		record:         opts.Record,
		logger:         logger,
		maxRequestBody: cmp(opts.MaxRequestBody, DefaultMaxRequestBody),
		now:            time.Now,
		inflight:       newInflight(),
		onClientLeft:   opts.onClientLeft,
	}
	r, err := newRouter(opts.Providers, s.capture)
	if err != nil {
		return nil, err
	}
	r.metrics = opts.Metrics
	s.forward, err = newForwarder(opts.Forward, opts.Providers, opts.Upstream, s.capture, r, logger)
	if err != nil {
		return nil, err
	}
	r.isSelf = s.forward.isSelf

	s.proxy = goproxy.NewProxyHttpServer()
	s.proxy.NonproxyHandler = r
	s.proxy.Logger = slogPrintf{logger}
	if s.transport != nil {
		s.proxy.Tr = s.transport
	} else {
		s.proxy.Tr.Proxy = nil
	}
	// Never route Conduit's own outbound calls through an exported
	// HTTPS_PROXY: it may point at Conduit itself. Only a configured
	// Upstream.Proxy is used, by the transport and by tunnels.
	s.proxy.ConnectDial = nil
	td := &tunnelDialer{
		dial:    opts.Upstream.dialer(t.Connect),
		proxy:   opts.Upstream.proxyFunc(),
		roots:   opts.Upstream.RootCAs,
		timeout: t.Connect,
	}
	s.proxy.ConnectDialWithReq = td.dialTunnel
	// Only blind tunnels reach goproxy's CONNECT handling (the forwarder
	// answers the rest), and an explicit accept keeps goproxy's built-in
	// CA out of every ConnectAction.
	s.proxy.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return tunnelAction, host
	})
	return s, nil
}

var tunnelAction = &goproxy.ConnectAction{Action: goproxy.ConnectAccept}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func cmp(n, def int64) int64 {
	if n <= 0 {
		return def
	}
	return n
}

func newTransport(t Timeouts, u Upstream) *http.Transport {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           u.dialer(t.Connect),
		TLSHandshakeTimeout:   t.Connect,
		ResponseHeaderTimeout: t.ResponseHeader,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
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

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect || r.URL.IsAbs() {
		if s.auth != nil && !s.auth.allows(r.Header) {
			s.capture.logger.Debug("forward mode: refused a request without the proxy credential",
				"method", r.Method, "host", r.Host, "remote", r.RemoteAddr)
			challenge(w)
			return
		}
		// The credential was for Conduit: it never goes further.
		r.Header.Del("Proxy-Authorization")
	}
	if s.forward.handle(w, r) {
		return
	}
	s.proxy.ServeHTTP(w, r)
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
// recorded with what they read, and ctx's error is returned. Blind tunnels
// are not tracked.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.forward.shutdown(ctx)
	if werr := s.capture.inflight.wait(ctx); werr != nil {
		if aerr := s.capture.inflight.abort(); aerr != nil {
			s.capture.logger.Error("stopping: "+aerr.Error(), "grace", abortGrace)
		}
		if err == nil {
			err = werr
		}
	}
	return err
}

// CloseIdleConnections closes the upstream connections kept for reuse.
func (s *Server) CloseIdleConnections() {
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
}

// slogPrintf adapts goproxy's Printf logger to slog at debug level: goproxy
// logs only when Verbose, and then per request.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, v ...any) {
	p.l.Debug(fmt.Sprintf(format, v...), "component", "goproxy")
}

// clientWriteError marks a failure to write to the client, as opposed to a
// failure to read from upstream.
type clientWriteError struct{ err error }

func (e clientWriteError) Error() string { return "writing to client: " + e.err.Error() }
func (e clientWriteError) Unwrap() error { return e.err }

var _ io.WriterTo = (*tap)(nil)
