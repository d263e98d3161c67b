package fakeprovider

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// wireUsage reads the usage a response reports, normalized the way
// Conduit's parsers give it (package parsers), independently of the
// fake's own code: the last usage of a stream wins.
func wireUsage(t *testing.T, format string, stream bool, body []byte) Usage {
	t.Helper()
	var objs []map[string]any
	switch {
	case !stream:
		objs = []map[string]any{decode(t, string(body))}
	case format == "gemini":
		for _, ev := range splitSSE(t, body, "\r\n") {
			objs = append(objs, decode(t, ev.data))
		}
	case format == "ollama":
		objs = ndjson(t, body)
	default:
		for _, ev := range splitSSE(t, body, "\n") {
			if ev.data != "[DONE]" {
				objs = append(objs, decode(t, ev.data))
			}
		}
	}
	var u Usage
	for _, o := range objs {
		switch format {
		case "chat", "embeddings":
			if _, ok := at(o, "usage").(map[string]any); ok {
				u = Usage{
					InputTokens:       num(o, "usage", "prompt_tokens"),
					CachedInputTokens: max(num(o, "usage", "prompt_tokens_details", "cached_tokens"), 0),
					OutputTokens:      max(num(o, "usage", "completion_tokens"), 0),
					ReasoningTokens:   max(num(o, "usage", "completion_tokens_details", "reasoning_tokens"), 0),
				}
			}
		case "responses":
			r := o
			if stream {
				r, _ = at(o, "response").(map[string]any)
			}
			if _, ok := at(r, "usage").(map[string]any); ok {
				u = Usage{
					InputTokens:       num(r, "usage", "input_tokens"),
					CachedInputTokens: num(r, "usage", "input_tokens_details", "cached_tokens"),
					OutputTokens:      num(r, "usage", "output_tokens"),
					ReasoningTokens:   num(r, "usage", "output_tokens_details", "reasoning_tokens"),
				}
			}
		case "anthropic":
			uo := at(o, "usage")
			if str(o, "type") == "message_start" {
				uo = at(o, "message", "usage")
				u.CacheWrite5mTokens = num(uo, "cache_creation", "ephemeral_5m_input_tokens")
				u.CacheWrite1hTokens = num(uo, "cache_creation", "ephemeral_1h_input_tokens")
			} else if !stream {
				u.CacheWrite5mTokens = num(uo, "cache_creation", "ephemeral_5m_input_tokens")
				u.CacheWrite1hTokens = num(uo, "cache_creation", "ephemeral_1h_input_tokens")
			}
			if uo != nil {
				u.InputTokens = num(uo, "input_tokens") + num(uo, "cache_creation_input_tokens") + num(uo, "cache_read_input_tokens")
				u.CachedInputTokens = num(uo, "cache_read_input_tokens")
				u.OutputTokens = num(uo, "output_tokens")
			}
		case "gemini":
			if m := at(o, "usageMetadata"); m != nil {
				thoughts := max(num(m, "thoughtsTokenCount"), 0)
				u = Usage{
					InputTokens:       num(m, "promptTokenCount"),
					CachedInputTokens: max(num(m, "cachedContentTokenCount"), 0),
					OutputTokens:      max(num(m, "candidatesTokenCount"), 0) + thoughts,
					ReasoningTokens:   thoughts,
				}
			}
		case "ollama":
			if at(o, "done") == true {
				u = Usage{InputTokens: num(o, "prompt_eval_count"), OutputTokens: num(o, "eval_count")}
			}
		}
	}
	return u
}

// TestExpectedUsageMatchesWire guards that ExpectedUsage tells exactly what
// every endpoint reports, streamed or not, with and without the token
// knobs, so tests elsewhere can rely on it.
func TestExpectedUsageMatchesWire(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	endpoints := []struct {
		name, path, provider, format, body string
		stream                             bool
	}{
		{"chat", "/v1/chat/completions", "openai", "chat", strings.Replace(chatBody, "%s", "", 1), false},
		{"chat stream", "/v1/chat/completions", "openai", "chat", strings.Replace(chatBody, "%s", `,"stream":true,"stream_options":{"include_usage":true}`, 1), true},
		{"completions", "/v1/completions", "openai", "chat", `{"model":"m","prompt":"one two three four"}`, false},
		{"completions stream", "/v1/completions", "openai", "chat", `{"model":"m","prompt":["a","b c"],"stream":true,"stream_options":{"include_usage":true}}`, true},
		{"responses", "/v1/responses", "openai", "responses", `{"model":"m","input":"tell me","instructions":"short"}`, false},
		{"responses stream", "/v1/responses", "openai", "responses", `{"model":"m","input":[{"role":"user","content":"x y"}],"stream":true,"max_output_tokens":4}`, true},
		{"embeddings", "/v1/embeddings", "openai", "embeddings", `{"model":"e","input":["a b","c d e"]}`, false},
		{"messages", "/v1/messages", "anthropic", "anthropic", messagesReq(4, ""), false},
		{"messages stream", "/v1/messages", "anthropic", "anthropic", messagesReq(4, `,"stream":true`), true},
		{"gemini", "/v1beta/models/g:generateContent", "gemini", "gemini", geminiBody, false},
		{"gemini stream", "/v1beta/models/g:streamGenerateContent?alt=sse", "gemini", "gemini", geminiBody, true},
		{"ollama chat", "/api/chat", "ollama", "ollama", `{"model":"l","messages":[{"role":"user","content":"a b c"}],"stream":false}`, false},
		{"ollama chat stream", "/api/chat", "ollama", "ollama", `{"model":"l","messages":[{"role":"user","content":"a b c"}]}`, true},
		{"ollama generate stream", "/api/generate", "ollama", "ollama", `{"model":"l","prompt":"a","options":{"num_predict":3}}`, true},
	}
	knobSets := []struct {
		name   string
		header http.Header
	}{
		{"plain", nil},
		{"knobs", hdr(HeaderCachedTokens, "40", HeaderCacheWrite5m, "20", HeaderCacheWrite1h, "10", HeaderReasoningTokens, "5", HeaderEvents, "6")},
		{"vendor styles", hdr(HeaderCachedTokens, "2", HeaderStyle, "deepseek", HeaderCost, "0.5")},
	}
	for _, ep := range endpoints {
		for _, ks := range knobSets {
			t.Run(ep.name+"/"+ks.name, func(t *testing.T) {
				want, err := ExpectedUsage(ep.path, ks.header, []byte(ep.body), Options{})
				if err != nil {
					t.Fatalf("ExpectedUsage: %v", err)
				}
				_, body := post(t, ts.URL+ep.path, ep.provider, ks.header, ep.body)
				if got := wireUsage(t, ep.format, ep.stream, body); got != want {
					t.Fatalf("wire usage %+v\nExpectedUsage %+v", got, want)
				}
				if want.InputTokens <= PromptOverhead {
					t.Errorf("prompt words not counted: %+v", want)
				}
			})
		}
	}
}

// TestExpectedUsageRule guards the documented rule with figures computed by
// hand, so the rule cannot drift silently together with the code.
func TestExpectedUsageRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body string
		header           http.Header
		opts             Options
		want             Usage
	}{
		{"chat words", "/v1/chat/completions", `{"messages":[{"role":"user","content":"one two  three\nfour"}],"max_tokens":2}`, nil, Options{}, Usage{InputTokens: 7, OutputTokens: 2}},
		{"keys that are not prompt", "/v1/chat/completions", `{"model":"a b c","user":"d e","messages":[{"role":"user","name":"x y","content":"z"}]}`, nil, Options{Events: 1}, Usage{InputTokens: 4, OutputTokens: 1}},
		{"anthropic cache", "/anthropic/v1/messages", `{"system":"s","messages":[{"role":"user","content":[{"type":"text","text":"a b"}]}],"max_tokens":1}`,
			hdr(HeaderCachedTokens, "10", HeaderCacheWrite5m, "3", HeaderCacheWrite1h, "2", HeaderReasoningTokens, "4"), Options{},
			Usage{InputTokens: 6 + 10 + 5, CachedInputTokens: 10, CacheWrite5mTokens: 3, CacheWrite1hTokens: 2, OutputTokens: 5}},
		{"openai ignores cache writes", "/v1/responses", `{"input":"a"}`, hdr(HeaderCacheWrite5m, "3", HeaderReasoningTokens, "4"), Options{Events: 2},
			Usage{InputTokens: 4, OutputTokens: 6, ReasoningTokens: 4}},
		{"gemini max output", "/v1beta/models/x:generateContent", `{"contents":[{"parts":[{"text":"q"}]}],"generationConfig":{"maxOutputTokens":9}}`, nil, Options{},
			Usage{InputTokens: 4, OutputTokens: 9}},
		{"ollama num_predict", "/api/generate", `{"prompt":"p q","options":{"num_predict":1}}`, hdr(HeaderReasoningTokens, "2"), Options{},
			Usage{InputTokens: 5, OutputTokens: 3}},
		{"embeddings", "/v1/embeddings", `{"input":"a b c"}`, hdr(HeaderEvents, "9"), Options{}, Usage{InputTokens: 6}},
		{"empty body", "/v1/chat/completions", ``, nil, Options{}, Usage{InputTokens: 3, OutputTokens: DefaultEvents}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpectedUsage(tt.path, tt.header, []byte(tt.body), tt.opts)
			if err != nil || got != tt.want {
				t.Fatalf("ExpectedUsage = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestExpectedUsageErrors guards ErrNoUsage for non-consumption endpoints
// and errors for bad bodies and knobs.
func TestExpectedUsageErrors(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/v1/messages/count_tokens", "/v1beta/models/g:countTokens", "/v1/models", "/v1/unknown"} {
		if _, err := ExpectedUsage(path, nil, []byte(`{}`), Options{}); !errors.Is(err, ErrNoUsage) {
			t.Errorf("%s: err = %v, want ErrNoUsage", path, err)
		}
	}
	if _, err := ExpectedUsage("/v1/chat/completions", nil, []byte(`[1]`), Options{}); err == nil || errors.Is(err, ErrNoUsage) {
		t.Errorf("array body: err = %v", err)
	}
	if _, err := ExpectedUsage("/v1/chat/completions", hdr(HeaderEvents, "x"), []byte(`{}`), Options{}); err == nil {
		t.Error("bad knob: no error")
	}
}
