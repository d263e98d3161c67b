package fakeprovider

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello there world"}]}],"max_tokens":3%s}`

// TestChatCompletionObject guards the non-streaming chat.completion shape
// and the documented token rule (3 + words; max_tokens words out).
func TestChatCompletionObject(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	resp, body := post(t, ts.URL+"/v1/chat/completions", "openai", hdr(HeaderCachedTokens, "4", HeaderReasoningTokens, "2"), strings.Replace(chatBody, "%s", "", 1))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if id := resp.Header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("x-request-id = %q, want req_…", id)
	}
	m := decode(t, string(body))
	if !strings.HasPrefix(str(m, "id"), "chatcmpl-") || str(m, "object") != "chat.completion" || str(m, "model") != "gpt-4o-mini" {
		t.Errorf("id/object/model wrong: %s", body)
	}
	if got := str(m, "choices", 0, "message", "content"); got != "lorem ipsum dolor" {
		t.Errorf("content = %q, want 3 words", got)
	}
	if str(m, "choices", 0, "finish_reason") != "stop" || str(m, "choices", 0, "message", "role") != "assistant" {
		t.Errorf("choice wrong: %s", body)
	}
	// "be brief" + "hello there world" = 5 words + 3 overhead + 4 cached.
	want := map[string]int{"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
	for k, v := range want {
		if got := num(m, "usage", k); got != v {
			t.Errorf("usage.%s = %d, want %d", k, got, v)
		}
	}
	if got := num(m, "usage", "prompt_tokens_details", "cached_tokens"); got != 4 {
		t.Errorf("cached_tokens = %d, want 4", got)
	}
	if got := num(m, "usage", "completion_tokens_details", "reasoning_tokens"); got != 2 {
		t.Errorf("reasoning_tokens = %d, want 2", got)
	}
}

// TestChatStream guards the chunk sequence with and without
// stream_options.include_usage, exactly as OpenAI sends it.
func TestChatStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		extra        string
		includeUsage bool
	}{
		{"no usage asked", `,"stream":true`, false},
		{"include_usage false", `,"stream":true,"stream_options":{"include_usage":false}`, false},
		{"include_usage", `,"stream":true,"stream_options":{"include_usage":true}`, true},
	}
	_, ts := fake(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, ts.URL+"/v1/chat/completions", "openai", nil, strings.Replace(chatBody, "%s", tt.extra, 1))
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("Content-Type = %q", ct)
			}
			evs := splitSSE(t, body, "\n")
			if last := evs[len(evs)-1]; last.data != "[DONE]" || last.name != "" {
				t.Fatalf("last event = %+v, want data: [DONE]", last)
			}
			chunks := evs[:len(evs)-1]
			wantChunks := 1 + 3 + 1 // role, words, finish
			if tt.includeUsage {
				wantChunks++
			}
			if len(chunks) != wantChunks {
				t.Fatalf("%d chunks, want %d", len(chunks), wantChunks)
			}
			var text strings.Builder
			for i, ev := range chunks {
				if ev.name != "" {
					t.Errorf("chunk %d has an event line %q", i, ev.name)
				}
				c := decode(t, ev.data)
				if str(c, "object") != "chat.completion.chunk" || !strings.HasPrefix(str(c, "id"), "chatcmpl-") {
					t.Errorf("chunk %d: %s", i, ev.data)
				}
				switch {
				case !tt.includeUsage && has(c, "usage"):
					t.Errorf("chunk %d has a usage key without include_usage: %s", i, ev.data)
				case tt.includeUsage && i < len(chunks)-1 && (!has(c, "usage") || at(c, "usage") != nil):
					t.Errorf(`chunk %d lacks "usage":null: %s`, i, ev.data)
				}
				text.WriteString(str(c, "choices", 0, "delta", "content"))
			}
			if text.String() != "lorem ipsum dolor" {
				t.Errorf("streamed text = %q", text.String())
			}
			if first := decode(t, chunks[0].data); str(first, "choices", 0, "delta", "role") != "assistant" {
				t.Errorf("first chunk has no role: %s", chunks[0].data)
			}
			finish := decode(t, chunks[4].data)
			if str(finish, "choices", 0, "finish_reason") != "stop" {
				t.Errorf("finish chunk: %s", chunks[4].data)
			}
			if tt.includeUsage {
				u := decode(t, chunks[5].data)
				if c, ok := at(u, "choices").([]any); !ok || len(c) != 0 {
					t.Errorf(`usage chunk lacks "choices":[]: %s`, chunks[5].data)
				}
				if num(u, "usage", "prompt_tokens") != 8 || num(u, "usage", "completion_tokens") != 3 || num(u, "usage", "total_tokens") != 11 {
					t.Errorf("usage chunk: %s", chunks[5].data)
				}
			}
		})
	}
}

// TestCompletions guards the legacy text_completion object and stream.
func TestCompletions(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	_, body := post(t, ts.URL+"/v1/completions", "openai", nil, `{"model":"gpt-3.5-turbo-instruct","prompt":"say hi","max_tokens":2}`)
	m := decode(t, string(body))
	if str(m, "object") != "text_completion" || !strings.HasPrefix(str(m, "id"), "cmpl-") || str(m, "choices", 0, "text") != "lorem ipsum" {
		t.Errorf("object: %s", body)
	}
	if num(m, "usage", "prompt_tokens") != 5 || num(m, "usage", "completion_tokens") != 2 {
		t.Errorf("usage: %s", body)
	}

	_, body = post(t, ts.URL+"/v1/completions", "openai", nil, `{"model":"gpt-3.5-turbo-instruct","prompt":["say hi","again"],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true}}`)
	evs := splitSSE(t, body, "\n")
	if len(evs) != 2+1+1+1 || evs[len(evs)-1].data != "[DONE]" {
		t.Fatalf("events: %+v", evs)
	}
	var text string
	for _, ev := range evs[:3] {
		c := decode(t, ev.data)
		if str(c, "object") != "text_completion" || !has(c, "usage") {
			t.Errorf("chunk: %s", ev.data)
		}
		text += str(c, "choices", 0, "text")
	}
	if text != "lorem ipsum" {
		t.Errorf("text = %q", text)
	}
	u := decode(t, evs[3].data)
	if num(u, "usage", "prompt_tokens") != 6 || num(u, "usage", "completion_tokens") != 2 {
		t.Errorf("usage chunk: %s", evs[3].data)
	}
}

// TestResponsesStream guards the Responses event sequence: event names
// equal data.type, sequence numbers count from 0, usage only at the end,
// no [DONE].
func TestResponsesStream(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	_, body := post(t, ts.URL+"/v1/responses", "openai", hdr(HeaderCachedTokens, "2", HeaderReasoningTokens, "5"),
		`{"model":"gpt-4.1","stream":true,"instructions":"be nice","input":[{"role":"user","content":[{"type":"input_text","text":"a b c"}]}],"max_output_tokens":2}`)
	evs := splitSSE(t, body, "\n")
	want := []string{
		"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, ev := range evs {
		d := decode(t, ev.data)
		if ev.name != want[i] || str(d, "type") != want[i] {
			t.Errorf("event %d: name %q type %q, want %q", i, ev.name, str(d, "type"), want[i])
		}
		if num(d, "sequence_number") != i {
			t.Errorf("event %d: sequence_number %d", i, num(d, "sequence_number"))
		}
	}
	created := decode(t, evs[0].data)
	if at(created, "response", "usage") != nil || str(created, "response", "status") != "in_progress" || !strings.HasPrefix(str(created, "response", "id"), "resp_") {
		t.Errorf("created: %s", evs[0].data)
	}
	done := decode(t, evs[len(evs)-1].data)
	r := at(done, "response")
	if str(r, "status") != "completed" || str(r, "output", 0, "content", 0, "text") != "lorem ipsum" || str(r, "instructions") != "be nice" {
		t.Errorf("completed: %s", evs[len(evs)-1].data)
	}
	// "be nice" + "a b c" = 5 words + 3 + 2 cached; 2 words + 5 reasoning.
	if num(r, "usage", "input_tokens") != 10 || num(r, "usage", "input_tokens_details", "cached_tokens") != 2 ||
		num(r, "usage", "output_tokens") != 7 || num(r, "usage", "output_tokens_details", "reasoning_tokens") != 5 ||
		num(r, "usage", "total_tokens") != 17 {
		t.Errorf("usage: %v", at(r, "usage"))
	}
	if d := decode(t, evs[4].data); str(d, "delta") != "lorem" || !strings.HasPrefix(str(d, "item_id"), "msg_") {
		t.Errorf("delta: %s", evs[4].data)
	}
}

// TestResponsesObject guards the non-streaming response object.
func TestResponsesObject(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	_, body := post(t, ts.URL+"/v1/responses", "openai", hdr(HeaderModel, "gpt-4.1-2025-04-14"), `{"model":"gpt-4.1","input":"one two"}`)
	m := decode(t, string(body))
	if str(m, "object") != "response" || str(m, "status") != "completed" || str(m, "model") != "gpt-4.1-2025-04-14" {
		t.Errorf("object: %s", body)
	}
	if got := str(m, "output", 0, "content", 0, "text"); len(strings.Fields(got)) != DefaultEvents {
		t.Errorf("text %q: want %d words", got, DefaultEvents)
	}
	if num(m, "usage", "input_tokens") != 5 || num(m, "usage", "output_tokens") != DefaultEvents {
		t.Errorf("usage: %v", at(m, "usage"))
	}
}

// TestEmbeddings guards float and base64 vectors and embedding usage.
func TestEmbeddings(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	tests := []struct {
		name, body string
		inputs     int
		dims       int
		b64        bool
		prompt     int
	}{
		{"one string", `{"model":"text-embedding-3-small","input":"a b c d"}`, 1, defaultDimensions, false, 7},
		{"list", `{"model":"text-embedding-3-small","input":["a b","c"],"dimensions":16}`, 2, 16, false, 6},
		{"base64", `{"model":"text-embedding-3-small","input":"a","encoding_format":"base64"}`, 1, defaultDimensions, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := post(t, ts.URL+"/v1/embeddings", "openai", nil, tt.body)
			m := decode(t, string(body))
			data, _ := at(m, "data").([]any)
			if str(m, "object") != "list" || len(data) != tt.inputs {
				t.Fatalf("list: %s", body)
			}
			for i := range data {
				if str(m, "data", i, "object") != "embedding" || num(m, "data", i, "index") != i {
					t.Errorf("item %d: %v", i, data[i])
				}
				if tt.b64 {
					raw, err := base64.StdEncoding.DecodeString(str(m, "data", i, "embedding"))
					if err != nil || len(raw) != 4*tt.dims {
						t.Errorf("base64 vector: %d bytes, %v", len(raw), err)
					}
				} else if vec, _ := at(m, "data", i, "embedding").([]any); len(vec) != tt.dims {
					t.Errorf("vector has %d values, want %d", len(vec), tt.dims)
				}
			}
			if num(m, "usage", "prompt_tokens") != tt.prompt || num(m, "usage", "total_tokens") != tt.prompt {
				t.Errorf("usage: %v, want %d", at(m, "usage"), tt.prompt)
			}
		})
	}
}

// TestModels guards the OpenAI and Anthropic model lists.
func TestModels(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	resp, body, err := do(t, nil, http.MethodGet, ts.URL+"/v1/models", creds["openai"], "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET models: %d %v", resp.StatusCode, err)
	}
	m := decode(t, string(body))
	if str(m, "object") != "list" || str(m, "data", 0, "object") != "model" || str(m, "data", 0, "id") == "" {
		t.Errorf("OpenAI list: %s", body)
	}
	_, body, _ = do(t, nil, http.MethodGet, ts.URL+"/v1/models", creds["anthropic"], "")
	m = decode(t, string(body))
	if str(m, "data", 0, "type") != "model" || !strings.HasPrefix(str(m, "data", 0, "id"), "claude-") || at(m, "has_more") != false {
		t.Errorf("Anthropic list: %s", body)
	}
}

// TestVendorStyles guards OpenRouter's usage.cost, Groq's x_groq.usage and
// DeepSeek's prompt cache fields.
func TestVendorStyles(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	body := strings.Replace(chatBody, "%s", "", 1)

	_, out := post(t, ts.URL+"/v1/chat/completions", "openai", hdr(HeaderCost, "0.0123"), body)
	if !strings.Contains(string(out), `"cost":0.0123}`) {
		t.Errorf("no exact usage.cost: %s", out)
	}

	_, out = post(t, ts.URL+"/v1/chat/completions", "openai", hdr(HeaderStyle, "deepseek", HeaderCachedTokens, "5"), body)
	m := decode(t, string(out))
	if num(m, "usage", "prompt_cache_hit_tokens") != 5 || num(m, "usage", "prompt_cache_miss_tokens") != 8 || num(m, "usage", "prompt_tokens") != 13 {
		t.Errorf("deepseek usage: %v", at(m, "usage"))
	}

	_, out = post(t, ts.URL+"/v1/chat/completions", "openai", hdr(HeaderStyle, "groq"), strings.Replace(chatBody, "%s", `,"stream":true`, 1))
	evs := splitSSE(t, out, "\n")
	first, finish := decode(t, evs[0].data), decode(t, evs[4].data)
	if !strings.HasPrefix(str(first, "x_groq", "id"), "req_") {
		t.Errorf("first chunk lacks x_groq.id: %s", evs[0].data)
	}
	if num(finish, "x_groq", "usage", "prompt_tokens") != 8 || num(finish, "x_groq", "usage", "completion_tokens") != 3 || at(finish, "x_groq", "usage", "queue_time") == nil {
		t.Errorf("finish chunk lacks x_groq.usage: %s", evs[4].data)
	}
	for _, ev := range evs[:len(evs)-1] {
		if has(decode(t, ev.data), "usage") {
			t.Errorf("groq chunk has top-level usage without include_usage: %s", ev.data)
		}
	}
}
