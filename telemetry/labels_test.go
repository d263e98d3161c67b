package telemetry

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// TestClientName guards the client label: the SDK or tool name, without its
// version, from the User-Agents real clients send.
func TestClientName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"OpenAI/Python 1.40.0":                             "openai-python",
		"AsyncOpenAI/Python 1.40.0":                        "asyncopenai-python",
		"OpenAI/JS 4.56.0":                                 "openai-js",
		"Anthropic/Python 0.40.0":                          "anthropic-python",
		"Anthropic/JS 0.30.1":                              "anthropic-js",
		"claude-cli/1.0.3 (external, cli)":                 "claude-cli",
		"codex_cli_rs/0.20.0 (Mac OS 15.5.0; arm64) iTerm": "codex_cli_rs",
		"curl/8.5.0":                                       "curl",
		"python-requests/2.31.0":                           "python-requests",
		"Go-http-client/1.1":                               "go-http-client",
		"google-genai-sdk/1.2.0 gl-python/3.12.1":          "google-genai-sdk",
		"ai-sdk/openai/1.3.22":                             "ai-sdk-openai",
		"Mozilla/5.0 (X11; Linux x86_64)":                  "mozilla",
		"node":                                             "node",
		"my tool":                                          "my",
		"Weird Name!/2":                                    "weird",
		"":                                                 "unknown",
		"   ":                                              "unknown",
		"/1.0":                                             "unknown",
		"1.0":                                              "unknown",
		"ünïcode/1":                                        "-n-code",
		strings.Repeat("a", 100) + "/1":                    "other",
	}
	for ua, want := range tests {
		t.Run(ua, func(t *testing.T) {
			if got := ClientName(ua); got != want {
				t.Errorf("ClientName(%q) = %q, want %q", ua, got, want)
			}
		})
	}
}

// TestLimiter guards label cardinality: the first max distinct values keep
// their name, later ones fold into "other", known ones keep theirs, empty,
// overlong and invalid values are cleaned, and concurrent callers agree.
func TestLimiter(t *testing.T) {
	t.Parallel()
	l := newLimiter(2)
	steps := []struct{ in, want string }{
		{"gpt-4o", "gpt-4o"},
		{"", "unknown"},
		{"claude", "claude"},
		{"gemini", "other"},
		{"gpt-4o", "gpt-4o"},
		{strings.Repeat("m", 200), "other"},
		{"other", "other"},
	}
	for _, s := range steps {
		if got := l.fold(s.in); got != s.want {
			t.Errorf("fold(%.20q) = %q, want %q", s.in, got, s.want)
		}
	}
	if got := cleanLabel("bad\xffutf8"); got != "bad\uFFFDutf8" {
		t.Errorf("cleanLabel invalid UTF-8 = %q", got)
	}

	l = newLimiter(10)
	var wg sync.WaitGroup
	results := make([][]string, 8)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				results[g] = append(results[g], l.fold(fmt.Sprintf("m%d", i)))
			}
		}()
	}
	wg.Wait()
	kept := map[string]bool{}
	for _, r := range results {
		for _, v := range r {
			if v != LabelOther {
				kept[v] = true
			}
		}
	}
	if len(kept) != 10 {
		t.Errorf("%d distinct values kept, want 10", len(kept))
	}
}

// TestOperation guards the gen_ai.operation.name of each endpoint.
func TestOperation(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"chat_completions": "chat", "responses": "chat", "messages": "chat", "ollama_chat": "chat",
		"completions": "text_completion", "ollama_generate": "text_completion",
		"embeddings": "embeddings", "generate_content": "generate_content",
		"count_tokens": "count_tokens", "": "other",
	}
	for ep, want := range tests {
		if got := Operation(ep); got != want {
			t.Errorf("Operation(%q) = %q, want %q", ep, got, want)
		}
	}
}

// TestProviderName guards gen_ai.provider.name: the conventions' well-known
// names by host or platform, else ollama, else the provider key.
func TestProviderName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rec  ledger.Record
		want string
	}{
		{ledger.Record{Host: "api.openai.com", API: "openai", Provider: "openai"}, "openai"},
		{ledger.Record{Host: "api.openai.com:443", API: "openai", Provider: "work"}, "openai"},
		{ledger.Record{Host: "API.Anthropic.com", API: "anthropic", Provider: "anthropic"}, "anthropic"},
		{ledger.Record{Host: "generativelanguage.googleapis.com", API: "gemini", Provider: "gemini"}, "gcp.gemini"},
		{ledger.Record{Host: "us-central1-aiplatform.googleapis.com", API: "gemini", Provider: "vertex"}, "gcp.vertex_ai"},
		{ledger.Record{Host: "us-east5-aiplatform.googleapis.com", API: "anthropic", Provider: "vertex-claude"}, "gcp.vertex_ai"},
		{ledger.Record{Host: "myco.openai.azure.com", API: "openai", Provider: "azure"}, "azure.ai.openai"},
		{ledger.Record{Host: "bedrock-runtime.us-east-1.amazonaws.com", API: "openai", Provider: "bedrock"}, "aws.bedrock"},
		{ledger.Record{Host: "api.groq.com", API: "openai", Provider: "groq"}, "groq"},
		{ledger.Record{Host: "api.mistral.ai", API: "openai", Provider: "mistral"}, "mistral_ai"},
		{ledger.Record{Host: "api.x.ai", API: "openai", Provider: "xai"}, "x_ai"},
		{ledger.Record{Host: "127.0.0.1:11434", API: "ollama", Provider: "local"}, "ollama"},
		{ledger.Record{Host: "openrouter.ai", API: "openai", Provider: "openrouter"}, "openrouter"},
		{ledger.Record{Host: "127.0.0.1:8000", API: "openai", Provider: "vllm"}, "vllm"},
		{ledger.Record{Host: "h", API: "openai"}, "openai"},
	}
	for _, tt := range tests {
		if got := ProviderName(&tt.rec); got != tt.want {
			t.Errorf("ProviderName(%s, %s, %s) = %q, want %q", tt.rec.Host, tt.rec.API, tt.rec.Provider, got, tt.want)
		}
	}
}

// TestExportableHeader guards the credential filter on x-vh-* headers.
func TestExportableHeader(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"x-vh-project": true, "x-vh-run-id": true, "x-vh-execution": true,
		"x-vh-api-key": false, "X-VH-Token": false, "x-vh-auth": false, "x-vh-authorization": false,
		"x-vh-secret": false, "x-vh-password": false, "x-vh-cookie": false, "x-vh-signature": false,
	}
	for name, want := range tests {
		if got := exportableHeader(name); got != want {
			t.Errorf("exportableHeader(%q) = %v, want %v", name, got, want)
		}
	}
}
