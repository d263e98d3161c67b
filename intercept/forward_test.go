package intercept

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// doVia sends one request with client and returns the response and body.
func doVia(t *testing.T, client *http.Client, method, url string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = http.NoBody
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, b
}

// TestForwardRecordsLikeBaseURL guards the heart of forward mode: a client
// using HTTPS_PROXY to reach the real provider host gets, through Conduit's
// decryption, the same bytes as a base-URL call, and the call is recorded
// with the same usage, mode "forward", under the provider configured for
// that host.
func TestForwardRecordsLikeBaseURL(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	client := h.client(h.roots())
	for _, c := range calls {
		host := providerHost[c.provider]
		if host == "" {
			continue // Ollama: TestForwardPlainHTTP
		}
		t.Run(c.name, func(t *testing.T) {
			header := hdr("Authorization", auth, "Content-Type", "application/json")
			for k, v := range c.header {
				header[k] = v
			}
			bresp, viaBase := do(t, "POST", h.proxyURL+"/"+c.provider+c.path, header, c.body)
			base := h.record(t)
			fresp, viaForward := doVia(t, client, "POST", "https://"+host+c.path, header, c.body)
			fwd := h.record(t)
			if bresp.StatusCode != 200 || fresp.StatusCode != 200 {
				t.Fatalf("status base %d, forward %d: %s", bresp.StatusCode, fresp.StatusCode, viaForward)
			}
			if fresp.TLS == nil || fresp.TLS.PeerCertificates[0].Issuer.CommonName == h.pki.root.Subject.CommonName {
				t.Fatal("the call was not decrypted by Conduit (the client saw the provider's own certificate)")
			}
			if !bytes.Equal(viaBase, viaForward) {
				t.Fatalf("bodies differ\nbase:    %q\nforward: %q", viaBase, viaForward)
			}
			want, err := fakeprovider.ExpectedUsage(c.path, header, []byte(c.body), fakeprovider.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkRecord(t, base, c, want)
			if fwd.Mode != ledger.ModeForward || fwd.Host != host {
				t.Errorf("forward record mode %q host %q", fwd.Mode, fwd.Host)
			}
			fwd.Mode = ledger.ModeBaseURL // checkRecord expects base-URL mode
			checkRecord(t, fwd, c, want)
			if fwd.Path != base.Path {
				t.Errorf("forward path %q, base-URL path %q", fwd.Path, base.Path)
			}
		})
	}
	if n := h.proxy.mitm.served.Load(); n != 3 {
		t.Errorf("%d decrypted connections for one keep-alive client, want 3 (one per host)", n)
	}
}

// TestForwardTunnelsOtherHosts guards the blind tunnel: a CONNECT to a host
// that is not intercepted reaches the real server, whose own certificate
// the client sees; nothing is decrypted, recorded, or minted — although the
// CA could sign for that host.
func TestForwardTunnelsOtherHosts(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	// Trust only the public root: Conduit's CA would not verify.
	resp, body := doVia(t, h.client(h.pki.rootPool), "GET", "https://"+hostOther+"/v1/models", hdr("Authorization", auth), "")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("gpt-4o-mini")) {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	if got := resp.TLS.PeerCertificates[0].Issuer.CommonName; got != h.pki.root.Subject.CommonName {
		t.Errorf("client saw a certificate issued by %q, want the server's own", got)
	}
	h.noRecord(t)
	if n := h.mintsFor(hostOther); n != 0 {
		t.Errorf("%d leaves minted for a tunnelled host", n)
	}
	if n := h.proxy.mitm.served.Load(); n != 0 {
		t.Errorf("%d connections decrypted", n)
	}
	if err := h.ca.Covers([]string{hostOther}); err != nil {
		t.Fatalf("test setup: the CA should be able to sign for %s: %v", hostOther, err)
	}
}

// TestForwardStreamsUnbuffered guards flushing through decryption: the
// first event reaches the client while the provider still holds the second.
func TestForwardStreamsUnbuffered(t *testing.T) {
	t.Parallel()
	for _, c := range []testCall{calls[1], calls[3], calls[6], calls[8], calls[9]} {
		t.Run(c.name, func(t *testing.T) {
			g := newGate()
			h := newFwdHarness(t, fwdConfig{fake: fakeprovider.Options{Sleep: g.sleep, Delay: time.Millisecond}})
			req, _ := http.NewRequest("POST", "https://"+providerHost[c.provider]+c.path, strings.NewReader(c.body))
			req.Header = hdr("Authorization", auth, "Content-Type", "application/json")
			resp, err := h.client(h.roots()).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			<-g.waiting // the fake wrote its first event and waits
			buf := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatalf("first event did not arrive while the second was held: %v", err)
			}
			close(g.release)
			io.Copy(io.Discard, resp.Body)
			if r := h.record(t); r.Outcome != ledger.OutcomeComplete || r.Mode != ledger.ModeForward {
				t.Errorf("record %+v", r)
			}
		})
	}
}

// TestForwardUpstreamCut guards a provider dying mid-stream through
// decryption: the client sees the cut, not a clean end, and the record is
// incomplete with the usage that arrived.
func TestForwardUpstreamCut(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	c := calls[6]
	req, _ := http.NewRequest("POST", "https://"+hostAnthropic+c.path, strings.NewReader(c.body))
	req.Header = hdr("x-api-key", "k", fakeprovider.HeaderAbortAfter, "2")
	resp, err := h.client(h.roots()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("client read a clean end after a cut stream: %q", got)
	}
	if r := h.record(t); r.Outcome != ledger.OutcomeIncomplete || !r.HasUsage || r.InputTokens == 0 || r.Mode != ledger.ModeForward {
		t.Fatalf("record %+v", r)
	}
}

// wsUpgrade is a WebSocket handshake request's headers.
func wsUpgrade() http.Header {
	return hdr("Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13",
		"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "OpenAI-Beta", "responses_websockets=2026-02-06", "Authorization", auth)
}

// TestForwardRefusesWebSocket guards [mitm] websockets = "refuse": an
// upgrade to an intercepted host is refused with 426 and a JSON error in
// the provider's shape (Codex then falls back to HTTPS + SSE), nothing is
// recorded and nothing reaches the provider.
func TestForwardRefusesWebSocket(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{forward: func(f *Forward) { f.RefuseWebSockets = true }})
	before := len(h.fake.Requests())
	resp, body := doVia(t, h.client(h.roots()), "GET", "https://"+hostOpenAI+"/v1/responses", wsUpgrade(), "")
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426: %s", resp.StatusCode, body)
	}
	var e struct {
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Type != typeWebSocketRefused || !strings.Contains(e.Error.Message, "supports_websockets") {
		t.Errorf("body %s (%v)", body, err)
	}
	if len(h.fake.Requests()) != before {
		t.Error("the upgrade reached the provider")
	}
	h.noRecord(t)
	if !strings.Contains(h.logs.String(), "refused a WebSocket upgrade") {
		t.Errorf("refusal not logged:\n%s", h.logs)
	}
}

// TestForwardPassesOtherWebSockets guards the other side: a WebSocket
// upgrade to a host that is not intercepted passes through untouched, and
// frames flow both ways.
func TestForwardPassesOtherWebSockets(t *testing.T) {
	t.Parallel()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isWebSocketUpgrade(r.Header) {
			http.Error(w, "want an upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(conn, "echo: "+line)
	}))
	defer echo.Close()
	h := newFwdHarness(t, fwdConfig{})
	conn, err := net.Dial("tcp", h.proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest("GET", echo.URL+"/socket", nil)
	req.Header = wsUpgrade()
	if err := req.WriteProxy(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
		t.Fatalf("frame %q %v", line, err)
	}
	h.noRecord(t)
}

// TestForwardPlainHTTP guards plain http:// through the proxy: a request to
// an intercepted host (a local model server configured as a provider) is
// captured with mode forward; one to another host is forwarded untouched
// and not recorded.
func TestForwardPlainHTTP(t *testing.T) {
	t.Parallel()
	ollama := fakeprovider.New(fakeprovider.Options{})
	os := httptest.NewServer(ollama)
	defer os.Close()
	defer ollama.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "other:"+r.URL.Path)
	}))
	defer other.Close()
	ou := mustURL(t, os.URL)
	h := newFwdHarness(t, fwdConfig{options: func(o *Options) {
		o.Providers = append(o.Providers, Provider{Key: "ollama", Upstream: ou, API: parsers.Ollama})
		o.Forward.Hosts = DefaultHosts(o.Providers)
	}})
	// Go never proxies loopback from the environment; a fixed proxy does.
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL)), DisableCompression: true}}
	c := calls[11]
	header := hdr("Content-Type", "application/json")
	resp, body := doVia(t, client, "POST", os.URL+c.path, header, c.body)
	_, direct := do(t, "POST", os.URL+c.path, header, c.body)
	if resp.StatusCode != 200 || !bytes.Equal(body, direct) {
		t.Fatalf("status %d; proxied %q\ndirect %q", resp.StatusCode, body, direct)
	}
	r := h.record(t)
	want, _ := fakeprovider.ExpectedUsage(c.path, header, []byte(c.body), fakeprovider.Options{})
	if r.Mode != ledger.ModeForward || r.Provider != "ollama" || r.Host != ou.Host || int(r.OutputTokens) != want.OutputTokens || r.Outcome != ledger.OutcomeComplete {
		t.Errorf("record %+v, want forward ollama with %+v", r, want)
	}
	resp, body = doVia(t, client, "GET", other.URL+"/x", nil, "")
	if resp.StatusCode != 200 || string(body) != "other:/x" {
		t.Fatalf("other host: %d %q", resp.StatusCode, body)
	}
	h.noRecord(t)
}

// TestForwardSelfLoop guards against Conduit calling itself: an
// absolute-form request aimed at its own address is served locally (the
// base-URL routes and /health), a CONNECT to it is refused, and an upstream
// proxy that is Conduit itself is a configuration error.
func TestForwardSelfLoop(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	_, port, _ := net.SplitHostPort(h.proxyAddr)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
	for _, u := range []string{h.proxyURL + "/health", "http://localhost:" + port + "/health"} {
		resp, body := doVia(t, client, "GET", u, nil, "")
		if resp.StatusCode != 200 || string(body) != "OK" {
			t.Errorf("%s: %d %q", u, resp.StatusCode, body)
		}
	}
	resp, _ := doVia(t, client, "POST", h.proxyURL+"/openai/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if r := h.record(t); resp.StatusCode != 200 || r.Mode != ledger.ModeBaseURL || r.Provider != "openai" {
		t.Errorf("base-URL call by absolute form: %d, record %+v", resp.StatusCode, r)
	}
	for _, target := range []string{h.proxyAddr, "localhost:" + port} {
		status, body := rawConnect(t, h.proxyAddr, target)
		if status != http.StatusForbidden || !strings.Contains(body, "Conduit itself") {
			t.Errorf("CONNECT %s: %d %q", target, status, body)
		}
	}
	h.noRecord(t)

	_, err := New(Options{
		Providers: []Provider{{Key: "p", Upstream: mustURL(t, "https://"+hostOpenAI), API: parsers.OpenAI}},
		Forward:   &Forward{ListenAddrs: []string{"127.0.0.1:8080"}},
		Upstream:  Upstream{Proxy: mustURL(t, "http://localhost:8080")},
		Logger:    discardLogger(),
	})
	if err == nil || !strings.Contains(err.Error(), "Conduit itself") {
		t.Errorf("upstream proxy = self: %v", err)
	}
}

// rawConnect sends CONNECT target to the proxy and returns the status and
// body of its answer.
func rawConnect(t *testing.T, proxyAddr, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := &http.Request{Method: "CONNECT", URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	req.Write(conn)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestForwardTunnelOthersOff guards [mitm] tunnel_others = false: CONNECTs
// and plain requests to other hosts are refused with 403 and a clear body,
// while intercepted hosts still work.
func TestForwardTunnelOthersOff(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{forward: func(f *Forward) { f.TunnelOthers = false }})
	status, body := rawConnect(t, h.proxyAddr, hostOther+":443")
	if status != http.StatusForbidden || !strings.Contains(body, "tunnel_others") {
		t.Errorf("CONNECT: %d %q", status, body)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
	resp, b := doVia(t, client, "GET", "http://"+hostOther+"/x", nil, "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "tunnel_others") {
		t.Errorf("plain: %d %q", resp.StatusCode, b)
	}
	resp, _ = doVia(t, h.client(h.roots()), "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if resp.StatusCode != 200 {
		t.Errorf("intercepted host: %d", resp.StatusCode)
	}
	h.record(t)
}

// TestForwardWithoutCA guards forward mode before `conduit ca init`:
// CONNECTs to LLM hosts are tunnelled (the client sees the provider's own
// certificate, nothing is recorded) and the log says once how to enable
// interception.
func TestForwardWithoutCA(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{noCA: true})
	resp, _ := doVia(t, h.client(h.pki.rootPool), "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].Issuer.CommonName != h.pki.root.Subject.CommonName {
		t.Fatalf("status %d, not tunnelled to the provider's own certificate", resp.StatusCode)
	}
	h.noRecord(t)
	if n := strings.Count(h.logs.String(), "conduit ca init"); n != 1 {
		t.Errorf("the hint was logged %d times, want once:\n%s", n, h.logs)
	}
}

// TestForwardHostOutsideCA guards a host list that outgrew the CA: a host
// the CA cannot sign for is tunnelled, never handed a failing certificate.
func TestForwardHostOutsideCA(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{caHosts: []string{hostOpenAI}})
	resp, _ := doVia(t, h.client(h.roots()), "POST", "https://"+hostAnthropic+"/v1/messages", hdr("x-api-key", "k"), calls[7].body)
	if resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].Issuer.CommonName != h.pki.root.Subject.CommonName {
		t.Fatalf("status %d; not tunnelled", resp.StatusCode)
	}
	h.noRecord(t)
	if n := h.mintsFor(hostAnthropic); n != 0 {
		t.Errorf("%d mint attempts for a host outside the CA", n)
	}
	resp, _ = doVia(t, h.client(h.roots()), "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if r := h.record(t); resp.StatusCode != 200 || r.Mode != ledger.ModeForward {
		t.Errorf("covered host: %d %+v", resp.StatusCode, r)
	}
}

// countingProxy is a tiny corporate proxy: it counts CONNECTs per target
// and the Proxy-Authorization it saw, and tunnels to the fake.
type countingProxy struct {
	fakeAddr string
	mu       sync.Mutex
	connects map[string]int
	auth     []string
}

func (p *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.connects[r.Host]++
	p.auth = append(p.auth, r.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.fakeAddr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	// Splice in the background: the handler returns, so closing the test
	// server does not wait for tunnels that Conduit keeps alive.
	go func() { io.Copy(up, brw); up.Close() }()
	go func() { io.Copy(conn, up); conn.Close() }()
}

func (p *countingProxy) count(target string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connects[target]
}

// TestForwardUpstreamProxy guards [upstream] proxy: Conduit's own calls —
// decrypted forward calls, base-URL calls and blind tunnels — go through
// the corporate proxy by CONNECT, with its credentials; NO_PROXY names are
// reached directly.
func TestForwardUpstreamProxy(t *testing.T) {
	t.Parallel()
	cp := &countingProxy{connects: map[string]int{}}
	corp := httptest.NewServer(cp)
	t.Cleanup(corp.Close) // after the harness's cleanup, which closes Conduit's tunnels
	corpURL := mustURL(t, corp.URL)
	corpURL.User = url.UserPassword("alice", "s3cret")
	h := newFwdHarness(t, fwdConfig{options: func(o *Options) {
		o.Upstream.Proxy = corpURL
		o.Upstream.NoProxy = hostAnthropic
	}})
	cp.fakeAddr = h.fakeAddr
	client := h.client(h.roots())

	doVia(t, client, "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if r := h.record(t); r.Outcome != ledger.OutcomeComplete || r.Mode != ledger.ModeForward {
		t.Fatalf("forward call through the corporate proxy: %+v", r)
	}
	if n := cp.count(hostOpenAI + ":443"); n != 1 {
		t.Errorf("%d CONNECTs to %s for a forward call, want 1", n, hostOpenAI)
	}
	do(t, "POST", h.proxyURL+"/gemini/v1beta/models/gemini-2.5-pro:generateContent", hdr("x-goog-api-key", "k"), calls[10].body)
	h.record(t)
	if n := cp.count(hostGemini + ":443"); n != 1 {
		t.Errorf("%d CONNECTs to %s for a base-URL call, want 1", n, hostGemini)
	}
	resp, _ := doVia(t, h.client(h.pki.rootPool), "GET", "https://"+hostOther+"/v1/models", hdr("Authorization", auth), "")
	if resp.StatusCode != 200 || cp.count(hostOther+":443") != 1 {
		t.Errorf("tunnel: status %d, %d CONNECTs", resp.StatusCode, cp.count(hostOther+":443"))
	}
	doVia(t, client, "POST", "https://"+hostAnthropic+"/v1/messages", hdr("x-api-key", "k"), calls[7].body)
	h.record(t)
	if n := cp.count(hostAnthropic + ":443"); n != 0 {
		t.Errorf("NO_PROXY host went through the proxy %d times", n)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for i, a := range cp.auth {
		if a != want {
			t.Errorf("CONNECT %d carried Proxy-Authorization %q, want %q", i, a, want)
		}
	}
}

// earlyConn sends the CONNECT request in the same write as the client's
// first TLS bytes, and strips the proxy's answer before TLS reads.
type earlyConn struct {
	net.Conn
	connect []byte
	br      *bufio.Reader
	sent    bool
	read    bool
	status  int
}

func (c *earlyConn) Write(p []byte) (int, error) {
	if !c.sent {
		c.sent = true
		if _, err := c.Conn.Write(append(c.connect, p...)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *earlyConn) Read(p []byte) (int, error) {
	if !c.read {
		c.read = true
		resp, err := http.ReadResponse(c.br, &http.Request{Method: "CONNECT"})
		if err != nil {
			return 0, err
		}
		c.status = resp.StatusCode
	}
	return c.br.Read(p)
}

// TestForwardEarlyClientHello guards a client that sends its ClientHello in
// the same write as the CONNECT: the bytes already read with the request
// are replayed into the TLS handshake.
func TestForwardEarlyClientHello(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	raw, err := net.Dial("tcp", h.proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ec := &earlyConn{Conn: raw, connect: []byte("CONNECT " + hostOpenAI + ":443 HTTP/1.1\r\nHost: " + hostOpenAI + ":443\r\n\r\n"), br: bufio.NewReader(raw)}
	tc := tls.Client(ec, &tls.Config{ServerName: hostOpenAI, RootCAs: h.roots()})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake with early bytes: %v", err)
	}
	req, _ := http.NewRequest("GET", "https://"+hostOpenAI+"/v1/models", nil)
	req.Header.Set("Authorization", auth)
	req.Write(tc)
	resp, err := http.ReadResponse(bufio.NewReader(tc), req)
	if err != nil || resp.StatusCode != 200 || ec.status != 200 {
		t.Fatalf("response %v %v (CONNECT status %d)", resp, err, ec.status)
	}
	h.record(t)
}

// mitmConn opens a decrypted connection to host through the proxy.
func (h *fwdHarness) mitmConn(t *testing.T, host string) *tls.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", h.proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, "CONNECT "+host+":443 HTTP/1.1\r\nHost: "+host+":443\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 || br.Buffered() != 0 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: h.roots()})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc
}

// TestForwardDecryptedConnectionLimits guards what the decrypted connection
// inherits from net/http: a request for another host than the CONNECT's is
// misdirected (421), and oversized headers get 431 — neither reaches the
// provider.
func TestForwardDecryptedConnectionLimits(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	tests := []struct {
		name   string
		host   string
		header http.Header
		status int
	}{
		{"other host", hostAnthropic, nil, http.StatusMisdirectedRequest},
		{"huge headers", hostOpenAI, hdr("X-Big", strings.Repeat("x", 2<<20)), http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.fake.Requests())
			tc := h.mitmConn(t, hostOpenAI)
			req, _ := http.NewRequest("POST", "https://"+tt.host+"/v1/chat/completions", strings.NewReader(calls[0].body))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			go req.Write(tc)
			resp, err := http.ReadResponse(bufio.NewReader(tc), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if len(h.fake.Requests()) != before {
				t.Error("request reached the provider")
			}
			h.noRecord(t)
		})
	}
}

// TestForwardDecryptedHostForms guards the Host header a decrypted request
// may carry: any spelling of the CONNECT's host and port is that host (and
// recorded under its provider), another port or host is misdirected, and a
// CONNECT inside is refused.
func TestForwardDecryptedHostForms(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	tests := []struct {
		method, host string
		status       int
	}{
		{"POST", hostOpenAI, http.StatusOK},
		{"POST", hostOpenAI + ":443", http.StatusOK},
		{"POST", strings.ToUpper(hostOpenAI) + ".", http.StatusOK},
		{"POST", strings.ToUpper(hostOpenAI) + ":443", http.StatusOK},
		{"POST", hostOpenAI + ":8443", http.StatusMisdirectedRequest},
		{"POST", hostAnthropic + ":443", http.StatusMisdirectedRequest},
		{"CONNECT", hostOpenAI + ":443", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host, func(t *testing.T) {
			tc := h.mitmConn(t, hostOpenAI)
			req, _ := http.NewRequest("POST", "https://"+hostOpenAI+"/v1/chat/completions", strings.NewReader(calls[0].body))
			req.Header.Set("Authorization", auth)
			req.Host = tt.host
			var raw bytes.Buffer
			req.Write(&raw)
			if tt.method == "CONNECT" {
				raw.Reset()
				raw.WriteString("CONNECT " + tt.host + " HTTP/1.1\r\nHost: " + tt.host + "\r\n\r\n")
			}
			go tc.Write(raw.Bytes())
			resp, err := http.ReadResponse(bufio.NewReader(tc), req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != http.StatusOK {
				h.noRecord(t)
				return
			}
			if rec := h.record(t); rec.Provider != "openai" || rec.Host != hostOpenAI || rec.Mode != ledger.ModeForward {
				t.Errorf("recorded provider %q host %q mode %q", rec.Provider, rec.Host, rec.Mode)
			}
		})
	}
}

// TestForwardShutdownLetsCallsFinish guards a graceful stop: Shutdown waits
// for a decrypted stream in flight, which the client receives whole, and
// closes idle decrypted connections.
func TestForwardShutdownLetsCallsFinish(t *testing.T) {
	t.Parallel()
	g := newGate()
	h := newFwdHarness(t, fwdConfig{fake: fakeprovider.Options{Sleep: g.sleep, Delay: time.Millisecond}})
	// An idle decrypted connection: one call made, kept alive.
	idle := h.mitmConn(t, hostOpenAI)
	ireq, _ := http.NewRequest("GET", "https://"+hostOpenAI+"/v1/models", nil)
	ireq.Header.Set("Authorization", auth)
	ireq.Write(idle)
	iresp, err := http.ReadResponse(bufio.NewReader(idle), ireq)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, iresp.Body)
	h.record(t)

	c := calls[6]
	req, _ := http.NewRequest("POST", "https://"+hostAnthropic+c.path, strings.NewReader(c.body))
	req.Header = hdr("x-api-key", "k")
	resp, err := h.client(h.roots()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-g.waiting
	var done atomic.Bool
	shut := make(chan error, 1)
	go func() {
		err := h.proxy.Shutdown(context.Background())
		done.Store(true)
		shut <- err
	}()
	// The idle connection is closed by the shutdown.
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("idle decrypted connection still open")
	}
	if done.Load() {
		t.Fatal("Shutdown returned while a call was in flight")
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case g.release <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	body, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.HasSuffix(body, []byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")) {
		t.Fatalf("stream cut by shutdown: %v %q", err, body)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if r := h.record(t); r.Outcome != ledger.OutcomeComplete {
		t.Errorf("record %+v", r)
	}
}

// TestForwardClientLeavesMidStream guards an abandoned decrypted stream:
// Conduit notices the client left, reads on, and records the provider's
// final usage as client_cancelled.
func TestForwardClientLeavesMidStream(t *testing.T) {
	t.Parallel()
	left := make(chan struct{}, 1)
	g := newGate()
	h := newFwdHarness(t, fwdConfig{fake: fakeprovider.Options{Sleep: g.sleep, Delay: time.Millisecond},
		options: func(o *Options) { o.onClientLeft = func() { left <- struct{}{} } }})
	c := calls[6]
	tc := h.mitmConn(t, hostAnthropic)
	req, _ := http.NewRequest("POST", "https://"+hostAnthropic+c.path, strings.NewReader(c.body))
	req.Header = hdr("x-api-key", "k", fakeprovider.HeaderEvents, "4")
	req.Write(tc)
	br := bufio.NewReader(tc)
	if _, err := http.ReadResponse(br, req); err != nil {
		t.Fatal(err)
	}
	<-g.waiting
	tc.Close() // the client leaves
	<-left
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case g.release <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	r := h.record(t)
	if r.Outcome != ledger.OutcomeClientCancelled || !r.HasUsage || r.OutputTokens != 4 || r.Mode != ledger.ModeForward {
		t.Fatalf("record %+v, want client_cancelled with the final 4 output tokens", r)
	}
}

// TestForwardUpstreamProxyRefuses guards a corporate proxy that says no:
// a decrypted call gets a 502 in the provider's shape (and is recorded as
// an upstream error), a tunnel gets a 502 from the proxy; neither hangs.
func TestForwardUpstreamProxyRefuses(t *testing.T) {
	t.Parallel()
	corp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="corp"`)
		http.Error(w, "who are you", http.StatusProxyAuthRequired)
	}))
	t.Cleanup(corp.Close)
	h := newFwdHarness(t, fwdConfig{options: func(o *Options) { o.Upstream.Proxy = mustURL(t, corp.URL) }})
	resp, body := doVia(t, h.client(h.roots()), "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "conduit_upstream_unreachable") {
		t.Errorf("decrypted call: %d %s", resp.StatusCode, body)
	}
	if r := h.record(t); r.Outcome != ledger.OutcomeUpstreamError || r.Mode != ledger.ModeForward {
		t.Errorf("record %+v", r)
	}
	status, msg := rawConnect(t, h.proxyAddr, hostOther+":443")
	if status != http.StatusBadGateway || !strings.Contains(msg, "407") {
		t.Errorf("tunnel: %d %q", status, msg)
	}
}
