package parsers

import (
	"strings"
	"testing"
)

var (
	genEP    = Endpoint{API: Gemini, Kind: GenerateContent, Model: "gemini-2.5-flash"}
	genSSEEP = Endpoint{API: Gemini, Kind: GenerateContent, Model: "gemini-2.5-flash", Stream: true}
)

// geminiChunks are three streamed chunks with running usage totals; the
// middle one has no usageMetadata at all.
var geminiChunks = []string{
	`{"candidates": [{"content": {"parts": [{"text": "The"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 1,"totalTokenCount": 121,"cachedContentTokenCount": 64,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 120}]},"modelVersion": "gemini-2.5-flash","responseId": "abc123"}`,
	`{"candidates": [{"content": {"parts": [{"text": " answer"}],"role": "model"},"index": 0}],"modelVersion": "gemini-2.5-flash","responseId": "abc123"}`,
	`{"candidates": [{"content": {"parts": [{"text": " is 4."}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 9,"totalTokenCount": 179,"cachedContentTokenCount": 64,"thoughtsTokenCount": 50,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 120}]},"modelVersion": "gemini-2.5-flash","responseId": "abc123"}`,
}

func TestMeterGemini(t *testing.T) {
	t.Parallel()
	want := Result{Usage: usage(120, 64, 0, 59, 50), Model: "gemini-2.5-flash", ResponseID: "abc123", Terminal: true}
	var sseCRLF strings.Builder
	for _, c := range geminiChunks {
		sseCRLF.WriteString("data: " + c + "\r\n\r\n")
	}
	runMeterCases(t, []meterCase{
		{
			name: "generateContent",
			ep:   genEP, ct: "application/json; charset=UTF-8",
			body: `{
  "candidates": [{"content": {"parts": [{"text": "4"}], "role": "model"}, "finishReason": "STOP", "index": 0}],
  "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 50, "totalTokenCount": 180, "cachedContentTokenCount": 40, "thoughtsTokenCount": 30,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}], "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 40}]},
  "modelVersion": "gemini-2.5-pro",
  "responseId": "resp-1"
}`,
			want: Result{Usage: usage(100, 40, 0, 80, 30), Model: "gemini-2.5-pro", ResponseID: "resp-1", Terminal: true},
			raw:  `{"promptTokenCount": 100, "candidatesTokenCount": 50, "totalTokenCount": 180, "cachedContentTokenCount": 40, "thoughtsTokenCount": 30, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}], "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 40}]}`,
		},
		{
			name: "streamGenerateContent alt=sse with CRLF",
			ep:   genSSEEP, ct: "text/event-stream",
			body: sseCRLF.String(),
			want: want,
		},
		{
			name: "streamGenerateContent as one streamed JSON array",
			ep:   genSSEEP, ct: "application/json; charset=UTF-8",
			body: "[" + strings.Join(geminiChunks, "\r\n,\r\n") + "]",
			want: want,
		},
		{
			name: "JSON array cut before its end",
			ep:   genSSEEP, ct: "application/json",
			body: "[" + geminiChunks[0] + "\r\n,\r\n" + geminiChunks[1] + "\r\n,\r\n" + geminiChunks[2][:40],
			want: Result{Usage: usage(120, 64, 0, 1, 0), Model: "gemini-2.5-flash", ResponseID: "abc123"},
		},
		{
			name: "tool-use prompt tokens count as input",
			ep:   genEP, ct: "application/json",
			body: `{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":3,"toolUsePromptTokenCount":25,"totalTokenCount":38},"modelVersion":"gemini-2.5-flash"}`,
			want: Result{Usage: usage(35, 0, 0, 3, 0), Model: "gemini-2.5-flash", Terminal: true},
		},
		{
			name: "blocked prompt",
			ep:   genEP, ct: "application/json",
			body: `{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"HIGH"}]},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-2.5-flash"}`,
			want: Result{Usage: usage(8, 0, 0, 0, 0), Model: "gemini-2.5-flash", Terminal: true},
		},
		{
			name: "error in a streamed array",
			ep:   genSSEEP, ct: "application/json",
			body: `[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}]`,
			want: Result{Model: "gemini-2.5-flash", Terminal: true, Failed: true, ErrorType: "RESOURCE_EXHAUSTED",
				ErrorMessage: "Resource has been exhausted (e.g. check quota)."},
		},
		{
			name: "oversize SSE chunk: usageMetadata, modelVersion and responseId from its tail",
			ep:   genSSEEP, ct: "text/event-stream",
			eventCap: 2048, tailCap: 512,
			body: "data: " + geminiChunks[0] + "\r\n\r\n" +
				`data: {"candidates": [{"content": {"parts": [{"text": "` + strings.Repeat("x", 5000) + `"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 900,"totalTokenCount": 1020},"modelVersion": "gemini-2.5-flash-002","responseId": "def456"}` + "\r\n\r\n",
			want: Result{Usage: usage(120, 64, 0, 900, 0), Model: "gemini-2.5-flash-002", ResponseID: "def456", Terminal: true},
		},
	})
}

// TestMeterGeminiModalities guards the audio and image shares from the
// per-modality details, and that the last modelVersion wins.
func TestMeterGeminiModalities(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{
		{
			name: "audio and image in, audio out",
			ep:   genEP, ct: "application/json",
			body: `{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":400,"totalTokenCount":1400,` +
				`"promptTokensDetails":[{"modality":"TEXT","tokenCount":42},{"modality":"AUDIO","tokenCount":700},{"modality":"IMAGE","tokenCount":258}],` +
				`"candidatesTokensDetails":[{"modality":"AUDIO","tokenCount":390},{"modality":"TEXT","tokenCount":10}]},"modelVersion":"gemini-2.5-flash-native-audio"}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 1000, OutputTokens: 400, AudioInputTokens: 700, ImageInputTokens: 258, AudioOutputTokens: 390},
				Model: "gemini-2.5-flash-native-audio", Terminal: true},
		},
		{
			name: "image out; a modality without tokenCount is zero",
			ep:   genEP, ct: "application/json",
			body: `{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":1290,` +
				`"promptTokensDetails":[{"modality":"TEXT","tokenCount":10},{"modality":"AUDIO"}],"candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1290}]},"modelVersion":"gemini-2.5-flash-image"}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 10, OutputTokens: 1290, ImageOutputTokens: 1290},
				Model: "gemini-2.5-flash-image", Terminal: true},
		},
		{
			name: "stream: running totals; a chunk without details keeps them; the last model wins",
			ep:   genSSEEP, ct: "text/event-stream",
			body: sseBody(
				`data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":800,"candidatesTokenCount":1,"promptTokensDetails":[{"modality":"AUDIO","tokenCount":700},{"modality":"TEXT","tokenCount":100}]},"modelVersion":"gemini-2.5-pro"}`,
				`data: {"candidates":[{"content":{"parts":[{"text":"b"}]}}],"usageMetadata":{"promptTokenCount":800,"candidatesTokenCount":5},"modelVersion":"gemini-2.5-flash"}`,
				`data: {"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":800,"candidatesTokenCount":9,"candidatesTokensDetails":[{"modality":"TEXT","tokenCount":9}]},"modelVersion":"gemini-2.5-flash"}`),
			want: Result{Usage: Usage{Seen: true, InputTokens: 800, OutputTokens: 9, AudioInputTokens: 700},
				Model: "gemini-2.5-flash", Terminal: true},
		},
		{
			name: "details that are not a list",
			ep:   genEP, ct: "application/json",
			body: `{"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":1,"promptTokensDetails":{"modality":"AUDIO","tokenCount":5}}}`,
			want: Result{Usage: usage(10, 0, 0, 1, 0), Model: "gemini-2.5-flash", Terminal: true, Invalid: "promptTokensDetails: not an array"},
		},
	})
}
