package main

import (
	"net/url"
	"testing"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/parsers"
)

// TestSDKBaseURL guards the one rule for what base URL each SDK is given,
// which `conduit env` prints and the proxy logs at start: OpenAI-style
// SDKs get the API version unless the upstream carries it, and Gemini's
// OpenAI-compatible endpoint its own path; the other formats' SDKs add
// their paths themselves.
func TestSDKBaseURL(t *testing.T) {
	tests := []struct {
		key, upstream string
		api           parsers.API
		want          string
	}{
		{"openai", "https://api.openai.com", parsers.OpenAI, "http://h:1/openai/v1"},
		{"groq", "https://api.groq.com/openai", parsers.OpenAI, "http://h:1/groq/v1"},
		{"openrouter", "https://openrouter.ai/api", parsers.OpenAI, "http://h:1/openrouter/v1"},
		{"vllm", "http://127.0.0.1:8000", parsers.OpenAI, "http://h:1/vllm/v1"},
		{"versioned", "https://llm.example.com/v1", parsers.OpenAI, "http://h:1/versioned"},
		{"deep", "https://llm.example.com/api/v2beta", parsers.OpenAI, "http://h:1/deep"},
		{"gemini-openai", "https://generativelanguage.googleapis.com", parsers.OpenAI, "http://h:1/gemini-openai/v1beta/openai"},
		{"gemini-openai2", "https://generativelanguage.googleapis.com/v1beta/openai", parsers.OpenAI, "http://h:1/gemini-openai2"},
		{"anthropic", "https://api.anthropic.com", parsers.Anthropic, "http://h:1/anthropic"},
		{"gemini", "https://generativelanguage.googleapis.com", parsers.Gemini, "http://h:1/gemini"},
		{"ollama", "http://127.0.0.1:11434", parsers.Ollama, "http://h:1/ollama"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.upstream)
		if err != nil {
			t.Fatal(err)
		}
		p := &intercept.Provider{Key: tt.key, Upstream: u, API: tt.api}
		if got := sdkBaseURL("http://h:1", p); got != tt.want {
			t.Errorf("%s → %s: %s, want %s", tt.key, tt.upstream, got, tt.want)
		}
	}
}
