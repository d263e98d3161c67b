package intercept

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// Upstream configures Conduit's own outbound connections: calls to
// providers, plain forwarded requests and blind tunnels. The zero value
// dials directly and trusts the system roots.
type Upstream struct {
	// Proxy, when not nil, is an http:// or https:// proxy (a corporate
	// one) that Conduit's outbound connections go through: calls by
	// absolute-form or CONNECT, tunnels by CONNECT. user:password in the
	// URL is sent as Basic Proxy-Authorization. Loopback destinations and
	// those NoProxy names are reached directly.
	Proxy *url.URL
	// NoProxy lists destinations that bypass Proxy, in NO_PROXY syntax
	// ("example.com,.internal,10.0.0.0/8,*").
	NoProxy string
	// RootCAs verifies providers' certificates (and an https:// Proxy's).
	// Nil: the system roots.
	RootCAs *x509.CertPool
	// DialContext opens outbound TCP connections; nil: a net.Dialer. Tests
	// use it to reach a local fake under a real provider's host name.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// proxyFunc returns the function that picks the proxy for a destination,
// or nil when there is no upstream proxy.
func (u Upstream) proxyFunc() func(*url.URL) (*url.URL, error) {
	if u.Proxy == nil {
		return nil
	}
	p := u.Proxy.String()
	// httpproxy never proxies loopback destinations, whatever NoProxy
	// says: a local model server stays direct.
	return (&httpproxy.Config{HTTPProxy: p, HTTPSProxy: p, NoProxy: u.NoProxy}).ProxyFunc()
}

// dialer returns the function that opens outbound TCP connections, each
// bounded by the connect timeout and refused when its destination fails
// policy (the upstream proxy is exempt: the user chose it).
func (u Upstream) dialer(connect time.Duration, policy destPolicy) dialFunc {
	return guardDial(connect, u.DialContext, policy, u.isProxyAddr)
}

// isProxyAddr reports whether addr (host:port, as a transport dials it) is
// the upstream proxy's.
func (u Upstream) isProxyAddr(addr string) bool {
	if u.Proxy == nil {
		return false
	}
	return addr == proxyAddr(u.Proxy)
}

// proxyAddr is the host:port a proxy URL is dialled at.
func proxyAddr(p *url.URL) string {
	if p.Port() == "" {
		return net.JoinHostPort(p.Hostname(), defaultPort(p.Scheme))
	}
	return p.Host
}

// tunnelDialer opens the upstream side of a blind tunnel: directly, or by
// CONNECT through the upstream proxy.
type tunnelDialer struct {
	dial    dialFunc
	policy  destPolicy                       // what a tunnel may reach; dial enforces it on direct tunnels
	proxy   func(*url.URL) (*url.URL, error) // nil: always direct
	roots   *x509.CertPool
	timeout time.Duration // dial, TLS to the proxy, and its CONNECT answer
}

// dialTunnel is goproxy's ConnectDialWithReq.
func (d *tunnelDialer) dialTunnel(req *http.Request, network, addr string) (net.Conn, error) {
	ctx := context.Background()
	if req != nil {
		ctx = req.Context()
	}
	if d.proxy != nil {
		p, err := d.proxy(&url.URL{Scheme: "https", Host: addr})
		if err != nil {
			return nil, fmt.Errorf("upstream proxy for %s: %w", addr, err)
		}
		if p != nil {
			// The proxy resolves the name and connects: only a literal
			// address can be judged here.
			if ap, err := netip.ParseAddrPort(addr); err == nil {
				if err := d.policy.check(ap); err != nil {
					return nil, err
				}
			}
			return d.viaProxy(ctx, p, network, addr)
		}
	}
	return d.dial(ctx, network, addr)
}

// viaProxy opens a CONNECT tunnel to addr through the proxy p.
func (d *tunnelDialer) viaProxy(ctx context.Context, p *url.URL, network, addr string) (net.Conn, error) {
	proxyAddr := proxyAddr(p)
	conn, err := d.dial(ctx, network, proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("dial upstream proxy %s: %w", proxyAddr, err)
	}
	fail := func(err error) (net.Conn, error) {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(d.timeout))
	if p.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: p.Hostname(), RootCAs: d.roots, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(fmt.Errorf("TLS to upstream proxy %s: %w", proxyAddr, err))
		}
		conn = tc
	}
	connect := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: http.Header{},
	}
	if p.User != nil {
		pw, _ := p.User.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(p.User.Username() + ":" + pw))
		connect.Header.Set("Proxy-Authorization", "Basic "+cred)
	}
	if err := connect.Write(conn); err != nil {
		return fail(fmt.Errorf("CONNECT %s via upstream proxy %s: %w", addr, proxyAddr, err))
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, connect)
	if err != nil {
		return fail(fmt.Errorf("CONNECT %s via upstream proxy %s: %w", addr, proxyAddr, err))
	}
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("upstream proxy %s refused CONNECT %s: %s", proxyAddr, addr, resp.Status))
	}
	// A 200 to CONNECT has no body: the tunnel starts right after the
	// headers (the body reader is not touched, it would wait for the
	// tunnel's end).
	conn.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		// The destination spoke first and the proxy sent it along with its
		// answer: keep those bytes.
		b, _ := br.Peek(br.Buffered())
		return &replayConn{Conn: conn, r: io.MultiReader(strings.NewReader(string(b)), conn)}, nil
	}
	return conn, nil
}

// replayConn is a connection whose first bytes were already read into a
// buffer: reads come from r (the buffer, then the connection).
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }
