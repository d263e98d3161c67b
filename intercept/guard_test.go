package intercept

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// TestGuardSelfLoopSpellings guards the self-loop check against every
// spelling of Conduit's own address that the dialer would still take to it:
// the unspecified addresses, a zero-padded port, an IPv4-mapped IPv6
// address, case and a trailing dot. A CONNECT to any of them is refused
// before a tunnel is opened, and an absolute-form request to one is served
// locally rather than relayed back in.
func TestGuardSelfLoopSpellings(t *testing.T) {
	h := newFwdHarness(t, fwdConfig{})
	_, port := splitAuthority(h.proxyAddr, "")
	spellings := []string{
		"0.0.0.0:" + port,
		"[::]:" + port,
		"127.0.0.1:0" + port,
		"127.0.0.1:000" + port,
		"[::ffff:0.0.0.0]:" + port,
		"[::ffff:127.0.0.1]:0" + port,
		"LocalHost.:0" + port,
	}
	for _, s := range spellings {
		status, body := connectTo(t, h.proxyAddr, s)
		if status != http.StatusForbidden || !strings.Contains(body, "Conduit itself") {
			t.Errorf("CONNECT %s: %d %q, want 403 naming Conduit itself", s, status, body)
		}
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
	for _, s := range []string{"0.0.0.0:" + port, "[::]:" + port, "127.0.0.1:0" + port} {
		resp, body := doVia(t, client, "GET", "http://"+s+"/health", nil, "")
		if resp.StatusCode != 200 || string(body) != "OK" {
			t.Errorf("GET http://%s/health: %d %q, want it served locally", s, resp.StatusCode, body)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for addr, n := range h.dials {
		t.Errorf("%d outbound dials to %s: a request aimed at Conduit went out", n, addr)
	}
}

// TestGuardSelfLoopByName guards the self-loop check for names Conduit
// cannot recognize by their spelling: a host name that resolves to a local
// address is refused when the tunnel or the forwarded request is dialled,
// with a loop error, instead of tunnelling back into Conduit.
func TestGuardSelfLoopByName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	if ips, err := net.LookupIP(host); err != nil || len(ips) == 0 || !ips[0].IsLoopback() {
		t.Skipf("%s does not resolve to a loopback address here", host)
	}
	h := newFwdHarness(t, fwdConfig{
		forward: func(f *Forward) { f.AllowPrivateTunnels = true },
		options: func(o *Options) {
			o.Providers = append(o.Providers, Provider{Key: "loop", Upstream: mustURL(t, "http://placeholder"), API: parsers.OpenAI})
		},
	})
	_, port := splitAuthority(h.proxyAddr, "")
	// The loop provider's upstream is only known once the listener is.
	for _, p := range h.proxy.hosts.providers {
		if p.Key == "loop" {
			p.Upstream = mustURL(t, "http://"+host+":"+port)
		}
	}
	resp, b := do(t, "POST", h.proxyURL+"/loop/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if resp.StatusCode != http.StatusLoopDetected || !strings.Contains(string(b), typeLoop) {
		t.Errorf("provider upstream %s:%s: %d %s, want 508 %s", host, port, resp.StatusCode, b, typeLoop)
	}
	if rec := h.record(t); rec.Status != http.StatusLoopDetected || rec.Outcome != ledger.OutcomeUpstreamError {
		t.Errorf("record: status %d outcome %q", rec.Status, rec.Outcome)
	}
	status, body := connectTo(t, h.proxyAddr, host+":"+port)
	if status != http.StatusLoopDetected || !strings.Contains(body, typeLoop) {
		t.Errorf("CONNECT %s:%s: %d %q, want 508 %s", host, port, status, body, typeLoop)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
	resp, b = doVia(t, client, "GET", "http://"+host+":"+port+"/health", nil, "")
	if resp.StatusCode != http.StatusLoopDetected || !strings.Contains(string(b), typeLoop) {
		t.Errorf("GET http://%s:%s/health: %d %q, want 508 %s", host, port, resp.StatusCode, b, typeLoop)
	}
}

// TestGuardPrivateTunnels guards blind tunnels and relayed plain requests
// to local services: by default a CONNECT or an absolute-form request whose
// destination is loopback, private, link-local or unspecified is refused
// with 403 — judged by the address actually dialled, so a public-looking
// name that resolves to a local address is refused too — and
// AllowPrivateTunnels lets them through.
func TestGuardPrivateTunnels(t *testing.T) {
	local := httpTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "local service")
	}))
	for _, allow := range []bool{false, true} {
		h := newFwdHarness(t, fwdConfig{forward: func(f *Forward) { f.AllowPrivateTunnels = allow }})
		targets := []string{local, "localhost:" + portOf(local), "[::ffff:" + hostOf(local) + "]:" + portOf(local)}
		for _, target := range targets {
			status, body := connectTo(t, h.proxyAddr, target)
			if allow && status != http.StatusOK {
				t.Errorf("allowed: CONNECT %s: %d %q", target, status, body)
			}
			if !allow && (status != http.StatusForbidden || !strings.Contains(body, "allow_private_tunnels")) {
				t.Errorf("CONNECT %s: %d %q, want 403 naming allow_private_tunnels", target, status, body)
			}
		}
		// hostOther is a public name, which the test dialer sends to the
		// fake provider on loopback: the dialled address decides.
		status, body := connectTo(t, h.proxyAddr, hostOther+":443")
		if allow != (status == http.StatusOK) {
			t.Errorf("allow=%v: CONNECT %s (dialled on loopback): %d %q", allow, hostOther, status, body)
		}
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
		resp, b := doVia(t, client, "GET", "http://"+local+"/", nil, "")
		switch {
		case allow && (resp.StatusCode != 200 || string(b) != "local service"):
			t.Errorf("allowed: GET http://%s/: %d %q", local, resp.StatusCode, b)
		case !allow && (resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "allow_private_tunnels")):
			t.Errorf("GET http://%s/: %d %q, want 403 naming allow_private_tunnels", local, resp.StatusCode, b)
		}
		// Intercepted hosts are calls, not tunnels: they reach a local
		// provider either way.
		resp, _ = doVia(t, h.client(h.roots()), "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
		if resp.StatusCode != 200 {
			t.Errorf("allow=%v: intercepted host: %d", allow, resp.StatusCode)
		}
		h.record(t)
	}
}

// TestGuardPrivateTunnelsInterceptedHost guards what the private-address
// rule leaves alone: an intercepted host that Conduit cannot decrypt (no
// CA) is tunnelled to wherever it is configured, local addresses included.
func TestGuardPrivateTunnelsInterceptedHost(t *testing.T) {
	h := newFwdHarness(t, fwdConfig{noCA: true, forward: func(f *Forward) { f.AllowPrivateTunnels = false }})
	resp, _ := doVia(t, h.client(h.pki.rootPool), "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if resp.StatusCode != 200 {
		t.Errorf("intercepted host without a CA, on loopback: %d", resp.StatusCode)
	}
}

// TestGuardPrivateTunnelsViaUpstreamProxy guards the private-address rule
// behind a corporate proxy, which resolves and connects on Conduit's
// behalf: a literal private address is still refused, for CONNECT and
// plain requests alike, and never reaches the proxy.
func TestGuardPrivateTunnelsViaUpstreamProxy(t *testing.T) {
	cp := &countingProxy{connects: map[string]int{}}
	corp := httptest.NewServer(cp)
	t.Cleanup(corp.Close)
	h := newFwdHarness(t, fwdConfig{
		forward: func(f *Forward) { f.AllowPrivateTunnels = false },
		options: func(o *Options) { o.Upstream.Proxy = mustURL(t, corp.URL) },
	})
	cp.fakeAddr = h.fakeAddr
	if status, body := connectTo(t, h.proxyAddr, "10.1.2.3:443"); status != http.StatusForbidden || !strings.Contains(body, "allow_private_tunnels") {
		t.Errorf("CONNECT 10.1.2.3:443: %d %q", status, body)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
	resp, b := doVia(t, client, "GET", "http://10.1.2.3/", nil, "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "allow_private_tunnels") {
		t.Errorf("GET http://10.1.2.3/: %d %q", resp.StatusCode, b)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.connects) != 0 {
		t.Errorf("the corporate proxy was asked for %v", cp.connects)
	}
}

// TestGuardPrivateAddrs is the table of what counts as a local
// destination.
func TestGuardPrivateAddrs(t *testing.T) {
	for _, c := range []struct {
		addr    string
		private bool
	}{
		{"127.0.0.1", true}, {"127.9.9.9", true}, {"::1", true},
		{"10.1.2.3", true}, {"172.16.0.1", true}, {"172.31.255.255", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"fc00::1", true}, {"fd12:3456::1", true},
		{"100.64.0.1", true}, {"100.127.255.255", true}, {"0.0.0.0", true}, {"0.1.2.3", true}, {"::", true},
		{"::ffff:10.0.0.1", true}, {"::ffff:127.0.0.1", true},
		{"8.8.8.8", false}, {"172.32.0.1", false}, {"100.128.0.1", false}, {"2606:4700::1111", false}, {"1.1.1.1", false},
	} {
		if got := isPrivateAddr(mustAddr(t, c.addr)); got != c.private {
			t.Errorf("isPrivateAddr(%s) = %v, want %v", c.addr, got, c.private)
		}
	}
}

// TestGuardUnsolicitedSwitchingProtocols guards against an upstream that
// answers a plain call with 101 Switching Protocols: the client gets a 502
// in its provider's error shape at once instead of hanging on a connection
// that changed protocol, and the call is recorded as an upstream error. A
// relayed plain request gets a 502 too.
func TestGuardUnsolicitedSwitchingProtocols(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				http.ReadRequest(bufio.NewReader(c))
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n")
				// Then silence, as a server speaking another protocol.
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	h := newHarness(t, harnessConfig{options: func(o *Options) {
		for i := range o.Providers {
			o.Providers[i].Upstream = mustURL(t, "http://"+ln.Addr().String())
		}
		o.Forward = &Forward{TunnelOthers: true, AllowPrivateTunnels: true}
	}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, body := do(t, "POST", h.proxyURL+"/anthropic/v1/messages", hdr("Content-Type", "application/json"), `{"model":"claude","max_tokens":5,"messages":[]}`)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `"type":"error"`) || !strings.Contains(string(body), "101") {
			t.Errorf("base-URL call: %d %s, want 502 in Anthropic's error shape naming the 101", resp.StatusCode, body)
		}
		rec := h.record(t)
		if rec.Outcome != ledger.OutcomeUpstreamError || rec.Status != http.StatusBadGateway {
			t.Errorf("record: outcome %q status %d, want upstream_error 502", rec.Outcome, rec.Status)
		}
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
		resp, body = doVia(t, client, "GET", "http://"+ln.Addr().String()+"/", nil, "")
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("relayed request: %d %q, want 502", resp.StatusCode, body)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the client hung on the unsolicited 101")
	}
}

func httpTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func hostOf(addr string) string { h, _, _ := net.SplitHostPort(addr); return h }
func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// connectTo sends CONNECT target to the proxy and returns the status and,
// unless the tunnel opened, the body of its answer; a proxy that does not
// answer within a few seconds fails the test rather than hang it.
func connectTo(t *testing.T, proxyAddr, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// openTunnel opens a CONNECT tunnel to target and returns the connection,
// closed when the test ends; it fails the test unless the tunnel opened.
func openTunnel(t *testing.T, proxyAddr, target string) (net.Conn, int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	conn.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		conn.Close()
		return nil, resp.StatusCode, string(b)
	}
	return conn, resp.StatusCode, ""
}

// pollUntil polls cond for up to 5 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestGuardTunnelsPerClient guards the per-client bound: once a client
// holds MaxTunnelsPerClient tunnels (blind and decrypted alike), its next
// CONNECT is refused with 429 naming the setting; a tunnel that closes
// gives its place back; base-URL calls are not affected.
func TestGuardTunnelsPerClient(t *testing.T) {
	h := newFwdHarness(t, fwdConfig{options: func(o *Options) { o.MaxTunnelsPerClient = 2 }})
	blind, status, body := openTunnel(t, h.proxyAddr, hostOther+":443")
	if blind == nil {
		t.Fatalf("first tunnel: %d %q", status, body)
	}
	h.mitmConn(t, hostOpenAI)
	if c, status, body := openTunnel(t, h.proxyAddr, hostOther+":443"); c != nil || status != http.StatusTooManyRequests || !strings.Contains(body, "max_tunnels_per_client") {
		t.Errorf("third tunnel: %d %q, want 429 naming max_tunnels_per_client", status, body)
	}
	if resp, body := do(t, "GET", h.proxyURL+"/health", nil, ""); resp.StatusCode != 200 {
		t.Errorf("/health: %d %q", resp.StatusCode, body)
	}
	blind.Close()
	pollUntil(t, "the closed tunnel's place", func() bool { return h.proxy.tunnels.open("127.0.0.1") == 1 })
	if c, status, body := openTunnel(t, h.proxyAddr, hostOther+":443"); c == nil {
		t.Errorf("after one closed: %d %q", status, body)
	}
}

// TestGuardFDReserve guards the file-descriptor reserve: when open
// descriptors come within the reserve of the limit, new tunnels are
// refused with 503 while /health and calls keep working; once tunnels
// close, new ones open again.
func TestGuardFDReserve(t *testing.T) {
	h := newFwdHarness(t, fwdConfig{})
	g := h.proxy.tunnels
	g.mu.Lock()
	g.reserve = 16
	g.fdLimit = countOpenFDs() + g.reserve + 6 // room for about three tunnels of two descriptors
	g.mu.Unlock()
	var open []net.Conn
	var refused string
	for range 20 {
		c, status, body := openTunnel(t, h.proxyAddr, hostOther+":443")
		if c == nil {
			if status != http.StatusServiceUnavailable || !strings.Contains(body, "file descriptors") {
				t.Fatalf("refused with %d %q, want 503 about file descriptors", status, body)
			}
			refused = body
			break
		}
		open = append(open, c)
	}
	if refused == "" || len(open) > 6 {
		t.Fatalf("%d tunnels opened, refused=%q: the reserve did not hold", len(open), refused)
	}
	if resp, body := do(t, "GET", h.proxyURL+"/health", nil, ""); resp.StatusCode != 200 {
		t.Errorf("/health under the reserve: %d %q", resp.StatusCode, body)
	}
	resp, _ := do(t, "POST", h.proxyURL+"/openai/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if resp.StatusCode != 200 {
		t.Errorf("base-URL call under the reserve: %d", resp.StatusCode)
	}
	h.record(t)
	for _, c := range open {
		c.Close()
	}
	pollUntil(t, "the tunnels to close", func() bool { return g.open("127.0.0.1") == 0 })
	g.mu.Lock()
	g.fdLimit = countOpenFDs() + g.reserve + 6
	g.fdAt = time.Time{} // count again now
	g.mu.Unlock()
	if c, status, body := openTunnel(t, h.proxyAddr, hostOther+":443"); c == nil {
		t.Errorf("after the tunnels closed: %d %q", status, body)
	}
}

// TestGuardNoTunnelInsideTunnel guards nesting: a CONNECT sent inside a
// decrypted connection is refused with 405, and reaches no provider.
func TestGuardNoTunnelInsideTunnel(t *testing.T) {
	h := newFwdHarness(t, fwdConfig{})
	tc := h.mitmConn(t, hostOpenAI)
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(tc, "CONNECT "+h.proxyAddr+" HTTP/1.1\r\nHost: "+hostOpenAI+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(b), typeTunnelRefused) {
		t.Errorf("CONNECT inside a decrypted connection: %d %s", resp.StatusCode, b)
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests reached the provider", n)
	}
	h.noRecord(t)
}

// open reports the tunnels client holds now.
func (g *tunnelGate) open(client string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byClient[client]
}

// TestIsSelfAddr guards the dial-time self check for each kind of listen
// address: what a socket connecting to the address would reach.
func TestIsSelfAddr(t *testing.T) {
	tests := []struct {
		listen, addr string
		want         bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "0.0.0.0:8080", true},
		{"127.0.0.1:8080", "[::]:8080", true},
		{"127.0.0.1:8080", "[::ffff:127.0.0.1]:8080", true},
		{"127.0.0.1:8080", "127.0.0.2:8080", false}, // another loopback address: not this socket
		{"127.0.0.1:8080", "127.0.0.1:8081", false},
		{"127.0.0.1:8080", "192.0.2.7:8080", false},
		{"0.0.0.0:8080", "127.0.0.9:8080", true},
		{"0.0.0.0:8080", "[::1]:8080", true},
		{"0.0.0.0:8080", "192.0.2.7:8080", true}, // a local interface (injected below)
		{"0.0.0.0:8080", "192.0.2.8:8080", false},
		{"[::1]:8080", "[::1]:8080", true},
		{"localhost:8080", "127.0.0.1:8080", true},
		{"localhost:8080", "192.0.2.8:8080", false},
		{"192.0.2.7:8080", "192.0.2.7:8080", true},
		{"192.0.2.7:8080", "127.0.0.1:8080", false},
	}
	for _, tt := range tests {
		self, err := newSelfAddrs([]string{tt.listen})
		if err != nil {
			t.Fatal(err)
		}
		self.localIPs = func() map[netip.Addr]bool { return map[netip.Addr]bool{netip.MustParseAddr("192.0.2.7"): true} }
		if got := self.isAddr(netip.MustParseAddrPort(tt.addr)); got != tt.want {
			t.Errorf("listen %s: isAddr(%s) = %v, want %v", tt.listen, tt.addr, got, tt.want)
		}
	}
}

// TestGuardTunnelsPerClientWebSocket: a WebSocket relayed inside a
// decrypted tunnel keeps the tunnel's place until the connection closes
// (the hijack used to give it back at once, so one client could hold any
// number of WebSockets past the bound).
func TestGuardTunnelsPerClientWebSocket(t *testing.T) {
	h := newFwdHarness(t, fwdConfig{options: func(o *Options) { o.MaxTunnelsPerClient = 2 }})
	ws, _ := h.wsDialer().dial(t, "openai", "/v1/responses", http.Header{"Authorization": {auth}}, websocket.CompressionDisabled)
	ws.c.Write(ws.ctx, websocket.MessageText, []byte(`{"type":"response.create","response":{"model":"gpt-5.4","input":"hi"}}`))
	ws.readUntil("response.completed")
	if n := h.proxy.tunnels.open("127.0.0.1"); n != 1 {
		t.Errorf("%d tunnels counted while a WebSocket is open in one, want 1", n)
	}
	ws.c.Close(websocket.StatusNormalClosure, "")
	pollUntil(t, "the WebSocket tunnel's place", func() bool { return h.proxy.tunnels.open("127.0.0.1") == 0 })
}
