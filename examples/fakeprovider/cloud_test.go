package fakeprovider

import (
	"net/http"
	"strings"
	"testing"
)

// TestVertexAnthropic guards Vertex AI's Anthropic endpoints on any host:
// :rawPredict answers the Messages JSON and :streamRawPredict the Messages
// stream (stream implied by the method), the model coming from the path
// (vertex-2023-10-16 bodies have none), no credential needed (Claude Code's
// CLAUDE_CODE_SKIP_VERTEX_AUTH sends none), usage as ExpectedUsage says.
func TestVertexAnthropic(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	base := "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001"
	body := `{"anthropic_version":"vertex-2023-10-16","max_tokens":3,"messages":[{"role":"user","content":"hello there"}]}`
	resp, b := post(t, ts.URL+base+":rawPredict", "ollama", nil, body)
	m := decode(t, string(b))
	if resp.StatusCode != 200 || str(m, "model") != "claude-haiku-4-5@20251001" || str(m, "type") != "message" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	want, err := ExpectedUsage(base+":rawPredict", nil, []byte(body), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := wireUsage(t, "anthropic", false, b); got != want || want.InputTokens != 5 {
		t.Errorf("usage %+v, want %+v", got, want)
	}
	resp, b = post(t, ts.URL+base+":streamRawPredict", "ollama", nil, body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	if got := wireUsage(t, "anthropic", true, b); got != want {
		t.Errorf("stream usage %+v, want %+v", got, want)
	}
}

// TestVertexGemini guards Vertex AI's Gemini paths, served by the Gemini
// endpoints whatever the prefix.
func TestVertexGemini(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	path := "/v1/projects/proj/locations/global/publishers/google/models/gemini-2.5-flash:generateContent"
	_, b := post(t, ts.URL+path, "openai", nil, geminiBody)
	if m := decode(t, string(b)); str(m, "modelVersion") != "gemini-2.5-flash" || num(m, "usageMetadata", "promptTokenCount") < PromptOverhead {
		t.Errorf("%s", b)
	}
}

// TestAzure guards Azure OpenAI: the deployment in the path (or the model
// on /openai/v1/ with api-key) reports the model behind it, mapped by
// Options.Deployments or DefaultAzureModel; api-key is a credential; the
// first stream chunk has empty choices and prompt_filter_results, the
// object has prompt_filter_results too; usage is unchanged.
func TestAzure(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{Deployments: map[string]string{"prod-mini": "gpt-4o-mini-2024-07-18"}})
	key := hdr("Api-Key", "azure-key")
	body := `{"messages":[{"role":"user","content":"hello there"}],"max_tokens":2}`
	tests := []struct {
		name, path, body, model string
	}{
		{"deployment path", "/openai/deployments/prod-mini/chat/completions?api-version=2024-10-21", body, "gpt-4o-mini-2024-07-18"},
		{"unmapped deployment", "/openai/deployments/other/chat/completions?api-version=2024-10-21", body, DefaultAzureModel},
		{"v1 path", "/openai/v1/chat/completions", `{"model":"prod-mini",` + body[1:], "gpt-4o-mini-2024-07-18"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := post(t, ts.URL+tt.path, "ollama", key, tt.body)
			m := decode(t, string(b))
			if resp.StatusCode != 200 || str(m, "model") != tt.model || at(m, "prompt_filter_results", 0, "content_filter_results", "hate", "severity") != "safe" {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if num(m, "usage", "prompt_tokens") != 5 || num(m, "usage", "completion_tokens") != 2 {
				t.Errorf("usage %v", at(m, "usage"))
			}
			_, b = post(t, ts.URL+tt.path, "ollama", key, strings.Replace(tt.body, `"max_tokens"`, `"stream":true,"stream_options":{"include_usage":true},"max_tokens"`, 1))
			evs := splitSSE(t, b, "\n")
			first := decode(t, evs[0].data)
			if len(at(first, "choices").([]any)) != 0 || str(first, "model") != "" || at(first, "prompt_filter_results") == nil {
				t.Errorf("first chunk %s", evs[0].data)
			}
			if second := decode(t, evs[1].data); str(second, "model") != tt.model {
				t.Errorf("second chunk %s", evs[1].data)
			}
			if got := wireUsage(t, "chat", true, b); got.InputTokens != 5 || got.OutputTokens != 2 {
				t.Errorf("stream usage %+v", got)
			}
		})
	}
	// Not Azure: no filter results, the requested model.
	_, b := post(t, ts.URL+"/v1/chat/completions", "openai", nil, `{"model":"gpt-4o",`+body[1:])
	if m := decode(t, string(b)); has(m, "prompt_filter_results") || str(m, "model") != "gpt-4o" {
		t.Errorf("plain OpenAI got Azure extras: %s", b)
	}
	resp, _ := post(t, ts.URL+"/openai/deployments/d/chat/completions?api-version=1", "ollama", http.Header{}, body)
	if resp.StatusCode != 401 {
		t.Errorf("no api-key: %d", resp.StatusCode)
	}
}
