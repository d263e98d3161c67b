package intercept

// The security cases of the fault-injection suite: request smuggling, path
// traversal, requests aimed at Conduit itself, proxy authentication,
// certificates minted only for intercepted hosts, and credentials kept out
// of records and logs. Loopback only.

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// exchange writes raw bytes on conn and reads up to want responses (fewer
// if the server closes the connection first). Each body is read whole.
func exchange(t *testing.T, conn net.Conn, raw string, want int) []*http.Response {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for len(out) < want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, resp)
	}
	return out
}

// smuggling lists requests whose framing is ambiguous or invalid. Each is
// written raw: %[1]s is a metered path (its body is read before anything
// goes upstream), %[2]s the Host, %[3]s an unmetered path, %[4]s a
// credential header line. Go's server refuses the invalid ones before any
// handler runs. A message with both Transfer-Encoding and Content-Length
// (also when Transfer-Encoding is folded over two lines) it reads as
// RFC 9112 §6.3 says — chunked wins, Content-Length is dropped — and Conduit
// re-frames every request it forwards, so the provider can never read a
// request boundary differently from Conduit.
var smuggling = []struct {
	name string
	raw  string
	// status of the first response when refused; responses is how many
	// the client gets, and for an accepted message how many requests reach
	// the provider.
	status    int
	responses int
	accepted  bool
}{
	{name: "CL.TE: Content-Length and chunked",
		raw:       "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET %[3]s?smuggled=1 HTTP/1.1\r\nHost: %[2]s\r\n%[4]s\r\n",
		responses: 2, accepted: true},
	{name: "TE.CL: chunked then Content-Length",
		raw:       "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		responses: 1, accepted: true},
	{name: "obs-fold Transfer-Encoding",
		raw:       "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sTransfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		responses: 1, accepted: true},
	{name: "two different Content-Lengths", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sContent-Length: 2\r\nContent-Length: 3\r\n\r\n{} ", status: 400, responses: 1},
	{name: "Content-Length list", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sContent-Length: 2, 3\r\n\r\n{} ", status: 400, responses: 1},
	{name: "signed Content-Length", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sContent-Length: +2\r\n\r\n{}", status: 400, responses: 1},
	{name: "Content-Length overflow", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sContent-Length: 99999999999999999999\r\n\r\n{}", status: 400, responses: 1},
	{name: "chunked, identity", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", status: 501, responses: 1},
	{name: "identity", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}", status: 501, responses: 1},
	{name: "two Transfer-Encoding headers", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 501, responses: 1},
	{name: "xchunked", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", status: 501, responses: 1},
	{name: "space before the colon", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", status: 400, responses: 1},
	{name: "NUL in a header", raw: "GET %[3]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sX-A: a\x00b\r\n\r\n", status: 400, responses: 1},
	{name: "bare CR in a header", raw: "GET %[3]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sX-A: a\rb\r\n\r\n", status: 400, responses: 1},
	{name: "two Host headers", raw: "GET %[3]s HTTP/1.1\r\nHost: %[2]s\r\nHost: evil.example\r\n%[4]s\r\n", status: 400, responses: 1},
	{name: "bad chunk size", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", status: 400, responses: 1},
	{name: "chunk size overflow", raw: "POST %[1]s HTTP/1.1\r\nHost: %[2]s\r\n%[4]sContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{}\r\n0\r\n\r\n", status: 400, responses: 1},
}

// TestSecurityRequestSmuggling sends each smuggling attempt raw to the
// base-URL port and, decrypted, through forward mode: an invalid request is
// refused with a 4xx/5xx and reaches no provider; an accepted one reaches
// it as exactly the requests the client got answers for, each framed by
// Conduit (never both Content-Length and Transfer-Encoding).
func TestSecurityRequestSmuggling(t *testing.T) {
	t.Parallel()
	bh := newHarness(t, harnessConfig{})
	fh := newFwdHarness(t, fwdConfig{})
	type way struct {
		name          string
		conn          func(t *testing.T) net.Conn
		metered, free string // paths
		host          string
		fake          *fakeprovider.Server
		records       chan Call
	}
	ways := []way{
		{name: "base-url", metered: "/plain/v1/chat/completions", free: "/plain/v1/models", host: strings.TrimPrefix(bh.proxyURL, "http://"),
			fake: bh.fake, records: bh.records,
			conn: func(t *testing.T) net.Conn {
				c, err := net.Dial("tcp", strings.TrimPrefix(bh.proxyURL, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}},
		{name: "forward", metered: "/v1/chat/completions", free: "/v1/models", host: hostOpenAI, fake: fh.fake, records: fh.records,
			conn: func(t *testing.T) net.Conn { return fh.mitmConn(t, hostOpenAI) }},
	}
	for _, w := range ways {
		for _, tt := range smuggling {
			t.Run(w.name+"/"+tt.name, func(t *testing.T) {
				before := len(w.fake.Requests())
				raw := fmt.Sprintf(tt.raw, w.metered, w.host, w.free, "Authorization: "+auth+"\r\n")
				resps := exchange(t, w.conn(t), raw, tt.responses)
				if len(resps) != tt.responses {
					t.Fatalf("%d responses, want %d", len(resps), tt.responses)
				}
				seen := w.fake.Requests()[before:]
				if !tt.accepted {
					if resps[0].StatusCode != tt.status {
						b, _ := io.ReadAll(resps[0].Body)
						t.Fatalf("status %d, want %d: %q", resps[0].StatusCode, tt.status, b)
					}
					if len(seen) != 0 {
						t.Fatalf("a refused request reached the provider: %+v", seen)
					}
					// Conduit records a body it could not read (400), never a forwarded call.
					drain(w.records)
					return
				}
				if len(seen) != tt.responses {
					t.Fatalf("the provider saw %d requests, the client got %d answers", len(seen), tt.responses)
				}
				for _, s := range seen {
					if s.Header.Get("Content-Length") != "" && len(s.Header.Values("Transfer-Encoding")) > 0 {
						t.Errorf("forwarded with both Content-Length and Transfer-Encoding: %v", s.Header)
					}
				}
				for range tt.responses {
					select {
					case <-w.records:
					case <-time.After(10 * time.Second):
						t.Fatal("no record for an accepted request")
					}
				}
			})
		}
	}
}

// TestSecurityBadStreamedBody guards a request body that breaks while it
// streams to the provider (an endpoint Conduit does not meter, so the body
// is not read first): the client gets a 400 naming its body, not a 502
// blaming the provider, and the record says the client's side failed.
func TestSecurityBadStreamedBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{})
	addr := strings.TrimPrefix(h.proxyURL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resps := exchange(t, conn, "POST /plain/v1/files HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: "+auth+
		"\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n", 1)
	if len(resps) != 1 || resps[0].StatusCode != http.StatusBadRequest {
		t.Fatalf("responses %+v, want one 400", resps)
	}
	b, _ := io.ReadAll(resps[0].Body)
	if !strings.Contains(string(b), typeBadRequest) || !strings.Contains(string(b), "request body") {
		t.Errorf("body %q does not name the request body", b)
	}
	if r := h.record(t); r.Outcome != ledger.OutcomeClientCancelled || r.Status != 400 {
		t.Errorf("record %q %d %q", r.Outcome, r.Status, r.Error)
	}
}

// drain empties a record channel.
func drain(ch chan Call) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestSecurityPathTraversal guards base-URL routes against paths that
// climb out of a provider's base path, in every spelling — plain,
// percent-encoded, mixed case, encoded slashes, backslashes: 400, and the
// provider sees nothing. Spellings that are not dot segments pass as sent.
func TestSecurityPathTraversal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{options: func(o *Options) {
		u, _ := url.Parse(o.Providers[0].Upstream.String() + "/base")
		o.Providers = append(o.Providers, Provider{Key: "based", Upstream: u, API: parsers.OpenAI})
	}})
	addr := strings.TrimPrefix(h.proxyURL, "http://")
	tests := []struct {
		path     string
		status   int
		upstream string // the path the provider sees when forwarded
	}{
		{path: "/based/../../x", status: 400},
		{path: "/based/v1/../../x", status: 400},
		{path: "/based/./x", status: 400},
		{path: "/based/%2e%2e/x", status: 400},
		{path: "/based/%2E%2e/x", status: 400},
		{path: "/based/.%2e/x", status: 400},
		{path: "/based/v1/..%2fx", status: 400},
		{path: "/based/v1/%2e%2e%2f%2e%2e%2fx", status: 400},
		{path: "/based/v1/..\\x", status: 400},
		{path: "/based/v1/..%5cx", status: 400},
		{path: "/based/v1/%5c..%5cx", status: 400},
		{path: "/based/v1/%252e%252e/x", status: 404, upstream: "/base/v1/%2e%2e/x"}, // double-encoded: a literal "%2e%2e" upstream
		{path: "/based/v1/...x", status: 404, upstream: "/base/v1/...x"},
		{path: "/based/v1/..x", status: 404, upstream: "/base/v1/..x"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			before := len(h.fake.Requests())
			resps := exchange(t, conn, "GET "+tt.path+" HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: "+auth+"\r\n\r\n", 1)
			if len(resps) != 1 || resps[0].StatusCode != tt.status {
				t.Fatalf("responses %v, want status %d", resps, tt.status)
			}
			seen := h.fake.Requests()[before:]
			if tt.upstream == "" {
				if len(seen) != 0 {
					t.Fatalf("reached the provider as %q", seen[0].Path)
				}
				b, _ := io.ReadAll(resps[0].Body)
				if !strings.Contains(string(b), typeBadRequest) {
					t.Errorf("no clear error: %q", b)
				}
				return
			}
			if len(seen) != 1 || seen[0].Path != tt.upstream {
				t.Fatalf("provider saw %+v, want path %q", seen, tt.upstream)
			}
			h.record(t)
		})
	}
}

// TestSecurityForwardPathPassesThrough guards the other side of path
// checks: in forward mode the client addresses the provider's host itself,
// so there is no base path to escape, and a dot segment reaches the
// provider exactly as the client sent it.
func TestSecurityForwardPathPassesThrough(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	tc := h.mitmConn(t, hostOpenAI)
	resps := exchange(t, tc, "GET /v1/../v1/%2e%2e/models HTTP/1.1\r\nHost: "+hostOpenAI+"\r\nAuthorization: "+auth+"\r\n\r\n", 1)
	if len(resps) != 1 {
		t.Fatal("no response")
	}
	seen := h.fake.Requests()
	if len(seen) != 1 || seen[0].Path != "/v1/../v1/../models" {
		t.Fatalf("provider saw %+v", seen)
	}
	if r := h.record(t); r.Path != "/v1/../v1/%2e%2e/models" {
		t.Errorf("recorded path %q", r.Path)
	}
}

// TestSecuritySelfAimed guards requests aimed at Conduit itself, in every
// spelling of its address: a CONNECT is refused, an absolute-form request
// is served locally, and a provider whose upstream is Conduit's own
// address is refused with 508 instead of calling itself until the path
// runs out.
func TestSecuritySelfAimed(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{options: func(o *Options) {
		o.Providers = append(o.Providers, Provider{Key: "loop", Upstream: mustURL(t, "http://placeholder"), API: parsers.OpenAI})
	}})
	_, port, _ := net.SplitHostPort(h.proxyAddr)
	// The loop provider's upstream is only known once the listener is.
	for i := range h.proxy.hosts.providers {
		if p := h.proxy.hosts.providers[i]; p.Key == "loop" {
			p.Upstream = mustURL(t, "http://localhost:"+port)
		}
	}
	spellings := []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST:" + port, "localhost.:" + port, "[::ffff:127.0.0.1]:" + port}
	for _, s := range spellings {
		if status, body := rawConnect(t, h.proxyAddr, s); status != http.StatusForbidden || !strings.Contains(body, "Conduit itself") {
			t.Errorf("CONNECT %s: %d %q", s, status, body)
		}
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL))}}
	for _, s := range spellings {
		resp, body := doVia(t, client, "GET", "http://"+s+"/health", nil, "")
		if resp.StatusCode != 200 || string(body) != "OK" {
			t.Errorf("GET http://%s/health: %d %q", s, resp.StatusCode, body)
		}
	}
	resp, body := do(t, "POST", h.proxyURL+"/loop/loop/loop/loop/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if resp.StatusCode != http.StatusLoopDetected || !strings.Contains(string(body), typeLoop) {
		t.Errorf("provider = Conduit: %d %s", resp.StatusCode, body)
	}
	h.noRecord(t)
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests reached the provider", n)
	}
}

// TestSecurityNoLeafForOtherHosts guards the CA's use: CONNECTs to hosts
// that are not intercepted — another host, a closed local port, Conduit
// itself, a malformed authority — never mint a certificate, although the
// CA could sign for some of them; intercepted hosts do.
func TestSecurityNoLeafForOtherHosts(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	for _, target := range []string{hostOther + ":443", closed, h.proxyAddr, "%00:443", "::::443", hostOpenAI + ":8443"} {
		conn, err := net.Dial("tcp", h.proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
	}
	h.mu.Lock()
	minted := fmt.Sprint(h.mints)
	h.mu.Unlock()
	if minted != "map[]" {
		t.Errorf("certificates minted for hosts that are not intercepted: %s", minted)
	}
	doVia(t, h.client(h.roots()), "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	h.record(t)
	if h.mintsFor(hostOpenAI) != 1 {
		t.Errorf("the intercepted host minted %d times", h.mintsFor(hostOpenAI))
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestSecurityProxyAuth guards [server] proxy_auth: every CONNECT and
// absolute-form request needs the credential (407 and a Basic challenge
// otherwise, whatever is wrong with it), base-URL calls do not, and the
// credential never reaches a provider or another host.
func TestSecurityProxyAuth(t *testing.T) {
	t.Parallel()
	const user, pass = "alice", "correct horse battery staple"
	h := newFwdHarness(t, fwdConfig{options: func(o *Options) {
		o.ProxyAuth = &ProxyAuth{User: user, PasswordSHA256: sha256.Sum256([]byte(pass))}
	}})
	good := basic(user, pass)
	refused := []struct{ name, header string }{
		{"none", ""},
		{"wrong password", basic(user, "Tr0ub4dor&3")},
		{"wrong user", basic("bob", pass)},
		{"empty password", basic(user, "")},
		{"not base64", "Basic !!!"},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+pass))},
		{"bearer", "Bearer " + pass},
		{"password prefix", basic(user, pass[:len(pass)-1])},
	}
	targets := []struct {
		name string
		raw  string
	}{
		{"CONNECT intercepted", "CONNECT " + hostOpenAI + ":443 HTTP/1.1\r\nHost: " + hostOpenAI + ":443\r\n"},
		{"CONNECT other", "CONNECT " + hostOther + ":443 HTTP/1.1\r\nHost: " + hostOther + ":443\r\n"},
		{"absolute-form other", "GET http://" + hostOther + "/v1/models HTTP/1.1\r\nHost: " + hostOther + "\r\n"},
		{"absolute-form self", "GET " + h.proxyURL + "/health HTTP/1.1\r\nHost: " + h.proxyAddr + "\r\n"},
	}
	for _, tg := range targets {
		for _, r := range refused {
			t.Run(tg.name+"/"+r.name, func(t *testing.T) {
				conn, err := net.Dial("tcp", h.proxyAddr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				raw := tg.raw
				if r.header != "" {
					raw += "Proxy-Authorization: " + r.header + "\r\n"
				}
				resps := exchange(t, conn, raw+"\r\n", 1)
				if len(resps) != 1 || resps[0].StatusCode != http.StatusProxyAuthRequired ||
					!strings.HasPrefix(resps[0].Header.Get("Proxy-Authenticate"), `Basic realm="conduit"`) {
					t.Fatalf("want 407 with a Basic challenge, got %+v", resps)
				}
			})
		}
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Fatalf("%d unauthenticated requests reached a server", n)
	}
	h.noRecord(t)

	// With the credential in the proxy URL, as HTTPS_PROXY=http://user:pass@host:port gives it.
	pu := mustURL(t, h.proxyURL)
	pu.User = url.UserPassword(user, pass)
	withCred := h.client(h.roots())
	withCred.Transport.(*http.Transport).Proxy = http.ProxyURL(pu)
	resp, _ := doVia(t, withCred, "POST", "https://"+hostOpenAI+"/v1/chat/completions", hdr("Authorization", auth), calls[0].body)
	if resp.StatusCode != 200 {
		t.Fatalf("decrypted call with the credential: %d", resp.StatusCode)
	}
	h.record(t)
	tunnel := h.client(h.pki.rootPool)
	tunnel.Transport.(*http.Transport).Proxy = http.ProxyURL(pu)
	if resp, _ := doVia(t, tunnel, "GET", "https://"+hostOther+"/v1/models", hdr("Authorization", auth), ""); resp.StatusCode != 200 {
		t.Errorf("tunnel with the credential: %d", resp.StatusCode)
	}
	plain := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	if resp, _ := doVia(t, plain, "GET", "http://"+hostOther+"/v1/models", hdr("Authorization", auth), ""); resp.StatusCode == http.StatusProxyAuthRequired {
		t.Errorf("plain forward with the credential: %d", resp.StatusCode)
	}
	for _, s := range h.fake.Requests() {
		if s.Header.Get("Proxy-Authorization") != "" {
			t.Errorf("the proxy credential reached %s %s", s.Host, s.Path)
		}
	}
	// Base-URL calls are not proxy requests: no credential asked.
	if resp, _ := do(t, "POST", h.proxyURL+"/openai/v1/chat/completions", hdr("Authorization", auth), calls[0].body); resp.StatusCode != 200 {
		t.Errorf("base-URL call: %d", resp.StatusCode)
	}
	h.record(t)
	if strings.Contains(h.logs.String(), pass) || strings.Contains(h.logs.String(), good[6:]) {
		t.Error("the proxy credential reached the log")
	}
}

// echoKey is a provider that refuses every call with 401 and, as some do,
// quotes the credentials it was sent in the error message.
func echoKey(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	msg := fmt.Sprintf("Incorrect API key provided: %s / %s / %s / %s / %s", r.Header.Get("Authorization"),
		strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), r.Header.Get("X-Api-Key"),
		r.Header.Get("X-Goog-Api-Key"), r.URL.Query().Get("key"))
	// One body every format's parser reads its message from: Anthropic's
	// {"type":"error","error":{…}}, OpenAI's and Gemini's {"error":{…}}.
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{
		"message": msg, "type": "authentication_error", "code": 401, "status": "UNAUTHENTICATED"}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(b)
}

// The credentials of TestSecuritySecretsNeverRecorded: distinct, long, and
// easy to search for.
const (
	secretBearer = "sk-proj-BEARERSECRET0123456789abcdef"
	secretXAPI   = "sk-ant-XAPIKEYSECRET0123456789"
	secretGoog   = "AIzaGOOGKEYSECRET0123456789"
	secretQuery  = "QUERYKEYSECRET0123456789"
	secretAzure  = "AZUREKEYSECRET0123456789"
)

var allSecrets = []string{secretBearer, secretXAPI, secretGoog, secretQuery, secretAzure}

// secretHeader is a request carrying every kind of credential.
func secretHeader() http.Header {
	return hdr("Authorization", "Bearer "+secretBearer, "X-Api-Key", secretXAPI, "X-Goog-Api-Key", secretGoog,
		"Api-Key", secretAzure, "Content-Type", "application/json")
}

// TestSecuritySecretsNeverRecorded guards "no secrets at rest" at the
// record: calls carrying Authorization, x-api-key, x-goog-api-key, api-key
// and ?key= — answered, refused by a provider that quotes the key back,
// cut, timed out, unreachable — in both modes: no record field and no log
// line (debug level) holds any of them. (The ledger file, its WAL, the
// exports and reports are searched by the process-level test in
// cmd/conduit.)
func TestSecuritySecretsNeverRecorded(t *testing.T) {
	t.Parallel()
	for _, up := range []struct {
		name    string
		handler http.Handler
		header  http.Header
	}{
		{name: "answered", handler: nil},
		{name: "refused, key quoted back", handler: http.HandlerFunc(echoKey)},
		{name: "cut", handler: nil, header: hdr(fakeprovider.HeaderAbortAfter, "1")},
		{name: "timed out", handler: nil, header: hdr(fakeprovider.HeaderHang, "1")},
	} {
		short := func(o *Options) { o.Timeouts.ResponseHeader = 300 * time.Millisecond }
		bh := newHarness(t, harnessConfig{upstream: up.handler, options: func(o *Options) {
			short(o)
			o.Providers = append(o.Providers, Provider{Key: "dead", Upstream: mustURL(t, "http://127.0.0.1:1"), API: parsers.Gemini})
		}})
		fh := newFwdHarness(t, fwdConfig{upstream: up.handler, options: short})
		type target struct {
			name   string
			client *http.Client
			url    string
			logs   *syncBuffer
			record func(*testing.T) Call
		}
		q := "?key=" + secretQuery + "&alt=sse"
		targets := []target{
			{"base-url", rawClient, bh.proxyURL + "/anthropic/v1/messages" + q, bh.logs, bh.record},
			{"base-url gemini", rawClient, bh.proxyURL + "/gemini/v1beta/models/g:streamGenerateContent" + q, bh.logs, bh.record},
			{"forward", fh.client(fh.roots()), "https://" + hostAnthropic + "/v1/messages" + q, fh.logs, fh.record},
			{"forward gemini", fh.client(fh.roots()), "https://" + hostGemini + "/v1beta/models/g:streamGenerateContent" + q, fh.logs, fh.record},
		}
		if up.name == "answered" {
			targets = append(targets, target{"base-url unreachable", rawClient, bh.proxyURL + "/dead/v1beta/models/g:generateContent" + q, bh.logs, bh.record})
		}
		for _, tg := range targets {
			t.Run(up.name+"/"+tg.name, func(t *testing.T) {
				header := secretHeader()
				for k, v := range up.header {
					header[k] = v
				}
				resp := send(t, tg.client, "POST", tg.url, header, calls[6].body)
				readAllErr(resp)
				r := tg.record(t)
				dump, _ := json.Marshal(r)
				for _, s := range allSecrets {
					if strings.Contains(string(dump), s) || strings.Contains(fmt.Sprintf("%+v", r), s) {
						t.Errorf("record holds %q: %s", s, dump)
					}
					if strings.Contains(tg.logs.String(), s) {
						t.Errorf("log holds %q", s)
					}
				}
				if up.name == "refused, key quoted back" && !strings.Contains(r.Error, "Incorrect API key provided: REDACTED") {
					t.Errorf("record error %q: the provider's message should stay, scrubbed", r.Error)
				}
			})
		}
	}
}

// TestScrubSecrets pins the scrubbing of error messages.
func TestScrubSecrets(t *testing.T) {
	t.Parallel()
	h := hdr("Authorization", "Bearer sk-0123456789", "X-Api-Key", "short")
	tests := []struct{ in, query, want string }{
		{"bad key sk-0123456789!", "", "bad key REDACTED!"},
		{"header Bearer sk-0123456789", "", "header REDACTED"},
		{"cut at the end: sk-01234567", "", "cut at the end: REDACTED"},
		{"short keys stay: short", "", "short keys stay: short"},
		{"query abcdefgh12 and other=abcdefgh12x", "key=abcdefgh12&other=x", "query REDACTED and other=REDACTEDx"},
		{"", "key=abcdefgh12", ""},
	}
	for _, tt := range tests {
		if got := scrubSecrets(tt.in, h, tt.query); got != tt.want {
			t.Errorf("scrubSecrets(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
