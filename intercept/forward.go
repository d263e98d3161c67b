package intercept

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valohai/conduit/certs"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// Forward configures forward (HTTPS_PROXY) mode: what Conduit does with
// CONNECT and absolute-form requests.
//
// A CONNECT to an intercepted host is answered by Conduit itself: it ends
// the client's TLS with a leaf minted by CA for that host and serves the
// decrypted requests through the same capture as base-URL mode (recorded
// with mode "forward"), opening its own verified TLS connection upstream.
// A CONNECT to any other host is a blind TCP tunnel: nothing is decrypted or
// recorded. Plain http:// requests to an intercepted host are captured the
// same way; to other hosts they are forwarded untouched.
type Forward struct {
	// CA mints the leaf certificates shown to clients. Nil: nothing is
	// decrypted — CONNECTs to intercepted hosts are tunnelled like any
	// other, and New logs once how to enable interception. Hosts outside
	// the CA's name constraints are tunnelled too.
	CA *certs.Authority
	// Hosts are the intercepted host patterns (see ValidateHostPattern):
	// "api.openai.com", "api.openai.com:443", "*.openai.azure.com",
	// "127.0.0.1:11434". Empty: none (DefaultHosts gives the usual list).
	Hosts []string
	// TunnelOthers: CONNECTs and plain requests to hosts that are not
	// intercepted are relayed untouched. False: they are refused with 403.
	TunnelOthers bool
	// ListenAddrs are the proxy's own listen addresses (host:port). A
	// request or CONNECT aimed at one of them — or at the address the
	// request arrived on — is served locally (base-URL routes, /health) or
	// refused, never forwarded to Conduit itself.
	ListenAddrs []string
}

// Timeouts of a decrypted (MITM) client connection, as the listener's own:
// the TLS handshake and each request's headers must arrive within
// mitmReadHeaderTimeout; an idle kept-alive connection is closed after
// mitmIdleTimeout.
const (
	mitmReadHeaderTimeout = 30 * time.Second
	mitmIdleTimeout       = 2 * time.Minute
)

// Conduit's own error types for forward mode, as they appear in the JSON
// error bodies.
const (
	typeWebSocketRefused = "conduit_websocket_refused"
	typeMisdirected      = "conduit_misdirected_request"
)

// forwarder serves the forward-proxy side of the listener.
type forwarder struct {
	capture *capture
	router  http.Handler // origin-form routes, for requests aimed at Conduit itself
	logger  *slog.Logger

	providers []*Provider          // configured, in order: the first whose upstream host matches wins
	known     map[string]*Provider // well-known hosts
	patterns  []hostPattern        // intercepted
	mitmable  []bool               // per pattern: the CA may mint for it
	leaf      func(host string) (*tls.Certificate, error)
	others    bool // tunnel others

	listen     []listenAddr
	localIPs   func() map[netip.Addr]bool
	mitmServed atomic.Int64 // decrypted connections accepted (tests)

	mu      sync.Mutex
	closing bool
	conns   map[*http.Server]struct{} // live decrypted connections
}

type listenAddr struct {
	host string     // normalized
	ip   netip.Addr // invalid when host is a name
	port string
}

func newForwarder(fw *Forward, providers []Provider, up Upstream, c *capture, router http.Handler, logger *slog.Logger) (*forwarder, error) {
	if fw == nil {
		fw = &Forward{TunnelOthers: true}
	}
	f := &forwarder{
		capture: c,
		router:  router,
		logger:  logger,
		known:   make(map[string]*Provider, len(wellKnownHosts)),
		others:  fw.TunnelOthers,
		conns:   make(map[*http.Server]struct{}),
	}
	for i := range providers {
		f.providers = append(f.providers, &providers[i])
	}
	for _, w := range wellKnownHosts {
		f.known[w.Host] = &Provider{Key: w.Key, Upstream: &url.URL{Scheme: "https", Host: w.Host}, API: w.API, InjectStreamUsage: w.InjectStreamUsage}
	}
	for _, h := range fw.Hosts {
		p, err := parseHostPattern(h)
		if err != nil {
			return nil, fmt.Errorf("intercept: forward host: %w", err)
		}
		f.patterns = append(f.patterns, p)
		// The CA's constraints are checked per pattern: a host it cannot
		// sign for is tunnelled rather than failing every handshake.
		f.mitmable = append(f.mitmable, fw.CA != nil && fw.CA.Covers([]string{h}) == nil)
	}
	if fw.CA != nil {
		f.leaf = fw.CA.Leaf
	} else if len(f.patterns) > 0 {
		logger.Info("forward mode: no local CA, so HTTPS_PROXY calls to LLM hosts are tunnelled, not recorded; run `conduit ca init` to record them")
	}
	for _, a := range fw.ListenAddrs {
		h, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("intercept: listen address %q: %w", a, err)
		}
		la := listenAddr{host: normalizeHost(h), port: port}
		if la.host == "" {
			la.host = "0.0.0.0"
		}
		la.ip, _ = netip.ParseAddr(la.host)
		f.listen = append(f.listen, la)
	}
	f.localIPs = sync.OnceValue(interfaceIPs)
	if up.Proxy != nil {
		host, port := splitAuthority(up.Proxy.Host, defaultPort(up.Proxy.Scheme))
		if f.isSelf(host, port, nil) {
			return nil, fmt.Errorf("intercept: the upstream proxy %s is Conduit itself: calls would loop", up.Proxy.Redacted())
		}
	}
	return f, nil
}

func interfaceIPs() map[netip.Addr]bool {
	m := make(map[netip.Addr]bool)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return m
	}
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil {
			m[pfx.Addr().Unmap()] = true
		}
	}
	return m
}

// handle serves r when it is a forward-proxy request Conduit answers
// itself, and reports whether it did; the rest (tunnels and plain
// forwarding to hosts that are not intercepted, origin-form requests) is
// left to goproxy.
func (f *forwarder) handle(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodConnect {
		return f.connect(w, r)
	}
	if !r.URL.IsAbs() {
		return false
	}
	scheme := strings.ToLower(r.URL.Scheme)
	host, port := splitAuthority(r.URL.Host, defaultPort(scheme))
	switch {
	case f.isSelf(host, port, r):
		f.serveLocally(w, r)
	case f.intercepted(host, port) >= 0 && (scheme == "http" || scheme == "https"):
		f.serveIntercepted(w, r, scheme, host, port)
	case !f.others:
		refuse(w, http.StatusForbidden, fmt.Sprintf("conduit: %s is not an intercepted LLM host, and [mitm] tunnel_others = false: Conduit relays only the hosts it records\n", r.URL.Host))
	default:
		return false
	}
	return true
}

// connect decides a CONNECT: refuse it, decrypt it, or leave it to goproxy
// as a blind tunnel (false).
func (f *forwarder) connect(w http.ResponseWriter, r *http.Request) bool {
	authority := r.URL.Host
	if authority == "" {
		authority = r.Host
	}
	host, port := splitAuthority(authority, "443")
	i := f.intercepted(host, port)
	switch {
	case f.isSelf(host, port, r):
		refuse(w, http.StatusForbidden, fmt.Sprintf("conduit: refusing CONNECT %s: that is Conduit itself; call it directly (add localhost,127.0.0.1 to NO_PROXY)\n", authority))
	case i >= 0 && f.mitmable[i]:
		f.mitm(w, r, host, port)
	case i >= 0:
		f.logger.Debug("forward mode: tunnelling an LLM host without recording it (no CA for it)", "host", authority)
		return false
	case !f.others:
		refuse(w, http.StatusForbidden, fmt.Sprintf("conduit: refusing CONNECT %s: not an intercepted LLM host, and [mitm] tunnel_others = false\n", authority))
	default:
		return false
	}
	return true
}

// refuse answers a proxy request with a short plain-text error.
func refuse(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Connection", "close")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

// intercepted returns the index of the first pattern matching host:port,
// or -1.
func (f *forwarder) intercepted(host, port string) int {
	for i, p := range f.patterns {
		if p.match(host, port) {
			return i
		}
	}
	return -1
}

// isSelf reports whether host:port is one of Conduit's own addresses: a
// listen address, the address r arrived on (r may be nil), or — for a
// listener on all interfaces — localhost or any local interface address
// on the listen port.
func (f *forwarder) isSelf(host, port string, r *http.Request) bool {
	addrs := f.listen
	if r != nil {
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(la.String()); err == nil {
				ip := ap.Addr().Unmap()
				addrs = append(addrs[:len(addrs):len(addrs)], listenAddr{host: ip.String(), ip: ip, port: fmt.Sprint(ap.Port())})
			}
		}
	}
	hip, err := netip.ParseAddr(host)
	isIP := err == nil
	loopback := host == "localhost" || (isIP && hip.IsLoopback())
	for _, a := range addrs {
		if a.port != port {
			continue
		}
		switch {
		case host == a.host:
			return true
		case !a.ip.IsValid():
		case a.ip.IsUnspecified() && (loopback || (isIP && f.localIPs()[hip])):
			return true
		case a.ip.IsLoopback() && host == "localhost":
			return true
		}
	}
	return false
}

// serveLocally serves an absolute-form request aimed at Conduit itself as
// the origin-form request it means.
func (f *forwarder) serveLocally(w http.ResponseWriter, r *http.Request) {
	local := new(http.Request)
	*local = *r
	u := *r.URL
	u.Scheme, u.Host, u.User = "", "", nil
	local.URL = &u
	local.RequestURI = u.RequestURI()
	f.router.ServeHTTP(w, local)
}

// providerFor returns the provider that an intercepted call to host:port
// is recorded under: the first configured provider whose upstream has that
// host (and port, when the upstream names one), else the built-in one for a
// well-known host, else one named after the host with the format its host
// suggests.
func (f *forwarder) providerFor(host, port string) *Provider {
	for _, p := range f.providers {
		if normalizeHost(p.Upstream.Hostname()) != host {
			continue
		}
		if up := p.Upstream.Port(); up != "" && up != port {
			continue
		}
		return p
	}
	if p := f.known[host]; p != nil {
		return p
	}
	authority := canonicalAuthority(host, port, "https")
	return &Provider{Key: host, Upstream: &url.URL{Scheme: "https", Host: authority}, API: parsers.APIForHost(net.JoinHostPort(host, port))}
}

// serveIntercepted forwards one decrypted or plain request to an
// intercepted host through the capture pipeline, and writes the response.
func (f *forwarder) serveIntercepted(w http.ResponseWriter, r *http.Request, scheme, host, port string) {
	p := f.providerFor(host, port)
	if isWebSocketUpgrade(r.Header) {
		f.refuseWebSocket(w, r, p, host)
		return
	}
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	u := &url.URL{
		Scheme:   scheme,
		Host:     canonicalAuthority(host, port, scheme),
		Path:     path,
		RawPath:  r.URL.RawPath,
		RawQuery: r.URL.RawQuery,
	}
	resp := f.capture.roundTrip(r, target{provider: p, mode: ledger.ModeForward, url: u})
	writeResponse(w, resp)
}

// isWebSocketUpgrade reports a request to switch to WebSocket.
func isWebSocketUpgrade(h http.Header) bool {
	return headerHasToken(h, "Connection", "upgrade") && headerHasToken(h, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// refuseWebSocket answers a WebSocket upgrade to an intercepted host with
// 426: Conduit reads usage from HTTP responses, not WebSocket frames, and
// Codex CLI falls back to HTTPS with server-sent events at once on a 426
// (other statuses cost it retries first).
func (f *forwarder) refuseWebSocket(w http.ResponseWriter, r *http.Request, p *Provider, host string) {
	f.logger.Info("forward mode: refused a WebSocket upgrade so the client falls back to HTTPS + SSE",
		"host", host, "path", redactedPath(r.URL), "client", r.Header.Get("User-Agent"))
	w.Header().Set("Connection", "close")
	writeError(w, p.API, http.StatusUpgradeRequired, typeWebSocketRefused,
		fmt.Sprintf("conduit: WebSocket connections to %s are not recorded, so Conduit refuses them; use HTTPS with server-sent events (Codex CLI falls back by itself; to skip the attempt set supports_websockets = false for the provider)", host), nil)
}

// mitm takes over a CONNECT to an intercepted host: it answers 200, ends
// the client's TLS with a leaf for host, and serves the connection's
// requests with an http.Server of its own, so a decrypted connection gets
// the same HTTP/1.1 handling (header limits, timeouts, keep-alive,
// 100-continue, flushing) as the listener.
func (f *forwarder) mitm(w http.ResponseWriter, r *http.Request, host, port string) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		refuse(w, http.StatusInternalServerError, "conduit: cannot take over this connection to intercept it\n")
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		f.logger.Debug("forward mode: hijack failed", "host", host, "err", err)
		return
	}
	// A client may send its ClientHello in the same write as the CONNECT:
	// those bytes already sit in the server's reader.
	var rd io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn)
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	authority := net.JoinHostPort(host, port)
	tlsConn := tls.Server(&replayConn{Conn: conn, r: rd}, &tls.Config{
		MinVersion: tls.VersionTLS12,
		// HTTP/1.1 only: every SDK speaks it, and one protocol means one
		// well-tested code path for streaming.
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			// The certificate names the CONNECT host, whatever the SNI
			// says: that is the host Conduit will call.
			cert, err := f.leaf(host)
			if err != nil {
				f.logger.Warn("forward mode: cannot mint a certificate; the client's TLS handshake fails", "host", host, "err", err)
			}
			return cert, err
		},
	})
	f.serveConn(tlsConn, func(w http.ResponseWriter, r *http.Request) {
		rhost, rport := splitAuthority(r.Host, "443")
		if r.Host != "" && (rhost != host || rport != port) {
			writeError(w, f.providerFor(host, port).API, http.StatusMisdirectedRequest, typeMisdirected,
				fmt.Sprintf("conduit: this connection was opened for %s, not %s", authority, r.Host), nil)
			return
		}
		f.serveIntercepted(w, r, "https", host, port)
	})
}

// serveConn serves one decrypted connection until it closes or the
// forwarder shuts down.
func (f *forwarder) serveConn(conn net.Conn, handler http.HandlerFunc) {
	ln := &oneConnListener{conn: conn, done: make(chan struct{})}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: mitmReadHeaderTimeout,
		IdleTimeout:       mitmIdleTimeout,
		ErrorLog:          slog.NewLogLogger(f.logger.Handler(), slog.LevelDebug),
		// A non-nil empty map: never HTTP/2 on a decrypted connection.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				ln.Close()
			}
		},
	}
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		conn.Close()
		return
	}
	f.conns[srv] = struct{}{}
	f.mu.Unlock()
	f.mitmServed.Add(1)
	srv.Serve(ln)
	if !ln.accepted.Load() {
		conn.Close() // shut down before the connection was served
	}
	f.mu.Lock()
	delete(f.conns, srv)
	f.mu.Unlock()
}

// shutdown stops accepting decrypted connections, lets the requests in
// flight on them finish, and closes them. When ctx ends first it closes
// them at once and returns ctx's error.
func (f *forwarder) shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.closing = true
	servers := make([]*http.Server, 0, len(f.conns))
	for s := range f.conns {
		servers = append(servers, s)
	}
	f.mu.Unlock()
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			err := s.Shutdown(ctx)
			if err != nil {
				s.Close()
			}
			errs <- err
		}()
	}
	var first error
	for range servers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// oneConnListener hands out a single connection, then blocks until closed.
type oneConnListener struct {
	conn     net.Conn
	accepted atomic.Bool
	done     chan struct{}
	once     sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if l.accepted.CompareAndSwap(false, true) {
		return l.conn, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
