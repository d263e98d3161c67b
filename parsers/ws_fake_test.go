package parsers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/internal/wsrecord"
	"github.com/valohai/conduit/wsframe"
)

// wsExchange is one client message and the server event type after which
// the client sends the next ("" to send it at once).
type wsExchange struct {
	msg, until string
}

// recordWS runs a conversation with the fake provider through a recording
// relay, with github.com/coder/websocket as the client, and returns the
// recording and the messages the client sent.
func recordWS(t *testing.T, path string, h http.Header, mode websocket.CompressionMode, first string, script []wsExchange) (*wsrecord.Recording, [][]byte) {
	t.Helper()
	fake := fakeprovider.New(fakeprovider.Options{})
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	t.Cleanup(fake.Close)
	addr, rec, done := wsrecord.Relay(t, ts.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard, not a timing assertion
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+path, &websocket.DialOptions{HTTPHeader: h, CompressionMode: mode, CompressionThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(64 << 20)
	readUntil := func(stop string) {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("reading for %s: %v", stop, err)
			}
			var ev map[string]any
			if json.Unmarshal(data, &ev) != nil {
				t.Fatalf("not JSON: %s", data)
			}
			sc, _ := ev["serverContent"].(map[string]any)
			if ev["type"] == stop || (stop == "turnComplete" && sc["turnComplete"] == true) || (stop == "setupComplete" && ev["setupComplete"] != nil) {
				return
			}
		}
	}
	if first != "" {
		readUntil(first)
	}
	var sent [][]byte
	for _, x := range script {
		if err := c.Write(ctx, websocket.MessageText, []byte(x.msg)); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, []byte(x.msg))
		if x.until != "" {
			readUntil(x.until)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	<-done
	return rec, sent
}

// meterRecording feeds a recording's frames, in order and each piece cut
// by split, to a reader per direction and a MessageMeter; a message's time
// is the index of the piece that completed it.
func meterRecording(t *testing.T, rec *wsrecord.Recording, ep Endpoint, split func([]byte) [][]byte) []MessageResult {
	t.Helper()
	pieces, resp, err := rec.FramePieces()
	if err != nil {
		t.Fatal(err)
	}
	d, err := wsframe.ParseExtensions(resp.Header.Values("Sec-WebSocket-Extensions"))
	if err != nil {
		t.Fatal(err)
	}
	var out []MessageResult
	mm := NewMessageMeter(ep, func(r MessageResult) { out = append(out, r) })
	mm.keepPanics = true
	var now time.Time
	client := wsframe.NewReader(wsframe.FromClient, func(m *wsframe.Message) { mm.ClientMessage(m, now) }, wsframe.Options{Deflate: d})
	server := wsframe.NewReader(wsframe.FromServer, func(m *wsframe.Message) { mm.ServerMessage(m, now) }, wsframe.Options{Deflate: d})
	for i, p := range pieces {
		now = t0.Add(time.Duration(i) * time.Millisecond)
		r := server
		if p.FromClient {
			r = client
		}
		for _, q := range split(p.Data) {
			r.Write(q)
		}
	}
	if client.Err() != nil || server.Err() != nil {
		t.Fatalf("frames: %v / %v", client.Err(), server.Err())
	}
	mm.Finish(now)
	return out
}

// splitWays are the ways each recorded piece is cut again.
var splitWays = map[string]func([]byte) [][]byte{
	"as relayed": func(b []byte) [][]byte { return [][]byte{b} },
	"1-byte":     func(b []byte) [][]byte { return splitEvery(b, 1) },
	"random":     func(b []byte) [][]byte { return splitRandom(b, rand.New(rand.NewPCG(uint64(len(b)), 3))) },
}

// checkWSUsage compares the results with what the fake says it reported,
// in order, and checks the timing hints are in order.
func checkWSUsage(t *testing.T, got []MessageResult, want []fakeprovider.Usage, model string) {
	t.Helper()
	if len(got) != len(want) {
		for _, r := range got {
			t.Logf("%s", resultString(r.Result))
		}
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := fakeUsage(want[i])
		g := r.Usage
		g.Raw = nil
		if fmt.Sprint(g) != fmt.Sprint(w) || (model != "" && r.Model != model) || r.Seq != i+1 {
			t.Errorf("result %d: %s\nwant usage %+v model %q", i, resultString(r.Result), w, model)
		}
		if r.Start.After(r.FirstByte) || r.FirstByte.After(r.End) {
			t.Errorf("result %d: start %v first %v end %v out of order", i, r.Start, r.FirstByte, r.End)
		}
	}
}

// TestMessageMeterResponsesAgainstFake runs Codex's Responses WebSocket
// exchange (a prewarm, then turns chained by previous_response_id) against
// the fake, with and without compression, fragments and pings, and checks
// one result per response with the fake's usage.
func TestMessageMeterResponsesAgainstFake(t *testing.T) {
	t.Parallel()
	create := func(text, extra string) string {
		return `{"type":"response.create","model":"gpt-5.5","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"` + text + `"}]}]` + extra + `}`
	}
	script := []wsExchange{
		{create("hello", `,"generate":false`), "response.completed"},
		{create("say hello to everyone", `,"previous_response_id":"resp_x","max_output_tokens":12`), "response.completed"},
		{create(strings.Repeat("many words ", 3000), `,"metadata":{"x-fake-cached-tokens":"5"}`), "response.completed"},
		{create("stop early", `,"metadata":{"x-fake-incomplete":"1"}`), "response.incomplete"},
	}
	for _, knobs := range []struct {
		name string
		mode websocket.CompressionMode
		h    http.Header
	}{
		{"plain", websocket.CompressionDisabled, http.Header{}},
		{"deflate-takeover-fragments-pings", websocket.CompressionContextTakeover,
			http.Header{fakeprovider.HeaderWSFragment: {"7"}, fakeprovider.HeaderWSPing: {"1"}}},
		{"deflate-no-takeover", websocket.CompressionNoContextTakeover, http.Header{fakeprovider.HeaderWSDeflate: {fakeprovider.DeflateNoContextTakeover}}},
	} {
		t.Run(knobs.name, func(t *testing.T) {
			h := knobs.h.Clone()
			h.Set("Authorization", "Bearer sk-test")
			rec, sent := recordWS(t, "/v1/responses", h, knobs.mode, "", script)
			want, err := fakeprovider.ExpectedWSUsage("/v1/responses", h, sent, fakeprovider.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ep := ClassifyWebSocket(OpenAI, "/v1/responses", "")
			for how, split := range splitWays {
				got := meterRecording(t, rec, ep, split)
				checkWSUsage(t, got, want, "")
				if len(got) == len(script) && (!got[0].Prewarm || got[1].Prewarm || !got[3].Terminal) {
					t.Errorf("%s: prewarm %v/%v, last terminal %v", how, got[0].Prewarm, got[1].Prewarm, got[3].Terminal)
				}
			}
		})
	}
}

// TestMessageMeterRealtimeAgainstFake runs a Realtime session with text and
// audio responses, an input transcription and a failed response against
// the fake, and checks each result's usage and model.
func TestMessageMeterRealtimeAgainstFake(t *testing.T) {
	t.Parallel()
	audio := base64.StdEncoding.EncodeToString(make([]byte, 2*fakeprovider.AudioBytesPerToken+1))
	script := []wsExchange{
		{`{"type":"session.update","session":{"type":"realtime","instructions":"be brief","output_modalities":["text"],"audio":{"input":{"transcription":{"model":"gpt-4o-transcribe"}}}}}`, "session.updated"},
		{`{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hello there"}]}}`, "conversation.item.done"},
		{`{"type":"response.create","event_id":"c1","response":{"max_output_tokens":3}}`, "response.done"},
		{`{"type":"input_audio_buffer.append","audio":"` + audio + `"}`, ""},
		{`{"type":"input_audio_buffer.commit"}`, "conversation.item.input_audio_transcription.completed"},
		{`{"type":"response.create","response":{"output_modalities":["audio"],"metadata":{"x-fake-events":"2","x-fake-cached-tokens":"4"}}}`, "response.done"},
		{`{"type":"response.create","response":{"metadata":{"x-fake-error-event":"1"}}}`, "response.done"},
	}
	path := "/v1/realtime?model=gpt-realtime"
	h := http.Header{"Authorization": {"Bearer k"}}
	for _, mode := range []websocket.CompressionMode{websocket.CompressionDisabled, websocket.CompressionContextTakeover} {
		t.Run(fmt.Sprint("mode=", mode), func(t *testing.T) {
			rec, sent := recordWS(t, path, h, mode, "session.created", script)
			want, err := fakeprovider.ExpectedWSUsage(path, h, sent, fakeprovider.Options{})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(path)
			ep := ClassifyWebSocket(OpenAI, u.Path, u.RawQuery)
			for _, split := range splitWays {
				got := meterRecording(t, rec, ep, split)
				checkWSUsage(t, got, want, "")
				if len(got) == 4 {
					if got[1].Model != "gpt-4o-transcribe" || got[0].Model != "gpt-realtime" || !got[3].Failed || got[2].Failed {
						t.Errorf("models %q %q, failed %v %v", got[0].Model, got[1].Model, got[2].Failed, got[3].Failed)
					}
				}
			}
		})
	}
}

// TestMessageMeterLiveAgainstFake runs a Gemini Live session (a text turn,
// a realtime text turn, an audio turn) against the fake, and checks one
// result per turn with the fake's usage and the setup's model.
func TestMessageMeterLiveAgainstFake(t *testing.T) {
	t.Parallel()
	audio := base64.StdEncoding.EncodeToString(make([]byte, 3*fakeprovider.LiveAudioBytesPerToken))
	script := []wsExchange{
		{`{"setup":{"model":"models/gemini-live-2.5-flash-preview","generationConfig":{"responseModalities":["TEXT"]},"systemInstruction":{"parts":[{"text":"be brief"}]}}}`, "setupComplete"},
		{`{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hello there"}]}],"turnComplete":true}}`, "turnComplete"},
		{`{"realtimeInput":{"text":"and again"}}`, "turnComplete"},
		{`{"realtimeInput":{"audio":{"data":"` + audio + `","mimeType":"audio/pcm;rate=16000"}}}`, ""},
		{`{"realtimeInput":{"audioStreamEnd":true}}`, "turnComplete"},
	}
	path := "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
	h := http.Header{"X-Goog-Api-Key": {"k"}, fakeprovider.HeaderReasoningTokens: {"2"}, fakeprovider.HeaderCachedTokens: {"3"}}
	rec, sent := recordWS(t, path, h, websocket.CompressionContextTakeover, "", script)
	want, err := fakeprovider.ExpectedWSUsage(path, h, sent, fakeprovider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range splitWays {
		got := meterRecording(t, rec, ClassifyWebSocket(Gemini, path, ""), split)
		checkWSUsage(t, got, want, "gemini-live-2.5-flash-preview")
	}
}
