package parsers

import "testing"

func TestParseAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    API
		wantErr bool
	}{
		{"openai", OpenAI, false},
		{"Anthropic", Anthropic, false},
		{" gemini ", Gemini, false},
		{"OLLAMA", Ollama, false},
		{"bedrock", Bedrock, false},
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
	t.Parallel()
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
		{"bedrock-runtime.us-east-1.amazonaws.com", Bedrock},
		{"bedrock-runtime.eu-central-1.amazonaws.com:443", Bedrock},
		{"bedrock-runtime-fips.us-gov-west-1.amazonaws.com", Bedrock},
		{"bedrock-runtime.cn-north-1.amazonaws.com.cn", Bedrock},
		{"bedrock.us-east-1.amazonaws.com", OpenAI}, // the control plane: no model calls
		{"bedrock-runtime.amazonaws.com", OpenAI},
		{"bedrock-runtime.us-east-1.amazonaws.com.evil.com", OpenAI},
		{"my-resource.openai.azure.com", OpenAI},
		{"my-resource.cognitiveservices.azure.com", OpenAI},
		{"my-project.services.ai.azure.com", OpenAI},
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
	t.Parallel()
	tests := map[Kind]string{
		Other: "", ChatCompletions: "chat_completions", Completions: "completions", Responses: "responses",
		Embeddings: "embeddings", Messages: "messages", GenerateContent: "generate_content",
		OllamaChat: "ollama_chat", OllamaGenerate: "ollama_generate", CountTokens: "count_tokens",
		Invoke: "bedrock_invoke", Converse: "bedrock_converse", Realtime: "realtime", Live: "live",
		Kind(-1): "", Kind(99): "",
	}
	for k, want := range tests {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
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
		{OpenAI, "POST", "/openai/deployments/gpt4o-prod/chat/completions", Endpoint{API: OpenAI, Kind: ChatCompletions, Model: "gpt4o-prod", Deployment: "gpt4o-prod"}},
		{OpenAI, "POST", "/openai/deployments/emb/embeddings", Endpoint{API: OpenAI, Kind: Embeddings, Model: "emb", Deployment: "emb"}},
		{OpenAI, "POST", "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", Endpoint{API: OpenAI, Kind: ChatCompletions, Model: "gpt-4o", Deployment: "gpt-4o"}},
		{OpenAI, "POST", "/openai/deployments/gpt-35-instruct/completions", Endpoint{API: OpenAI, Kind: Completions, Model: "gpt-35-instruct", Deployment: "gpt-35-instruct"}},
		{OpenAI, "POST", "/openai/deployments/whisper/audio/transcriptions", Endpoint{API: OpenAI}},
		{OpenAI, "POST", "/openai/deployments/dalle3/images/generations", Endpoint{API: OpenAI}},
		{OpenAI, "POST", "/openai/v1/responses?api-version=preview", Endpoint{API: OpenAI, Kind: Responses}},
		{OpenAI, "POST", "/openai/responses", Endpoint{API: OpenAI, Kind: Responses}},
		{OpenAI, "POST", "/openai/v1/chat/completions", Endpoint{API: OpenAI, Kind: ChatCompletions}},
		{OpenAI, "POST", "/models/chat/completions", Endpoint{API: OpenAI, Kind: ChatCompletions}},
		{OpenAI, "POST", "/anthropic/v1/messages", Endpoint{API: OpenAI, Kind: Messages}},
		{OpenAI, "GET", "/openai/v1/models", Endpoint{API: OpenAI}},
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
		// Claude Code's own traffic on api.anthropic.com is no model call.
		{Anthropic, "POST", "/api/event_logging/batch", Endpoint{API: Anthropic}},
		{Anthropic, "POST", "/api/claude_code/metrics", Endpoint{API: Anthropic}},
		{Anthropic, "GET", "/api/claude_code/organizations/metrics_enabled", Endpoint{API: Anthropic}},
		{Anthropic, "POST", "/api/oauth/claude_cli/create_api_key", Endpoint{API: Anthropic}},
		{Anthropic, "GET", "/api/hello", Endpoint{API: Anthropic}},
		{Anthropic, "HEAD", "/", Endpoint{API: Anthropic}},
		{Anthropic, "POST", "/v1/files", Endpoint{API: Anthropic}},
		{OpenAI, "POST", "/v1/files", Endpoint{API: OpenAI}},
		{OpenAI, "POST", "/v1/uploads", Endpoint{API: OpenAI}},
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
		{Gemini, "POST", "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001:streamRawPredict",
			Endpoint{API: Gemini, Kind: Messages, Model: "claude-haiku-4-5@20251001", Stream: true}},
		{Gemini, "POST", "/v1/projects/proj/locations/global/publishers/anthropic/models/claude-opus-4-1@20250805:rawPredict",
			Endpoint{API: Gemini, Kind: Messages, Model: "claude-opus-4-1@20250805"}},
		{Gemini, "POST", "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict", Endpoint{API: Gemini, Kind: CountTokens}},
		{Gemini, "POST", "/v1/projects/proj/locations/global/publishers/google/models/gemini-2.5-flash:generateContent",
			Endpoint{API: Gemini, Kind: GenerateContent, Model: "gemini-2.5-flash"}},
		{Gemini, "POST", "/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-pro:countTokens",
			Endpoint{API: Gemini, Kind: CountTokens, Model: "gemini-2.5-pro"}},
		{Gemini, "POST", "/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-pro:computeTokens", Endpoint{API: Gemini}},
		{Gemini, "POST", "/v1/projects/proj/locations/us-central1/endpoints/openapi/chat/completions", Endpoint{API: Gemini, Kind: ChatCompletions}},
		{Bedrock, "POST", "/model/us.anthropic.claude-haiku-4-5-20251001-v1:0/invoke-with-response-stream",
			Endpoint{API: Bedrock, Kind: Invoke, Model: "us.anthropic.claude-haiku-4-5-20251001-v1:0", Stream: true}},
		{Bedrock, "POST", "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke",
			Endpoint{API: Bedrock, Kind: Invoke, Model: "us.anthropic.claude-haiku-4-5-20251001-v1:0"}},
		{Bedrock, "POST", "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse",
			Endpoint{API: Bedrock, Kind: Converse, Model: "anthropic.claude-3-5-sonnet-20240620-v1:0"}},
		{Bedrock, "POST", "/model/amazon.nova-pro-v1:0/converse-stream/",
			Endpoint{API: Bedrock, Kind: Converse, Model: "amazon.nova-pro-v1:0", Stream: true}},
		{Bedrock, "POST", "/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3/invoke",
			Endpoint{API: Bedrock, Kind: Invoke, Model: "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"}},
		{Bedrock, "POST", "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse",
			Endpoint{API: Bedrock, Kind: Converse, Model: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0"}},
		{Bedrock, "POST", "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens",
			Endpoint{API: Bedrock, Kind: CountTokens, Model: "anthropic.claude-sonnet-4-5-20250929-v1:0"}},
		{Bedrock, "POST", "/model/amazon.titan-embed-text-v2:0/invoke", Endpoint{API: Bedrock, Kind: Invoke, Model: "amazon.titan-embed-text-v2:0"}},
		{Bedrock, "POST", "/model/x/async-invoke", Endpoint{API: Bedrock}},
		{Bedrock, "POST", "/model//invoke", Endpoint{API: Bedrock}},
		{Bedrock, "POST", "/async-invoke", Endpoint{API: Bedrock}},
		{Bedrock, "POST", "/guardrail/g1/version/1/apply", Endpoint{API: Bedrock}},
		{Bedrock, "GET", "/inference-profiles", Endpoint{API: Bedrock}},
		{Bedrock, "GET", "/model/us.anthropic.claude-haiku-4-5-20251001-v1:0/invoke", Endpoint{API: Bedrock}},
		{Anthropic, "POST", "/bedrock/model/anthropic.claude-3-haiku-20240307-v1:0/invoke",
			Endpoint{API: Anthropic, Kind: Invoke, Model: "anthropic.claude-3-haiku-20240307-v1:0"}},
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
	t.Parallel()
	for k := Other; k <= Live; k++ {
		want := k != Other && k != CountTokens
		if got := (Endpoint{Kind: k}).Metered(); got != want {
			t.Errorf("%v: Metered() = %v", k, got)
		}
	}
}

func TestClassifyWebSocket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		api         API
		path, query string
		want        Endpoint
	}{
		{OpenAI, "/v1/responses", "", Endpoint{API: OpenAI, Kind: Responses, WebSocket: true}},
		{OpenAI, "/openai/v1/responses", "api-version=preview", Endpoint{API: OpenAI, Kind: Responses, WebSocket: true}},
		{OpenAI, "/v1/realtime", "model=gpt-realtime", Endpoint{API: OpenAI, Kind: Realtime, Model: "gpt-realtime", WebSocket: true}},
		{OpenAI, "/v1/realtime?model=gpt-4o-realtime-preview-2025-06-03", "", Endpoint{API: OpenAI, Kind: Realtime, Model: "gpt-4o-realtime-preview-2025-06-03", WebSocket: true}},
		{OpenAI, "/v1/realtime", "intent=transcription", Endpoint{API: OpenAI, Kind: Realtime, WebSocket: true}},
		{OpenAI, "/openai/realtime", "api-version=2024-10-01-preview&deployment=my-realtime",
			Endpoint{API: OpenAI, Kind: Realtime, Model: "my-realtime", Deployment: "my-realtime", WebSocket: true}},
		{OpenAI, "/openai/v1/realtime", "model=gpt-realtime-mini", Endpoint{API: OpenAI, Kind: Realtime, Model: "gpt-realtime-mini", WebSocket: true}},
		{Gemini, "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent", "key=k",
			Endpoint{API: Gemini, Kind: Live, WebSocket: true}},
		{Gemini, "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained", "access_token=t",
			Endpoint{API: Gemini, Kind: Live, WebSocket: true}},
		{Gemini, "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent", "", Endpoint{API: Gemini, Kind: Live, WebSocket: true}},
		{Gemini, "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent/", "", Endpoint{API: Gemini, Kind: Live, WebSocket: true}},
		{Gemini, "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContentX", "", Endpoint{API: Gemini, WebSocket: true}},
		{OpenAI, "/v1/chat/completions", "", Endpoint{API: OpenAI, WebSocket: true}},
		{OpenAI, "/", "", Endpoint{API: OpenAI, WebSocket: true}},
		{OpenAI, "", "", Endpoint{API: OpenAI, WebSocket: true}},
	}
	for _, tt := range tests {
		if got := ClassifyWebSocket(tt.api, tt.path, tt.query); got != tt.want {
			t.Errorf("ClassifyWebSocket(%s, %q, %q) = %+v, want %+v", tt.api, tt.path, tt.query, got, tt.want)
		}
	}
}
