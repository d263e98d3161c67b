package parsers

import (
	"fmt"
	"testing"
)

var (
	chatEP   = Endpoint{API: OpenAI, Kind: ChatCompletions}
	complEP  = Endpoint{API: OpenAI, Kind: Completions}
	embedEP  = Endpoint{API: OpenAI, Kind: Embeddings}
	chunkHdr = `"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306"`
)

// chunk builds one Chat Completions stream event with the common header.
func chunk(rest string) string { return "data: {" + chunkHdr + "," + rest + "}" }

func TestMeterOpenAIChat(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{
		{
			name: "non-streaming with cache and reasoning",
			ep:   chatEP, ct: "application/json; charset=utf-8",
			req: Request{Model: "o4-mini"},
			body: `{
  "id": "chatcmpl-abc123",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "o4-mini-2025-04-16",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "The answer is 4.", "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
  "usage": {
    "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_b705f0c291"
}`,
			want: Result{Usage: usage(1200, 1024, 0, 300, 192), Model: "o4-mini-2025-04-16", ResponseID: "chatcmpl-abc123", Terminal: true},
			raw:  `{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`,
		},
		{
			name: "stream with include_usage and usage:null chunks",
			ep:   chatEP, ct: "text/event-stream",
			req: Request{Model: "gpt-4o-mini", Stream: true, IncludeUsage: true},
			body: sseBody(
				chunk(`"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null`),
				chunk(`"choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null`),
				chunk(`"choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"usage":null`),
				chunk(`"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null`),
				chunk(`"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`),
				"data: [DONE]",
			),
			want: Result{Usage: usage(9, 0, 0, 2, 0), Model: "gpt-4o-mini-2024-07-18", ResponseID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", Terminal: true},
		},
		{
			name: "stream without include_usage has no usage",
			ep:   chatEP, ct: "text/event-stream",
			req: Request{Model: "gpt-4o-mini", Stream: true},
			body: sseBody(
				chunk(`"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]`),
				chunk(`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`),
				"data: [DONE]",
			),
			want: Result{Model: "gpt-4o-mini-2024-07-18", ResponseID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", Terminal: true},
		},
		{
			name: "stream cut before the usage chunk",
			ep:   chatEP, ct: "text/event-stream",
			req: Request{Model: "gpt-4o-mini", Stream: true, IncludeUsage: true},
			body: sseBody(
				chunk(`"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null`),
			) + "data: {\"id\":\"chatcmpl-B9",
			want: Result{Model: "gpt-4o-mini-2024-07-18", ResponseID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"},
		},
		{
			name: "usage on a content chunk (Gemini's compatible endpoint)",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(
				`data: {"choices":[{"delta":{"content":"Hi","role":"assistant"},"index":0}],"created":1741570000,"id":"abc","model":"gemini-2.5-flash","object":"chat.completion.chunk"}`,
				`data: {"choices":[{"delta":{"content":" there"},"finish_reason":"stop","index":0}],"created":1741570000,"id":"abc","model":"gemini-2.5-flash","object":"chat.completion.chunk","usage":{"completion_tokens":35,"prompt_tokens":5,"total_tokens":40,"completion_tokens_details":{"reasoning_tokens":23}}}`,
				"data: [DONE]",
			),
			want: Result{Usage: usage(5, 0, 0, 35, 23), Model: "gemini-2.5-flash", ResponseID: "abc", Terminal: true},
		},
		{
			name: "usage in every chunk: last value of each field wins, never summed",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(
				chunk(`"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":4}}`),
				chunk(`"choices":[{"index":0,"delta":{"content":"b"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":null}`),
				chunk(`"choices":[{"index":0,"delta":{"content":"c"}}],"usage":{"prompt_tokens":10,"completion_tokens":5}`),
				"data: [DONE]",
			),
			want: Result{Usage: usage(10, 4, 0, 5, 0), Model: "gpt-4o-mini-2024-07-18", ResponseID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", Terminal: true},
			raw:  `{"prompt_tokens":10,"completion_tokens":5}`,
		},
		{
			name: "Groq x_groq.usage on the final chunk",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(
				`data: {"id":"chatcmpl-2a1","object":"chat.completion.chunk","created":1741570000,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_c0cfa69934","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"x_groq":{"id":"req_01jnq"}}`,
				`data: {"id":"chatcmpl-2a1","object":"chat.completion.chunk","created":1741570000,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_c0cfa69934","choices":[{"index":0,"delta":{"content":"Fast"},"logprobs":null,"finish_reason":null}]}`,
				`data: {"id":"chatcmpl-2a1","object":"chat.completion.chunk","created":1741570000,"model":"llama-3.3-70b-versatile","system_fingerprint":"fp_c0cfa69934","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_01jnq","usage":{"queue_time":0.017,"prompt_tokens":18,"prompt_time":0.0019,"completion_tokens":9,"completion_time":0.03,"total_tokens":27,"total_time":0.032}}}`,
				"data: [DONE]",
			),
			want: Result{Usage: usage(18, 0, 0, 9, 0), Model: "llama-3.3-70b-versatile", ResponseID: "chatcmpl-2a1", Terminal: true},
		},
		{
			name: "DeepSeek prompt_cache_hit_tokens and keep-alive comments",
			ep:   chatEP, ct: "text/event-stream; charset=utf-8",
			body: ": keep-alive\n\n: keep-alive\n\n" + sseBody(
				`data: {"id":"0ab9","object":"chat.completion.chunk","created":1741570000,"model":"deepseek-reasoner","system_fingerprint":"fp_5417b77867_prod0225","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Think"},"logprobs":null,"finish_reason":null}]}`,
				`data: {"id":"0ab9","object":"chat.completion.chunk","created":1741570000,"model":"deepseek-reasoner","system_fingerprint":"fp_5417b77867_prod0225","choices":[{"index":0,"delta":{"content":"","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":20},"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}`,
				"data: [DONE]",
			),
			want: Result{Usage: usage(100, 64, 0, 50, 20), Model: "deepseek-reasoner", ResponseID: "0ab9", Terminal: true},
		},
		{
			name: "DeepSeek older shape: only prompt_cache_hit_tokens",
			ep:   chatEP, ct: "application/json",
			body: `{"id":"d1","object":"chat.completion","model":"deepseek-chat","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":5,"total_tokens":105,"prompt_cache_hit_tokens":80,"prompt_cache_miss_tokens":20}}`,
			want: Result{Usage: usage(100, 80, 0, 5, 0), Model: "deepseek-chat", ResponseID: "d1", Terminal: true},
		},
		{
			name: "OpenRouter usage.cost, processing comments",
			ep:   chatEP, ct: "text/event-stream",
			body: ": OPENROUTER PROCESSING\n\n" + sseBody(
				`data: {"id":"gen-1741570000-abc","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1741570000,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}`,
				`data: {"id":"gen-1741570000-abc","provider":"Anthropic","model":"anthropic/claude-sonnet-4","object":"chat.completion.chunk","created":1741570000,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop","native_finish_reason":"end_turn","logprobs":null}],"usage":{"prompt_tokens":1510,"completion_tokens":12,"total_tokens":1522,"cost":0.004722,"is_byok":false,"prompt_tokens_details":{"cached_tokens":1400,"cache_write_tokens":100},"cost_details":{"upstream_inference_cost":null},"completion_tokens_details":{"reasoning_tokens":0}}}`,
				"data: [DONE]",
			),
			want: Result{Usage: Usage{Seen: true, InputTokens: 1510, CachedInputTokens: 1400, CacheWriteTokens: 100, OutputTokens: 12, ProviderCostUSD: ptr(0.004722)},
				Model: "anthropic/claude-sonnet-4", ResponseID: "gen-1741570000-abc", Terminal: true},
		},
		{
			name: "OpenRouter mid-stream error as data",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(
				`data: {"id":"gen-2","object":"chat.completion.chunk","created":1741570000,"model":"openai/gpt-4o","choices":[{"index":0,"delta":{"content":"Par"},"finish_reason":null}]}`,
				`data: {"id":"gen-2","object":"chat.completion.chunk","created":1741570000,"model":"openai/gpt-4o","provider":"OpenAI","error":{"code":502,"message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`,
			),
			want: Result{Model: "openai/gpt-4o", ResponseID: "gen-2", Failed: true, ErrorType: "502", ErrorMessage: "Provider disconnected"},
		},
		{
			name: "error event after a 200",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(
				chunk(`"choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null`),
				"event: error\ndata: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}",
			),
			want: Result{Model: "gpt-4o-mini-2024-07-18", ResponseID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
				Failed: true, ErrorType: "server_error", ErrorMessage: "The server had an error while processing your request."},
		},
		{
			name: "error event with text data",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody("event: error\ndata: upstream timed out"),
			want: Result{Failed: true, ErrorType: "error", ErrorMessage: "upstream timed out"},
		},
		{
			name: "error body",
			ep:   chatEP, ct: "application/json",
			req:  Request{Model: "gpt-4o"},
			body: `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			want: Result{Model: "gpt-4o", Terminal: true, Failed: true, ErrorType: "invalid_request_error", ErrorMessage: "Incorrect API key provided."},
		},
		{
			name: "Azure prompt_filter_results first chunk, float counts",
			ep:   Endpoint{API: OpenAI, Kind: ChatCompletions, Model: "my-deployment"}, ct: "text/event-stream",
			body: sseBody(
				`data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}`,
				`data: {"choices":[{"content_filter_results":{},"delta":{"content":"Hi","role":"assistant"},"finish_reason":null,"index":0}],"created":1741570000,"id":"chatcmpl-az","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk"}`,
				`data: {"choices":[],"created":1741570000,"id":"chatcmpl-az","model":"gpt-4o-2024-11-20","object":"chat.completion.chunk","usage":{"completion_tokens":7.0,"prompt_tokens":12.0,"total_tokens":19}}`,
				"data: [DONE]",
			),
			want: Result{Usage: usage(12, 0, 0, 7, 0), Model: "gpt-4o-2024-11-20", ResponseID: "chatcmpl-az", Terminal: true},
		},
		{
			name: "negative and string counts are flagged, not read as zero",
			ep:   chatEP, ct: "application/json",
			body: `{"usage":{"prompt_tokens":-5,"completion_tokens":"7","total_tokens":2}}`,
			want: Result{Usage: Usage{Seen: true}, Terminal: true, Invalid: "prompt_tokens: negative"},
			raw:  `{"prompt_tokens":-5,"completion_tokens":"7","total_tokens":2}`,
		},
	})
}

func TestMeterOpenAICompletions(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{
		{
			name: "legacy stream with include_usage",
			ep:   complEP, ct: "text/event-stream",
			req: Request{Model: "gpt-3.5-turbo-instruct", Stream: true, IncludeUsage: true},
			body: sseBody(
				`data: {"id":"cmpl-1","object":"text_completion","created":1741570000,"choices":[{"text":"Hello","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct","usage":null}`,
				`data: {"id":"cmpl-1","object":"text_completion","created":1741570000,"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"model":"gpt-3.5-turbo-instruct","usage":null}`,
				`data: {"id":"cmpl-1","object":"text_completion","created":1741570000,"model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":16,"total_tokens":21}}`,
				"data: [DONE]",
			),
			want: Result{Usage: usage(5, 0, 0, 16, 0), Model: "gpt-3.5-turbo-instruct", ResponseID: "cmpl-1", Terminal: true},
		},
		{
			name: "legacy non-streaming",
			ep:   complEP, ct: "application/json",
			body: `{"id":"cmpl-2","object":"text_completion","created":1741570000,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"\n\nThis is a test.","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`,
			want: Result{Usage: usage(5, 0, 0, 7, 0), Model: "gpt-3.5-turbo-instruct", ResponseID: "cmpl-2", Terminal: true},
		},
	})
}

func TestMeterEmbeddings(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{
		{
			name: "OpenAI embeddings usage.prompt_tokens",
			ep:   embedEP, ct: "application/json",
			body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[-0.006929283,-0.005336422,0.00024047505]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`,
			want: Result{Usage: usage(8, 0, 0, 0, 0), Model: "text-embedding-3-small", Terminal: true},
			raw:  `{"prompt_tokens":8,"total_tokens":8}`,
		},
		{
			name: "Ollama /api/embed prompt_eval_count",
			ep:   Endpoint{API: Ollama, Kind: Embeddings}, ct: "application/json; charset=utf-8",
			body: `{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862,0.05007221]],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}`,
			want: Result{Usage: usage(8, 0, 0, 0, 0), Model: "all-minilm", Terminal: true},
		},
	})
}

// TestMeterOpenAIOversizeChunk guards an SSE chunk past the event cap: the
// usage in its tail still counts.
func TestMeterOpenAIOversizeChunk(t *testing.T) {
	t.Parallel()
	big := make([]byte, 3000)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	runMeterCases(t, []meterCase{{
		name: "oversize chunk",
		ep:   chatEP, ct: "text/event-stream",
		eventCap: 1024, tailCap: 256,
		body: sseBody(
			chunk(fmt.Sprintf(`"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":900}`, big)),
			"data: [DONE]",
		),
		want: Result{Usage: usage(4, 0, 0, 900, 0), Terminal: true},
	}})
}

// TestMeterOpenAIDetails guards the audio and image shares, cache writes,
// and the model of a stream that names another one later (the last wins).
func TestMeterOpenAIDetails(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{
		{
			name: "audio in and out",
			ep:   chatEP, ct: "application/json",
			body: `{"id":"c","model":"gpt-4o-audio-preview-2024-12-17","usage":{"prompt_tokens":120,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":100},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":250,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 120, OutputTokens: 300, AudioInputTokens: 100, AudioOutputTokens: 250},
				Model: "gpt-4o-audio-preview-2024-12-17", ResponseID: "c", Terminal: true},
		},
		{
			name: "image shares (OpenRouter), bounded by their totals",
			ep:   chatEP, ct: "application/json",
			body: `{"id":"gen-1","model":"google/gemini-2.5-flash-image","usage":{"prompt_tokens":300,"completion_tokens":1300,"prompt_tokens_details":{"image_tokens":258,"audio_tokens":100},"completion_tokens_details":{"image_tokens":1290,"audio_tokens":20}}}`,
			want: Result{Usage: Usage{Seen: true, InputTokens: 300, OutputTokens: 1300, AudioInputTokens: 100, ImageInputTokens: 200,
				AudioOutputTokens: 20, ImageOutputTokens: 1280}, Model: "google/gemini-2.5-flash-image", ResponseID: "gen-1", Terminal: true},
		},
		{
			name: "stream: a fallback model named later wins",
			ep:   chatEP, ct: "text/event-stream",
			req: Request{Model: "openrouter/auto"},
			body: sseBody(
				`data: {"id":"gen-3","model":"openai/gpt-5","choices":[{"index":0,"delta":{"content":""}}]}`,
				`data: {"id":"gen-3","model":"openai/gpt-5","choices":[{"index":0,"delta":{"content":"a"}}]}`,
				`data: {"id":"gen-3","model":"anthropic/claude-sonnet-4.5","choices":[{"index":0,"delta":{"content":"b"}}]}`,
				`data: {"id":"gen-3","model":"anthropic/claude-sonnet-4.5","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}`,
				"data: [DONE]"),
			want: Result{Usage: usage(7, 0, 0, 2, 0), Model: "anthropic/claude-sonnet-4.5", ResponseID: "gen-3", Terminal: true},
		},
		{
			name: "duplicated keys: the last wins, as in the SDKs' JSON parsers",
			ep:   chatEP, ct: "application/json",
			body: `{"model":"a","model":"b","usage":{"prompt_tokens":1,"prompt_tokens":9,"completion_tokens":2}}`,
			want: Result{Usage: usage(9, 0, 0, 2, 0), Model: "b", Terminal: true},
		},
		{
			name: "duplicated usage: a last null means none",
			ep:   chatEP, ct: "text/event-stream",
			body: sseBody(`data: {"model":"a","usage":{"prompt_tokens":1},"usage":null}`, "data: [DONE]"),
			want: Result{Model: "a", Terminal: true},
		},
	})
}
