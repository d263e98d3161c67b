package fakeprovider

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ExpectedWSUsage tells the usage of every usage-bearing event the fake
// sends on a WebSocket connection to path (with its query, e.g.
// ?model=…), opened with header, when the client sends messages in order,
// so a test can check what a meter recorded per response:
//
//   - Responses (…/responses): one Usage per response.create that starts a
//     response, by ExpectedUsage's rule for POST /v1/responses with the
//     message as body (metadata X-Fake-… entries override the header's
//     knobs); a prewarm (generate:false) reports zero.
//   - Realtime (…/realtime): one per response.done and one per
//     conversation.item.input_audio_transcription.completed, in order. A
//     response's input is PromptOverhead + the words of the session and
//     response instructions + the text of every conversation item so far
//     (each earlier response's words included) + the cached-token knob, and
//     as audio the committed input audio (AudioBytesPerToken) plus earlier
//     audio outputs; its output is one text token per word plus, with audio
//     output, AudioTokensPerWord audio tokens per word. A transcription
//     bills the committed audio's tokens as input and as many words as output.
//   - Live (…BidiGenerateContent): one per turnComplete, by the same
//     conversation rule with LiveAudioBytesPerToken; audio output counts
//     AudioTokensPerWord per word and no text tokens; the reasoning knob
//     adds thoughtsTokenCount.
//
// Usage of a response the abort or error knob cuts short is what it would
// have been complete (except Realtime's failed response.done, which counts
// the words sent). It returns an error for a path that is no WebSocket
// endpoint or a malformed knob.
func ExpectedWSUsage(path string, header http.Header, messages [][]byte, opts Options) ([]Usage, error) {
	path, rawQuery, _ := strings.Cut(path, "?")
	ep := routeWS(path)
	if ep == nil {
		return nil, fmt.Errorf("expected WebSocket usage for %s: %w", path, ErrNoUsage)
	}
	if header == nil {
		header = http.Header{}
	}
	if _, err := parseKnobs(header, &opts); err != nil {
		return nil, fmt.Errorf("expected WebSocket usage for %s: %w", path, err)
	}
	switch ep.provider {
	case providerGemini:
		lc := &liveConn{opts: &opts, header: header}
		for _, m := range messages {
			if !lc.handle(wsMessage{opcode: opText, data: m}) {
				break
			}
		}
		return lc.usages, nil
	}
	if ep.name == "/realtime" {
		rc := &rtConn{opts: &opts, header: header}
		q, _ := url.ParseQuery(rawQuery)
		rc.st.model, rc.st.audioOut = q.Get("model"), true
		for _, m := range messages {
			rc.handle(wsMessage{opcode: opText, data: m})
		}
		return rc.usages, nil
	}
	var out []Usage
	resp := route(http.MethodPost, "/v1/responses")
	for _, m := range messages {
		req, err := parseBody(m)
		if err != nil || req.str("type") != "response.create" {
			continue
		}
		k, err := metadataKnobs(header, req.get("metadata"), &opts)
		if err != nil || k.status != 0 {
			continue
		}
		out = append(out, newPlan(resp, path, nil, m, req, k, &opts).usage())
	}
	return out, nil
}
