package fakeprovider

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsURL turns an httptest URL and a path into a ws:// URL.
func wsURL(ts *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path
}

// wsCtx bounds a WebSocket exchange so a broken fake fails the test rather
// than hanging it (a hang guard, not a timing assertion).
func wsCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialWS connects with github.com/coder/websocket (an independent client).
func dialWS(t *testing.T, url string, h http.Header, mode websocket.CompressionMode) (*websocket.Conn, *http.Response) {
	t.Helper()
	c, resp, err := websocket.Dial(wsCtx(t), url, &websocket.DialOptions{HTTPHeader: h, CompressionMode: mode, CompressionThreshold: 1})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c, resp
}

// sendJSON writes one text message.
func sendJSON(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(wsCtx(t), websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write %s: %v", msg, err)
	}
}

// readUntil reads messages until one whose type is in stop, returning them
// all decoded (the last is the stopping one).
func readUntil(t *testing.T, c *websocket.Conn, stop ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for {
		typ, data, err := c.Read(wsCtx(t))
		if err != nil {
			t.Fatalf("read after %d messages: %v", len(out), err)
		}
		if typ != websocket.MessageText {
			t.Fatalf("message type %v: %q", typ, data)
		}
		m := decode(t, string(data))
		out = append(out, m)
		for _, s := range stop {
			if str(m, "type") == s {
				return out
			}
		}
	}
}

// responsesCreate is a response.create message with n words of input.
func responsesCreate(input string, extra string) string {
	return `{"type":"response.create","model":"gpt-5","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"` + input + `"}]}]` + extra + `}`
}

// TestResponsesWSSeveralResponses guards the Responses WebSocket mode:
// several responses in sequence on one connection, each the SSE event
// sequence as messages with sequence numbers from 0, ending at
// response.completed with the usage ExpectedUsage gives the same body, and
// distinct ids per response even for equal messages.
func TestResponsesWSSeveralResponses(t *testing.T) {
	t.Parallel()
	s, ts := fake(t, Options{})
	c, resp := dialWS(t, wsURL(ts, "/v1/responses"), hdr("Authorization", "Bearer sk-test"), websocket.CompressionDisabled)
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("101 without x-request-id: %v", resp.Header)
	}
	msgs := []string{
		responsesCreate("hello there", `,"max_output_tokens":3`),
		responsesCreate("hello there", `,"max_output_tokens":3`),
		responsesCreate("one two three four", `,"previous_response_id":"resp_x","metadata":{"x-fake-cached-tokens":"2"}`),
	}
	var ids []string
	for i, msg := range msgs {
		sendJSON(t, c, msg)
		evs := readUntil(t, c, "response.completed", "response.failed", "error")
		last := evs[len(evs)-1]
		if str(last, "type") != "response.completed" || (i < 2 && len(evs) != 4+3+4) {
			t.Fatalf("response %d: %d events ending %v", i, len(evs), last)
		}
		for j, ev := range evs {
			if num(ev, "sequence_number") != j {
				t.Errorf("response %d event %d: sequence_number %v", i, j, at(ev, "sequence_number"))
			}
		}
		h := http.Header{}
		if i == 2 {
			h.Set(HeaderCachedTokens, "2")
		}
		want, err := ExpectedUsage("/v1/responses", h, []byte(msg), Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := Usage{
			InputTokens:       num(last, "response", "usage", "input_tokens"),
			CachedInputTokens: num(last, "response", "usage", "input_tokens_details", "cached_tokens"),
			OutputTokens:      num(last, "response", "usage", "output_tokens"),
			ReasoningTokens:   num(last, "response", "usage", "output_tokens_details", "reasoning_tokens"),
		}
		if got != want {
			t.Errorf("response %d usage %+v, want %+v", i, got, want)
		}
		ids = append(ids, str(last, "response", "id"))
	}
	if ids[0] == ids[1] || ids[1] == ids[2] {
		t.Errorf("response ids repeat on one connection: %v", ids)
	}
	var ws []Seen
	for _, r := range s.Requests() {
		if r.Method == "WS" {
			ws = append(ws, r)
		}
	}
	if len(ws) != len(msgs) || string(ws[2].Body) != msgs[2] || ws[0].Path != "/v1/responses" {
		t.Errorf("recorded client messages: %+v", ws)
	}
}

// TestResponsesWSDeterministic guards that two equal sessions get
// byte-identical messages, so a direct session can be compared with one
// relayed through Conduit.
func TestResponsesWSDeterministic(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	session := func() [][]byte {
		c, _ := dialWS(t, wsURL(ts, "/v1/responses"), hdr("Authorization", "Bearer k"), websocket.CompressionDisabled)
		var out [][]byte
		for range 2 {
			sendJSON(t, c, responsesCreate("a b c", ""))
			for {
				_, data, err := c.Read(wsCtx(t))
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, data)
				if bytes.Contains(data, []byte(`"type":"response.completed"`)) {
					break
				}
			}
		}
		return out
	}
	a, b := session(), session()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d messages", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("message %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
}

// TestResponsesWSEnds guards the other ways a response ends: the prewarm
// (generate:false), the error knob (response.failed), the incomplete knob,
// in-band errors for a bad message and for the status knob (the
// connection stays usable after each), and the abort knob (the connection
// is cut without a close frame).
func TestResponsesWSEnds(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	c, _ := dialWS(t, wsURL(ts, "/v1/responses"), hdr("Authorization", "Bearer k"), websocket.CompressionDisabled)
	stops := []string{"response.completed", "response.failed", "response.incomplete", "error"}

	sendJSON(t, c, responsesCreate("warm up", `,"generate":false`))
	evs := readUntil(t, c, stops...)
	last := evs[len(evs)-1]
	if len(evs) != 2 || str(evs[0], "type") != "response.created" || str(last, "type") != "response.completed" ||
		num(last, "response", "usage", "input_tokens") != 0 || num(last, "response", "usage", "output_tokens") != 0 ||
		len(at(last, "response", "output").([]any)) != 0 {
		t.Errorf("prewarm: %v", evs)
	}

	sendJSON(t, c, responsesCreate("x", `,"metadata":{"X-Fake-Error-Event":"1"}`))
	evs = readUntil(t, c, stops...)
	last = evs[len(evs)-1]
	if str(last, "type") != "response.failed" || str(last, "response", "status") != "failed" ||
		str(last, "response", "error", "code") != "server_error" || at(last, "response", "usage") != nil {
		t.Errorf("error knob: %v", last)
	}

	sendJSON(t, c, responsesCreate("x", `,"metadata":{"x-fake-incomplete":"1","x-fake-events":"2"}`))
	evs = readUntil(t, c, stops...)
	last = evs[len(evs)-1]
	if str(last, "type") != "response.incomplete" || str(last, "response", "incomplete_details", "reason") != "max_output_tokens" ||
		num(last, "response", "usage", "output_tokens") != 2 {
		t.Errorf("incomplete knob: %v", last)
	}

	for _, bad := range []struct{ msg, code string }{
		{`{"type":"response.create"`, "invalid_json"},
		{`{"type":"session.update"}`, "unknown_event_type"},
		{responsesCreate("x", `,"metadata":{"x-fake-status":"429"}`), "rate_limit_exceeded"},
		{responsesCreate("x", `,"metadata":{"x-fake-events":"many"}`), "invalid_value"},
	} {
		sendJSON(t, c, bad.msg)
		evs = readUntil(t, c, stops...)
		last = evs[len(evs)-1]
		if str(last, "type") != "error" || str(last, "error", "code") != bad.code || num(last, "status") < 400 {
			t.Errorf("%s: %v", bad.msg, last)
		}
	}

	sendJSON(t, c, responsesCreate("x", `,"metadata":{"x-fake-abort-after":"1"}`))
	var n int
	for {
		_, _, err := c.Read(wsCtx(t))
		if err != nil {
			if websocket.CloseStatus(err) != -1 {
				t.Errorf("abort sent a close frame: %v", err)
			}
			break
		}
		n++
	}
	if n != 5 { // 4 preamble events + 1 delta
		t.Errorf("%d messages before the cut, want 5", n)
	}
}

// TestWSUpgradeRefused guards the HTTP answers to upgrades that cannot be
// served: the status knob (426 makes Codex fall back to HTTP), no
// credential, an unknown path, a bad knob.
func TestWSUpgradeRefused(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		name   string
		path   string
		h      http.Header
		status int
	}{
		{"426", "/v1/responses", hdr("Authorization", "Bearer k", HeaderWSStatus, "426"), 426},
		{"status knob", "/v1/responses", hdr("Authorization", "Bearer k", HeaderStatus, "503"), 503},
		{"no key", "/v1/responses", nil, 401},
		{"unknown path", "/v1/nothing", hdr("Authorization", "Bearer k"), 404},
		{"bad deflate knob", "/v1/responses", hdr("Authorization", "Bearer k", HeaderWSDeflate, "maybe"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := websocket.Dial(wsCtx(t), wsURL(ts, tt.path), &websocket.DialOptions{HTTPHeader: tt.h})
			if err == nil {
				t.Fatal("upgrade accepted")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("response %v, want status %d", resp, tt.status)
			}
		})
	}
}

// TestWSDeflate guards permessage-deflate: the negotiated parameters for
// each client offer and server mode, and that messages both ways survive
// compression over several messages (context takeover keeps windows
// across messages; the client compresses its big messages too).
func TestWSDeflate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client websocket.CompressionMode
		mode   string
		want   string // Sec-WebSocket-Extensions answered
	}{
		{"takeover", websocket.CompressionContextTakeover, "", "permessage-deflate"},
		{"client asks no takeover", websocket.CompressionNoContextTakeover, "", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"forced no takeover", websocket.CompressionContextTakeover, DeflateNoContextTakeover, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"forced server no takeover", websocket.CompressionContextTakeover, DeflateServerNoContextTakeover, "permessage-deflate; server_no_context_takeover"},
		{"forced client no takeover", websocket.CompressionContextTakeover, DeflateClientNoContextTakeover, "permessage-deflate; client_no_context_takeover"},
		{"declined", websocket.CompressionContextTakeover, DeflateOff, ""},
		{"not offered", websocket.CompressionDisabled, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := fake(t, Options{WSDeflate: tt.mode})
			c, resp := dialWS(t, wsURL(ts, "/v1/responses"), hdr("Authorization", "Bearer k", HeaderEvents, "40"), tt.client)
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != tt.want {
				t.Errorf("extensions %q, want %q", got, tt.want)
			}
			big := strings.Repeat("word ", 3000)
			for i := range 3 {
				msg := responsesCreate(big+fmt.Sprint(i), "")
				sendJSON(t, c, msg)
				evs := readUntil(t, c, "response.completed", "error")
				last := evs[len(evs)-1]
				if str(last, "type") != "response.completed" || num(last, "response", "usage", "output_tokens") != 40 {
					t.Fatalf("message %d: %v", i, last)
				}
				if want := 3001 + 2 + PromptOverhead; num(last, "response", "usage", "input_tokens") != want {
					t.Errorf("message %d: input_tokens %v, want %d (the client message was inflated wrong)", i, at(last, "response", "usage", "input_tokens"), want)
				}
			}
			var got []string
			for _, r := range s.Requests() {
				if r.Method == "WS" {
					got = append(got, string(r.Body))
				}
			}
			if len(got) != 3 || got[2] != responsesCreate(big+"2", "") {
				t.Errorf("recorded %d client messages", len(got))
			}
		})
	}
}

// rawWS is a hand-rolled client that reads server frames exactly as sent.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// dialRaw performs the handshake by hand and returns the raw connection.
func dialRaw(t *testing.T, ts *httptest.Server, path string, h http.Header) *rawWS {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // hang guard
	var key [16]byte
	_, _ = rand.Read(key[:])
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	req.Header = h.Clone()
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key[:]))
	if err := req.Write(conn); err != nil {
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
	return &rawWS{conn: conn, br: br, resp: resp}
}

// rawFrame is one frame as it came.
type rawFrame struct {
	fin, rsv1 bool
	opcode    byte
	payload   []byte
}

func (r *rawWS) readFrame(t *testing.T) rawFrame {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		t.Fatal("server frame is masked")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(r.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(r.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r.br, p); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return rawFrame{fin: h[0]&0x80 != 0, rsv1: h[0]&0x40 != 0, opcode: h[0] & 0x0F, payload: p}
}

// writeFrame sends one masked client frame.
func (r *rawWS) writeFrame(t *testing.T, fin bool, rsv1 bool, opcode byte, payload []byte) {
	t.Helper()
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	if _, err := r.conn.Write(out); err != nil {
		t.Fatal(err)
	}
}

// TestWSFragmentAndPing guards the framing knobs byte by byte: every
// message is a ping then frames of at most N payload bytes with a ping
// between each pair, the first frame carrying the opcode (and RSV1 when
// compressed) and the rest continuations; the reassembled (and inflated)
// messages are the Responses events. It also sends the fake fragmented,
// interleaved-ping client messages and checks the pongs.
func TestWSFragmentAndPing(t *testing.T) {
	t.Parallel()
	for _, compressed := range []bool{false, true} {
		t.Run(fmt.Sprintf("compressed=%v", compressed), func(t *testing.T) {
			_, ts := fake(t, Options{})
			h := hdr("Authorization", "Bearer k", HeaderWSFragment, "7", HeaderWSPing, "1", HeaderEvents, "2")
			if compressed {
				h.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
			}
			r := dialRaw(t, ts, "/v1/responses", h)
			if got := r.resp.Header.Get("Sec-WebSocket-Extensions") != ""; got != compressed {
				t.Fatalf("extension answer %q", r.resp.Header.Get("Sec-WebSocket-Extensions"))
			}
			// The request, in three fragments with a ping inside.
			msg := []byte(responsesCreate("fragmented hello", ""))
			r.writeFrame(t, false, false, opText, msg[:10])
			r.writeFrame(t, true, false, opPing, []byte("client-ping"))
			r.writeFrame(t, false, false, opContinuation, msg[10:20])
			r.writeFrame(t, true, false, opContinuation, msg[20:])

			var inflater io.ReadCloser
			var window []byte // server context takeover: keep the output window
			var types []string
			sawPong := false
			for done := false; !done; {
				var payload []byte
				var rsv1 bool
				expectPing := true
				for frames := 0; ; {
					f := r.readFrame(t)
					if f.opcode == opPong {
						if string(f.payload) != "client-ping" {
							t.Errorf("pong payload %q", f.payload)
						}
						sawPong = true
						continue
					}
					if expectPing {
						if f.opcode != opPing {
							t.Fatalf("want a ping before each frame, got opcode %d", f.opcode)
						}
						expectPing = false
						continue
					}
					if len(f.payload) > 7 {
						t.Fatalf("frame of %d payload bytes, knob says 7", len(f.payload))
					}
					first := frames == 0
					frames++
					if first && f.opcode != opText || !first && f.opcode != opContinuation {
						t.Fatalf("frame opcode %d (first=%v)", f.opcode, first)
					}
					if !first && f.rsv1 {
						t.Fatal("RSV1 on a continuation frame")
					}
					if first {
						rsv1 = f.rsv1
					}
					payload = append(payload, f.payload...)
					expectPing = true
					if f.fin {
						break
					}
				}
				if rsv1 != compressed {
					t.Fatalf("RSV1 %v on a message, compressed=%v", rsv1, compressed)
				}
				if compressed {
					src := io.MultiReader(bytes.NewReader(payload), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff"))
					if inflater == nil {
						inflater = flate.NewReader(src)
					} else {
						_ = inflater.(flate.Resetter).Reset(src, window)
					}
					out, err := io.ReadAll(inflater)
					if err != nil {
						t.Fatalf("inflate: %v", err)
					}
					window = append(window, out...)
					payload = out
				}
				m := decode(t, string(payload))
				types = append(types, str(m, "type"))
				done = str(m, "type") == "response.completed"
			}
			if !sawPong {
				t.Error("no pong for the client's ping")
			}
			if len(types) != 10 || types[0] != "response.created" {
				t.Errorf("events: %v", types)
			}
			// A close from the client is echoed.
			r.writeFrame(t, true, false, opClose, binary.BigEndian.AppendUint16(nil, 1000))
			for {
				f := r.readFrame(t)
				if f.opcode == opClose {
					if len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != 1000 {
						t.Errorf("close echo %v", f.payload)
					}
					break
				}
			}
		})
	}
}

// TestWSProtocolErrors guards that frames breaking RFC 6455 end the
// connection with close code 1002 (unmasked frames end it too).
func TestWSProtocolErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		send func(t *testing.T, r *rawWS)
	}{
		{"continuation first", func(t *testing.T, r *rawWS) { r.writeFrame(t, true, false, opContinuation, []byte("x")) }},
		{"reserved opcode", func(t *testing.T, r *rawWS) { r.writeFrame(t, true, false, 0x3, []byte("x")) }},
		{"rsv1 without deflate", func(t *testing.T, r *rawWS) { r.writeFrame(t, true, true, opText, []byte("x")) }},
		{"fragmented ping", func(t *testing.T, r *rawWS) { r.writeFrame(t, false, false, opPing, []byte("x")) }},
		{"new message inside another", func(t *testing.T, r *rawWS) {
			r.writeFrame(t, false, false, opText, []byte("{"))
			r.writeFrame(t, true, false, opText, []byte("{}"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := fake(t, Options{})
			r := dialRaw(t, ts, "/v1/responses", hdr("Authorization", "Bearer k"))
			tt.send(t, r)
			f := r.readFrame(t)
			if f.opcode != opClose || binary.BigEndian.Uint16(f.payload) != closeProtocol {
				t.Fatalf("want close 1002, got opcode %d %q", f.opcode, f.payload)
			}
			if _, err := r.br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("connection still open after the close: %v", err)
			}
		})
	}
}

// TestWSServerClose guards that Server.Close cuts open WebSocket
// connections (so an httptest server can close).
func TestWSServerClose(t *testing.T) {
	t.Parallel()
	s, ts := fake(t, Options{})
	c, _ := dialWS(t, wsURL(ts, "/v1/responses"), hdr("Authorization", "Bearer k"), websocket.CompressionDisabled)
	s.Close()
	if _, _, err := c.Read(wsCtx(t)); err == nil {
		t.Fatal("read succeeded after Server.Close")
	}
}

// TestResponsesIncompleteHTTP guards the incomplete knob on the HTTP
// Responses API too: the stream ends with response.incomplete, the object
// has status incomplete, both with the full usage.
func TestResponsesIncompleteHTTP(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{Incomplete: true})
	body := `{"model":"m","input":"a b","max_output_tokens":2}`
	_, b := post(t, ts.URL+"/v1/responses", "openai", nil, body)
	if m := decode(t, string(b)); str(m, "status") != "incomplete" || str(m, "incomplete_details", "reason") != "max_output_tokens" || num(m, "usage", "output_tokens") != 2 {
		t.Errorf("object: %s", b)
	}
	_, b = post(t, ts.URL+"/v1/responses", "openai", nil, `{"model":"m","input":"a b","max_output_tokens":2,"stream":true}`)
	evs := splitSSE(t, b, "\n")
	last := evs[len(evs)-1]
	if last.name != "response.incomplete" || num(decode(t, last.data), "response", "usage", "output_tokens") != 2 {
		t.Errorf("last event %s %s", last.name, last.data)
	}
}

// TestObserve guards Options.Observe: it sees every request and every
// WebSocket client message, even when KeepRequests keeps none.
func TestObserve(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	_, ts := fake(t, Options{KeepRequests: -1, Observe: func(r Seen) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Method+" "+r.Path+" "+string(r.Body))
	}})
	c, _ := dialWS(t, wsURL(ts, "/v1/responses"), hdr("Authorization", "Bearer k"), websocket.CompressionDisabled)
	sendJSON(t, c, responsesCreate("x", ""))
	readUntil(t, c, "response.completed")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "GET /v1/responses " || seen[1] != "WS /v1/responses "+responsesCreate("x", "") {
		t.Errorf("observed %q", seen)
	}
}
