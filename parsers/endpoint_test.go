package parsers

import "testing"

func TestParseAPI(t *testing.T) {
	tests := []struct {
		in      string
		want    API
		wantErr bool
	}{
		{"openai", OpenAI, false},
		{"Anthropic", Anthropic, false},
		{" gemini ", Gemini, false},
		{"OLLAMA", Ollama, false},
		{"", "", true},
		{"claude", "", true},
		{"open ai", "", true},
	}
	for _, tt := range tests {
		got, err := ParseAPI(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseAPI(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestAPIForHost(t *testing.T) {
	tests := []struct {
		host string
		want API
	}{
		{"api.anthropic.com", Anthropic},
		{"API.Anthropic.com:443", Anthropic},
		{"api.anthropic.com.", Anthropic},
		{"generativelanguage.googleapis.com", Gemini},
		{"us-central1-aiplatform.googleapis.com", Gemini},
		{"europe-west4-aiplatform.googleapis.com:443", Gemini},
		{"aiplatform.googleapis.com", Gemini},
		{"localhost:11434", Ollama},
		{"127.0.0.1:11434", Ollama},
		{"[::1]:11434", Ollama},
		{"localhost", OpenAI},
		{"localhost:8080", OpenAI},
		{"api.openai.com", OpenAI},
		{"api.groq.com", OpenAI},
		{"openrouter.ai", OpenAI},
		{"api.together.xyz", OpenAI},
		{"api.deepseek.com", OpenAI},
		{"evil-anthropic.com", OpenAI},
		{"aiplatform.googleapis.com.evil.com", OpenAI},
		{"", OpenAI},
	}
	for _, tt := range tests {
		if got := APIForHost(tt.host); got != tt.want {
			t.Errorf("APIForHost(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	tests := map[Kind]string{
		Other: "", ChatCompletions: "chat_completions", Completions: "completions", Responses: "responses",
		Embeddings: "embeddings", Messages: "messages", GenerateContent: "generate_content",
		OllamaChat: "ollama_chat", OllamaGenerate: "ollama_generate", CountTokens: "count_tokens",
		Kind(-1): "", Kind(99): "",
	}
	for k, want := range tests {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		api          API
		method, path string
		want         Endpoint
	}{
		{OpenAI, "POST", "/v1/chat/completions", Endpoint{API: OpenAI, Kind: ChatCompletions}},
		{OpenAI, "post", "/v1/chat/completions/", Endpoint{API: OpenAI, Kind: ChatCompletions}},
		{OpenAI, "POST", "/chat/completions", Endpoint{API: OpenAI, Kind: ChatCompletions}},
		{OpenAI, "POST", "/openai/v1/chat/completions", Endpoint{API: OpenAI, Kind: ChatCompletions}},
		{OpenAI, "POST", "/api/v1/chat/completions", Endpoint{API: OpenAI, Kind: ChatCompletions}},
		{OpenAI, "POST", "/v1/chat/completions?api-version=1", Endpoint{API: OpenAI, Kind: ChatCompletions}},
		{OpenAI, "POST", "/openai/deployments/gpt4o-prod/chat/completions", Endpoint{API: OpenAI, Kind: ChatCompletions, Model: "gpt4o-prod"}},
		{OpenAI, "POST", "/openai/deployments/emb/embeddings", Endpoint{API: OpenAI, Kind: Embeddings, Model: "emb"}},
		{OpenAI, "GET", "/v1/chat/completions", Endpoint{API: OpenAI}},
		{OpenAI, "GET", "/v1/chat/completions/chatcmpl-1", Endpoint{API: OpenAI}},
		{OpenAI, "POST", "/v1/completions", Endpoint{API: OpenAI, Kind: Completions}},
		{OpenAI, "POST", "/v1/responses", Endpoint{API: OpenAI, Kind: Responses}},
		{OpenAI, "POST", "/v1/responses/input_tokens", Endpoint{API: OpenAI, Kind: CountTokens}},
		{OpenAI, "POST", "/v1/responses/resp_1/cancel", Endpoint{API: OpenAI}},
		{OpenAI, "GET", "/v1/responses/resp_1", Endpoint{API: OpenAI}},
		{OpenAI, "POST", "/v1/embeddings", Endpoint{API: OpenAI, Kind: Embeddings}},
		{OpenAI, "POST", "/v1/threads/thread_1/messages", Endpoint{API: OpenAI}},
		{OpenAI, "POST", "/v1/models", Endpoint{API: OpenAI}},
		{OpenAI, "POST", "/api/v1/messages", Endpoint{API: OpenAI, Kind: Messages}},
		{Anthropic, "POST", "/v1/messages", Endpoint{API: Anthropic, Kind: Messages}},
		{Anthropic, "POST", "/messages", Endpoint{API: Anthropic, Kind: Messages}},
		{Anthropic, "POST", "/v1/messages/count_tokens", Endpoint{API: Anthropic, Kind: CountTokens}},
		{Anthropic, "POST", "/v1/messages/batches", Endpoint{API: Anthropic}},
		{Anthropic, "GET", "/v1/models", Endpoint{API: Anthropic}},
		{Gemini, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", Endpoint{API: Gemini, Kind: GenerateContent, Model: "gemini-2.5-flash"}},
		{Gemini, "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", Endpoint{API: Gemini, Kind: GenerateContent, Model: "gemini-2.5-flash", Stream: true}},
		{Gemini, "POST", "/v1beta/models/gemini-2.5-pro:countTokens", Endpoint{API: Gemini, Kind: CountTokens, Model: "gemini-2.5-pro"}},
		{Gemini, "POST", "/v1beta/models/text-embedding-004:embedContent", Endpoint{API: Gemini}},
		{Gemini, "POST", "/v1beta/tunedModels/my-tune:generateContent", Endpoint{API: Gemini, Kind: GenerateContent, Model: "my-tune"}},
		{Gemini, "POST", "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent",
			Endpoint{API: Gemini, Kind: GenerateContent, Model: "gemini-2.5-pro", Stream: true}},
		{Gemini, "POST", "/v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict",
			Endpoint{API: Gemini, Kind: Messages, Model: "claude-sonnet-4@20250514", Stream: true}},
		{Gemini, "POST", "/v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict",
			Endpoint{API: Gemini, Kind: Messages, Model: "claude-sonnet-4@20250514"}},
		{Gemini, "POST", "/v1/projects/p1/locations/us-east5/publishers/meta/models/llama:rawPredict", Endpoint{API: Gemini}},
		{Gemini, "POST", "/v1beta/openai/chat/completions", Endpoint{API: Gemini, Kind: ChatCompletions}},
		{Gemini, "GET", "/v1beta/models/gemini-2.5-flash:generateContent", Endpoint{API: Gemini}},
		{Ollama, "POST", "/api/chat", Endpoint{API: Ollama, Kind: OllamaChat}},
		{Ollama, "POST", "/api/generate", Endpoint{API: Ollama, Kind: OllamaGenerate}},
		{Ollama, "POST", "/api/embed", Endpoint{API: Ollama, Kind: Embeddings}},
		{Ollama, "POST", "/api/embeddings", Endpoint{API: Ollama, Kind: Embeddings}},
		{Ollama, "POST", "/v1/chat/completions", Endpoint{API: Ollama, Kind: ChatCompletions}},
		{Ollama, "POST", "/api/pull", Endpoint{API: Ollama}},
		{OpenAI, "POST", "", Endpoint{API: OpenAI}},
		{OpenAI, "POST", "/", Endpoint{API: OpenAI}},
		{OpenAI, "POST", ":", Endpoint{API: OpenAI}},
	}
	for _, tt := range tests {
		if got := Classify(tt.api, tt.method, tt.path); got != tt.want {
			t.Errorf("Classify(%s, %s, %q) = %+v, want %+v", tt.api, tt.method, tt.path, got, tt.want)
		}
	}
}

func TestMetered(t *testing.T) {
	for k := Other; k <= CountTokens; k++ {
		want := k != Other && k != CountTokens
		if got := (Endpoint{Kind: k}).Metered(); got != want {
			t.Errorf("%v: Metered() = %v", k, got)
		}
	}
}
