package intercept

// The fault-injection suite, part 1: faults between Conduit and the provider
// or the client. Each case runs on loopback, is bounded in time, and says
// what the client must see — what it would have seen without Conduit — and
// what the call's record must say.
//
// Part 2 (bad input) is in fault_input_test.go, the security cases in
// security_test.go, the ledger's faults in ledger/fault_test.go and the
// process-level ones (SIGKILL, SIGTERM, load) in cmd/conduit.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
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

// readAllErr reads a body to its end and returns what arrived and how it
// ended (nil: a clean end).
func readAllErr(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// send makes one request with client and returns the response; the body is
// the caller's to read.
func send(t *testing.T, client *http.Client, method, url string, header http.Header, body string) *http.Response {
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
	return resp
}

// directClient reaches the forward harness's fake provider without Conduit,
// under the real host names, as a client without HTTPS_PROXY would.
func (h *fwdHarness) directClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:    &tls.Config{RootCAs: h.pki.rootPool},
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, h.fakeAddr)
		},
	}}
}

// modeEnv is one way into Conduit for a table case: base-URL or forward.
type modeEnv struct {
	name    string
	direct  func(c testCall) (*http.Client, string) // client and URL without Conduit
	proxied func(c testCall) (*http.Client, string) // client and URL through Conduit
	record  func(t *testing.T) Call
	mode    string
}

func baseURLEnv(h *harness) modeEnv {
	return modeEnv{
		name:    "base-url",
		direct:  func(c testCall) (*http.Client, string) { return rawClient, h.fakeURL + c.path },
		proxied: func(c testCall) (*http.Client, string) { return rawClient, h.proxyURL + "/" + c.provider + c.path },
		record:  h.record,
		mode:    ledger.ModeBaseURL,
	}
}

func forwardEnv(h *fwdHarness) modeEnv {
	direct, proxied := h.directClient(), h.client(h.roots())
	url := func(c testCall) string { return "https://" + providerHost[c.provider] + c.path }
	return modeEnv{
		name:    "forward",
		direct:  func(c testCall) (*http.Client, string) { return direct, url(c) },
		proxied: func(c testCall) (*http.Client, string) { return proxied, url(c) },
		record:  h.record,
		mode:    ledger.ModeForward,
	}
}

// TestFaultUpstreamCutSameForClient guards a provider dying mid-response,
// in every API format and both modes: the client gets the same bytes and
// the same kind of end (a cut, never a clean EOF) as without Conduit, and
// the record is incomplete, keeping the usage that did arrive (Anthropic's
// and Gemini's input counts come before the cut).
func TestFaultUpstreamCutSameForClient(t *testing.T) {
	t.Parallel()
	cut := []struct {
		call      testCall
		provider  string // the route; "" keeps call.provider
		abort     string
		wantUsage bool
	}{
		// "plain" leaves the request as sent, so the direct call is the same call.
		{call: calls[1], provider: "plain", abort: "2"},
		{call: calls[3], abort: "2"},
		{call: calls[6], abort: "2", wantUsage: true},
		{call: calls[8], abort: "2", wantUsage: true},
		{call: calls[9], abort: "2", wantUsage: true},
		{call: calls[11], abort: "2"},
		{call: calls[0], provider: "plain", abort: "40"}, // a JSON body cut after 40 bytes
	}
	bh := newHarness(t, harnessConfig{})
	fh := newFwdHarness(t, fwdConfig{})
	for _, env := range []modeEnv{baseURLEnv(bh), forwardEnv(fh)} {
		for _, tc := range cut {
			c := tc.call
			if env.mode == ledger.ModeForward && providerHost[c.provider] == "" {
				continue // a local model server: base-URL only
			}
			if tc.provider != "" {
				if env.mode == ledger.ModeForward {
					continue // forward mode has no "plain" route: the injected case below covers the host
				}
				c.provider = tc.provider
			}
			t.Run(env.name+"/"+c.name, func(t *testing.T) {
				header := hdr("Authorization", auth, "Content-Type", "application/json", fakeprovider.HeaderAbortAfter, tc.abort)
				client, url := env.direct(c)
				direct, derr := readAllErr(send(t, client, "POST", url, header, c.body))
				client, url = env.proxied(c)
				proxied, perr := readAllErr(send(t, client, "POST", url, header, c.body))
				if derr == nil || perr == nil {
					t.Fatalf("a cut must not look like a clean end: direct err %v, proxied err %v", derr, perr)
				}
				if string(direct) != string(proxied) {
					t.Fatalf("client bytes differ after a cut\ndirect:  %q\nproxied: %q", direct, proxied)
				}
				r := env.record(t)
				if r.Outcome != ledger.OutcomeIncomplete || r.Mode != env.mode || r.Status != 200 {
					t.Errorf("record outcome %q mode %q status %d, want incomplete %s 200", r.Outcome, r.Mode, r.Status, env.mode)
				}
				if tc.wantUsage && (!r.HasUsage || r.InputTokens == 0) {
					t.Errorf("the usage that arrived before the cut was not kept: %+v", r)
				}
				if !strings.Contains(r.Error, "reading the upstream response") {
					t.Errorf("record error %q does not say the response was cut", r.Error)
				}
			})
		}
	}
}

// cutMidEvent is a provider that sends one whole event and half of the
// next, then drops the connection.
func cutMidEvent(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n")
	io.WriteString(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chu")
	http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// TestFaultCutMidEvent guards a cut inside an event, also on a stream whose
// events Conduit filters (the injected stream_options.include_usage): the
// half event the provider sent still reaches the client before the cut,
// exactly as it would without Conduit.
func TestFaultCutMidEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessConfig{upstream: http.HandlerFunc(cutMidEvent)})
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	direct, derr := readAllErr(send(t, rawClient, "POST", h.fakeURL+"/v1/chat/completions", hdr("Authorization", auth), body))
	if derr == nil {
		t.Fatal("test setup: the direct call ended cleanly")
	}
	for _, route := range []string{"plain", "openai"} { // openai injects include_usage and filters events
		t.Run(route, func(t *testing.T) {
			proxied, perr := readAllErr(send(t, rawClient, "POST", h.proxyURL+"/"+route+"/v1/chat/completions", hdr("Authorization", auth), body))
			if perr == nil {
				t.Fatalf("clean end after a cut: %q", proxied)
			}
			if string(proxied) != string(direct) {
				t.Fatalf("client bytes differ\ndirect:  %q\nproxied: %q", direct, proxied)
			}
			if r := h.record(t); r.Outcome != ledger.OutcomeIncomplete {
				t.Errorf("record %+v", r)
			}
		})
	}
}

// blockingStream is a provider that sends Anthropic's message_start (with
// the input count) and then nothing, until its request is cancelled; it
// reports the cancellation on cancelled.
type blockingStream struct {
	started   chan struct{}
	cancelled chan struct{}
}

func newBlockingStream() *blockingStream {
	return &blockingStream{started: make(chan struct{}, 8), cancelled: make(chan struct{}, 8)}
}

func (b *blockingStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":42,\"output_tokens\":1}}}\n\n")
	http.NewResponseController(w).Flush()
	b.started <- struct{}{}
	<-r.Context().Done()
	b.cancelled <- struct{}{}
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10 s", what)
	}
}

// TestFaultClientLeavesDrainBounded guards a client that leaves a stream
// the provider never finishes: Conduit reads on for Timeouts.Drain and no
// longer, then cancels the upstream request, and records the call as
// client_cancelled with the usage that arrived.
func TestFaultClientLeavesDrainBounded(t *testing.T) {
	t.Parallel()
	up := newBlockingStream()
	drain := func(o *Options) { o.Timeouts.Drain = new(100 * time.Millisecond) }
	bh := newHarness(t, harnessConfig{upstream: up, options: drain})
	fh := newFwdHarness(t, fwdConfig{upstream: up, options: drain})
	c := calls[6]
	for _, env := range []modeEnv{baseURLEnv(bh), forwardEnv(fh)} {
		t.Run(env.name, func(t *testing.T) {
			client, url := env.proxied(c)
			resp := send(t, client, "POST", url, hdr("x-api-key", "k"), c.body)
			waitFor(t, up.started, "upstream started")
			if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close() // the client leaves
			if env.mode == ledger.ModeForward {
				client.CloseIdleConnections()
			}
			waitFor(t, up.cancelled, "upstream request cancelled after the drain")
			r := env.record(t)
			if r.Outcome != ledger.OutcomeClientCancelled || !r.HasUsage || r.InputTokens != 42 {
				t.Errorf("record %+v, want client_cancelled with the 42 input tokens", r)
			}
		})
	}
}

// hangUpstream never answers: it reports each request on started and its
// cancellation on cancelled.
type hangUpstream struct {
	started   chan struct{}
	cancelled chan struct{}
}

func newHangUpstream() *hangUpstream {
	return &hangUpstream{started: make(chan struct{}, 8), cancelled: make(chan struct{}, 8)}
}

func (u *hangUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	u.started <- struct{}{}
	<-r.Context().Done()
	u.cancelled <- struct{}{}
}

// TestFaultClientLeavesBeforeHeaders guards a client that gives up while
// the provider has not answered: the upstream request is cancelled after
// the drain, and the call is recorded as client_cancelled (status 499,
// which nobody is sent).
func TestFaultClientLeavesBeforeHeaders(t *testing.T) {
	t.Parallel()
	up := newHangUpstream()
	h := newHarness(t, harnessConfig{upstream: up, options: func(o *Options) { o.Timeouts.Drain = new(50 * time.Millisecond) }})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", h.proxyURL+"/openai/v1/chat/completions", strings.NewReader(calls[0].body))
	req.Header = hdr("Authorization", auth)
	errc := make(chan error, 1)
	go func() {
		resp, err := rawClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, up.started, "upstream request")
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled client got a response")
	}
	waitFor(t, up.cancelled, "upstream request cancelled after the drain")
	r := h.record(t)
	if r.Outcome != ledger.OutcomeClientCancelled || r.Status != statusClientClosed {
		t.Errorf("record %+v", r)
	}
}

// trickleHeaders is a provider that starts its response and then sends its
// headers one byte at a time, forever.
func trickleHeaders(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Slow: "); err != nil {
		return
	}
	for {
		if _, err := conn.Write([]byte("a")); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond) // the trickle itself, not synchronisation
	}
}

// trickleBody is a provider that sends its headers and message_start, then
// one ping event at a time, forever.
func trickleBody(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n")
	rc := http.NewResponseController(w)
	for {
		if _, err := io.WriteString(w, "event: ping\ndata: {\"type\":\"ping\"}\n\n"); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Millisecond): // the trickle's pace
		}
	}
}

// silentTLS accepts TCP connections and never answers, so a TLS handshake
// with it never completes. It returns the https:// URL.
func silentTLS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				<-done
				return
			}
			conns = append(conns, c)
		}
	}()
	return "https://" + ln.Addr().String()
}

// TestFaultUpstreamTimeouts guards a provider that never answers, answers
// too slowly, or trickles: each configured timeout ends the call; before the
// response headers the client gets a 504 in the provider's error shape, after
// them the same cut as any broken stream; the record is upstream_error.
func TestFaultUpstreamTimeouts(t *testing.T) {
	t.Parallel()
	// Short, but with room for a loaded machine: the trickling body's
	// headers must arrive within ResponseHeader for its case to mean much.
	short := Timeouts{Connect: 300 * time.Millisecond, ResponseHeader: time.Second, Total: 1500 * time.Millisecond, Drain: new(time.Duration(0))}
	tests := []struct {
		name     string
		upstream http.Handler // nil: the fake
		url      func(t *testing.T) string
		dial     func(ctx context.Context, network, addr string) (net.Conn, error)
		header   http.Header
		status   int  // what the client gets
		cut      bool // headers arrive, then the body is cut
		errText  string
	}{
		{name: "no answer", header: hdr(fakeprovider.HeaderHang, "1"), status: 504, errText: "did not answer in time"},
		{name: "headers trickle", upstream: http.HandlerFunc(trickleHeaders), status: 504, errText: "did not answer in time"},
		{name: "TLS handshake never completes", url: silentTLS, status: 504, errText: "did not answer in time"},
		{name: "dial never completes", dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, status: 504, errText: "did not answer in time"},
		{name: "body trickles past the total timeout", upstream: http.HandlerFunc(trickleBody), status: 200, cut: true, errText: "total timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{upstream: tt.upstream, options: func(o *Options) {
				o.Timeouts = short
				o.Upstream.DialContext = tt.dial
				if tt.url != nil {
					u, _ := url.Parse(tt.url(t))
					o.Providers = append(o.Providers, Provider{Key: "tls", Upstream: u, API: parsers.Anthropic})
				}
			}})
			route := "/anthropic"
			if tt.url != nil {
				route = "/tls"
			}
			header := hdr("x-api-key", "k")
			for k, v := range tt.header {
				header[k] = v
			}
			resp := send(t, rawClient, "POST", h.proxyURL+route+calls[6].path, header, calls[6].body)
			body, err := readAllErr(resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.cut && err == nil {
				t.Errorf("the client read a clean end of a stream cut by the timeout")
			}
			if !tt.cut && (err != nil || !strings.Contains(string(body), typeUpstreamTimeout) || !strings.Contains(string(body), `"type":"error"`)) {
				t.Errorf("want an Anthropic-shaped %s error, got %v %s", typeUpstreamTimeout, err, body)
			}
			r := h.record(t)
			if r.Outcome != ledger.OutcomeUpstreamError || r.Status != tt.status || !strings.Contains(r.Error, tt.errText) {
				t.Errorf("record outcome %q status %d error %q, want upstream_error %d mentioning %q", r.Outcome, r.Status, r.Error, tt.status, tt.errText)
			}
			if tt.cut && (!r.HasUsage || r.InputTokens != 7) {
				t.Errorf("the usage that arrived before the timeout was not kept: %+v", r)
			}
		})
	}
}

// TestFaultForwardNoAnswer guards the never-answering provider through
// decryption: a 504 in the provider's shape, recorded in forward mode.
func TestFaultForwardNoAnswer(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{options: func(o *Options) { o.Timeouts.ResponseHeader = 200 * time.Millisecond }})
	resp, body := doVia(t, h.client(h.roots()), "POST", "https://"+hostOpenAI+"/v1/chat/completions",
		hdr("Authorization", auth, fakeprovider.HeaderHang, "1"), calls[0].body)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), typeUpstreamTimeout) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if r := h.record(t); r.Outcome != ledger.OutcomeUpstreamError || r.Mode != ledger.ModeForward {
		t.Errorf("record %+v", r)
	}
}

// TestIsTimeout guards the 504/502 split for the errors a round trip can
// end with.
func TestIsTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), true},
		{&url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "dial", Err: timeoutErr{}}}, true},
		{errors.New("connection refused"), false},
		{context.Canceled, false},
	}
	for _, tt := range tests {
		if got := isTimeout(tt.err); got != tt.want {
			t.Errorf("isTimeout(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// heldStream is a provider that sends its response headers at once and
// holds its first event until release is closed.
type heldStream struct {
	headersSent chan struct{}
	release     chan struct{}
}

func (h *heldStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	close(h.headersSent)
	select {
	case <-h.release:
	case <-r.Context().Done():
		return
	}
	io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
}

// TestFaultHeadersBeforeFirstByte guards the pace of a stream's start: the
// provider's status and headers reach the client when the provider sends
// them, not only with the first body byte (a thinking model may keep its
// first event back for a long time, and clients time out on headers).
func TestFaultHeadersBeforeFirstByte(t *testing.T) {
	t.Parallel()
	up := &heldStream{headersSent: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, harnessConfig{upstream: up})
	defer close(up.release)
	got := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("POST", h.proxyURL+"/anthropic/v1/messages", strings.NewReader(calls[6].body))
		req.Header = hdr("x-api-key", "k")
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- resp
	}()
	waitFor(t, up.headersSent, "provider headers")
	select {
	case resp, ok := <-got:
		if ok {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client got no response headers while the provider held its first event")
	}
}

// abandonStream starts an Anthropic stream through h whose provider is held
// by g, reads its first line and leaves, and returns once Conduit noticed.
func abandonStream(t *testing.T, h *harness, g *gate, left chan struct{}) {
	t.Helper()
	c := calls[6]
	req, _ := http.NewRequest("POST", h.proxyURL+"/anthropic"+c.path, strings.NewReader(c.body))
	req.Header = hdr("x-api-key", "k", fakeprovider.HeaderEvents, "4")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-g.waiting
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, left, "Conduit noticed the client left")
}

// TestFaultShutdownWaitsForDrainingCalls guards a graceful stop while a
// stream whose client left is still being read for its final usage: no
// connection tracks that call any more, yet Shutdown must wait for its
// record — a stop that returned first would lose it (the ledger writer
// closes right after).
func TestFaultShutdownWaitsForDrainingCalls(t *testing.T) {
	t.Parallel()
	left := make(chan struct{}, 1)
	g := newGate()
	h := newHarness(t, harnessConfig{fake: fakeprovider.Options{Sleep: g.sleep, Delay: time.Millisecond},
		options: func(o *Options) { o.onClientLeft = func() { left <- struct{}{} } }})
	abandonStream(t, h, g, left)

	shut := make(chan error, 1)
	go func() { shut <- h.proxy.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a call was still being drained", err)
	case <-time.After(100 * time.Millisecond): // only a broken Shutdown returns here
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
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case r := <-h.records: // recorded before Shutdown returned
		if r.Outcome != ledger.OutcomeClientCancelled || r.OutputTokens != 4 {
			t.Errorf("record %+v, want client_cancelled with the final usage", r)
		}
	default:
		t.Fatal("Shutdown returned before the drained call was recorded")
	}
}

// TestFaultShutdownDeadlineRecordsCalls guards a stop whose grace runs out
// while a call is still running: the call is cancelled and recorded with
// what it read before Shutdown returns the deadline error.
func TestFaultShutdownDeadlineRecordsCalls(t *testing.T) {
	t.Parallel()
	left := make(chan struct{}, 1)
	g := newGate()
	h := newHarness(t, harnessConfig{fake: fakeprovider.Options{Sleep: g.sleep, Delay: time.Millisecond},
		options: func(o *Options) { o.onClientLeft = func() { left <- struct{}{} } }})
	abandonStream(t, h, g, left)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the grace is over
	if err := h.proxy.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want the context's error", err)
	}
	select {
	case r := <-h.records:
		if r.Outcome != ledger.OutcomeClientCancelled || !r.HasUsage || r.InputTokens == 0 {
			t.Errorf("record %+v, want client_cancelled with the input count", r)
		}
	default:
		t.Fatal("the cancelled call was not recorded before Shutdown returned")
	}
}

// doneThenHold is a provider that sends a whole OpenAI stream, [DONE]
// included, then holds the end of its chunked body until release closes.
type doneThenHold struct{ release chan struct{} }

func (d doneThenHold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"+
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n"+
		"data: [DONE]\n\n")
	http.NewResponseController(w).Flush()
	select {
	case <-d.release:
	case <-r.Context().Done():
	}
}

// TestFaultClientClosesAfterWholeResponse guards the record of a client
// that had the whole response and closed its connection before the
// provider's end of body reached Conduit (an SDK that stops reading at
// [DONE]; Python's urllib once it has Content-Length bytes): the client
// cancelled nothing, so the call is complete, not client_cancelled.
func TestFaultClientClosesAfterWholeResponse(t *testing.T) {
	t.Parallel()
	left := make(chan struct{}, 1)
	up := doneThenHold{release: make(chan struct{})}
	h := newHarness(t, harnessConfig{upstream: up, options: func(o *Options) { o.onClientLeft = func() { left <- struct{}{} } }})
	body := `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`
	resp := send(t, rawClient, "POST", h.proxyURL+"/plain/v1/chat/completions", hdr("Authorization", auth), body)
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "data: [DONE]\n" {
			break
		}
	}
	resp.Body.Close() // whole response read; the end of the chunked body never waited for
	rawClient.CloseIdleConnections()
	waitFor(t, left, "Conduit noticed the client left")
	close(up.release)
	if r := h.record(t); r.Outcome != ledger.OutcomeComplete || !r.HasUsage || r.InputTokens != 5 {
		t.Errorf("record %q (usage %v, %d in), want complete with the usage", r.Outcome, r.HasUsage, r.InputTokens)
	}
}
