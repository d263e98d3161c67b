package parsers

import (
	"strings"
	"testing"
)

var (
	ollamaChatEP = Endpoint{API: Ollama, Kind: OllamaChat}
	ollamaGenEP  = Endpoint{API: Ollama, Kind: OllamaGenerate}
)

func ndjson(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestMeterOllama(t *testing.T) {
	t.Parallel()
	done := `{"model":"llama3.2","created_at":"2025-03-10T10:00:01.5Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}`
	runMeterCases(t, []meterCase{
		{
			name: "chat stream",
			ep:   ollamaChatEP, ct: "application/x-ndjson",
			req: Request{Model: "llama3.2", Stream: true},
			body: ndjson(
				`{"model":"llama3.2","created_at":"2025-03-10T10:00:00.1Z","message":{"role":"assistant","content":"The"},"done":false}`,
				`{"model":"llama3.2","created_at":"2025-03-10T10:00:00.2Z","message":{"role":"assistant","content":" sky"},"done":false}`,
				done),
			want: Result{Usage: usage(26, 0, 0, 282, 0), Model: "llama3.2", Terminal: true},
			raw:  `{"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}`,
		},
		{
			name: "generate, not streaming",
			ep:   ollamaGenEP, ct: "application/json; charset=utf-8",
			body: `{"model":"qwen3:8b","created_at":"2025-03-10T10:00:00Z","response":"Blue.","done":true,"done_reason":"stop","context":[1,2,3],"total_duration":5043500667,"prompt_eval_count":15,"prompt_eval_cached_count":10,"eval_count":290}`,
			want: Result{Usage: usage(15, 10, 0, 290, 0), Model: "qwen3:8b", Terminal: true},
		},
		{
			name: "stream cut before done",
			ep:   ollamaChatEP, ct: "application/x-ndjson",
			body: ndjson(`{"model":"llama3.2","message":{"role":"assistant","content":"The"},"done":false}`) + `{"model":"llama3.2","mess`,
			want: Result{Model: "llama3.2"},
		},
		{
			name: "ndjson sent as application/json",
			ep:   ollamaChatEP, ct: "application/json",
			body: ndjson(`{"model":"llama3.2","message":{"role":"assistant","content":"The"},"done":false}`, done),
			want: Result{Usage: usage(26, 0, 0, 282, 0), Model: "llama3.2", Terminal: true},
		},
		{
			name: "old build omits prompt_eval_count for a cached prompt",
			ep:   ollamaChatEP, ct: "application/x-ndjson",
			body: ndjson(`{"model":"llama2","done":true,"eval_count":113,"eval_duration":1325948000}`),
			want: Result{Usage: usage(0, 0, 0, 113, 0), Model: "llama2", Terminal: true},
		},
		{
			name: "error line",
			ep:   ollamaChatEP, ct: "application/x-ndjson",
			body: ndjson(`{"error":"model 'llama9' not found, try pulling it first"}`),
			want: Result{Failed: true, ErrorMessage: "model 'llama9' not found, try pulling it first"},
		},
		{
			name: "last line without a newline",
			ep:   ollamaChatEP, ct: "application/x-ndjson",
			body: done,
			want: Result{Usage: usage(26, 0, 0, 282, 0), Model: "llama3.2", Terminal: true},
		},
	})
}

// TestMeterOllamaLastModel guards that the last model a stream names wins.
func TestMeterOllamaLastModel(t *testing.T) {
	t.Parallel()
	runMeterCases(t, []meterCase{{
		name: "model changes mid-stream",
		ep:   ollamaChatEP, ct: "application/x-ndjson",
		body: ndjson(`{"model":"llama3.2","message":{"content":"a"},"done":false}`,
			`{"model":"llama3.2:1b","done":true,"prompt_eval_count":3,"eval_count":4}`),
		want: Result{Usage: usage(3, 0, 0, 4, 0), Model: "llama3.2:1b", Terminal: true},
	}})
}
