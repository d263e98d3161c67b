package fakeprovider

import (
	"encoding/json"
	"strings"
	"testing"
)

const geminiBody = `{"systemInstruction":{"parts":[{"text":"be kind"}]},"contents":[{"role":"user","parts":[{"text":"why is the sky blue"}]}],"generationConfig":{"maxOutputTokens":3}}`

// TestGeminiGenerate guards :generateContent: the model from the path, the
// candidate and usageMetadata.
func TestGeminiGenerate(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	resp, body := post(t, ts.URL+"/v1beta/models/gemini-2.5-flash:generateContent", "gemini", hdr(HeaderCachedTokens, "4", HeaderReasoningTokens, "10"), geminiBody)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	m := decode(t, string(body))
	if str(m, "modelVersion") != "gemini-2.5-flash" || str(m, "responseId") == "" {
		t.Errorf("model/responseId: %s", body)
	}
	if str(m, "candidates", 0, "content", "parts", 0, "text") != "lorem ipsum dolor" || str(m, "candidates", 0, "finishReason") != "STOP" || str(m, "candidates", 0, "content", "role") != "model" {
		t.Errorf("candidate: %s", body)
	}
	// "be kind why is the sky blue" = 7 words + 3 + 4 cached.
	u := at(m, "usageMetadata")
	want := map[string]int{"promptTokenCount": 14, "candidatesTokenCount": 3, "thoughtsTokenCount": 10, "cachedContentTokenCount": 4, "totalTokenCount": 27}
	for k, v := range want {
		if num(u, k) != v {
			t.Errorf("usageMetadata.%s = %d, want %d", k, num(u, k), v)
		}
	}
}

// TestGeminiStreamSSE guards alt=sse: CRLF framing, ": " separators, running
// usage totals in every chunk, and a final chunk with finishReason.
func TestGeminiStreamSSE(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	resp, body := post(t, ts.URL+"/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", "gemini", nil, geminiBody)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	evs := splitSSE(t, body, "\r\n")
	if len(evs) != 4 {
		t.Fatalf("%d chunks, want 3 words + final", len(evs))
	}
	var text string
	for i, ev := range evs {
		if !strings.HasPrefix(ev.data, `{"candidates": [{"content": {"parts": [{"text": `) {
			t.Errorf("chunk %d not in Gemini's spacing: %s", i, ev.data)
		}
		c := decode(t, ev.data)
		text += str(c, "candidates", 0, "content", "parts", 0, "text")
		words := min(i+1, 3)
		if num(c, "usageMetadata", "promptTokenCount") != 10 || num(c, "usageMetadata", "totalTokenCount") != 10+words {
			t.Errorf("chunk %d usage not a running total: %v", i, at(c, "usageMetadata"))
		}
		if got := num(c, "usageMetadata", "candidatesTokenCount"); got != words {
			t.Errorf("chunk %d candidatesTokenCount = %d, want %d", i, got, words)
		}
		if final := i == len(evs)-1; (str(c, "candidates", 0, "finishReason") == "STOP") != final {
			t.Errorf("chunk %d finishReason %q", i, str(c, "candidates", 0, "finishReason"))
		}
	}
	if text != "lorem ipsum dolor" {
		t.Errorf("text = %q", text)
	}
}

// TestGeminiStreamArray guards streamGenerateContent without alt=sse: one
// JSON array of response objects.
func TestGeminiStreamArray(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		name   string
		events string
		want   int
	}{
		{"three words", "3", 4},
		{"no words", "0", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No credential header: the key= query parameter is the credential.
			resp, body := post(t, ts.URL+"/v1beta/models/gemini-2.0-flash:streamGenerateContent?key=k", "ollama", hdr(HeaderEvents, tt.events), geminiBody)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=UTF-8" {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var arr []map[string]any
			if err := json.Unmarshal(body, &arr); err != nil {
				t.Fatalf("not one JSON array: %v\n%s", err, body)
			}
			if len(arr) != tt.want {
				t.Fatalf("%d elements, want %d", len(arr), tt.want)
			}
			last := arr[len(arr)-1]
			if str(last, "candidates", 0, "finishReason") != "STOP" || at(last, "usageMetadata", "promptTokenCount") == nil {
				t.Errorf("last element: %v", last)
			}
		})
	}
}

// TestGeminiCountTokens guards :countTokens.
func TestGeminiCountTokens(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	_, body := post(t, ts.URL+"/v1beta/models/gemini-2.0-flash:countTokens", "gemini", nil, geminiBody)
	if m := decode(t, string(body)); num(m, "totalTokens") != 10 {
		t.Errorf("countTokens: %s", body)
	}
}

// TestGeminiSpaced guards the separator rewrite: colons inside strings,
// escaped quotes and nesting stay intact.
func TestGeminiSpaced(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"a":1}`, `{"a": 1}`},
		{`{"a":"x:y","b":[{"c":null}]}`, `{"a": "x:y","b": [{"c": null}]}`},
		{`{"a":"q\":\\","b":2}`, `{"a": "q\":\\","b": 2}`},
	}
	for _, tt := range tests {
		if got := string(geminiSpaced([]byte(tt.in))); got != tt.want {
			t.Errorf("geminiSpaced(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
