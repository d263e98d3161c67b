package intercept

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h1Dialer opens the client's loopback connections and counts them: a
// count that does not grow is a connection reused.
type h1Dialer struct {
	n    atomic.Int32
	to   string                      // when set, every dial goes here (a fake under a real host name)
	wrap func(*net.TCPConn) net.Conn // when set, replaces each connection
}

func (d *h1Dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.to != "" {
		addr = d.to
	}
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.n.Add(1)
	if d.wrap != nil {
		return d.wrap(conn.(*net.TCPConn)), nil
	}
	return conn, nil
}

func (d *h1Dialer) dials() int { return int(d.n.Load()) }

// newH1TestClient builds the client as server.go does, on d.
func newH1TestClient(t testing.TB, up Upstream, d *h1Dialer) *h1Client {
	t.Helper()
	tm, err := Timeouts{}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	c := newH1Client(newTransport(tm, up, d.dial), tm, up, d.dial)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// h1Fake is a hand-written HTTP/1.1 server, so that a test decides every
// byte of the answer and when the connection closes.
type h1Fake struct {
	ln      net.Listener
	url     string // scheme://127.0.0.1:port, as the client keys its pool
	tlsConf *tls.Config
	wrapRaw func(net.Conn) net.Conn
	respond func(c net.Conn, s *h1Seen) bool // false: close the connection
	ended   chan int                         // a connection whose client side ended (its index)
	done    chan struct{}                    // closed at cleanup: respond stops waiting
	wg      sync.WaitGroup

	mu    sync.Mutex
	seen  []*h1Seen
	conns []net.Conn
}

// h1Seen is one request as the fake read it.
type h1Seen struct {
	conn int // the fake's connection, numbered from 0 in accept order
	req  *http.Request
	body []byte
	raw  net.Conn // the TCP side, as wrapRaw made it
	done <-chan struct{}
}

func newH1Fake(t testing.TB, tlsConf *tls.Config, respond func(net.Conn, *h1Seen) bool) *h1Fake {
	return newH1FakeWrapped(t, tlsConf, nil, respond)
}

func newH1FakeWrapped(t testing.TB, tlsConf *tls.Config, wrapRaw func(net.Conn) net.Conn, respond func(net.Conn, *h1Seen) bool) *h1Fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	f := &h1Fake{ln: ln, url: scheme + "://" + ln.Addr().String(), tlsConf: tlsConf, wrapRaw: wrapRaw,
		respond: respond, ended: make(chan int, 1024), done: make(chan struct{})}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() {
		close(f.done)
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *h1Fake) accept() {
	defer f.wg.Done()
	for {
		tcp, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		id := len(f.conns)
		f.conns = append(f.conns, tcp)
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(id, tcp)
	}
}

func (f *h1Fake) serve(id int, tcp net.Conn) {
	defer f.wg.Done()
	raw := tcp
	if f.wrapRaw != nil {
		raw = f.wrapRaw(tcp)
	}
	c := raw
	if f.tlsConf != nil {
		c = tls.Server(raw, f.tlsConf)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			select {
			case f.ended <- id:
			default:
			}
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return // a request cut short is not one the fake saw
		}
		s := &h1Seen{conn: id, req: req, body: body, raw: raw, done: f.done}
		f.mu.Lock()
		f.seen = append(f.seen, s)
		f.mu.Unlock()
		if !f.respond(c, s) {
			return
		}
	}
}

func (f *h1Fake) requests() []*h1Seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*h1Seen(nil), f.seen...)
}

// count is how many requests the fake read for path.
func (f *h1Fake) count(path string) int {
	n := 0
	for _, s := range f.requests() {
		if s.req.URL.Path == path {
			n++
		}
	}
	return n
}

// waitEnded waits for the client to end one of the fake's connections.
func (f *h1Fake) waitEnded(t *testing.T) int {
	t.Helper()
	select {
	case id := <-f.ended:
		return id
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not close a connection within 5 s")
		return -1
	}
}

// h1Reply answers every request with raw and keeps the connection.
func h1Reply(raw string) func(net.Conn, *h1Seen) bool {
	return func(c net.Conn, _ *h1Seen) bool {
		_, err := io.WriteString(c, raw)
		return err == nil
	}
}

func h1OK(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func h1Req(t testing.TB, ctx context.Context, method, u string, body []byte) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// h1Call sends req through c, which must serve it itself (not hand it to
// the Transport), and returns the response with its body read whole.
func h1Call(t testing.TB, c *h1Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	if !c.serves(req) {
		t.Fatalf("%s %s: handed to the Transport", req.Method, req.URL)
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

func h1Get(t testing.TB, c *h1Client, u string) string {
	t.Helper()
	_, body := h1Call(t, c, h1Req(t, context.Background(), "GET", u, nil))
	return body
}

// h1Concurrent makes n GETs of u at once, each read to its end.
func h1Concurrent(t *testing.T, c *h1Client, u string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", u, nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Error(err)
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func (c *h1Client) idleCount(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle[key])
}

// idleRaw is the TCP connection under the only pooled connection to key.
func (c *h1Client) idleRaw(t *testing.T, key string) net.Conn {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle[key]) != 1 {
		t.Fatalf("%d idle connections to %s, want 1", len(c.idle[key]), key)
	}
	return c.idle[key][0].raw
}

// h1TLS is a server configuration with testPKI's certificate, and the
// Upstream that trusts it.
func h1TLS(t testing.TB) (*tls.Config, Upstream) {
	pki := newTestPKI(t)
	return &tls.Config{Certificates: []tls.Certificate{pki.server}}, Upstream{RootCAs: pki.rootPool}
}

func TestH1ClientReusesConnection(t *testing.T) {
	t.Run("sequential", func(t *testing.T) {
		f := newH1Fake(t, nil, h1Reply(h1OK("hello")))
		d := &h1Dialer{}
		c := newH1TestClient(t, Upstream{}, d)
		for i := range 5 {
			if got := h1Get(t, c, f.url+"/x"); got != "hello" {
				t.Fatalf("call %d: body %q", i, got)
			}
		}
		if d.dials() != 1 {
			t.Errorf("5 sequential calls dialled %d times, want 1", d.dials())
		}
	})
	t.Run("tls under a host name", func(t *testing.T) {
		srv, up := h1TLS(t)
		var names sync.Map
		f := newH1Fake(t, srv, func(c net.Conn, s *h1Seen) bool {
			names.Store(c.(*tls.Conn).ConnectionState().ServerName, true)
			return h1Reply(h1OK("secure"))(c, s)
		})
		d := &h1Dialer{to: f.ln.Addr().String()}
		c := newH1TestClient(t, up, d)
		u := "https://" + hostOpenAI + ":" + strconv.Itoa(f.ln.Addr().(*net.TCPAddr).Port) + "/v1"
		for range 3 {
			if got := h1Get(t, c, u); got != "secure" {
				t.Fatalf("body %q", got)
			}
		}
		if d.dials() != 1 {
			t.Errorf("3 sequential TLS calls dialled %d times, want 1", d.dials())
		}
		if _, ok := names.Load(hostOpenAI); !ok {
			t.Errorf("the server was not asked for %s by SNI", hostOpenAI)
		}
	})
	t.Run("concurrent then sequential", func(t *testing.T) {
		const n = 8
		// The fake answers only once all n calls have arrived, so the
		// client has to hold n connections at once.
		var arrived atomic.Int32
		all := make(chan struct{})
		f := newH1Fake(t, nil, func(c net.Conn, s *h1Seen) bool {
			if arrived.Add(1) == n {
				close(all)
			}
			select {
			case <-all:
			case <-s.done:
				return false
			}
			return h1Reply(h1OK("ok"))(c, s)
		})
		d := &h1Dialer{}
		c := newH1TestClient(t, Upstream{}, d)
		h1Concurrent(t, c, f.url, n)
		if got := c.idleCount(f.url); got != n {
			t.Errorf("%d connections pooled after %d concurrent calls, want %d", got, n, n)
		}
		for range 2 * n {
			h1Get(t, c, f.url)
		}
		if d.dials() != n {
			t.Errorf("dialled %d times, want %d: the pooled connections were not reused", d.dials(), n)
		}
	})
}

func TestH1ClientBodyFraming(t *testing.T) {
	const body = "The quick brown fox jumps over the lazy dog"
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"4\r\nThe \r\n6;ext=1\r\nquick \r\n21\r\nbrown fox jumps over the lazy dog\r\n0\r\n\r\n"
	cases := []struct {
		name  string
		resp  string
		close bool // the fake closes the connection after resp
		read  int  // bytes read before Close; -1: to EOF
		reuse bool
	}{
		{"content-length to EOF", h1OK(body), false, -1, true},
		{"chunked to EOF", chunked, false, -1, true},
		{"chunked with trailer to EOF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n" +
			"2b\r\n" + body + "\r\n0\r\nX-T: v\r\n\r\n", false, -1, true},
		{"HTTP/1.0 keep-alive with length", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 43\r\n\r\n" + body, false, -1, true},
		{"content-length closed early", h1OK(body), false, 5, false},
		{"chunked closed early", chunked, false, 5, false},
		{"content-length with Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 43\r\n\r\n" + body, true, -1, false},
		// The server keeps these open: only the header says not to reuse.
		{"Connection: close, left open", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 43\r\n\r\n" + body, false, -1, false},
		{"HTTP/1.0 with length, left open", "HTTP/1.0 200 OK\r\nContent-Length: 43\r\n\r\n" + body, false, -1, false},
		{"HTTP/1.1 close-delimited, Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body, true, -1, false},
		{"HTTP/1.1 close-delimited, no Connection", "HTTP/1.1 200 OK\r\n\r\n" + body, true, -1, false},
		{"HTTP/1.0 close-delimited", "HTTP/1.0 200 OK\r\n\r\n" + body, true, -1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newH1Fake(t, nil, func(c net.Conn, _ *h1Seen) bool {
				_, err := io.WriteString(c, tc.resp)
				return err == nil && !tc.close
			})
			d := &h1Dialer{}
			c := newH1TestClient(t, Upstream{}, d)
			for i := range 2 {
				req := h1Req(t, context.Background(), "GET", f.url, nil)
				if !c.serves(req) {
					t.Fatal("handed to the Transport")
				}
				resp, err := c.RoundTrip(req)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if tc.read < 0 {
					b, err := io.ReadAll(resp.Body)
					if err != nil || string(b) != body {
						t.Fatalf("call %d: body %q, %v; want %q", i, b, err, body)
					}
				} else {
					b := make([]byte, tc.read)
					if _, err := io.ReadFull(resp.Body, b); err != nil || string(b) != body[:tc.read] {
						t.Fatalf("call %d: first bytes %q, %v", i, b, err)
					}
				}
				resp.Body.Close()
				if strings.Contains(tc.name, "trailer") && resp.Trailer.Get("X-T") != "v" {
					t.Errorf("trailer %v", resp.Trailer)
				}
			}
			want := 2
			if tc.reuse {
				want = 1
			}
			if d.dials() != want {
				t.Errorf("2 calls dialled %d times, want %d", d.dials(), want)
			}
		})
	}
}

// h1WriteSplit writes b in pieces of the sizes next gives, pausing now
// and then so that the pieces reach the client as separate reads.
func h1WriteSplit(c net.Conn, b []byte, next func() int) error {
	for i := 0; len(b) > 0; i++ {
		n := min(next(), len(b))
		if _, err := c.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		if i%16 == 0 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	return nil
}

// h1Chunked frames body as chunks of the sizes next gives.
func h1Chunked(body []byte, next func() int) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		n := min(next(), len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

func TestH1ClientSplitWrites(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	body := make([]byte, 2000)
	for i := range body {
		body[i] = byte('a' + rng.IntN(26))
	}
	one := func() int { return 1 }
	var mu sync.Mutex // rng is shared by the fake's goroutines
	random := func() int { mu.Lock(); defer mu.Unlock(); return 1 + rng.IntN(64) }
	cl := append([]byte("HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...)
	cases := []struct {
		name   string
		tls    bool
		resp   func() []byte
		pieces func() int
	}{
		{"content-length, 1-byte writes", false, func() []byte { return cl }, one},
		{"content-length, random writes", false, func() []byte { return cl }, random},
		{"chunked random sizes, 1-byte writes", false, func() []byte {
			return append([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), h1Chunked(body, random)...)
		}, one},
		{"chunked random sizes, random writes", false, func() []byte {
			return append([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), h1Chunked(body, random)...)
		}, random},
		{"tls, content-length, 1-byte records", true, func() []byte { return cl }, one},
		{"tls, chunked, random records", true, func() []byte {
			return append([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), h1Chunked(body, random)...)
		}, random},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var srv *tls.Config
			var up Upstream
			if tc.tls {
				srv, up = h1TLS(t)
			}
			f := newH1Fake(t, srv, func(c net.Conn, _ *h1Seen) bool {
				return h1WriteSplit(c, tc.resp(), tc.pieces) == nil
			})
			d := &h1Dialer{}
			c := newH1TestClient(t, up, d)
			for i := range 2 {
				if got := h1Get(t, c, f.url); got != string(body) {
					t.Fatalf("call %d: body of %d bytes differs from the %d sent", i, len(got), len(body))
				}
			}
			if d.dials() != 1 {
				t.Errorf("2 calls dialled %d times, want 1", d.dials())
			}
		})
	}
}

func TestH1ClientNoBodyResponsesReuse(t *testing.T) {
	cases := []struct {
		name, method, resp string
	}{
		{"HEAD with a length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"},
		{"HEAD chunked", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"204", "DELETE", "HTTP/1.1 204 No Content\r\n\r\n"},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"},
		{"Content-Length: 0", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newH1Fake(t, nil, h1Reply(tc.resp))
			d := &h1Dialer{}
			c := newH1TestClient(t, Upstream{}, d)
			for i := range 3 {
				req := h1Req(t, context.Background(), tc.method, f.url, nil)
				if !c.serves(req) {
					t.Fatal("handed to the Transport")
				}
				resp, err := c.RoundTrip(req)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				resp.Body.Close()
			}
			if d.dials() != 1 {
				t.Errorf("3 calls dialled %d times, want 1", d.dials())
			}
			if n := len(f.requests()); n != 3 {
				t.Errorf("the server saw %d requests, want 3", n)
			}
		})
	}
}

func TestH1ClientServerClosesIdle(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			var srv *tls.Config
			var up Upstream
			if useTLS {
				srv, up = h1TLS(t)
			}
			// The fake answers with a response that allows reuse, then
			// closes: the client pools a connection that is dead.
			f := newH1Fake(t, srv, func(c net.Conn, s *h1Seen) bool {
				io.WriteString(c, h1OK(s.req.URL.Path))
				return false
			})
			d := &h1Dialer{}
			c := newH1TestClient(t, up, d)
			if got := h1Get(t, c, f.url+"/1"); got != "/1" {
				t.Fatalf("body %q", got)
			}
			raw := c.idleRaw(t, f.url)
			pollUntil(t, "the server's close to reach the client", func() bool { return !connAlive(raw) })
			if got := h1Get(t, c, f.url+"/2"); got != "/2" {
				t.Fatalf("second call: body %q", got)
			}
			if d.dials() != 2 {
				t.Errorf("dialled %d times, want 2", d.dials())
			}
			if n := f.count("/2"); n != 1 {
				t.Errorf("the server saw the second request %d times, want 1", n)
			}
		})
	}
}

// h1HoldConn gathers what is written while held and sends it in one write
// when released: several TLS records in one TCP segment.
type h1HoldConn struct {
	net.Conn
	held bool
	buf  []byte
}

func (h *h1HoldConn) Write(p []byte) (int, error) {
	if h.held {
		h.buf = append(h.buf, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

func (h *h1HoldConn) release() error {
	h.held = false
	_, err := h.Conn.Write(h.buf)
	h.buf = nil
	return err
}

func TestH1ClientUnsolicitedBytes(t *testing.T) {
	// The extra bytes are a response of their own: a client that reused
	// the connection would take it for the next call's.
	const evil = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"
	cases := []struct {
		name  string
		tls   bool
		later bool // sent once the client has read the response, not with it
		hold  bool // TLS: the response and the extra bytes in separate records of one segment
	}{
		{name: "same write"},
		{name: "later write", later: true},
		{name: "tls, same record", tls: true},
		{name: "tls, later record", tls: true, later: true},
		{name: "tls, separate records in one segment", tls: true, hold: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var srv *tls.Config
			var up Upstream
			if tc.tls {
				srv, up = h1TLS(t)
			}
			read := make(chan struct{}, 1)
			var wrap func(net.Conn) net.Conn
			if tc.hold {
				wrap = func(c net.Conn) net.Conn { return &h1HoldConn{Conn: c} }
			}
			f := newH1FakeWrapped(t, srv, wrap, func(c net.Conn, s *h1Seen) bool {
				resp := h1OK(s.req.URL.Path)
				if s.req.URL.Path != "/1" {
					return h1Reply(resp)(c, s)
				}
				switch {
				case tc.hold:
					hc := s.raw.(*h1HoldConn)
					hc.held = true
					io.WriteString(c, resp)
					io.WriteString(c, evil)
					hc.release()
				case tc.later:
					io.WriteString(c, resp)
					select {
					case <-read:
					case <-s.done:
						return false
					}
					io.WriteString(c, evil)
				default:
					io.WriteString(c, resp+evil)
				}
				return true
			})
			d := &h1Dialer{}
			c := newH1TestClient(t, up, d)
			if got := h1Get(t, c, f.url+"/1"); got != "/1" {
				t.Fatalf("body %q", got)
			}
			if tc.later {
				raw := c.idleRaw(t, f.url)
				read <- struct{}{}
				pollUntil(t, "the extra bytes to reach the client", func() bool { return !connAlive(raw) })
			}
			req := h1Req(t, context.Background(), "GET", f.url+"/2", nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatalf("second call: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "/2" {
				t.Errorf("second call got body %q, want %q: it read the unsolicited bytes as its response", b, "/2")
			}
			if d.dials() != 2 {
				t.Errorf("dialled %d times, want 2: the connection with unsolicited bytes was reused", d.dials())
			}
		})
	}
}

// h1FailConn fails its writes on demand. It embeds *net.TCPConn so that
// connAlive still sees a TCP connection (syscall.Conn) and finds it open.
type h1FailConn struct {
	*net.TCPConn
	mode atomic.Int32 // h1WriteOK, h1WriteNothing or h1WriteHalf
}

const (
	h1WriteOK      = iota
	h1WriteNothing // fail with no byte written
	h1WriteHalf    // write half, then fail
)

var errH1Write = errors.New("injected write failure")

func (c *h1FailConn) Write(p []byte) (int, error) {
	switch c.mode.Load() {
	case h1WriteNothing:
		return 0, errH1Write
	case h1WriteHalf:
		n, _ := c.TCPConn.Write(p[:len(p)/2])
		return n, errH1Write
	}
	return c.TCPConn.Write(p)
}

// h1FailDialer makes every connection an h1FailConn, starting in the mode
// first gives for its index.
func h1FailDialer(first func(i int) int32) (*h1Dialer, func() []*h1FailConn) {
	var mu sync.Mutex
	var conns []*h1FailConn
	d := &h1Dialer{wrap: func(c *net.TCPConn) net.Conn {
		mu.Lock()
		defer mu.Unlock()
		fc := &h1FailConn{TCPConn: c}
		fc.mode.Store(first(len(conns)))
		conns = append(conns, fc)
		return fc
	}}
	return d, func() []*h1FailConn {
		mu.Lock()
		defer mu.Unlock()
		return append([]*h1FailConn(nil), conns...)
	}
}

func h1Echo(c net.Conn, s *h1Seen) bool {
	_, err := io.WriteString(c, h1OK(s.req.URL.Path+":"+string(s.body)))
	return err == nil
}

func TestH1ClientRetry(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 200)
	t.Run("reused, nothing written: retried on a new connection", func(t *testing.T) {
		f := newH1Fake(t, nil, h1Echo)
		d, conns := h1FailDialer(func(int) int32 { return h1WriteOK })
		c := newH1TestClient(t, Upstream{}, d)
		h1Get(t, c, f.url+"/1")
		conns()[0].mode.Store(h1WriteNothing)
		resp, body := h1Call(t, c, h1Req(t, context.Background(), "POST", f.url+"/2", payload))
		if resp.StatusCode != 200 || body != "/2:"+string(payload) {
			t.Fatalf("retried call: %d, body of %d bytes", resp.StatusCode, len(body))
		}
		if d.dials() != 2 {
			t.Errorf("dialled %d times, want 2", d.dials())
		}
		for _, s := range f.requests() {
			if s.req.URL.Path == "/2" && (s.conn != 1 || !bytes.Equal(s.body, payload)) {
				t.Errorf("the retry came on connection %d with %d body bytes", s.conn, len(s.body))
			}
		}
		if n := f.count("/2"); n != 1 {
			t.Errorf("the server saw the request %d times, want 1", n)
		}
	})
	t.Run("reused, partly written: not retried", func(t *testing.T) {
		f := newH1Fake(t, nil, h1Echo)
		d, conns := h1FailDialer(func(int) int32 { return h1WriteOK })
		c := newH1TestClient(t, Upstream{}, d)
		// After a write cut part way the client waits for an early answer:
		// the connection here stays open, so only the header timeout ends
		// that wait.
		c.headerTimeout = 200 * time.Millisecond
		h1Get(t, c, f.url+"/1")
		conns()[0].mode.Store(h1WriteHalf)
		resp, err := c.RoundTrip(h1Req(t, context.Background(), "POST", f.url+"/2", payload))
		if err == nil {
			resp.Body.Close()
			t.Fatal("a request cut mid-write succeeded")
		}
		if !errors.Is(err, errH1Write) {
			t.Errorf("error %v, want the write's", err)
		}
		if d.dials() != 1 {
			t.Errorf("dialled %d times, want 1: a request partly sent was sent again", d.dials())
		}
		if n := f.count("/2"); n > 1 {
			t.Errorf("the server saw the request %d times", n)
		}
	})
	t.Run("new connection, nothing written: not retried", func(t *testing.T) {
		f := newH1Fake(t, nil, h1Echo)
		d, _ := h1FailDialer(func(i int) int32 {
			if i == 0 {
				return h1WriteNothing
			}
			return h1WriteOK
		})
		c := newH1TestClient(t, Upstream{}, d)
		_, err := c.RoundTrip(h1Req(t, context.Background(), "POST", f.url+"/1", payload))
		if !errors.Is(err, errH1Write) {
			t.Errorf("error %v, want the write's", err)
		}
		if d.dials() != 1 {
			t.Errorf("dialled %d times, want 1: a new connection's failure is the request's", d.dials())
		}
	})
	t.Run("two stale pooled connections: the retry takes a new one", func(t *testing.T) {
		// The doc: "retried once on a new connection". Another pooled
		// connection is not a new one: it may have died the same way (a
		// server restart ends them all).
		var arrived atomic.Int32
		both := make(chan struct{})
		f := newH1Fake(t, nil, func(c net.Conn, s *h1Seen) bool {
			if s.req.URL.Path == "/warm" {
				if arrived.Add(1) == 2 {
					close(both)
				}
				select {
				case <-both:
				case <-s.done:
					return false
				}
			}
			return h1Echo(c, s)
		})
		d, conns := h1FailDialer(func(int) int32 { return h1WriteOK })
		c := newH1TestClient(t, Upstream{}, d)
		h1Concurrent(t, c, f.url+"/warm", 2)
		if n := c.idleCount(f.url); n != 2 {
			t.Fatalf("%d pooled connections, want 2", n)
		}
		for _, fc := range conns() {
			fc.mode.Store(h1WriteNothing)
		}
		resp, err := c.RoundTrip(h1Req(t, context.Background(), "POST", f.url+"/2", payload))
		if err != nil {
			t.Fatalf("retried call failed: %v (dials: %d; the retry took the other stale pooled connection)", err, d.dials())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "/2:"+string(payload) {
			t.Errorf("body of %d bytes", len(b))
		}
	})
}

func h1Gzip(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	zw.Close()
	return b.Bytes()
}

func TestH1ClientGzip(t *testing.T) {
	plain := strings.Repeat("compressible text ", 200)
	gz := h1Gzip(plain)
	cases := []struct {
		name     string
		method   string
		header   http.Header
		chunked  bool
		ce       string // the response's Content-Encoding
		wantWire string // Accept-Encoding on the wire
		decoded  bool
	}{
		{name: "added, content-length", method: "GET", ce: "gzip", wantWire: "gzip", decoded: true},
		{name: "added, chunked", method: "POST", chunked: true, ce: "gzip", wantWire: "gzip", decoded: true},
		{name: "added, GZIP in capitals", method: "GET", ce: "GZIP", wantWire: "gzip", decoded: true},
		{name: "client's own gzip", method: "GET", header: http.Header{"Accept-Encoding": {"gzip"}}, ce: "gzip", wantWire: "gzip"},
		{name: "client's own br, gzip anyway", method: "GET", header: http.Header{"Accept-Encoding": {"br"}}, ce: "gzip", wantWire: "br"},
		{name: "range", method: "GET", header: http.Header{"Range": {"bytes=0-"}}, ce: "gzip", wantWire: ""},
		{name: "HEAD", method: "HEAD", ce: "gzip", wantWire: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newH1Fake(t, nil, func(c net.Conn, s *h1Seen) bool {
				var b bytes.Buffer
				fmt.Fprintf(&b, "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n", tc.ce)
				switch {
				case tc.chunked:
					b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
					b.Write(h1Chunked(gz, func() int { return 100 }))
				default:
					fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(gz))
					if s.req.Method != "HEAD" {
						b.Write(gz)
					}
				}
				_, err := c.Write(b.Bytes())
				return err == nil
			})
			d := &h1Dialer{}
			c := newH1TestClient(t, Upstream{}, d)
			for i := range 2 {
				req := h1Req(t, context.Background(), tc.method, f.url, nil)
				for k, v := range tc.header {
					req.Header[k] = v
				}
				before := req.Header.Clone()
				resp, body := h1Call(t, c, req)
				if fmt.Sprint(req.Header) != fmt.Sprint(before) {
					t.Errorf("the request's header changed: %v, was %v", req.Header, before)
				}
				switch {
				case tc.method == "HEAD":
					if body != "" {
						t.Errorf("HEAD body %q", body)
					}
				case tc.decoded:
					if body != plain {
						t.Errorf("decoded body of %d bytes, want %d", len(body), len(plain))
					}
					if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Length") != "" {
						t.Errorf("headers kept: %v", resp.Header)
					}
					if resp.ContentLength != -1 || !resp.Uncompressed {
						t.Errorf("ContentLength %d, Uncompressed %v; want -1, true", resp.ContentLength, resp.Uncompressed)
					}
				default:
					if body != string(gz) {
						t.Errorf("body of %d bytes, want the %d gzip bytes untouched", len(body), len(gz))
					}
					if resp.Header.Get("Content-Encoding") != tc.ce || resp.Uncompressed {
						t.Errorf("Content-Encoding %q, Uncompressed %v", resp.Header.Get("Content-Encoding"), resp.Uncompressed)
					}
				}
				s := f.requests()[i]
				if got := s.req.Header.Get("Accept-Encoding"); got != tc.wantWire {
					t.Errorf("Accept-Encoding on the wire %q, want %q", got, tc.wantWire)
				}
			}
			if d.dials() != 1 {
				t.Errorf("2 calls dialled %d times, want 1", d.dials())
			}
		})
	}
}

// TestH1ClientLeavesRequestHeaderAlone checks that the request is not
// modified during RoundTrip either (http.RoundTripper: "RoundTrip should
// not modify the request"): the gzip header is written into the caller's
// map for the length of the write, where a goroutine reading the request
// meanwhile races with it, and two RoundTrips of one request write the map
// concurrently (a fatal error). http.Transport adds it as an extra header.
func TestH1ClientLeavesRequestHeaderAlone(t *testing.T) {
	f := newH1Fake(t, nil, h1Reply(h1OK("ok")))
	var req *http.Request
	var seenDuringWrite []string
	// The write happens on the caller's goroutine: no race in looking.
	d := &h1Dialer{wrap: func(c *net.TCPConn) net.Conn {
		return &h1HookConn{TCPConn: c, onWrite: func([]byte) {
			if v, ok := req.Header["Accept-Encoding"]; ok {
				seenDuringWrite = v
			}
		}}
	}}
	c := newH1TestClient(t, Upstream{}, d)
	req = h1Req(t, context.Background(), "GET", f.url, nil)
	h1Call(t, c, req)
	if seenDuringWrite != nil {
		t.Errorf("the request's header held Accept-Encoding %q while it was written", seenDuringWrite)
	}
	if got := f.requests()[0].req.Header.Get("Accept-Encoding"); got != "gzip" {
		t.Errorf("Accept-Encoding on the wire %q, want gzip", got)
	}
}

// h1HookConn shows each write to onWrite before it is made.
type h1HookConn struct {
	*net.TCPConn
	onWrite func(p []byte)
}

func (c *h1HookConn) Write(p []byte) (int, error) {
	c.onWrite(p)
	return c.TCPConn.Write(p)
}

func TestH1ClientInformational(t *testing.T) {
	hints := "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
	cases := []struct {
		name   string
		prefix string
	}{
		{"100 Continue", "HTTP/1.1 100 Continue\r\n\r\n"},
		{"103 Early Hints", hints},
		{"100 then 103", "HTTP/1.1 100 Continue\r\n\r\n" + hints},
		// No count, as go1.26's Transport keeps none: together they
		// count against the header bound (TestH1ClientHeaderBound).
		{"fifty", strings.Repeat(hints, 50)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newH1Fake(t, nil, h1Reply(tc.prefix+"HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 5\r\n\r\nfinal"))
			d := &h1Dialer{}
			c := newH1TestClient(t, Upstream{}, d)
			for i := range 2 {
				resp, err := c.RoundTrip(h1Req(t, context.Background(), "GET", f.url, nil))
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("X-Final") != "yes" || string(b) != "final" {
					t.Fatalf("call %d: %d %v %q", i, resp.StatusCode, resp.Header, b)
				}
				if resp.Header.Get("Link") != "" {
					t.Errorf("an informational response's header leaked into the final one")
				}
			}
			if d.dials() != 1 {
				t.Errorf("dialled %d times, want 1", d.dials())
			}
		})
	}
}

func TestH1ClientTimeouts(t *testing.T) {
	t.Run("response header", func(t *testing.T) {
		f := newH1Fake(t, nil, func(_ net.Conn, s *h1Seen) bool { <-s.done; return false })
		c := newH1TestClient(t, Upstream{}, &h1Dialer{})
		c.headerTimeout = 100 * time.Millisecond
		// The context only keeps a broken timeout from hanging the test.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.RoundTrip(h1Req(t, ctx, "GET", f.url, nil))
		if err == nil || !isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want the response header timeout", err)
		}
	})
	t.Run("slow body after headers in time", func(t *testing.T) {
		f := newH1Fake(t, nil, func(c net.Conn, s *h1Seen) bool {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
			for _, b := range "abcde" {
				select {
				case <-time.After(60 * time.Millisecond):
				case <-s.done:
					return false
				}
				io.WriteString(c, string(b))
			}
			return true
		})
		c := newH1TestClient(t, Upstream{}, &h1Dialer{})
		c.headerTimeout = 100 * time.Millisecond
		if got := h1Get(t, c, f.url); got != "abcde" {
			t.Errorf("body %q", got)
		}
	})
	t.Run("TLS handshake", func(t *testing.T) {
		// TCP accepted, no TLS spoken back.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			if c, err := ln.Accept(); err == nil {
				accepted <- c
			}
		}()
		_, up := h1TLS(t)
		c := newH1TestClient(t, up, &h1Dialer{})
		c.connectTimeout = 100 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.RoundTrip(h1Req(t, ctx, "GET", "https://"+ln.Addr().String(), nil))
		if err == nil || !isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the TLS handshake timeout", err)
		}
		select {
		case conn := <-accepted:
			conn.Close()
		case <-time.After(5 * time.Second):
		}
	})
}

// A response head without end, whether one huge head or an endless run of
// informational answers, ends at the header bound: the client stops
// reading and closes long before the server runs out of bytes to send.
func TestH1ClientHeaderBound(t *testing.T) {
	hints := "HTTP/1.1 103 Early Hints\r\nLink: </" + strings.Repeat("s", 16<<10) + ">; rel=preload\r\n\r\n"
	for _, tc := range []struct {
		name, first, repeat string
	}{
		{"huge headers", "HTTP/1.1 200 OK\r\n", "X-Big: " + strings.Repeat("b", 64<<10-9) + "\r\n"},
		{"endless 1xx", "", hints},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const limit = 64 << 20
			written := make(chan int64, 1)
			f := newH1Fake(t, nil, func(c net.Conn, _ *h1Seen) bool {
				// Streamed, never built whole, until the client stops reading.
				n, _ := io.WriteString(c, tc.first)
				total := int64(n)
				chunk := []byte(tc.repeat)
				for total < limit {
					n, err := c.Write(chunk)
					total += int64(n)
					if err != nil {
						break
					}
				}
				written <- total
				return false
			})
			c := newH1TestClient(t, Upstream{}, &h1Dialer{})
			_, err := c.RoundTrip(h1Req(t, context.Background(), "GET", f.url, nil))
			if err == nil || !strings.Contains(err.Error(), "exceeded") {
				t.Fatalf("error %v, want the header size bound", err)
			}
			select {
			case n := <-written:
				if n >= limit {
					t.Errorf("the client read all %d bytes", n)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server's writes did not fail: the client did not close")
			}
		})
	}
}

func TestH1ClientContext(t *testing.T) {
	t.Run("cancelled awaiting headers", func(t *testing.T) {
		got := make(chan struct{}, 1)
		f := newH1Fake(t, nil, func(_ net.Conn, s *h1Seen) bool {
			got <- struct{}{}
			<-s.done
			return false
		})
		c := newH1TestClient(t, Upstream{}, &h1Dialer{})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.RoundTrip(h1Req(t, ctx, "GET", f.url, nil))
			errc <- err
		}()
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("no request")
		}
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("RoundTrip did not return after the cancel")
		}
	})
	t.Run("cancelled mid-body", func(t *testing.T) {
		f := newH1Fake(t, nil, func(c net.Conn, s *h1Seen) bool {
			if s.req.URL.Path != "/stall" {
				return h1Reply(h1OK("next"))(c, s)
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
			<-s.done
			return false
		})
		d := &h1Dialer{}
		c := newH1TestClient(t, Upstream{}, d)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := c.RoundTrip(h1Req(t, ctx, "GET", f.url+"/stall", nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(resp.Body)
			errc <- err
		}()
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Read error %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Read did not return after the cancel")
		}
		resp.Body.Close()
		if got := h1Get(t, c, f.url+"/next"); got != "next" {
			t.Errorf("next call: %q", got)
		}
		if d.dials() != 2 {
			t.Errorf("dialled %d times, want 2: the cut connection was reused", d.dials())
		}
	})
	t.Run("cancelled after the body: connection kept", func(t *testing.T) {
		f := newH1Fake(t, nil, h1Reply(h1OK("ok")))
		d := &h1Dialer{}
		c := newH1TestClient(t, Upstream{}, d)
		ctx, cancel := context.WithCancel(context.Background())
		h1Call(t, c, h1Req(t, ctx, "GET", f.url, nil))
		cancel()
		h1Get(t, c, f.url)
		if d.dials() != 1 {
			t.Errorf("dialled %d times, want 1: the end of a finished call's context closed its pooled connection", d.dials())
		}
	})
	t.Run("deadline", func(t *testing.T) {
		f := newH1Fake(t, nil, func(_ net.Conn, s *h1Seen) bool { <-s.done; return false })
		c := newH1TestClient(t, Upstream{}, &h1Dialer{})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.RoundTrip(h1Req(t, ctx, "GET", f.url, nil))
		if !isTimeout(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the deadline", err)
		}
	})
}

func TestH1ClientIdleTimeout(t *testing.T) {
	t.Run("timer", func(t *testing.T) {
		f := newH1Fake(t, nil, h1Reply(h1OK("ok")))
		d := &h1Dialer{}
		c := newH1TestClient(t, Upstream{}, d)
		c.idleTimeout = 20 * time.Millisecond
		h1Get(t, c, f.url)
		if id := f.waitEnded(t); id != 0 {
			t.Errorf("connection %d ended", id)
		}
		pollUntil(t, "the pool to drop the connection", func() bool { return c.idleCount(f.url) == 0 })
		h1Get(t, c, f.url)
		if d.dials() != 2 {
			t.Errorf("dialled %d times, want 2", d.dials())
		}
	})
	t.Run("CloseIdleConnections", func(t *testing.T) {
		f := newH1Fake(t, nil, h1Reply(h1OK("ok")))
		d := &h1Dialer{}
		c := newH1TestClient(t, Upstream{}, d)
		h1Get(t, c, f.url)
		c.CloseIdleConnections()
		f.waitEnded(t)
		if n := c.idleCount(f.url); n != 0 {
			t.Errorf("%d connections still pooled", n)
		}
		h1Get(t, c, f.url)
		if d.dials() != 2 {
			t.Errorf("dialled %d times, want 2", d.dials())
		}
	})
	t.Run("timer racing reuse", func(t *testing.T) {
		// An idle timeout about as long as the gap between calls: the
		// timer fires around the time the connection is taken, which must
		// never cost a call.
		f := newH1Fake(t, nil, h1Reply(h1OK("ok")))
		c := newH1TestClient(t, Upstream{}, &h1Dialer{})
		c.idleTimeout = 50 * time.Microsecond
		for range 100 {
			if got := h1Get(t, c, f.url); got != "ok" {
				t.Fatalf("body %q", got)
			}
		}
	})
}

func TestH1ClientServes(t *testing.T) {
	get := func(u string) func() *http.Request {
		return func() *http.Request { r, _ := http.NewRequest("GET", u, nil); return r }
	}
	with := func(u string, edit func(*http.Request)) func() *http.Request {
		return func() *http.Request { r := get(u)(); edit(r); return r }
	}
	post := func(body io.Reader) func() *http.Request {
		return func() *http.Request { r, _ := http.NewRequest("POST", "http://h/x", body); return r }
	}
	cases := []struct {
		name  string
		req   func() *http.Request
		proxy bool
		want  bool
	}{
		{"GET http", get("http://h/x"), false, true},
		{"GET https with port", get("https://h:8443/x?q=1"), false, true},
		{"POST in-memory body", post(bytes.NewReader([]byte("{}"))), false, true},
		{"POST strings.Reader", post(strings.NewReader("{}")), false, true},
		{"POST empty body", post(bytes.NewReader(nil)), false, true},
		{"POST NoBody", post(http.NoBody), false, true},
		{"streaming body", post(io.MultiReader(strings.NewReader("{}"))), false, false},
		{"unknown length", with("http://h/x", func(r *http.Request) {
			r.Body, r.GetBody, r.ContentLength = io.NopCloser(strings.NewReader("x")), func() (io.ReadCloser, error) { return http.NoBody, nil }, -1
		}), false, false},
		{"Expect", with("http://h/x", func(r *http.Request) { r.Header.Set("Expect", "100-continue") }), false, false},
		{"Upgrade", with("http://h/x", func(r *http.Request) {
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Connection", "Upgrade")
		}), false, false},
		{"Close", with("http://h/x", func(r *http.Request) { r.Close = true }), false, false},
		{"Trailer", with("http://h/x", func(r *http.Request) { r.Trailer = http.Header{"X-T": nil} }), false, false},
		{"ftp", get("ftp://h/x"), false, false},
		{"ws", get("ws://h/x"), false, false},
		{"no host", with("http://h/x", func(r *http.Request) { r.URL.Host = "" }), false, false},
		{"non-ASCII host", with("http://h/x", func(r *http.Request) { r.URL.Host = "bücher.example" }), false, false},
		{"upstream proxy", get("https://h/x"), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := Upstream{}
			if tc.proxy {
				up.Proxy = &url.URL{Scheme: "http", Host: "proxy.example:3128"}
			}
			c := newH1TestClient(t, up, &h1Dialer{})
			if got := c.serves(tc.req()); got != tc.want {
				t.Errorf("serves = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("streaming body goes through the Transport", func(t *testing.T) {
		var got []byte
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = io.ReadAll(r.Body)
			io.WriteString(w, "via transport")
		}))
		defer srv.Close()
		d := &h1Dialer{}
		c := newH1TestClient(t, Upstream{}, d)
		req, _ := http.NewRequest("POST", srv.URL, io.MultiReader(strings.NewReader("streamed")))
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "via transport" || string(got) != "streamed" {
			t.Errorf("response %q, server got %q", b, got)
		}
		if d.dials() != 1 || c.idleCount(srv.URL) != 0 {
			t.Errorf("dials %d, h1 pool %d: want the Transport's one dial and nothing of h1Client's", d.dials(), c.idleCount(srv.URL))
		}
	})
}

func TestH1ClientRequestOnTheWire(t *testing.T) {
	f := newH1Fake(t, nil, h1Reply(h1OK("ok")))
	c := newH1TestClient(t, Upstream{}, &h1Dialer{})
	port := strconv.Itoa(f.ln.Addr().(*net.TCPAddr).Port)

	body := []byte(`{"model":"m"}`)
	req := h1Req(t, context.Background(), "POST", f.url+"/v1/chat?x=1&y=a%20b", body)
	req.Header = http.Header{
		"User-Agent":    {""},
		"Authorization": {"Bearer k"},
		"X-Multi":       {"a", "b"},
		"Content-Type":  {"application/json"},
	}
	h1Call(t, c, req)
	get := h1Req(t, context.Background(), "GET", f.url+"/models", nil)
	get.Host = "api.example.com:8443"
	h1Call(t, c, get)

	seen := f.requests()
	p, g := seen[0].req, seen[1].req
	checks := []struct{ what, got, want string }{
		{"method", p.Method, "POST"},
		{"request-URI", p.RequestURI, "/v1/chat?x=1&y=a%20b"},
		{"Host", p.Host, "127.0.0.1:" + port},
		{"Content-Length", p.Header.Get("Content-Length"), strconv.Itoa(len(body))},
		{"Transfer-Encoding", strings.Join(p.TransferEncoding, ","), ""},
		{"body", string(seen[0].body), string(body)},
		{"Authorization", p.Header.Get("Authorization"), "Bearer k"},
		{"X-Multi", strings.Join(p.Header.Values("X-Multi"), ","), "a,b"},
		{"Content-Type", p.Header.Get("Content-Type"), "application/json"},
		{"User-Agent present", fmt.Sprint(p.Header["User-Agent"] != nil), "false"},
		{"GET method", g.Method, "GET"},
		{"GET Host override", g.Host, "api.example.com:8443"},
		{"GET Content-Length", g.Header.Get("Content-Length"), ""},
		{"GET Transfer-Encoding", strings.Join(g.TransferEncoding, ","), ""},
		{"GET default User-Agent", g.Header.Get("User-Agent"), "Go-http-client/1.1"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: %q, want %q", ck.what, ck.got, ck.want)
		}
	}
	if len(req.Header) != 4 || req.Header.Get("Authorization") != "Bearer k" {
		t.Errorf("the request's header changed: %v", req.Header)
	}
}

// TestH1ClientRejectsMalformedRequests holds h1Client to what the
// Transport does with a request it cannot send as given: an error, not a
// panic, and nothing on the wire.
func TestH1ClientRejectsMalformedRequests(t *testing.T) {
	f := newH1Fake(t, nil, h1Reply(h1OK("ok")))
	u, _ := url.Parse(f.url + "/x")
	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"nil Header", func() *http.Request { return &http.Request{Method: "GET", URL: u} }},
		{"method with CRLF", func() *http.Request {
			return &http.Request{Method: "GET / HTTP/1.1\r\nX-Smuggled: 1\r\n\r\nGET", URL: u, Header: http.Header{}}
		}},
		{"header value with NUL", func() *http.Request {
			return &http.Request{Method: "GET", URL: u, Header: http.Header{"X-A": {"a\x00b"}}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var wire bytes.Buffer
			var conns []net.Conn
			d := &h1Dialer{wrap: func(c *net.TCPConn) net.Conn {
				mu.Lock()
				defer mu.Unlock()
				conns = append(conns, c)
				return &h1HookConn{TCPConn: c, onWrite: func(p []byte) { mu.Lock(); wire.Write(p); mu.Unlock() }}
			}}
			c := newH1TestClient(t, Upstream{}, d)
			if _, err := c.tr.RoundTrip(tc.req()); err == nil {
				t.Fatal("the Transport sent it: the case is wrong")
			}
			err := func() (err error) {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("panic: %v", p)
						t.Errorf("RoundTrip panicked: %v", p)
					}
				}()
				resp, err := c.RoundTrip(tc.req())
				if err == nil {
					resp.Body.Close()
				}
				return err
			}()
			if err == nil {
				t.Errorf("sent without an error")
			}
			mu.Lock()
			defer mu.Unlock()
			if wire.Len() > 0 {
				t.Errorf("written to the server: %q", wire.String())
			}
			for _, c := range conns { // a panic leaves its connection open
				c.Close()
			}
		})
	}
}

func TestH1ClientMaxIdlePerHost(t *testing.T) {
	n := h1MaxIdlePerHost + 20
	var arrived atomic.Int32
	all := make(chan struct{})
	f := newH1Fake(t, nil, func(c net.Conn, s *h1Seen) bool {
		if int(arrived.Add(1)) == n {
			close(all)
		}
		select {
		case <-all:
		case <-s.done:
			return false
		}
		return h1Reply(h1OK("ok"))(c, s)
	})
	d := &h1Dialer{}
	c := newH1TestClient(t, Upstream{}, d)
	start := time.Now()
	h1Concurrent(t, c, f.url, n)
	if got := c.idleCount(f.url); got != h1MaxIdlePerHost {
		t.Errorf("%d connections pooled, want %d", got, h1MaxIdlePerHost)
	}
	for range n - h1MaxIdlePerHost {
		f.waitEnded(t)
	}
	if d.dials() != n {
		t.Errorf("dialled %d, want %d", d.dials(), n)
	}
	t.Logf("%d concurrent calls in %v", n, time.Since(start))
}

// TestH1ClientConcurrentMixed runs calls that end every way at once, for
// the race detector and for the pool's bookkeeping: each call gets its own
// answer, whatever the connection did before.
func TestH1ClientConcurrentMixed(t *testing.T) {
	f := newH1Fake(t, nil, func(c net.Conn, s *h1Seen) bool {
		id := s.req.URL.Query().Get("id")
		var resp string
		switch s.req.URL.Query().Get("f") {
		case "cl":
			resp = h1OK(id)
		case "chunked":
			resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + string(h1Chunked([]byte(id), func() int { return 2 }))
		case "gzip":
			gz := h1Gzip(id)
			resp = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + strconv.Itoa(len(gz)) + "\r\n\r\n" + string(gz)
		case "close":
			io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n"+id)
			return false
		}
		_, err := io.WriteString(c, resp)
		return err == nil
	})
	c := newH1TestClient(t, Upstream{}, &h1Dialer{})
	c.idleTimeout = time.Millisecond
	framings := []string{"cl", "chunked", "gzip", "close"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				id := fmt.Sprintf("call-%d-%d", g, i)
				u := f.url + "/?id=" + id + "&f=" + framings[(g+i)%len(framings)]
				req, _ := http.NewRequest("GET", u, nil)
				resp, err := c.RoundTrip(req)
				if err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				if i%3 == 0 {
					resp.Body.Close() // unread: the connection goes
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != id {
					t.Errorf("%s: body %q, %v", id, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// h1EarlyServer reads each request's head only, then answers with reply
// (if any) and closes with the body unread, which resets the connection.
func h1EarlyServer(t *testing.T, reply string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				io.WriteString(c, reply)
			}
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestH1ClientEarlyAnswer(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 16<<20) // more than loopback buffers hold
	t.Run("answer before the body is read", func(t *testing.T) {
		u := h1EarlyServer(t, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 8\r\n\r\ntoo big!")
		d := &h1Dialer{}
		c := newH1TestClient(t, Upstream{}, d)
		resp, body := h1Call(t, c, h1Req(t, context.Background(), "POST", u, big))
		if resp.StatusCode != 413 || body != "too big!" {
			t.Errorf("%d %q, want the server's 413", resp.StatusCode, body)
		}
		if n := c.idleCount(u); n != 0 {
			t.Errorf("%d connections pooled: one whose request was cut was kept", n)
		}
	})
	t.Run("reset without an answer", func(t *testing.T) {
		u := h1EarlyServer(t, "")
		c := newH1TestClient(t, Upstream{}, &h1Dialer{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.RoundTrip(h1Req(t, ctx, "POST", u, big))
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want the reset's, at once", err)
		}
	})
}

// h1FailingBody gives n bytes, then fails.
type h1FailingBody struct{ n int }

var errH1Body = errors.New("injected body failure")

func (b *h1FailingBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, errH1Body
	}
	k := min(len(p), b.n)
	clear(p[:k])
	b.n -= k
	return k, nil
}

func (b *h1FailingBody) Close() error { return nil }

// TestH1ClientBodyReadError: a request body that fails after some of it
// was sent ends the call at once with the body's error, as the Transport
// does; the connection is alive and its server waits for the rest, so
// waiting for an early answer would wait for the header timeout. (The
// error says the body's, but http.Request's Write wraps it in a type that
// does not unwrap, where the Transport unwraps it.)
func TestH1ClientBodyReadError(t *testing.T) {
	f := newH1Fake(t, nil, h1Reply(h1OK("ok")))
	c := newH1TestClient(t, Upstream{}, &h1Dialer{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req := h1Req(t, ctx, "POST", f.url, nil)
	req.Body = &h1FailingBody{n: 16 << 10}
	req.GetBody = func() (io.ReadCloser, error) { return &h1FailingBody{n: 16 << 10}, nil }
	req.ContentLength = 32 << 10
	_, err := c.RoundTrip(req)
	if err == nil {
		t.Fatal("no error")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("still waiting after 1 s (%v): the client waited for an answer to a request it could not finish", err)
	}
	if !strings.Contains(err.Error(), errH1Body.Error()) {
		t.Errorf("error %v (%T), want the body's", err, err)
	}
}

// A call's request, headers and an in-memory body, reaches the connection
// in one write (one TLS record, one system call), as the Transport sends
// it: http.Request's Write flushes the headers on their own first for a
// body it does not know to be in memory.
func TestH1ClientOneWritePerRequest(t *testing.T) {
	f := newH1Fake(t, nil, h1Echo)
	var writes atomic.Int32
	d := &h1Dialer{wrap: func(c *net.TCPConn) net.Conn {
		return &h1HookConn{TCPConn: c, onWrite: func([]byte) { writes.Add(1) }}
	}}
	c := newH1TestClient(t, Upstream{}, d)
	for i := range 3 {
		writes.Store(0)
		body := bytes.Repeat([]byte("x"), 1000)
		if _, got := h1Call(t, c, h1Req(t, context.Background(), "POST", f.url, body)); len(got) == 0 {
			t.Fatalf("call %d: empty answer", i)
		}
		if n := writes.Load(); n != 1 {
			t.Errorf("call %d: the request took %d writes, want 1", i, n)
		}
	}
}
