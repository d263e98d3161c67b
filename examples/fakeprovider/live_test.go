package fakeprovider

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/coder/websocket"
)

// readLive reads binary Live messages until one with turnComplete (or the
// connection ends, returning its close status).
func readLive(t *testing.T, c *websocket.Conn) ([]map[string]any, websocket.StatusCode) {
	t.Helper()
	var out []map[string]any
	for {
		typ, data, err := c.Read(wsCtx(t))
		if err != nil {
			return out, websocket.CloseStatus(err)
		}
		if typ != websocket.MessageBinary {
			t.Fatalf("Live message type %v: %s", typ, data)
		}
		m := decode(t, string(data))
		out = append(out, m)
		if at(m, "serverContent", "turnComplete") == true || has(m, "setupComplete") {
			return out, -1
		}
	}
}

// liveUsageOf normalizes usageMetadata independently of the fake.
func liveUsageOf(m map[string]any) Usage {
	u := at(m, "usageMetadata")
	modality := func(key, name string) int {
		list, _ := at(u, key).([]any)
		for _, x := range list {
			if str(x, "modality") == name {
				return num(x, "tokenCount")
			}
		}
		return 0
	}
	thoughts := max(num(u, "thoughtsTokenCount"), 0)
	return Usage{
		InputTokens:       num(u, "promptTokenCount"),
		CachedInputTokens: max(num(u, "cachedContentTokenCount"), 0),
		InputAudioTokens:  modality("promptTokensDetails", "AUDIO"),
		OutputTokens:      num(u, "responseTokenCount") + thoughts,
		ReasoningTokens:   thoughts,
		OutputAudioTokens: modality("responseTokensDetails", "AUDIO"),
	}
}

// TestLive guards the Gemini Live session: setupComplete, a text turn from
// clientContent (one text part per word, then generationComplete, then
// turnComplete with usageMetadata), an audio turn from realtimeInput
// chunks ended by audioStreamEnd with audio output and transcription, all
// usage equal to ExpectedWSUsage's; the key may come in the query.
func TestLive(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	path := "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=AIza-test"
	c, _ := dialWS(t, wsURL(ts, path), nil, websocket.CompressionDisabled)
	setup := `{"setup":{"model":"models/gemini-live-2.5-flash","generationConfig":{"responseModalities":["TEXT"]},"systemInstruction":{"parts":[{"text":"be brief"}]}}}`
	msgs := []string{setup}
	if err := c.Write(wsCtx(t), websocket.MessageText, []byte(setup)); err != nil {
		t.Fatal(err)
	}
	if evs, _ := readLive(t, c); len(evs) != 1 || !has(evs[0], "setupComplete") {
		t.Fatalf("setup answer: %v", evs)
	}
	turn := `{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hello there"}]}],"turnComplete":true}}`
	msgs = append(msgs, turn)
	sendJSON(t, c, turn)
	evs, _ := readLive(t, c)
	if len(evs) != DefaultEvents+2 || str(evs[0], "serverContent", "modelTurn", "parts", 0, "text") != "lorem" ||
		at(evs[len(evs)-2], "serverContent", "generationComplete") != true {
		t.Fatalf("text turn: %v", evs)
	}
	got := []Usage{liveUsageOf(evs[len(evs)-1])}

	want, err := ExpectedWSUsage(path, nil, toBytes(msgs), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 1 || got[0] != want[0] || got[0] != (Usage{InputTokens: 7, OutputTokens: DefaultEvents}) {
		t.Fatalf("text turn usage %+v, want %+v", got, want)
	}

	// A new connection with audio out and a 2-chunk audio turn.
	c2, _ := dialWS(t, wsURL(ts, path), nil, websocket.CompressionDisabled)
	setup2 := `{"setup":{"model":"models/m","generationConfig":{"responseModalities":["AUDIO"]},"outputAudioTranscription":{}}}`
	chunk := base64.StdEncoding.EncodeToString(make([]byte, LiveAudioBytesPerToken+10))
	msgs2 := []string{setup2,
		`{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"` + chunk + `"}}}`,
		`{"realtimeInput":{"mediaChunks":[{"mimeType":"audio/pcm;rate=16000","data":"` + chunk + `"}]}}`,
		`{"realtimeInput":{"audioStreamEnd":true}}`,
	}
	for _, m := range msgs2 {
		sendJSON(t, c2, m)
	}
	if evs, _ := readLive(t, c2); !has(evs[0], "setupComplete") {
		t.Fatalf("setup: %v", evs)
	}
	evs, _ = readLive(t, c2)
	if len(evs) != 2*DefaultEvents+2 || str(evs[0], "serverContent", "modelTurn", "parts", 0, "inlineData", "mimeType") != "audio/pcm;rate=24000" ||
		str(evs[1], "serverContent", "outputTranscription", "text") != "lorem" {
		t.Fatalf("audio turn: %d messages, first %v", len(evs), evs[:2])
	}
	want2, _ := ExpectedWSUsage(path, nil, toBytes(msgs2), Options{})
	// 3 overhead text + 3 audio tokens (2 chunks of 1010 bytes) in.
	u := liveUsageOf(evs[len(evs)-1])
	if len(want2) != 1 || u != want2[0] || u != (Usage{InputTokens: 6, InputAudioTokens: 3, OutputTokens: DefaultEvents * AudioTokensPerWord, OutputAudioTokens: DefaultEvents * AudioTokensPerWord}) {
		t.Errorf("audio turn usage %+v, want %+v", u, want2)
	}
}

// TestLiveErrors guards the Live failures: a first message that is not
// setup closes with 1007, the error knob closes mid-turn with 1011.
func TestLiveErrors(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	path := "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
	setup := `{"setup":{"model":"models/m"}}`
	turn := `{"clientContent":{"turns":[{"role":"user","parts":[{"text":"x"}]}],"turnComplete":true}}`
	tests := []struct {
		name string
		h    []string
		msgs []string
		want websocket.StatusCode
	}{
		{"no setup", nil, []string{turn}, websocket.StatusInvalidFramePayloadData},
		{"error knob", []string{HeaderErrorEvent, "2"}, []string{setup, turn}, websocket.StatusInternalError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := dialWS(t, wsURL(ts, path), hdr(append([]string{"X-Goog-Api-Key", "k"}, tt.h...)...), websocket.CompressionDisabled)
			for _, m := range tt.msgs {
				if err := c.Write(context.Background(), websocket.MessageText, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			var status websocket.StatusCode = -1
			var texts int
			for status == -1 {
				var evs []map[string]any
				evs, status = readLive(t, c)
				for _, ev := range evs {
					if at(ev, "serverContent", "modelTurn") != nil {
						texts++
					}
				}
			}
			if status != tt.want {
				t.Errorf("close status %v, want %v", status, tt.want)
			}
			if tt.name == "error knob" && texts != 2 {
				t.Errorf("%d parts before the error, want 2", texts)
			}
		})
	}
}

func toBytes(msgs []string) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = []byte(m)
	}
	return out
}
