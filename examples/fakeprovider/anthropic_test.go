package fakeprovider

import (
	"strconv"
	"strings"
	"testing"
)

const messagesBody = `{"model":"claude-sonnet-4-5","max_tokens":%d,"system":[{"type":"text","text":"you are terse"}],"messages":[{"role":"user","content":"count to three"}]%s}`

func messagesReq(maxTokens int, extra string) string {
	return strings.Replace(strings.Replace(messagesBody, "%d", strconv.Itoa(maxTokens), 1), "%s", extra, 1)
}

// TestMessagesStream guards the Messages event sequence, the full usage in
// message_start (cache_creation split included) and the cumulative usage
// in message_delta.
func TestMessagesStream(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	resp, body := post(t, ts.URL+"/v1/messages", "anthropic",
		hdr(HeaderCachedTokens, "100", HeaderCacheWrite5m, "20", HeaderCacheWrite1h, "7", HeaderReasoningTokens, "4"),
		messagesReq(2, `,"stream":true`))
	if id := resp.Header.Get("Request-Id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("request-id = %q", id)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type = %q", ct)
	}
	evs := splitSSE(t, body, "\n")
	want := []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, ev := range evs {
		if d := decode(t, ev.data); ev.name != want[i] || str(d, "type") != want[i] {
			t.Errorf("event %d: name %q type %q, want %q", i, ev.name, str(d, "type"), want[i])
		}
	}
	start := decode(t, evs[0].data)
	u := at(start, "message", "usage")
	// "you are terse count to three" = 6 words + 3.
	checks := map[string]int{"input_tokens": 9, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 27, "output_tokens": 1}
	for k, v := range checks {
		if num(u, k) != v {
			t.Errorf("message_start usage.%s = %d, want %d", k, num(u, k), v)
		}
	}
	if num(u, "cache_creation", "ephemeral_5m_input_tokens") != 20 || num(u, "cache_creation", "ephemeral_1h_input_tokens") != 7 || str(u, "service_tier") != "standard" {
		t.Errorf("message_start cache_creation/service_tier: %v", u)
	}
	if !strings.HasPrefix(str(start, "message", "id"), "msg_") || str(start, "message", "role") != "assistant" {
		t.Errorf("message_start: %s", evs[0].data)
	}
	var text string
	for _, ev := range evs[3:5] {
		d := decode(t, ev.data)
		if str(d, "delta", "type") != "text_delta" {
			t.Errorf("delta: %s", ev.data)
		}
		text += str(d, "delta", "text")
	}
	if text != "lorem ipsum" {
		t.Errorf("text = %q", text)
	}
	delta := decode(t, evs[6].data)
	if str(delta, "delta", "stop_reason") != "end_turn" {
		t.Errorf("message_delta: %s", evs[6].data)
	}
	checks = map[string]int{"input_tokens": 9, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 27, "output_tokens": 6}
	for k, v := range checks {
		if num(delta, "usage", k) != v {
			t.Errorf("message_delta usage.%s = %d, want %d", k, num(delta, "usage", k), v)
		}
	}
}

// TestMessagesObject guards the non-streaming message object.
func TestMessagesObject(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	_, body := post(t, ts.URL+"/v1/messages", "anthropic", hdr(HeaderModel, "claude-sonnet-4-5-20250929"), messagesReq(3, ""))
	m := decode(t, string(body))
	if str(m, "type") != "message" || str(m, "model") != "claude-sonnet-4-5-20250929" || str(m, "stop_reason") != "end_turn" || at(m, "stop_sequence") != nil {
		t.Errorf("message: %s", body)
	}
	if str(m, "content", 0, "type") != "text" || str(m, "content", 0, "text") != "lorem ipsum dolor" {
		t.Errorf("content: %s", body)
	}
	if num(m, "usage", "input_tokens") != 9 || num(m, "usage", "output_tokens") != 3 || num(m, "usage", "cache_creation", "ephemeral_1h_input_tokens") != 0 {
		t.Errorf("usage: %v", at(m, "usage"))
	}
}

// TestCountTokens guards /v1/messages/count_tokens: the input_tokens a
// Messages call with the same body reports.
func TestCountTokens(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	_, body := post(t, ts.URL+"/v1/messages/count_tokens", "anthropic", nil, messagesReq(3, ""))
	if m := decode(t, string(body)); num(m, "input_tokens") != 9 || len(m) != 1 {
		t.Errorf("count_tokens: %s", body)
	}
}
