package intercept

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
	// AllowPrivateTunnels lets blind tunnels and relayed plain requests
	// reach loopback, private, link-local and unspecified addresses.
	AllowPrivateTunnels bool
	// RefuseWebSockets answers WebSocket upgrades to intercepted hosts
	// with 426 (clients such as Codex then fall back to HTTPS with
	// server-sent events) instead of relaying and metering them.
	RefuseWebSockets bool
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

// forwardHosts decides forward mode by destination: which hosts are
// intercepted, which of those Conduit can decrypt, what becomes of the
// others, and which provider an intercepted call is recorded under.
type forwardHosts struct {
	patterns []hostPattern // intercepted
	mitmable []bool        // per pattern: the CA may mint for it
	others   bool          // relay hosts that are not intercepted; false: refuse them

	providers []*Provider          // configured, in order: the first whose upstream host matches wins
	known     map[string]*Provider // well-known hosts
	knownWild []knownPattern       // well-known host patterns (a platform's per-customer hosts)
}

// knownPattern is a well-known host pattern and the built-in provider its
// hosts' calls are recorded under.
type knownPattern struct {
	pattern hostPattern
	host    WellKnownHost
}

func newForwardHosts(fw *Forward, providers []Provider) (*forwardHosts, error) {
	f := &forwardHosts{
		others: fw.TunnelOthers,
		known:  make(map[string]*Provider, len(wellKnownHosts)),
	}
	for i := range providers {
		f.providers = append(f.providers, &providers[i])
	}
	for _, w := range wellKnownHosts {
		if p, err := parseHostPattern(w.Host); err == nil && p.wildcard {
			f.knownWild = append(f.knownWild, knownPattern{p, w})
			continue
		}
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
	return f, nil
}

// intercepted returns the index of the first pattern matching host:port,
// or -1.
func (f *forwardHosts) intercepted(host, port string) int {
	for i, p := range f.patterns {
		if p.match(host, port) {
			return i
		}
	}
	return -1
}

// providerFor returns the provider that an intercepted call to host:port
// is recorded under: the first configured provider whose upstream has that
// host (and port, when the upstream names one), else the built-in one for a
// well-known host, else one named after the host with the format its host
// suggests.
func (f *forwardHosts) providerFor(host, port string) *Provider {
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
	for _, k := range f.knownWild {
		if k.pattern.match(host, port) {
			return &Provider{Key: k.host.Key, Upstream: &url.URL{Scheme: "https", Host: authority}, API: k.host.API, InjectStreamUsage: k.host.InjectStreamUsage}
		}
	}
	return &Provider{Key: host, Upstream: &url.URL{Scheme: "https", Host: authority}, API: parsers.APIForHost(net.JoinHostPort(host, port))}
}

// target is where a decrypted or plain request to an intercepted host goes:
// that host, with the request's path and query as sent.
func (f *forwardHosts) target(r *http.Request, scheme, host, port string) target {
	return forwardTarget(r, f.providerFor(host, port), scheme, canonicalAuthority(host, port, scheme))
}

// forwardTarget is target with the provider and the URL's authority (as
// canonicalAuthority gives it) already worked out.
func forwardTarget(r *http.Request, p *Provider, scheme, authority string) target {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	return target{
		provider: p,
		mode:     ledger.ModeForward,
		url: &url.URL{
			Scheme:   scheme,
			Host:     authority,
			Path:     path,
			RawPath:  r.URL.RawPath,
			RawQuery: r.URL.RawQuery,
		},
	}
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
// 426, when forward mode is set to refuse them (Forward.RefuseWebSockets):
// Codex CLI falls back to HTTPS with server-sent events at once on a 426
// (other statuses cost it retries first).
func refuseWebSocket(w http.ResponseWriter, r *http.Request, t target, logger *slog.Logger) {
	host := t.url.Hostname()
	logger.Info("forward mode: refused a WebSocket upgrade so the client falls back to HTTPS + SSE",
		"host", host, "path", redactedPath(r.URL), "client", r.Header.Get("User-Agent"))
	w.Header().Set("Connection", "close")
	writeError(w, t.provider.API, http.StatusUpgradeRequired, typeWebSocketRefused,
		fmt.Sprintf("conduit: this Conduit refuses WebSocket connections to %s ([mitm] websockets = \"refuse\"); use HTTPS with server-sent events (Codex CLI falls back by itself; to skip the attempt set supports_websockets = false for the provider)", host), nil)
}

// mitm serves the CONNECTs Conduit decrypts, and keeps track of their
// connections: the listener's http.Server lets go of a connection once it
// is taken over, so stopping them is mitm's job.
type mitm struct {
	leaf   func(host string) (*tls.Certificate, error) // the CA's; nil: there is none, nothing is decrypted
	logger *slog.Logger
	served atomic.Int64 // decrypted connections accepted (tests)
	// The timeouts of each decrypted connection: mitmReadHeaderTimeout and
	// mitmIdleTimeout (shorter in tests).
	readHeaderTimeout, idleTimeout time.Duration
	tlsConfig                      *tls.Config // every decrypted connection's

	mu      sync.Mutex
	closing bool
	conns   map[*decryptedConn]struct{} // live decrypted connections
}

func newMITM(ca *certs.Authority, logger *slog.Logger) *mitm {
	m := &mitm{
		logger: logger, conns: make(map[*decryptedConn]struct{}),
		readHeaderTimeout: mitmReadHeaderTimeout, idleTimeout: mitmIdleTimeout,
	}
	if ca != nil {
		m.leaf = ca.Leaf
	}
	// One configuration for every decrypted connection: its session
	// ticket keys are made once, and a client that keeps sessions resumes
	// them on its next connection (no certificate signed, sent and
	// verified). A configuration per connection had keys of its own, made
	// for each handshake, and tickets no other connection could read.
	m.tlsConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// HTTP/1.1 only: every SDK speaks it, and one protocol means one
		// well-tested code path for streaming.
		NextProtos:     []string{"http/1.1"},
		GetCertificate: m.certificate,
	}
	return m
}

// certificate is the leaf for the host a decrypted connection's CONNECT
// named, whatever the SNI says: that is the host Conduit will call. (A
// client could offer a session it resumed on a connection to another
// host: it skips only its own check of the certificate, and the CONNECT's
// host is still the one called.)
func (m *mitm) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cc, ok := hello.Conn.(*connectedConn)
	if !ok {
		return nil, errors.New("conduit: a TLS handshake on a connection no CONNECT opened")
	}
	cert, err := m.leaf(cc.host)
	if err != nil {
		m.logger.Warn("forward mode: cannot mint a certificate; the client's TLS handshake fails", "host", cc.host, "err", err)
	}
	return cert, err
}

// connectedConn is a CONNECT's connection, taken over to be decrypted,
// with the host the CONNECT named.
type connectedConn struct {
	net.Conn
	host string
}

// serve takes over a CONNECT to host:port: it answers 200, ends the
// client's TLS with a leaf for host, and serves the connection's requests
// with h (decrypted.go says how, and why not with net/http's server).
// release runs when the client's connection closes: a WebSocket relayed
// inside it outlives the serving.
func (m *mitm) serve(w http.ResponseWriter, host string, h http.Handler, release func()) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		release()
		refuse(w, http.StatusInternalServerError, "conduit: cannot take over this connection to intercept it\n")
		return
	}
	hijacked, brw, err := hj.Hijack()
	if err != nil {
		release()
		m.logger.Debug("forward mode: hijack failed", "host", host, "err", err)
		return
	}
	conn := closeHook(hijacked, release)
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
	tlsConn := tls.Server(&connectedConn{Conn: &replayConn{Conn: conn, r: rd}, host: host}, m.tlsConfig)
	m.serveConn(tlsConn, h)
}

// serveConn serves one decrypted connection until it closes or mitm shuts
// down.
func (m *mitm) serveConn(conn *tls.Conn, h http.Handler) {
	c := newDecryptedConn(m, conn, h)
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		conn.Close()
		return
	}
	m.conns[c] = struct{}{}
	m.mu.Unlock()
	m.served.Add(1)
	c.serve()
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// shutdown stops accepting decrypted connections, closes the idle ones,
// and lets the others finish the response in progress, then close. When
// ctx ends first it closes them at once and returns ctx's error.
func (m *mitm) shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	conns := make([]*decryptedConn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			for _, c := range conns {
				c.tc.Close()
			}
			return ctx.Err()
		}
	}
	return nil
}
