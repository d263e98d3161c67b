package fakeprovider

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzBodies guards that no request body makes the fake panic, answer
// anything but 200 or 400, or disagree with ExpectedUsage about the
// prompt it counted.
func FuzzBodies(f *testing.F) {
	seeds := []string{
		chatBody, messagesReq(2, `,"stream":true`), geminiBody, `{}`, `[]`, `null`, `{"input":[1,"a b",{"text":"c"}]}`,
		`{"messages":[{"content":[{"type":"text","text":"x"},{"type":"image"}]}],"max_tokens":-4}`,
		`{"stream":"yes","options":{"num_predict":1.5}}`, `{"prompt":{"content":{"text":"deep"}}}`,
	}
	for _, s := range seeds {
		f.Add(s, uint8(0))
	}
	paths := []string{
		"/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings", "/v1/messages",
		"/v1beta/models/g:generateContent", "/v1beta/models/g:streamGenerateContent", "/api/chat", "/api/generate",
	}
	s := New(Options{KeepRequests: -1})
	f.Fuzz(func(t *testing.T, body string, pick uint8) {
		path := paths[int(pick)%len(paths)]
		h := hdr("Authorization", "Bearer k", HeaderEvents, "2") // bounded output
		want, usageErr := ExpectedUsage(path, h, []byte(body), Options{})
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header = h
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			if usageErr != nil {
				t.Fatalf("served 200 but ExpectedUsage failed: %v", usageErr)
			}
			if want.InputTokens < PromptOverhead || want.OutputTokens < 0 {
				t.Fatalf("impossible usage %+v", want)
			}
		case 400:
			if usageErr == nil {
				t.Fatalf("answered 400 but ExpectedUsage accepted the body: %s", rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzWSConversation guards that no sequence of client messages makes the
// Realtime or Live state machines panic or predict negative usage (the
// server runs the same code on every message it reads).
func FuzzWSConversation(f *testing.F) {
	seeds := []string{
		`{"type":"session.update","session":{"instructions":"a b","output_modalities":["audio"],"audio":{"input":{"transcription":null}}}}`,
		`{"type":"conversation.item.create","item":{"role":"user","content":[{"text":"x y"}]}}`,
		`{"type":"input_audio_buffer.append","audio":"AAAA"}`, `{"type":"input_audio_buffer.commit"}`,
		`{"type":"response.create","response":{"output_modalities":"audio","max_output_tokens":2,"metadata":{"x-fake-error-event":"0"}}}`,
		`{"setup":{"generationConfig":{"responseModalities":[1,"AUDIO"]},"systemInstruction":"s"}}`,
		`{"clientContent":{"turns":[{"parts":[{"text":"t"}]}],"turnComplete":true}}`,
		`{"realtimeInput":"x"}`, `{"realtimeInput":{"mediaChunks":[{"data":"AAAA"},3],"audioStreamEnd":true}}`,
		`{"realtimeInput":{"text":"hi"}}`, `[]`, `{"type":7}`,
	}
	for _, s := range seeds {
		f.Add(s, s, uint8(0))
	}
	paths := []string{"/v1/realtime?model=m", "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent", "/v1/responses"}
	f.Fuzz(func(t *testing.T, a, b string, pick uint8) {
		path := paths[int(pick)%len(paths)]
		msgs := [][]byte{[]byte(a), []byte(b), []byte(a)}
		if strings.Contains(path, "Bidi") {
			msgs = append([][]byte{[]byte(`{"setup":{}}`)}, msgs...)
		}
		us, err := ExpectedWSUsage(path, hdr(HeaderEvents, "2"), msgs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.InputTokens < 0 || u.OutputTokens < 0 || u.InputAudioTokens < 0 || u.OutputAudioTokens < 0 || u.InputAudioTokens > u.InputTokens {
				t.Fatalf("impossible usage %+v", u)
			}
		}
	})
}

// FuzzWSFrames guards the frame reader: any bytes a client sends after the
// handshake end in messages or a closed connection, never a panic or a
// message over the size limit.
func FuzzWSFrames(f *testing.F) {
	masked := func(b0 byte, p string) []byte {
		out := []byte{b0, 0x80 | byte(len(p)), 1, 2, 3, 4}
		for i := range len(p) {
			out = append(out, p[i]^byte(i%4+1))
		}
		return out
	}
	f.Add(masked(0x81, `{"type":"response.create"}`), true)
	f.Add(append(masked(0x01, "ab"), masked(0x80, "cd")...), false)
	f.Add(masked(0xC1, "\xf2H\xcd\xc9\xc9\x07\x00"), true)
	f.Add([]byte{0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, false)
	f.Fuzz(func(t *testing.T, wire []byte, deflate bool) {
		server, client := net.Pipe()
		defer client.Close()
		c := &wsConn{conn: server, br: bufio.NewReader(server), deflate: deflateParams{on: deflate}, maxMsg: 1 << 10}
		go func() {
			_, _ = client.Write(wire)
			client.Close()
		}()
		go io.Copy(io.Discard, client) // pongs and closes
		msgs := make(chan wsMessage)
		done := make(chan error, 1)
		go func() { done <- c.readLoop(context.Background(), msgs) }()
		for m := range msgs {
			if int64(len(m.data)) > c.maxMsg {
				t.Fatalf("message of %d bytes past the %d limit", len(m.data), c.maxMsg)
			}
		}
		if err := <-done; err == nil {
			t.Fatal("readLoop ended without a reason")
		}
		server.Close()
	})
}
