package fakeprovider

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// rtUsageOf normalizes a Realtime response.done (or transcription) usage
// the way a meter should, independently of the fake's code.
func rtUsageOf(t *testing.T, ev map[string]any) Usage {
	t.Helper()
	if str(ev, "type") == "conversation.item.input_audio_transcription.completed" {
		return Usage{
			InputTokens:      num(ev, "usage", "input_tokens"),
			InputAudioTokens: num(ev, "usage", "input_token_details", "audio_tokens"),
			OutputTokens:     num(ev, "usage", "output_tokens"),
		}
	}
	u := at(ev, "response", "usage")
	if num(u, "total_tokens") != num(u, "input_tokens")+num(u, "output_tokens") ||
		num(u, "input_tokens") != num(u, "input_token_details", "text_tokens")+num(u, "input_token_details", "audio_tokens") ||
		num(u, "output_tokens") != num(u, "output_token_details", "text_tokens")+num(u, "output_token_details", "audio_tokens") ||
		num(u, "input_token_details", "cached_tokens") != num(u, "input_token_details", "cached_tokens_details", "text_tokens")+num(u, "input_token_details", "cached_tokens_details", "audio_tokens") {
		t.Errorf("inconsistent usage: %v", u)
	}
	return Usage{
		InputTokens:       num(u, "input_tokens"),
		CachedInputTokens: num(u, "input_token_details", "cached_tokens"),
		InputAudioTokens:  num(u, "input_token_details", "audio_tokens"),
		OutputTokens:      num(u, "output_tokens"),
		OutputAudioTokens: num(u, "output_token_details", "audio_tokens"),
	}
}

// TestRealtime guards the Realtime conversation: session.created first,
// session.update, text and audio items, text and audio responses (one
// delta per word, AudioTokensPerWord audio deltas per word), the input
// transcription with its own usage, the error knob's failed response.done
// and an error event for an unknown type, every usage equal to
// ExpectedWSUsage's for the same messages.
func TestRealtime(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	path := "/v1/realtime?model=gpt-realtime"
	h := hdr("Authorization", "Bearer k")
	c, _ := dialWS(t, wsURL(ts, path), h, websocket.CompressionContextTakeover)
	first := readUntil(t, c, "session.created")
	if len(first) != 1 || str(first[0], "session", "model") != "gpt-realtime" || !strings.HasPrefix(str(first[0], "event_id"), "event_") {
		t.Fatalf("first event: %v", first)
	}
	audio := base64.StdEncoding.EncodeToString(make([]byte, 2*AudioBytesPerToken+1)) // 3 tokens
	steps := []struct {
		msg  string
		stop string
	}{
		{`{"type":"session.update","session":{"type":"realtime","instructions":"be brief","output_modalities":["text"],"audio":{"input":{"transcription":{"model":"gpt-4o-transcribe"}}}}}`, "session.updated"},
		{`{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hello there"}]}}`, "conversation.item.done"},
		{`{"type":"response.create","response":{"max_output_tokens":3}}`, "response.done"},
		{`{"type":"input_audio_buffer.append","audio":"` + audio + `"}`, ""},
		{`{"type":"input_audio_buffer.commit"}`, "conversation.item.input_audio_transcription.completed"},
		{`{"type":"response.create","response":{"output_modalities":["audio"],"metadata":{"x-fake-events":"2","x-fake-cached-tokens":"4"}}}`, "response.done"},
		{`{"type":"response.create","response":{"metadata":{"x-fake-error-event":"1"}}}`, "response.done"},
		{`{"type":"nonsense"}`, "error"},
	}
	var msgs [][]byte
	var got []Usage
	var all [][]map[string]any
	for _, st := range steps {
		sendJSON(t, c, st.msg)
		msgs = append(msgs, []byte(st.msg))
		if st.stop == "" {
			continue
		}
		evs := readUntil(t, c, st.stop)
		all = append(all, evs)
		for _, ev := range evs {
			switch str(ev, "type") {
			case "response.done", "conversation.item.input_audio_transcription.completed":
				got = append(got, rtUsageOf(t, ev))
			}
		}
	}
	want, err := ExpectedWSUsage(path, h, msgs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) != 4 {
		t.Fatalf("got %d usages %+v, want %+v", len(got), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("usage %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// Figures by hand: 3 + 2 (instructions) + 2 (hello there) = 7 text in,
	// 3 words out; then the transcription of 3 audio tokens; then 7 + 3
	// (first answer) + 4 cached text and 3 audio in, 2 words as audio out.
	if want := (Usage{InputTokens: 7, OutputTokens: 3}); got[0] != want {
		t.Errorf("first response %+v, want %+v", got[0], want)
	}
	if want := (Usage{InputTokens: 3, InputAudioTokens: 3, OutputTokens: 3}); got[1] != want {
		t.Errorf("transcription %+v, want %+v", got[1], want)
	}
	if want := (Usage{InputTokens: 17, CachedInputTokens: 4, InputAudioTokens: 3, OutputTokens: 2 + 2*AudioTokensPerWord, OutputAudioTokens: 2 * AudioTokensPerWord}); got[2] != want {
		t.Errorf("audio response %+v, want %+v", got[2], want)
	}
	count := func(evs []map[string]any, typ string) int {
		n := 0
		for _, ev := range evs {
			if str(ev, "type") == typ {
				n++
			}
		}
		return n
	}
	if n := count(all[2], "response.output_text.delta"); n != 3 {
		t.Errorf("%d text deltas, want 3", n)
	}
	if n, m := count(all[4], "response.output_audio_transcript.delta"), count(all[4], "response.output_audio.delta"); n != 2 || m != 2*AudioTokensPerWord {
		t.Errorf("%d transcript and %d audio deltas", n, m)
	}
	failed := all[5][len(all[5])-1]
	if str(failed, "response", "status") != "failed" || str(failed, "response", "status_details", "error", "type") != "server_error" {
		t.Errorf("error knob: %v", failed)
	}
	if last := all[6][len(all[6])-1]; str(last, "error", "code") != "invalid_event" {
		t.Errorf("unknown event: %v", last)
	}
}
