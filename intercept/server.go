package intercept

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	// from Timeouts.
	Transport http.RoundTripper
}

// Server is Conduit's http.Handler: base-URL routes and /health for
// origin-form requests, the forward proxy for CONNECT and absolute-form
// ones, on one port.
type Server struct {
	proxy     *goproxy.ProxyHttpServer
	transport *http.Transport // nil when Options.Transport was given
	capture   *capture
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
	s := &Server{}
	rt := opts.Transport
	if rt == nil {
		s.transport = newTransport(t)
		rt = s.transport
	}
	s.capture = &capture{
		transport:      rt,
		timeouts:       t,
		record:         opts.Record,
		logger:         logger,
		maxRequestBody: cmp(opts.MaxRequestBody, DefaultMaxRequestBody),
		now:            time.Now,
	}
	r, err := newRouter(opts.Providers, s.capture)
	if err != nil {
		return nil, err
	}

	s.proxy = goproxy.NewProxyHttpServer()
	s.proxy.NonproxyHandler = r
	s.proxy.Logger = slogPrintf{logger}
	if s.transport != nil {
		s.proxy.Tr = s.transport
	}
	// Never route Conduit's own outbound calls through an exported
	// HTTPS_PROXY: it may point at Conduit itself.
	s.proxy.Tr.Proxy = nil
	s.proxy.ConnectDial = nil
	return s, nil
}

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

func newTransport(t Timeouts) *http.Transport {
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
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
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.proxy.ServeHTTP(w, r)
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
