package intercept

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
)

// wsStep is one client message and the server event after which the client
// sends the next ("" to send it at once).
type wsStep struct{ msg, until string }

// wsCreate is a Responses WebSocket response.create message.
func wsCreate(text, extra string) string {
	return `{"type":"response.create","model":"gpt-5.5","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"` + text + `"}]}]` + extra + `}`
}

// wsScripts are the conversations the relay tests hold, one per WebSocket
// API: path (with query), the provider it goes to, its credential, the
// event to wait for before the first message, and the steps.
var wsScripts = map[string]struct {
	path, provider, first string
	h                     http.Header
	steps                 []wsStep
	model                 string
	responses             int // how many the fake answers
}{
	"responses": {
		path: "/v1/responses", provider: "openai",
		h: http.Header{"Authorization": {auth}, "Openai-Beta": {"responses_websockets=2026-02-06"}},
		steps: []wsStep{
			{wsCreate("hello", `,"generate":false`), "response.completed"},
			{wsCreate("say hello to everyone", `,"previous_response_id":"resp_x","max_output_tokens":12`), "response.completed"},
			{wsCreate("again please", `,"metadata":{"x-fake-cached-tokens":"5"}`), "response.completed"},
		},
		model: "gpt-5.5", responses: 3,
	},
	"realtime": {
		path: "/v1/realtime?model=gpt-realtime", provider: "openai", first: "session.created",
		h: http.Header{"Authorization": {auth}},
		steps: []wsStep{
			{`{"type":"session.update","session":{"type":"realtime","instructions":"be brief","output_modalities":["text"]}}`, "session.updated"},
			{`{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hello there"}]}}`, "conversation.item.done"},
			{`{"type":"response.create","event_id":"c1","response":{"max_output_tokens":3}}`, "response.done"},
			{`{"type":"input_audio_buffer.append","audio":"` + base64.StdEncoding.EncodeToString(make([]byte, 2*fakeprovider.AudioBytesPerToken+1)) + `"}`, ""},
			{`{"type":"input_audio_buffer.commit"}`, "input_audio_buffer.committed"},
			{`{"type":"response.create","response":{"output_modalities":["audio"],"metadata":{"x-fake-cached-tokens":"4"}}}`, "response.done"},
		},
		model: "gpt-realtime", responses: 2,
	},
	"live": {
		path: "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent", provider: "gemini",
		h: http.Header{"X-Goog-Api-Key": {"k"}},
		steps: []wsStep{
			{`{"setup":{"model":"models/gemini-live-2.5-flash-preview","generationConfig":{"responseModalities":["TEXT"]}}}`, "setupComplete"},
			{`{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hello there"}]}],"turnComplete":true}}`, "turnComplete"},
			{`{"realtimeInput":{"text":"and again"}}`, "turnComplete"},
			{`{"clientContent":{"turns":[{"role":"user","parts":[{"text":"one more time"}]}],"turnComplete":true}}`, "turnComplete"},
		},
		model: "gemini-live-2.5-flash-preview", responses: 3,
	},
}

// wsDialer opens WebSocket connections through a test Conduit.
type wsDialer struct {
	url    func(provider, path string) string
	client *http.Client // nil: the default
	mode   string
}

func (h *harness) wsDialer() wsDialer {
	return wsDialer{mode: ledger.ModeBaseURL, url: func(provider, path string) string {
		return "ws" + strings.TrimPrefix(h.proxyURL, "http") + "/" + provider + path
	}}
}

func (h *fwdHarness) wsDialer() wsDialer {
	return wsDialer{mode: ledger.ModeForward, client: h.client(h.roots()), url: func(provider, path string) string {
		return "wss://" + providerHost[provider] + path
	}}
}

// wsConn is a client connection with a hang guard.
type wsConn struct {
	t   *testing.T
	c   *websocket.Conn
	ctx context.Context
}

func (d wsDialer) dial(t *testing.T, provider, path string, h http.Header, mode websocket.CompressionMode) (*wsConn, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard, not a timing assertion
	t.Cleanup(cancel)
	c, resp, err := websocket.Dial(ctx, d.url(provider, path), &websocket.DialOptions{
		HTTPClient: d.client, HTTPHeader: h, CompressionMode: mode, CompressionThreshold: 1,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return &wsConn{t: t, c: c, ctx: ctx}, resp
}

// readUntil reads messages until one whose type (or Live's turnComplete /
// setupComplete) is stop, and returns how many it read.
func (w *wsConn) readUntil(stop string) int {
	w.t.Helper()
	for n := 1; ; n++ {
		_, data, err := w.c.Read(w.ctx)
		if err != nil {
			w.t.Fatalf("reading for %s: %v", stop, err)
		}
		var ev map[string]any
		if json.Unmarshal(data, &ev) != nil {
			w.t.Fatalf("not JSON: %.200s", data)
		}
		sc, _ := ev["serverContent"].(map[string]any)
		if ev["type"] == stop || (stop == "turnComplete" && sc["turnComplete"] == true) || (stop == "setupComplete" && ev["setupComplete"] != nil) {
			return n
		}
	}
}

func (w *wsConn) send(msg string) {
	w.t.Helper()
	if err := w.c.Write(w.ctx, websocket.MessageText, []byte(msg)); err != nil {
		w.t.Fatal(err)
	}
}

// run holds a script's conversation and closes normally; it returns the
// messages sent.
func (w *wsConn) run(first string, steps []wsStep) [][]byte {
	w.t.Helper()
	if first != "" {
		w.readUntil(first)
	}
	var sent [][]byte
	for _, s := range steps {
		w.send(s.msg)
		sent = append(sent, []byte(s.msg))
		if s.until != "" {
			w.readUntil(s.until)
		}
	}
	if err := w.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		w.t.Fatalf("close: %v", err)
	}
	return sent
}

// records takes n records.
func (s recordSink) take(t *testing.T, n int) []Call {
	t.Helper()
	out := make([]Call, n)
	for i := range out {
		out[i] = s.record(t)
	}
	return out
}

// checkWSRecords checks one record per expected usage, in order, with the
// fake's exact counts, all on one connection and each with its own id.
func checkWSRecords(t *testing.T, recs []Call, want []fakeprovider.Usage, provider, mode, model string) {
	t.Helper()
	ids := map[string]bool{}
	for i, r := range recs {
		w := want[i]
		if !r.HasUsage || r.InputTokens != int64(w.InputTokens) || r.OutputTokens != int64(w.OutputTokens) ||
			r.CachedInputTokens != int64(w.CachedInputTokens) || r.ReasoningTokens != int64(w.ReasoningTokens) {
			t.Errorf("record %d: tokens in %d (cached %d) out %d (reasoning %d), want %+v", i,
				r.InputTokens, r.CachedInputTokens, r.OutputTokens, r.ReasoningTokens, w)
		}
		audioIn, audioOut := int64(0), int64(0)
		if r.Detail != nil {
			audioIn, audioOut = r.Detail.AudioInputTokens, r.Detail.AudioOutputTokens
		}
		if audioIn != int64(w.InputAudioTokens) || audioOut != int64(w.OutputAudioTokens) {
			t.Errorf("record %d: audio in %d out %d, want %d %d", i, audioIn, audioOut, w.InputAudioTokens, w.OutputAudioTokens)
		}
		if r.Outcome != ledger.OutcomeComplete || r.Kind != ledger.KindCall || r.Status != http.StatusSwitchingProtocols {
			t.Errorf("record %d: outcome %q kind %q status %d (%s)", i, r.Outcome, r.Kind, r.Status, r.Error)
		}
		if r.Provider != provider || r.Mode != mode || r.Method != http.MethodGet || !r.Stream {
			t.Errorf("record %d: provider %q mode %q method %q stream %v", i, r.Provider, r.Mode, r.Method, r.Stream)
		}
		if model != "" && r.Model != model && !strings.HasPrefix(r.Model, model) {
			t.Errorf("record %d: model %q, want %q", i, r.Model, model)
		}
		if r.ConnectionID == "" || r.ConnectionID != recs[0].ConnectionID || ids[r.ID] || r.ID == r.ConnectionID {
			t.Errorf("record %d: id %q connection %q (first %q)", i, r.ID, r.ConnectionID, recs[0].ConnectionID)
		}
		ids[r.ID] = true
		if r.StartedAt.After(r.FinishedAt) || r.TTFB < 0 || r.TTFB > r.Duration {
			t.Errorf("record %d: started %v finished %v ttfb %v duration %v", i, r.StartedAt, r.FinishedAt, r.TTFB, r.Duration)
		}
		if i > 0 && r.StartedAt.Before(recs[i-1].StartedAt) {
			t.Errorf("record %d starts before record %d", i, i-1)
		}
	}
}

// TestWebSocketRelayed is the relay's main promise, in both modes and for
// the three WebSocket APIs, with and without permessage-deflate: the
// conversation works through Conduit, each response on the connection is a
// record of its own with the fake's exact usage, all linked by one
// connection id, and the handshake reached the provider with the client's
// headers but not Conduit's.
func TestWebSocketRelayed(t *testing.T) {
	modes := map[string]func(t *testing.T) (wsDialer, *recordSink, func() []fakeprovider.Seen){
		"base-url": func(t *testing.T) (wsDialer, *recordSink, func() []fakeprovider.Seen) {
			h := newHarness(t, harnessConfig{})
			return h.wsDialer(), &h.recordSink, h.fake.Requests
		},
		"forward": func(t *testing.T) (wsDialer, *recordSink, func() []fakeprovider.Seen) {
			h := newFwdHarness(t, fwdConfig{})
			return h.wsDialer(), &h.recordSink, h.fake.Requests
		},
	}
	for mname, setup := range modes {
		for sname, sc := range wsScripts {
			for _, comp := range []websocket.CompressionMode{websocket.CompressionDisabled, websocket.CompressionContextTakeover, websocket.CompressionNoContextTakeover} {
				t.Run(fmt.Sprintf("%s/%s/compression=%d", mname, sname, comp), func(t *testing.T) {
					d, sink, seen := setup(t)
					h := sc.h.Clone()
					h.Set(tagHeader, "ws-test")
					c, resp := d.dial(t, sc.provider, sc.path, h, comp)
					if resp.StatusCode != http.StatusSwitchingProtocols {
						t.Fatalf("status %d", resp.StatusCode)
					}
					sent := c.run(sc.first, sc.steps)
					want, err := fakeprovider.ExpectedWSUsage(sc.path, sc.h, sent, fakeprovider.Options{})
					if err != nil || len(want) != sc.responses {
						t.Fatalf("the fake expects %d responses (%v), the script %d", len(want), err, sc.responses)
					}
					recs := sink.take(t, len(want))
					checkWSRecords(t, recs, want, sc.provider, d.mode, sc.model)
					for _, r := range recs {
						if len(r.Tags) != 1 || r.Tags[0] != "ws-test" {
							t.Errorf("tags %q", r.Tags)
						}
					}
					waitNoRecord(t, sink)
					var ws *fakeprovider.Seen
					for _, s := range seen() {
						if s.Method == "WS" {
							ws = &s
							break
						}
					}
					if ws == nil {
						t.Fatal("the fake saw no WebSocket message")
					}
					for k := range sc.h {
						if ws.Header.Get(k) != sc.h.Get(k) {
							t.Errorf("upstream %s = %q, want %q", k, ws.Header.Get(k), sc.h.Get(k))
						}
					}
					if ws.Header.Get(tagHeader) != "" {
						t.Error("Conduit's tag header reached the upstream")
					}
					if comp != websocket.CompressionDisabled && !strings.Contains(ws.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
						t.Errorf("extensions %q did not reach the upstream", ws.Header.Get("Sec-WebSocket-Extensions"))
					}
				})
			}
		}
	}
}

// waitNoRecord asserts that no further record comes once the connection
// has been closed and recorded.
func waitNoRecord(t *testing.T, sink *recordSink) {
	t.Helper()
	select {
	case r := <-sink.records:
		t.Errorf("unexpected record %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestWebSocketClientLeavesMidResponse guards a cut connection: the client
// goes away while a response streams, and that response is still recorded,
// as a stream the client cancelled, with what arrived.
func TestWebSocketClientLeavesMidResponse(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c, _ := h.wsDialer().dial(t, "openai", "/v1/responses", http.Header{"Authorization": {auth}}, websocket.CompressionDisabled)
	c.send(wsCreate("first", ""))
	c.readUntil("response.completed")
	c.send(wsCreate("second", `,"metadata":{"x-fake-events":"200","x-fake-delay":"5ms"}`))
	c.readUntil("response.output_text.delta")
	c.c.CloseNow()
	recs := h.take(t, 2)
	if recs[0].Outcome != ledger.OutcomeComplete || !recs[0].HasUsage {
		t.Errorf("first: %s %q", recs[0].Outcome, recs[0].Error)
	}
	if r := recs[1]; r.Outcome != ledger.OutcomeClientCancelled || r.ConnectionID != recs[0].ConnectionID || r.Model == "" {
		t.Errorf("second: outcome %q connection %q model %q", r.Outcome, r.ConnectionID, r.Model)
	}
}

// TestWebSocketUpgradeRefusedUpstream guards an upgrade the provider
// refuses: the client gets the provider's status and error body, and the
// attempt is recorded as a failed call.
func TestWebSocketUpgradeRefusedUpstream(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.wsDialer().url("openai", "/v1/responses"), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {auth}, fakeprovider.HeaderWSStatus: {"503"}},
	})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial: %v, response %+v", err, resp)
	}
	r := h.record(t)
	if r.Kind != ledger.KindCall || r.Status != 503 || r.Outcome != ledger.OutcomeUpstreamError {
		t.Errorf("record: kind %q status %d outcome %q", r.Kind, r.Status, r.Outcome)
	}
}

// TestWebSocketRefuseMode guards [mitm] websockets = "refuse": forward
// mode answers 426 as before, and base-URL mode still relays.
func TestWebSocketRefuseMode(t *testing.T) {
	fh := newFwdHarness(t, fwdConfig{forward: func(f *Forward) { f.RefuseWebSockets = true }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := fh.wsDialer()
	_, resp, err := websocket.Dial(ctx, d.url("openai", "/v1/responses"), &websocket.DialOptions{HTTPClient: d.client, HTTPHeader: http.Header{"Authorization": {auth}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("forward: %v, response %+v", err, resp)
	}
}

// TestWebSocketShutdown guards a graceful stop: each side of an open
// connection gets a close frame (1001, going away), and the response that
// was streaming is recorded.
func TestWebSocketShutdown(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	c, _ := h.wsDialer().dial(t, "openai", "/v1/responses", http.Header{"Authorization": {auth}}, websocket.CompressionContextTakeover)
	c.send(wsCreate("slow", `,"metadata":{"x-fake-events":"400","x-fake-delay":"5ms"}`))
	c.readUntil("response.output_text.delta")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- h.proxy.Shutdown(ctx)
	}()
	var err error
	for err == nil {
		_, _, err = c.c.Read(c.ctx)
	}
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("client read ended with %v, want close 1001", err)
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	r := h.record(t)
	if r.Outcome != ledger.OutcomeIncomplete || r.ConnectionID == "" {
		t.Errorf("record: outcome %q connection %q", r.Outcome, r.ConnectionID)
	}
}

// TestWebSocketIdleTimeout guards the idle timeout: a connection on which
// nothing passes is closed with 1001 from Conduit.
func TestWebSocketIdleTimeout(t *testing.T) {
	h := newHarness(t, harnessConfig{options: func(o *Options) { o.Timeouts.WebSocketIdle = 50 * time.Millisecond }})
	c, _ := h.wsDialer().dial(t, "openai", "/v1/responses", http.Header{"Authorization": {auth}}, websocket.CompressionDisabled)
	_, _, err := c.c.Read(c.ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("read: %v, want close 1001", err)
	}
}

// TestWebSocketUnmeteredPath guards an upgrade to a path that is no
// metered WebSocket API on a provider: relayed both ways, and recorded
// once, as kind other, when it closes.
func TestWebSocketUnmeteredPath(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, data); err != nil {
				return
			}
		}
	})
	h := newHarness(t, harnessConfig{upstream: echo})
	c, _ := h.wsDialer().dial(t, "openai", "/v1/echo", nil, websocket.CompressionContextTakeover)
	for _, m := range []string{"one", strings.Repeat("two ", 5000)} {
		c.send(m)
		_, got, err := c.c.Read(c.ctx)
		if err != nil || string(got) != m {
			t.Fatalf("echo %.20q: %.20q %v", m, got, err)
		}
	}
	c.c.Close(websocket.StatusNormalClosure, "")
	r := h.record(t)
	if r.Kind != ledger.KindOther || r.Status != http.StatusSwitchingProtocols || r.ConnectionID != r.ID || r.HasUsage {
		t.Errorf("record: kind %q status %d connection %q id %q", r.Kind, r.Status, r.ConnectionID, r.ID)
	}
	waitNoRecord(t, &h.recordSink)
}

// TestWebSocketRecordSanitized: a WebSocket response's record is bounded
// before the log, budgets and telemetry see it, as an HTTP call's is: a
// model name past ledger.MaxModelBytes is cut and named in Truncated.
func TestWebSocketRecordSanitized(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	long := strings.Repeat("m", 4*ledger.MaxModelBytes)
	c, _ := h.wsDialer().dial(t, "openai", "/v1/responses", http.Header{"Authorization": {auth}, fakeprovider.HeaderModel: {long}}, websocket.CompressionDisabled)
	c.send(wsCreate("hi", ""))
	c.readUntil("response.completed")
	rec := h.record(t)
	if len(rec.Model) > ledger.MaxModelBytes || !slices.Contains(rec.Truncated, "model") {
		t.Errorf("model of %d bytes, truncated %v: the record was not sanitized", len(rec.Model), rec.Truncated)
	}
}
