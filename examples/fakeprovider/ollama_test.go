package fakeprovider

import (
	"strings"
	"testing"
)

// TestOllama guards /api/chat and /api/generate: NDJSON by default, one
// object with "stream": false, the done:true statistics.
func TestOllama(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		name, path, body string
		stream           bool
		textKey          []any
	}{
		{"chat stream", "/api/chat", `{"model":"llama3.2","messages":[{"role":"user","content":"hi there"}],"options":{"num_predict":2}}`, true, []any{"message", "content"}},
		{"chat whole", "/api/chat", `{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"hi there"}],"options":{"num_predict":2}}`, false, []any{"message", "content"}},
		{"generate stream", "/api/generate", `{"model":"llama3.2","system":"x","prompt":"hi","options":{"num_predict":2}}`, true, []any{"response"}},
		{"generate whole", "/api/generate", `{"model":"llama3.2","system":"x","prompt":"hi","stream":false,"options":{"num_predict":2}}`, false, []any{"response"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, ts.URL+tt.path, "ollama", nil, tt.body)
			ct := resp.Header.Get("Content-Type")
			var objs []map[string]any
			if tt.stream {
				if ct != "application/x-ndjson" {
					t.Errorf("Content-Type = %q", ct)
				}
				objs = ndjson(t, body)
			} else {
				if !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type = %q", ct)
				}
				objs = []map[string]any{decode(t, string(body))}
			}
			var text string
			for i, o := range objs {
				text += str(o, tt.textKey...)
				if done := i == len(objs)-1; at(o, "done") != done {
					t.Errorf("object %d: done = %v", i, at(o, "done"))
				}
				if str(o, "model") != "llama3.2" || str(o, "created_at") == "" {
					t.Errorf("object %d: %v", i, o)
				}
			}
			if text != "lorem ipsum" {
				t.Errorf("text = %q", text)
			}
			last := objs[len(objs)-1]
			if num(last, "prompt_eval_count") != 5 || num(last, "eval_count") != 2 || str(last, "done_reason") != "stop" {
				t.Errorf("final object: %v", last)
			}
			for _, k := range []string{"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"} {
				if num(last, k) <= 0 {
					t.Errorf("final object lacks %s: %v", k, last)
				}
			}
		})
	}
}
