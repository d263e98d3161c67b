package fakeprovider

import (
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
