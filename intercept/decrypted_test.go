package intercept

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// The tests of decrypted.go drive a decryptedConn directly: a loopback TCP
// listener whose connections get TLS with the test PKI's leaf and are
// served by mitm.serveConn, as forward mode serves a CONNECT's. The client
// writes raw request bytes, so framing is tested exactly. Where the
// answer to a bad request is the point, the same bytes go to net/http's
// server too, and the two answers are compared.

// waitLong bounds every wait of these tests for something that must
// happen: generous, for a loaded machine.
const waitLong = 10 * time.Second

// dcHarness serves decrypted connections with handler.
type dcHarness struct {
	pki  *testPKI
	m    *mitm
	ln   net.Listener
	logs *syncBuffer
	wg   sync.WaitGroup // the serving goroutines
}

// newDCHarness starts serving handler; adjust, when not nil, sets the
// mitm's timeouts before anything is served. Its cleanup stops the mitm
// and checks that no goroutine of a decrypted connection is left.
func newDCHarness(t testing.TB, handler http.Handler, adjust func(*mitm)) *dcHarness {
	t.Helper()
	h := &dcHarness{pki: newTestPKI(t), logs: &syncBuffer{}}
	h.m = newMITM(nil, slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h.m.tlsConfig = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		Certificates: []tls.Certificate{h.pki.server},
	}
	h.m.readHeaderTimeout, h.m.idleTimeout = waitLong, waitLong
	if adjust != nil {
		adjust(h.m)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.ln = ln
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				h.m.serveConn(tls.Server(conn, h.m.tlsConfig), handler)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := h.m.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		served := make(chan struct{})
		go func() { h.wg.Wait(); close(served) }()
		select {
		case <-served:
			noDecryptedGoroutines(t)
		case <-time.After(waitLong):
			t.Error("connections still served after the stop (a handler never returned)")
		}
		if t.Failed() {
			t.Logf("logs:\n%s", h.logs)
		}
	})
	return h
}

// noDecryptedGoroutines fails t when a goroutine of a decrypted connection
// (its serving or its handlers) outlives it. These tests do not run in
// parallel, so every such goroutine is theirs.
func noDecryptedGoroutines(t testing.TB) {
	t.Helper()
	var stacks string
	for end := time.Now().Add(waitLong); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		stacks = ""
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "intercept.(*decryptedConn)") || strings.Contains(g, "intercept.(*decryptedResponse)") {
				stacks += g + "\n\n"
			}
		}
		if stacks == "" {
			return
		}
	}
	t.Errorf("goroutines of decrypted connections left behind:\n%s", stacks)
}

// dial opens a client connection and completes its handshake.
func (h *dcHarness) dial(t testing.TB) *tls.Conn {
	t.Helper()
	return dialTLS(t, h.ln.Addr().String(), h.pki)
}

func dialTLS(t testing.TB, addr string, pki *testPKI) *tls.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tc := tls.Client(conn, &tls.Config{ServerName: "127.0.0.1", RootCAs: pki.rootPool, NextProtos: []string{"http/1.1"}})
	tc.SetDeadline(time.Now().Add(waitLong))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tc.SetDeadline(time.Time{})
	return tc
}

// netHTTPAddr serves handler with net/http's server, with the TLS and
// the timeouts a decrypted connection has, for comparison.
func netHTTPAddr(t *testing.T, pki *testPKI, handler http.Handler) string {
	t.Helper()
	s := httptest.NewUnstartedServer(handler)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}}
	s.Config.ReadHeaderTimeout, s.Config.IdleTimeout = waitLong, waitLong
	s.Config.ErrorLog = nil
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// readResponse reads one response and its whole body, within waitLong.
func readResponse(t *testing.T, c net.Conn, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	defer c.SetReadDeadline(time.Time{})
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a response's body: %v", err)
	}
	return resp, string(b)
}

// closedErr waits for the connection to end and returns what was read
// before the end, or fails t when it does not end within waitLong.
func closedErr(t *testing.T, c net.Conn, br *bufio.Reader) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	b, err := io.ReadAll(br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was not closed (read %q)", b)
	}
	return string(b)
}

// expectClosed fails t unless the connection ends with nothing more sent.
func expectClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	if rest := closedErr(t, c, br); rest != "" {
		t.Errorf("after the response, before the end: %q", rest)
	}
}

// write writes raw to c, failing t on an error.
func write(t *testing.T, c net.Conn, raw string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(waitLong))
	defer c.SetWriteDeadline(time.Time{})
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("writing %q: %v", raw, err)
	}
}

// get is a GET request for path on a kept-alive connection.
func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: example.com\r\n\r\n" }

// pathHandler answers every request with its path (and a Content-Length).
var pathHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, r.URL.Path)
})

// TestDecryptedKeepAlive guards keep-alive: requests sent one by one, and
// pipelined in one write, are served in order on one connection.
func TestDecryptedKeepAlive(t *testing.T) {
	tests := []struct {
		name      string
		pipelined bool
	}{
		{"one by one", false},
		{"pipelined in one write", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var remotes []string
			h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				remotes = append(remotes, r.RemoteAddr)
				mu.Unlock()
				if r.URL.Path == "/2" {
					// A streamed (chunked) answer between two with lengths.
					io.WriteString(w, "/")
					w.(http.Flusher).Flush()
				}
				io.WriteString(w, strings.TrimPrefix(r.URL.Path, "/2"))
				if r.URL.Path == "/2" {
					io.WriteString(w, "2")
				}
			}), nil)
			c := h.dial(t)
			br := bufio.NewReader(c)
			paths := []string{"/1", "/2", "/3", "/4"}
			if tt.pipelined {
				var all string
				for _, p := range paths {
					all += get(p)
				}
				write(t, c, all)
			}
			for _, p := range paths {
				if !tt.pipelined {
					write(t, c, get(p))
				}
				resp, body := readResponse(t, c, br, "GET")
				if resp.StatusCode != 200 || body != p || resp.Close {
					t.Fatalf("%s: status %d, body %q, close %v", p, resp.StatusCode, body, resp.Close)
				}
				if wantChunked := p == "/2"; (len(resp.TransferEncoding) > 0) != wantChunked {
					t.Errorf("%s: transfer encoding %v", p, resp.TransferEncoding)
				}
			}
			if n := h.m.served.Load(); n != 1 {
				t.Errorf("%d connections served, want 1", n)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range remotes {
				if r != c.LocalAddr().String() {
					t.Errorf("RemoteAddr %q, want %q", r, c.LocalAddr())
				}
			}
		})
	}
}

// splitWrites writes raw to c in pieces: whole (sizes nil), in pieces of
// one byte (sizes {1}), or in the given sizes, cycled.
func splitWrites(t *testing.T, c net.Conn, raw string, sizes []int) {
	t.Helper()
	if len(sizes) == 0 {
		write(t, c, raw)
		return
	}
	for i := 0; len(raw) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(raw))
		write(t, c, raw[:n])
		raw = raw[n:]
	}
}

// echoBody answers with what it read of the body and its trailers.
var echoBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%s %q trailer=%q", r.Method, b, r.Trailer.Get("X-Sum"))
})

// TestDecryptedRequestBodies guards request body framing: Content-Length
// and chunked bodies (with trailers), sent whole, a byte at a time and in
// random pieces, are read exactly, and the connection then serves the
// next request.
func TestDecryptedRequestBodies(t *testing.T) {
	bodies := []struct {
		name, raw, want string
	}{
		{"content-length",
			"POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world",
			`POST "hello world" trailer=""`},
		{"content-length, large",
			"POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("z", 20000),
			`POST "` + strings.Repeat("z", 20000) + `" trailer=""`},
		{"chunked",
			"POST /a HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
			`POST "hello world" trailer=""`},
		{"chunked with trailers",
			"POST /a HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\nb\r\nhello world\r\n0\r\nX-Sum: 42\r\n\r\n",
			`POST "hello world" trailer="42"`},
		{"no body",
			"DELETE /a HTTP/1.1\r\nHost: example.com\r\n\r\n",
			`DELETE "" trailer=""`},
		{"empty line before the request",
			"\r\nPOST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi",
			`POST "hi" trailer=""`},
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]int, 64)
	for i := range random {
		random[i] = 1 + rnd.IntN(40)
	}
	splits := []struct {
		name  string
		sizes []int
	}{
		{"whole", nil},
		{"1-byte writes", []int{1}},
		{"3-byte writes", []int{3}},
		{"random splits", random},
	}
	h := newDCHarness(t, echoBody, nil)
	for _, b := range bodies {
		for _, s := range splits {
			if s.name == "1-byte writes" && len(b.raw) > 1000 {
				continue // a TLS record per byte: slow under -race, and no new split
			}
			t.Run(b.name+"/"+s.name, func(t *testing.T) {
				c := h.dial(t)
				br := bufio.NewReader(c)
				splitWrites(t, c, b.raw+get("/next"), s.sizes)
				resp, body := readResponse(t, c, br, "POST")
				if resp.StatusCode != 200 || body != b.want {
					t.Fatalf("status %d, body %.80q, want %.80q", resp.StatusCode, body, b.want)
				}
				resp, body = readResponse(t, c, br, "GET")
				if resp.StatusCode != 200 || body != `GET "" trailer=""` {
					t.Fatalf("next request: status %d, body %q", resp.StatusCode, body)
				}
			})
		}
	}
}

// TestDecryptedUnreadBody guards a body the handler does not read: up to
// maxUnreadBody it is drained and the connection serves the next request;
// past it the answer says Connection: close, arrives whole while the
// client is still sending, and the connection closes.
func TestDecryptedUnreadBody(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		chunked bool
		keep    bool
	}{
		{"small", 1000, false, true},
		{"small, chunked", 1000, true, true},
		{"at the limit", maxUnreadBody, false, true},
		{"past the limit", 4 << 20, false, false},
		{"past the limit, chunked", 4 << 20, true, false},
	}
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "not read")
	}), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.dial(t)
			br := bufio.NewReader(c)
			head := "POST /a HTTP/1.1\r\nHost: example.com\r\n"
			body := strings.Repeat("b", tt.size)
			if tt.chunked {
				head += "Transfer-Encoding: chunked\r\n\r\n"
				body = fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
			} else {
				head += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))
			}
			sent := make(chan error, 1)
			go func() {
				c.SetWriteDeadline(time.Now().Add(waitLong))
				_, err := io.WriteString(c, head+body+get("/next"))
				sent <- err
			}()
			resp, got := readResponse(t, c, br, "POST")
			if resp.StatusCode != 200 || got != "not read" {
				t.Fatalf("status %d, body %q", resp.StatusCode, got)
			}
			if resp.Close == tt.keep {
				t.Errorf("Connection: close is %v, want %v", resp.Close, !tt.keep)
			}
			if !tt.keep {
				expectClosed(t, c, br)
				<-sent // cut by the close, or not
				return
			}
			resp, got = readResponse(t, c, br, "GET")
			if resp.StatusCode != 200 || got != "not read" {
				t.Fatalf("next request: status %d, body %q", resp.StatusCode, got)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDecryptedConnectionClose guards the request's say in keep-alive:
// HTTP/1.0 closes after the answer unless it asks to keep the connection,
// and Connection: close is honoured; each answer says so.
func TestDecryptedConnectionClose(t *testing.T) {
	tests := []struct {
		name, head string
		keep       bool // when the answer has a length
	}{
		{"HTTP/1.0", "GET /a HTTP/1.0\r\n", false},
		{"HTTP/1.0, keep-alive", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n", true},
		{"HTTP/1.1", "GET /a HTTP/1.1\r\nHost: example.com\r\n", true},
		{"HTTP/1.1, close", "GET /a HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n", false},
		// net/http ignores Transfer-Encoding in HTTP/1.0 (golang/go#12785).
		{"HTTP/1.0, chunked body, close", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n", false},
	}
	for _, handler := range []struct {
		name     string
		h        http.Handler
		chunks11 bool // the answer has no length: HTTP/1.0 cannot keep the connection
	}{
		{"length", pathHandler, false},
		{"streamed", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			io.WriteString(w, r.URL.Path)
		}), true},
	} {
		h := newDCHarness(t, handler.h, nil)
		for _, tt := range tests {
			t.Run(handler.name+"/"+tt.name, func(t *testing.T) {
				c := h.dial(t)
				br := bufio.NewReader(c)
				write(t, c, tt.head+"\r\n")
				resp, body := readResponse(t, c, br, "GET")
				if resp.StatusCode != 200 || body != "/a" {
					t.Fatalf("status %d, body %q", resp.StatusCode, body)
				}
				keep := tt.keep && !(handler.chunks11 && strings.Contains(tt.head, "HTTP/1.0"))
				if !keep {
					if !resp.Close {
						t.Error("the answer does not say Connection: close")
					}
					expectClosed(t, c, br)
					return
				}
				if resp.Close {
					t.Fatal("the answer says Connection: close")
				}
				write(t, c, get("/b"))
				if resp, body := readResponse(t, c, br, "GET"); body != "/b" {
					t.Fatalf("next request: status %d, body %q", resp.StatusCode, body)
				}
			})
		}
	}
}

// TestDecryptedExpectContinue guards Expect: 100-continue: the client is
// told to send its body when the handler reads it, not when the handler
// answers without it (and the connection then closes: what the client
// sends next could be the body); any other expectation gets 417, as from
// net/http's server.
func TestDecryptedExpectContinue(t *testing.T) {
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		echoBody(w, r)
	}), nil)
	const head = "HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
	t.Run("read", func(t *testing.T) {
		c := h.dial(t)
		br := bufio.NewReader(c)
		write(t, c, "POST /read "+head)
		c.SetReadDeadline(time.Now().Add(waitLong))
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("first line %q (%v), want a 100 Continue", line, err)
		}
		if blank, _ := br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("after 100 Continue: %q", blank)
		}
		write(t, c, "hello")
		resp, body := readResponse(t, c, br, "POST")
		if resp.StatusCode != 200 || body != `POST "hello" trailer=""` || resp.Close {
			t.Fatalf("status %d, body %q, close %v", resp.StatusCode, body, resp.Close)
		}
		write(t, c, get("/next"))
		if _, body := readResponse(t, c, br, "GET"); body != `GET "" trailer=""` {
			t.Fatalf("next request: %q", body)
		}
	})
	t.Run("not read", func(t *testing.T) {
		c := h.dial(t)
		br := bufio.NewReader(c)
		write(t, c, "POST /refuse "+head)
		resp, _ := readResponse(t, c, br, "POST")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403 (and no 100 Continue before it)", resp.StatusCode)
		}
		if !resp.Close {
			t.Error("the answer does not say Connection: close")
		}
		expectClosed(t, c, br)
	})
	theirs := netHTTPAddr(t, h.pki, echoBody)
	for _, tt := range []struct {
		name, raw string
		status    int
	}{
		{"unknown expectation", "POST /read HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 200-ok\r\n\r\nhello", http.StatusExpectationFailed},
		// RFC 9110 §10.1.1: a server must ignore 100-continue in an
		// HTTP/1.0 request.
		{"HTTP/1.0", "POST /read HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ours := exchangeRaw(t, h.ln.Addr().String(), h.pki, tt.raw)
			theirs := exchangeRaw(t, theirs, h.pki, tt.raw)
			if ours != theirs || ours.status != tt.status {
				t.Errorf("answer %+v, net/http's %+v, want status %d", ours, theirs, tt.status)
			}
		})
	}
}

// rawAnswer is how a server answered raw request bytes.
type rawAnswer struct {
	status int  // 0: no answer
	closed bool // the connection ended after it
}

// exchangeRaw sends raw (in a goroutine: a server may answer before it
// has read it all) and reads the answer and whether the connection then
// ends.
func exchangeRaw(t *testing.T, addr string, pki *testPKI, raw string) rawAnswer {
	t.Helper()
	c := dialTLS(t, addr, pki)
	go func() {
		c.SetWriteDeadline(time.Now().Add(waitLong))
		io.WriteString(c, raw)
	}()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(waitLong))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no answer and no end: %v", err)
		}
		return rawAnswer{closed: true}
	}
	io.Copy(io.Discard, resp.Body)
	_, err = br.ReadByte()
	var ne net.Error
	return rawAnswer{status: resp.StatusCode, closed: err != nil && !(errors.As(err, &ne) && ne.Timeout())}
}

// TestDecryptedBadRequests guards the answers to requests that cannot be
// served: each gets the status net/http's server gives it, and the
// connection closes as it does there.
func TestDecryptedBadRequests(t *testing.T) {
	tests := []struct {
		name, raw string
		status    int
	}{
		{"headers over the limit", "GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: " + strings.Repeat("x", decryptedMaxHeaderBytes+1) + "\r\n\r\n", 431},
		{"headers far over the limit", "GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: " + strings.Repeat("x", 4<<20) + "\r\n\r\n", 431},
		{"malformed request line", "GET /\r\nHost: example.com\r\n\r\n", 400},
		{"garbage", "\x16\x03\x01 hello\r\n\r\n", 400},
		{"header without colon", "GET / HTTP/1.1\r\nHost: example.com\r\nX-Oops\r\n\r\n", 400},
		{"header line mentioning a transfer encoding", "GET / HTTP/1.1\r\nHost: example.com\r\nunsupported transfer encoding\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: example.com\r\nX-Oops : 1\r\n\r\n", 400},
		{"control byte in a value", "GET / HTTP/1.1\r\nHost: example.com\r\nX-Oops: a\x01b\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400},
		{"malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"unsupported transfer encoding", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"two transfer encodings", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"two content lengths", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"bad content length", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: -1\r\n\r\n", 400},
		{"HTTP/2 request line", "GET / HTTP/2.0\r\nHost: example.com\r\n\r\n", 505},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n", 400},
	}
	h := newDCHarness(t, echoBody, nil)
	theirs := netHTTPAddr(t, h.pki, echoBody)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := exchangeRaw(t, theirs, h.pki, tt.raw)
			if want.status != tt.status {
				t.Fatalf("net/http answers %+v, the test expects %d", want, tt.status)
			}
			if got := exchangeRaw(t, h.ln.Addr().String(), h.pki, tt.raw); got != want {
				t.Errorf("answer %+v, net/http's %+v", got, want)
			}
		})
	}
}

// TestDecryptedBadRequestEchoesNothing guards the body of a 400: it names
// what was wrong without quoting the request's bytes back, as net/http's
// "400 Bad Request" does not.
func TestDecryptedBadRequestEchoesNothing(t *testing.T) {
	h := newDCHarness(t, echoBody, nil)
	c := h.dial(t)
	write(t, c, "GET / HTTP/1.1\r\nHost: example.com\r\n<script>alert(1)</script>\r\n\r\n")
	resp, body := readResponse(t, c, bufio.NewReader(c), "GET")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if strings.Contains(body, "script") || body != "400 Bad Request" {
		t.Errorf("body %q, want only \"400 Bad Request\"", body)
	}
}

// TestDecryptedTimeouts guards the connection's deadlines: headers that do
// not arrive within the header timeout, from the handshake or from the
// next request's first byte, and an idle wait longer than the idle
// timeout, end the connection without an answer; a handler slower than
// both is not cut.
func TestDecryptedTimeouts(t *testing.T) {
	const headerTimeout, idleTimeout = 300 * time.Millisecond, 600 * time.Millisecond
	slow := make(chan struct{}) // closed: /slow answers
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-slow:
			case <-r.Context().Done():
				http.Error(w, "cancelled", http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, r.URL.Path)
	}), func(m *mitm) { m.readHeaderTimeout, m.idleTimeout = headerTimeout, idleTimeout })
	t.Run("headers too slow", func(t *testing.T) {
		c := h.dial(t)
		write(t, c, "GET / HTTP/1.1\r\nHost: example.com\r\n")
		start := time.Now()
		if rest := closedErr(t, c, bufio.NewReader(c)); rest != "" {
			t.Errorf("answered %q", rest)
		}
		if d := time.Since(start); d < headerTimeout/2 {
			t.Errorf("closed after %v, before the header timeout", d)
		}
	})
	t.Run("next request's headers too slow", func(t *testing.T) {
		c := h.dial(t)
		br := bufio.NewReader(c)
		write(t, c, get("/1"))
		readResponse(t, c, br, "GET")
		write(t, c, "GET /2 HTTP/1.1\r\n")
		if rest := closedErr(t, c, br); rest != "" {
			t.Errorf("answered %q", rest)
		}
	})
	t.Run("idle", func(t *testing.T) {
		c := h.dial(t)
		br := bufio.NewReader(c)
		write(t, c, get("/1"))
		readResponse(t, c, br, "GET")
		start := time.Now()
		expectClosed(t, c, br)
		if d := time.Since(start); d < idleTimeout/2 {
			t.Errorf("closed after %v, before the idle timeout", d)
		}
	})
	t.Run("slow handler", func(t *testing.T) {
		c := h.dial(t)
		br := bufio.NewReader(c)
		write(t, c, get("/slow"))
		// Both timeouts pass while the handler works (a timer, not a
		// synchronisation: nothing may happen meanwhile).
		time.AfterFunc(2*idleTimeout, func() { close(slow) })
		resp, body := readResponse(t, c, br, "GET")
		if resp.StatusCode != 200 || body != "/slow" {
			t.Fatalf("status %d, body %q", resp.StatusCode, body)
		}
		write(t, c, get("/after"))
		if _, body := readResponse(t, c, br, "GET"); body != "/after" {
			t.Fatalf("next request: %q", body)
		}
	})
}

// TestDecryptedIdleDeadlineAfterPipelined guards the deadline of a request
// read while the response before it completes: a slow handler of the
// second of two pipelined requests, or of a request sent right after an
// early-completed response, runs past the idle timeout without the
// connection taking the idle deadline for a client that left.
func TestDecryptedIdleDeadlineAfterPipelined(t *testing.T) {
	const idleTimeout = 200 * time.Millisecond
	// The connections run at once: many rounds cost little time, and
	// make the window between a response's completion and its idle
	// deadline likely to be hit.
	const rounds = 50
	var cancelled sync.Map
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(3 * idleTimeout):
			case <-r.Context().Done():
				cancelled.Store(r.URL.RawQuery, true)
				return
			}
		}
		io.WriteString(w, r.URL.Path)
	}), func(m *mitm) { m.idleTimeout = idleTimeout })
	var wg sync.WaitGroup
	failures := make(chan string, rounds)
	for i := range rounds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialTLS(t, h.ln.Addr().String(), h.pki)
			br := bufio.NewReader(c)
			io.WriteString(c, get("/fast")+fmt.Sprintf("GET /slow?%d HTTP/1.1\r\nHost: example.com\r\n\r\n", i))
			c.SetReadDeadline(time.Now().Add(waitLong))
			for _, want := range []string{"/fast", "/slow"} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					failures <- fmt.Sprintf("round %d, %s: %v", i, want, err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				if string(b) != want {
					failures <- fmt.Sprintf("round %d: body %q, want %q", i, b, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	cancelled.Range(func(k, _ any) bool {
		t.Errorf("round %v: the slow handler's context was cancelled", k)
		return true
	})
}

// TestDecryptedClientGone guards the request's context: it ends when the
// client leaves during a slow call whose body was read, and not when the
// client only sends its next request early.
func TestDecryptedClientGone(t *testing.T) {
	started := make(chan *http.Request, 4)
	release := make(chan struct{})
	done := make(chan struct{})
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			started <- r
			select {
			case <-release:
			case <-r.Context().Done():
				return
			case <-done: // the test failed
				return
			}
		}
		io.WriteString(w, r.URL.Path)
	}), nil)
	t.Cleanup(func() { close(done) }) // before the harness's stop
	const slow = "POST /slow HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\nbody"
	tests := []struct {
		name string
		raw  string // after the request: how the client leaves
	}{
		{"close", ""},
		{"close after a split body", "split"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.dial(t)
			if tt.raw == "split" {
				splitWrites(t, c, slow, []int{len(slow) - 2, 2})
			} else {
				write(t, c, slow)
			}
			r := <-started
			c.Close()
			select {
			case <-r.Context().Done():
			case <-time.After(waitLong):
				t.Fatal("the request's context lives on after the client left")
			}
		})
	}
	t.Run("next request sent early", func(t *testing.T) {
		c := h.dial(t)
		br := bufio.NewReader(c)
		write(t, c, slow+get("/next"))
		r := <-started
		// Nothing may end the context: give the connection a moment to
		// read the next request's first byte, then look.
		select {
		case <-r.Context().Done():
			t.Fatal("the request's context ended because the next request came")
		case <-time.After(200 * time.Millisecond):
		}
		release <- struct{}{}
		if _, body := readResponse(t, c, br, "POST"); body != "/slow" {
			t.Fatalf("body %q", body)
		}
		if _, body := readResponse(t, c, br, "GET"); body != "/next" {
			t.Fatalf("next request: body %q", body)
		}
	})
}

// TestDecryptedEarlyCompletion guards a response whose Content-Length is
// written: the client has all of it while the handler still works, and
// the connection's next request is served once the handler returns.
func TestDecryptedEarlyCompletion(t *testing.T) {
	written := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, "start "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
		if r.URL.Path == "/first" {
			written <- struct{}{}
			<-release // recording the call
			if _, err := io.WriteString(w, "more"); err == nil {
				t.Error("a write past the length succeeded")
			}
		}
		mu.Lock()
		order = append(order, "end "+r.URL.Path)
		mu.Unlock()
	}), nil)
	c := h.dial(t)
	br := bufio.NewReader(c)
	write(t, c, get("/first"))
	<-written
	if resp, body := readResponse(t, c, br, "GET"); resp.StatusCode != 200 || body != "hello" || resp.Close {
		t.Fatalf("status %d, body %q, close %v", resp.StatusCode, body, resp.Close)
	}
	write(t, c, get("/second"))
	close(release)
	if _, body := readResponse(t, c, br, "GET"); body != "hello" {
		t.Fatalf("second: body %q", body)
	}
	mu.Lock()
	defer mu.Unlock()
	// (The second handler may still be running: its response is complete.)
	if want := "start /first,end /first,start /second"; !strings.HasPrefix(strings.Join(order, ","), want) {
		t.Errorf("handlers ran %v, want %s", order, want)
	}
}

// TestDecryptedPanics guards a handler that panics, before its answer,
// amid a streamed one, or after its Content-Length was written: the
// connection closes with the answer cut (or whole, when it was), the
// process goes on, and any panic but http.ErrAbortHandler is logged.
func TestDecryptedPanics(t *testing.T) {
	tests := []struct {
		name  string
		abort bool
		when  string // "before", "streaming", "complete"
	}{
		{"abort before the answer", true, "before"},
		{"panic before the answer", false, "before"},
		{"abort while streaming", true, "streaming"},
		{"panic while streaming", false, "streaming"},
		{"abort after a complete answer", true, "complete"},
		{"panic after a complete answer", false, "complete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch tt.when {
				case "streaming":
					io.WriteString(w, "part")
					w.(http.Flusher).Flush()
				case "complete":
					w.Header().Set("Content-Length", "4")
					io.WriteString(w, "whol")
				}
				if tt.abort {
					panic(http.ErrAbortHandler)
				}
				panic("boom " + tt.name)
			}), nil)
			c := h.dial(t)
			br := bufio.NewReader(c)
			write(t, c, get("/")+get("/next"))
			switch tt.when {
			case "before":
				if rest := closedErr(t, c, br); rest != "" {
					t.Errorf("answered %q", rest)
				}
			case "streaming":
				c.SetReadDeadline(time.Now().Add(waitLong))
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if b, err := io.ReadAll(resp.Body); err == nil || string(b) != "part" {
					t.Errorf("body %q, %v: want the part written, then a cut", b, err)
				}
			case "complete":
				if _, body := readResponse(t, c, br, "GET"); body != "whol" {
					t.Errorf("body %q", body)
				}
				// The next request, already sent, may be answered or not:
				// the connection closes.
				closedErr(t, c, br)
			}
			logged := strings.Contains(h.logs.String(), "boom "+tt.name)
			if logged == tt.abort {
				t.Errorf("panic logged: %v, want %v", logged, !tt.abort)
			}
		})
	}
}

// TestDecryptedHijack guards an upgrade: its handler takes the connection
// over (with what the client sent after the request), the connection is
// no longer served or tracked, and a close by the handler ends it; a
// request that is not an upgrade cannot take it.
func TestDecryptedHijack(t *testing.T) {
	hijackErr := make(chan error, 1)
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain" {
			_, _, err := w.(http.Hijacker).Hijack()
			hijackErr <- err
			io.WriteString(w, "still served")
			return
		}
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(waitLong))
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		for {
			line, err := brw.ReadString('\n')
			if err != nil || line == "bye\n" {
				return
			}
			io.WriteString(conn, "echo "+line)
		}
	}), nil)
	t.Run("upgrade", func(t *testing.T) {
		c := h.dial(t)
		br := bufio.NewReader(c)
		// The first frame comes with the request.
		write(t, c, "GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nfirst\n")
		c.SetReadDeadline(time.Now().Add(waitLong))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%v %v", resp, err)
		}
		for _, want := range []string{"first", "second"} {
			if want == "second" {
				write(t, c, "second\n")
			}
			if line, err := br.ReadString('\n'); line != "echo "+want+"\n" {
				t.Fatalf("read %q (%v), want the echo of %q", line, err, want)
			}
		}
		// The connection is the handler's: no longer tracked for a stop.
		for end := time.Now().Add(waitLong); ; time.Sleep(5 * time.Millisecond) {
			h.m.mu.Lock()
			n := len(h.m.conns)
			h.m.mu.Unlock()
			if n == 0 {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("%d connections still tracked", n)
			}
		}
		write(t, c, "bye\n")
		expectClosed(t, c, br)
	})
	t.Run("not an upgrade", func(t *testing.T) {
		c := h.dial(t)
		br := bufio.NewReader(c)
		write(t, c, get("/plain"))
		if _, body := readResponse(t, c, br, "GET"); body != "still served" {
			t.Fatalf("body %q", body)
		}
		if err := <-hijackErr; err == nil {
			t.Error("a request that is not an upgrade took the connection")
		}
		write(t, c, get("/plain"))
		if _, body := readResponse(t, c, br, "GET"); body != "still served" {
			t.Fatalf("next request: body %q", body)
		}
		<-hijackErr
	})
}

// waitAllClosing waits until shutdown has told each of m's connections to
// stop.
func waitAllClosing(t *testing.T, m *mitm) {
	t.Helper()
	for end := time.Now().Add(waitLong); ; time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		all := true
		for c := range m.conns {
			all = all && c.closingNow()
		}
		m.mu.Unlock()
		if all {
			return
		}
		if time.Now().After(end) {
			t.Fatal("shutdown did not reach every connection")
		}
	}
}

// TestDecryptedShutdown guards mitm.shutdown: an idle connection closes at
// once, an active one finishes its response (which says Connection:
// close) and then closes, a connection arriving later is closed, and when
// ctx ends first every connection closes and shutdown returns ctx's error.
func TestDecryptedShutdown(t *testing.T) {
	newShutdownHarness := func(t *testing.T) (*dcHarness, chan *http.Request, func()) {
		started := make(chan *http.Request, 1)
		release := make(chan struct{})
		h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				started <- r
				<-release // ignores its context: a call being recorded
			}
			io.WriteString(w, r.URL.Path)
		}), nil)
		stop := sync.OnceFunc(func() { close(release) })
		t.Cleanup(stop) // before the harness's stop, when the test failed first
		return h, started, stop
	}
	shutdown := func(m *mitm, ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() { done <- m.shutdown(ctx) }()
		return done
	}
	t.Run("idle and active", func(t *testing.T) {
		h, started, release := newShutdownHarness(t)
		idle := h.dial(t)
		idleBR := bufio.NewReader(idle)
		write(t, idle, get("/idle"))
		readResponse(t, idle, idleBR, "GET")
		active := h.dial(t)
		activeBR := bufio.NewReader(active)
		write(t, active, get("/slow"))
		<-started
		done := shutdown(h.m, context.Background())
		expectClosed(t, idle, idleBR)
		waitAllClosing(t, h.m)
		select {
		case err := <-done:
			t.Fatalf("shutdown returned (%v) before the active response was done", err)
		default:
		}
		late, err := net.Dial("tcp", h.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer late.Close()
		release()
		resp, body := readResponse(t, active, activeBR, "GET")
		if body != "/slow" || !resp.Close {
			t.Errorf("body %q, close %v: want the whole answer, saying Connection: close", body, resp.Close)
		}
		expectClosed(t, active, activeBR)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("shutdown: %v", err)
			}
		case <-time.After(waitLong):
			t.Fatal("shutdown did not return")
		}
		// The TLS handshake of a connection after the stop fails.
		lc := tls.Client(late, &tls.Config{ServerName: "127.0.0.1", RootCAs: h.pki.rootPool})
		lc.SetDeadline(time.Now().Add(waitLong))
		if err := lc.Handshake(); err == nil {
			t.Error("a connection after the stop was served")
		}
	})
	t.Run("context ends", func(t *testing.T) {
		h, started, release := newShutdownHarness(t)
		defer release()
		active := h.dial(t)
		activeBR := bufio.NewReader(active)
		write(t, active, get("/slow"))
		<-started
		ctx, cancel := context.WithCancel(context.Background())
		done := shutdown(h.m, ctx)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("shutdown: %v, want context.Canceled", err)
			}
		case <-time.After(waitLong):
			t.Fatal("shutdown did not return")
		}
		if rest := closedErr(t, active, activeBR); rest != "" {
			t.Errorf("answered %q", rest)
		}
	})
}

// TestDecryptedResponseFraming guards the framing of answers: a length
// given or worked out for a small answer, chunks for a long one without,
// none for HEAD, 204 and 304, a 103 before the answer, and a connection
// that closes after an answer shorter than its Content-Length (the client
// must not take the next bytes for the rest).
func TestDecryptedResponseFraming(t *testing.T) {
	long := strings.Repeat("l", 3*preBodyBytes)
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			io.WriteString(w, "small")
		case "/long":
			io.WriteString(w, long)
		case "/length":
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "len")
			w.(http.Flusher).Flush()
			io.WriteString(w, "gth")
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "short")
		case "/over":
			w.Header().Set("Content-Length", "2")
			if _, err := io.WriteString(w, "over"); !errors.Is(err, http.ErrContentLength) {
				t.Errorf("a write past Content-Length: %v", err)
			}
			io.WriteString(w, "ov")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
			if _, err := io.WriteString(w, "x"); !errors.Is(err, http.ErrBodyNotAllowed) {
				t.Errorf("a write to a 204: %v", err)
			}
		case "/304":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotModified)
		case "/103":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "hinted")
		default:
			io.WriteString(w, "head")
		}
	}), nil)
	tests := []struct {
		method, path string
		status       int
		body         string
		length       int64 // -1: chunked
		closes       bool
	}{
		{"GET", "/small", 200, "small", 5, false},
		{"GET", "/long", 200, long, -1, false},
		{"GET", "/length", 200, "length", 6, false},
		{"GET", "/over", 200, "ov", 2, false},
		// No length: the handler's 4 bytes are not sent, nor counted
		// (net/http's server would say Content-Length: 4).
		{"HEAD", "/head", 200, "", -1, false},
		{"HEAD", "/long", 200, "", -1, false},
		{"GET", "/204", 204, "", 0, false},
		{"GET", "/304", 304, "", 0, false},
		{"GET", "/103", 200, "hinted", 6, false},
		{"GET", "/short", 200, "", 10, true},
	}
	c := h.dial(t)
	br := bufio.NewReader(c)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			if c == nil {
				t.Skip("the connection closed")
			}
			write(t, c, tt.method+" "+tt.path+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(waitLong))
			resp, err := http.ReadResponse(br, &http.Request{Method: tt.method})
			if err != nil {
				t.Fatal(err)
			}
			if tt.path == "/103" {
				// http.ReadResponse returns the 1xx; the final answer
				// follows it.
				if resp.StatusCode != http.StatusEarlyHints || resp.Header.Get("Link") == "" {
					t.Fatalf("first answer %d %v, want a 103 with its Link", resp.StatusCode, resp.Header)
				}
				resp, err = http.ReadResponse(br, &http.Request{Method: tt.method})
				if err != nil {
					t.Fatal(err)
				}
			}
			b, err := io.ReadAll(resp.Body)
			if tt.closes {
				if err == nil {
					t.Errorf("read %q whole, want a cut", b)
				}
				expectClosed(t, c, br)
				c = nil
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || string(b) != tt.body || resp.ContentLength != tt.length || resp.Close {
				t.Errorf("status %d, body %.40q, length %d, close %v; want %d, %.40q, %d", resp.StatusCode, b, resp.ContentLength, resp.Close, tt.status, tt.body, tt.length)
			}
			if tt.status == 304 && resp.Header.Get("Content-Type") != "" {
				t.Error("a 304 with a Content-Type")
			}
			if resp.Header.Get("Date") == "" {
				t.Error("no Date")
			}
		})
	}
}

// TestDecryptedFullDuplex guards a handler that enables full duplex: it
// answers while it reads the body, piece by piece, the client sending
// each piece only once it has the answer to the one before.
func TestDecryptedFullDuplex(t *testing.T) {
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		rc.Flush()
		br := bufio.NewReader(r.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			io.WriteString(w, "echo "+line)
			rc.Flush()
		}
	}), nil)
	c := h.dial(t)
	br := bufio.NewReader(c)
	write(t, c, "POST /duplex HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(waitLong))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bufio.NewReader(resp.Body)
	for _, piece := range []string{"one\n", "two\n", "three\n"} {
		write(t, c, fmt.Sprintf("%x\r\n%s\r\n", len(piece), piece))
		if line, err := body.ReadString('\n'); line != "echo "+piece {
			t.Fatalf("read %q (%v), want the echo of %q", line, err, piece)
		}
	}
	write(t, c, "0\r\n\r\n")
	if rest, err := io.ReadAll(body); err != nil || len(rest) != 0 {
		t.Fatalf("after the last echo: %q, %v", rest, err)
	}
	write(t, c, get("/next"))
	if resp, _ := readResponse(t, c, br, "GET"); resp.StatusCode != 200 {
		t.Fatalf("next request: status %d", resp.StatusCode)
	}
}

// TestDecryptedCloseWithUnreadBody guards an answer to a client that is
// still sending a body nobody reads, on a connection that closes after
// the answer: the client gets the whole answer, not a reset.
func TestDecryptedCloseWithUnreadBody(t *testing.T) {
	h := newDCHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "refused")
	}), nil)
	tests := []struct{ name, head string }{
		{"Connection: close", "POST /a HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n"},
		{"HTTP/1.0", "POST /a HTTP/1.0\r\n"},
		{"kept alive", "POST /a HTTP/1.1\r\nHost: example.com\r\n"},
	}
	const size = 8 << 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.dial(t)
			br := bufio.NewReader(c)
			go func() {
				c.SetWriteDeadline(time.Now().Add(waitLong))
				io.WriteString(c, tt.head+fmt.Sprintf("Content-Length: %d\r\n\r\n", size))
				chunk := strings.Repeat("u", 64<<10)
				for range size / len(chunk) {
					if _, err := io.WriteString(c, chunk); err != nil {
						return
					}
				}
			}()
			c.SetReadDeadline(time.Now().Add(waitLong))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "refused" {
				t.Fatalf("body %q, %v", b, err)
			}
			if !resp.Close {
				t.Error("the answer does not say Connection: close")
			}
		})
	}
}

// TestForwardDecryptedClientLeavesSlowCall guards the client-gone watch
// end to end: a client that leaves a decrypted connection while a
// non-streamed call waits on the provider is noticed at once (not when
// the answer comes), and the call is recorded as client_cancelled.
func TestForwardDecryptedClientLeavesSlowCall(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	left := make(chan struct{}, 1)
	h := newFwdHarness(t, fwdConfig{
		upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			arrived <- struct{}{}
			<-release // a slow provider
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
		}),
		options: func(o *Options) { o.onClientLeft = func() { left <- struct{}{} } },
	})
	answer := sync.OnceFunc(func() { close(release) })
	t.Cleanup(answer) // before the harness's stop, when the test failed first
	tc := h.mitmConn(t, hostOpenAI)
	req, _ := http.NewRequest("POST", "https://"+hostOpenAI+calls[0].path, strings.NewReader(calls[0].body))
	req.Header.Set("Authorization", auth)
	if err := req.Write(tc); err != nil {
		t.Fatal(err)
	}
	<-arrived
	tc.Close()
	select {
	case <-left:
	case <-time.After(waitLong):
		t.Fatal("the client's leaving was not noticed")
	}
	answer()
	if r := h.record(t); r.Outcome != ledger.OutcomeClientCancelled || r.Mode != ledger.ModeForward {
		t.Errorf("record %+v, want a forward-mode client_cancelled", r)
	}
}

// FuzzDecryptedConn sends any bytes on a decrypted connection, then ends
// the client's side: the connection must end (no read or handler left
// waiting on a client that has gone), and whatever came back must be
// HTTP/1.1 responses. The harness's cleanup checks that no goroutine of a
// connection outlives the run.
//
//	go test -run '^$' -fuzz FuzzDecryptedConn ./intercept
func FuzzDecryptedConn(f *testing.F) {
	for _, seed := range []string{
		get("/1") + get("/2"),
		"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 50\r\n\r\nshort",
		"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
		"POST / HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
		"HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: example.com\r\nX-Oops\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\nHost: example.com\r\n",
		"\x16\x03\x01 hello",
	} {
		f.Add([]byte(seed))
	}
	h := newDCHarness(f, echoBody, func(m *mitm) { m.readHeaderTimeout, m.idleTimeout = 2*time.Second, 2*time.Second })
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := h.dial(t)
		go func() {
			c.SetWriteDeadline(time.Now().Add(waitLong))
			c.Write(raw)
			c.CloseWrite()
		}()
		c.SetReadDeadline(time.Now().Add(waitLong))
		back, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the connection did not end after the client's side did (%d bytes back)", len(back))
		}
		if len(back) > 0 && !strings.HasPrefix(string(back), "HTTP/1.1 ") {
			t.Errorf("answered %q", back)
		}
	})
}
