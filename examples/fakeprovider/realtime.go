package fakeprovider

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// Deterministic audio rules of the Realtime and Live fakes: one input audio
// token per 100 ms of 24 kHz mono PCM16 (4800 bytes, rounded up per
// committed buffer), and AudioTokensPerWord output audio tokens (each 100 ms
// of silence) per generated word.
const (
	AudioBytesPerToken = 4800
	AudioTokensPerWord = 2
)

// rtState is what a Realtime connection remembers: the session settings
// and the conversation, whose every item counts as input to each later
// response (as the real API bills the whole context each turn).
type rtState struct {
	model        string
	instructions string
	audioOut     bool // output_modalities include audio
	transcribe   bool // audio.input.transcription set
	textWords    int  // words of the conversation's text items and outputs
	audioTokens  int  // audio tokens of committed input and audio outputs
	buffered     int  // input audio bytes appended, not yet committed
	items        int  // items created, numbering their ids
}

// rtSession is the session object of session.created and session.updated.
type rtSession struct {
	Object           string    `json:"object"`
	Type             string    `json:"type"`
	ID               string    `json:"id"`
	Model            string    `json:"model"`
	OutputModalities []string  `json:"output_modalities"`
	Instructions     string    `json:"instructions"`
	Audio            rtAudio   `json:"audio"`
	Tools            []any     `json:"tools"`
	ToolChoice       string    `json:"tool_choice"`
	MaxOutputTokens  string    `json:"max_output_tokens"`
	Tracing          *struct{} `json:"tracing"`
	Prompt           *struct{} `json:"prompt"`
	ExpiresAt        int64     `json:"expires_at"`
}

type rtAudio struct {
	Input struct {
		Format        rtFormat         `json:"format"`
		Transcription *rtTranscription `json:"transcription"`
		TurnDetection *struct{}        `json:"turn_detection"`
	} `json:"input"`
	Output struct {
		Format rtFormat `json:"format"`
		Voice  string   `json:"voice"`
	} `json:"output"`
}

type rtFormat struct {
	Type string `json:"type"`
	Rate int    `json:"rate"`
}

type rtTranscription struct {
	Model string `json:"model"`
}

// rtUsage is response.usage of response.done.
type rtUsage struct {
	TotalTokens       int `json:"total_tokens"`
	InputTokens       int `json:"input_tokens"`
	OutputTokens      int `json:"output_tokens"`
	InputTokenDetails struct {
		TextTokens          int `json:"text_tokens"`
		AudioTokens         int `json:"audio_tokens"`
		ImageTokens         int `json:"image_tokens"`
		CachedTokens        int `json:"cached_tokens"`
		CachedTokensDetails struct {
			TextTokens  int `json:"text_tokens"`
			AudioTokens int `json:"audio_tokens"`
			ImageTokens int `json:"image_tokens"`
		} `json:"cached_tokens_details"`
	} `json:"input_token_details"`
	OutputTokenDetails struct {
		TextTokens  int `json:"text_tokens"`
		AudioTokens int `json:"audio_tokens"`
	} `json:"output_token_details"`
}

// rtResponse is the realtime.response object.
type rtResponse struct {
	Object           string            `json:"object"`
	ID               string            `json:"id"`
	Status           string            `json:"status"`
	StatusDetails    any               `json:"status_details"`
	Output           []rtItem          `json:"output"`
	ConversationID   string            `json:"conversation_id"`
	OutputModalities []string          `json:"output_modalities"`
	MaxOutputTokens  string            `json:"max_output_tokens"`
	Audio            any               `json:"audio"`
	Usage            *rtUsage          `json:"usage"`
	Metadata         map[string]string `json:"metadata"`
}

// rtItem is a conversation item (message).
type rtItem struct {
	ID      string      `json:"id"`
	Type    string      `json:"type"`
	Object  string      `json:"object"`
	Status  string      `json:"status"`
	Role    string      `json:"role"`
	Content []rtContent `json:"content"`
}

type rtContent struct {
	Type       string  `json:"type"`
	Text       *string `json:"text,omitempty"`
	Transcript *string `json:"transcript,omitempty"`
	Audio      *string `json:"audio,omitempty"`
}

// rtEvent is one server event; unused fields are omitted.
type rtEvent struct {
	Type         string      `json:"type"`
	EventID      string      `json:"event_id"`
	Session      *rtSession  `json:"session,omitempty"`
	Response     *rtResponse `json:"response,omitempty"`
	ResponseID   string      `json:"response_id,omitempty"`
	Item         *rtItem     `json:"item,omitempty"`
	ItemID       string      `json:"item_id,omitempty"`
	OutputIndex  *int        `json:"output_index,omitempty"`
	ContentIndex *int        `json:"content_index,omitempty"`
	Part         *rtContent  `json:"part,omitempty"`
	Delta        *string     `json:"delta,omitempty"`
	Text         *string     `json:"text,omitempty"`
	Transcript   *string     `json:"transcript,omitempty"`
	Usage        any         `json:"usage,omitempty"`
	Error        any         `json:"error,omitempty"`
}

// rtTranscriptionUsage is the usage of an input audio transcription.
type rtTranscriptionUsage struct {
	Type              string `json:"type"`
	InputTokens       int    `json:"input_tokens"`
	OutputTokens      int    `json:"output_tokens"`
	TotalTokens       int    `json:"total_tokens"`
	InputTokenDetails struct {
		TextTokens  int `json:"text_tokens"`
		AudioTokens int `json:"audio_tokens"`
	} `json:"input_token_details"`
}

// rtConn is one Realtime connection's protocol state and output.
type rtConn struct {
	ss     *wsSession // nil in a dry run (ExpectedWSUsage)
	opts   *Options
	header http.Header
	st     rtState
	events int      // server events sent, numbering event ids
	usages []Usage  // usage of each response.done, for dry runs
	e      *emitter // for session-level events
	seed   []byte
}

// serveRealtime speaks the OpenAI Realtime API (GA event names): it sends
// session.created, then answers session.update, conversation.item.create,
// input_audio_buffer.append/commit/clear and response.create. A response
// streams response.created, output item and content part events, one text
// delta (or audio transcript and audio delta pair) per word, their done
// events and response.done with the usage of the whole conversation so far.
// Committed audio with transcription on also gets
// conversation.item.input_audio_transcription.completed with its own usage.
// The fake never starts a response by itself (no voice activity detection).
func serveRealtime(ss *wsSession, msgs <-chan wsMessage) {
	rc := &rtConn{ss: ss, opts: &ss.s.opts, header: ss.r.Header, seed: ss.seed("/realtime", nil)}
	rc.st.model = ss.r.URL.Query().Get("model")
	if d := ss.r.URL.Query().Get("deployment"); rc.st.model == "" {
		rc.st.model = d // Azure names the deployment instead
	}
	if rc.st.model == "" {
		rc.st.model = "gpt-realtime"
	}
	rc.st.audioOut = true
	rc.e = ss.emitter(defaultKnobs(&ss.s.opts), rc.seed)
	rc.send(rc.e, rtEvent{Type: "session.created", Session: rc.session()})
	for m := range msgs {
		ss.record(m.data)
		rc.handle(m)
	}
}

// send writes one event with the next event id (nothing in a dry run).
func (rc *rtConn) send(e *emitter, ev rtEvent) {
	rc.events++
	if rc.ss == nil {
		return
	}
	ev.EventID = "event_" + makeID(rc.seed, fmt.Sprint("event", rc.events), 20)
	e.sse("", ev)
}

func (rc *rtConn) session() *rtSession {
	s := &rtSession{
		Object: "realtime.session", Type: "realtime", ID: "sess_" + makeID(rc.seed, "session", 20),
		Model: rc.st.model, Instructions: rc.st.instructions, Tools: []any{}, ToolChoice: "auto",
		MaxOutputTokens: "inf", ExpiresAt: Epoch.Unix() + 3600,
	}
	s.OutputModalities = []string{"text"}
	if rc.st.audioOut {
		s.OutputModalities = []string{"audio"}
	}
	s.Audio.Input.Format = rtFormat{"audio/pcm", 24000}
	s.Audio.Output.Format = rtFormat{"audio/pcm", 24000}
	s.Audio.Output.Voice = "alloy"
	if rc.st.transcribe {
		s.Audio.Input.Transcription = &rtTranscription{Model: "gpt-4o-transcribe"}
	}
	return s
}

// fail sends the Realtime error event; the connection stays open.
func (rc *rtConn) fail(code, message string) {
	rc.send(rc.e, rtEvent{Type: "error", Error: map[string]any{
		"type": "invalid_request_error", "code": code, "message": message, "param": nil, "event_id": nil,
	}})
}

// handle applies one client event.
func (rc *rtConn) handle(m wsMessage) {
	req, err := parseBody(m.data)
	if err != nil || m.opcode != opText {
		rc.fail("invalid_json", "The message could not be parsed as a JSON object.")
		return
	}
	switch t := req.str("type"); t {
	case "session.update":
		if s, ok := req.get("session", "instructions").(string); ok {
			rc.st.instructions = s
		}
		if mods, ok := req.get("session", "output_modalities").([]any); ok {
			rc.st.audioOut = false
			for _, x := range mods {
				rc.st.audioOut = rc.st.audioOut || x == "audio"
			}
		}
		if tr, ok := req.get("session", "audio").(map[string]any); ok {
			if in, ok := tr["input"].(map[string]any); ok {
				if v, ok := in["transcription"]; ok {
					rc.st.transcribe = v != nil
				}
			}
		}
		rc.send(rc.e, rtEvent{Type: "session.updated", Session: rc.session()})
	case "conversation.item.create":
		item, _ := req.get("item").(map[string]any)
		rc.st.textWords += promptWords(item)
		rc.st.items++
		id := rc.itemID(rc.st.items)
		role, _ := item["role"].(string)
		it := &rtItem{ID: id, Type: "message", Object: "realtime.item", Status: "completed", Role: role, Content: []rtContent{}}
		rc.send(rc.e, rtEvent{Type: "conversation.item.added", Item: it})
		rc.send(rc.e, rtEvent{Type: "conversation.item.done", Item: it})
	case "input_audio_buffer.append":
		b, err := base64.StdEncoding.DecodeString(req.str("audio"))
		if err != nil {
			rc.fail("invalid_value", "audio is not valid base64.")
			return
		}
		rc.st.buffered += len(b)
	case "input_audio_buffer.clear":
		rc.st.buffered = 0
		rc.send(rc.e, rtEvent{Type: "input_audio_buffer.cleared"})
	case "input_audio_buffer.commit":
		if rc.st.buffered == 0 {
			rc.fail("input_audio_buffer_commit_empty", "Error committing input audio buffer: buffer is empty.")
			return
		}
		tokens := (rc.st.buffered + AudioBytesPerToken - 1) / AudioBytesPerToken
		rc.st.buffered = 0
		rc.st.audioTokens += tokens
		rc.st.items++
		id := rc.itemID(rc.st.items)
		rc.send(rc.e, rtEvent{Type: "input_audio_buffer.committed", ItemID: id})
		it := &rtItem{ID: id, Type: "message", Object: "realtime.item", Status: "completed", Role: "user", Content: []rtContent{{Type: "input_audio"}}}
		rc.send(rc.e, rtEvent{Type: "conversation.item.added", Item: it})
		rc.send(rc.e, rtEvent{Type: "conversation.item.done", Item: it})
		if rc.st.transcribe {
			// The transcript has one word per audio token; its model bills
			// the audio as input and the words as output.
			text := fullText(tokens, 0)
			u := rtTranscriptionUsage{Type: "tokens", InputTokens: tokens, OutputTokens: tokens, TotalTokens: 2 * tokens}
			u.InputTokenDetails.AudioTokens = tokens
			zero := 0
			rc.send(rc.e, rtEvent{Type: "conversation.item.input_audio_transcription.completed", ItemID: id, ContentIndex: &zero, Transcript: &text, Usage: u})
			rc.usages = append(rc.usages, Usage{InputTokens: tokens, InputAudioTokens: tokens, OutputTokens: tokens})
		}
	case "response.create":
		rc.respond(req)
	case "response.cancel":
		// Responses run to completion before the next event is read, so there
		// is never one to cancel.
	default:
		rc.fail("invalid_event", fmt.Sprintf("Invalid event type %q.", t))
	}
}

func (rc *rtConn) itemID(n int) string {
	return "item_" + makeID(rc.seed, fmt.Sprint("item", n), 20)
}

// respond runs one response.
func (rc *rtConn) respond(req reqBody) {
	k, err := metadataKnobs(rc.header, req.get("response", "metadata"), rc.opts)
	if err != nil {
		rc.fail("invalid_value", err.Error())
		return
	}
	if k.status != 0 {
		rc.fail("server_error", statusMessage(providerOpenAI, k.status))
		return
	}
	audio := rc.st.audioOut
	if mods, ok := req.get("response", "output_modalities").([]any); ok {
		audio = false
		for _, x := range mods {
			audio = audio || x == "audio"
		}
	}
	words := k.events
	if words < 0 {
		words = reqBody(req).integer("response", "max_output_tokens")
	}
	if words < 0 {
		words = rc.opts.Events
		if words <= 0 {
			words = DefaultEvents
		}
	}
	extra := 0
	if s, ok := req.get("response", "instructions").(string); ok {
		extra = len(strings.Fields(s))
	}
	emitted := words
	status := "completed"
	var details any
	switch {
	case k.errorAt >= 0:
		emitted = min(k.errorAt, words)
		status = "failed"
		details = map[string]any{"type": "failed", "error": map[string]string{"type": "server_error", "code": "server_error", "message": serverErrorMessage}}
	case k.incomplete:
		status = "incomplete"
		details = map[string]any{"type": "incomplete", "reason": "max_output_tokens"}
	}
	inText := PromptOverhead + len(strings.Fields(rc.st.instructions)) + extra + rc.st.textWords + k.cached
	inAudio := rc.st.audioTokens
	outAudio := 0
	if audio {
		outAudio = emitted * AudioTokensPerWord
	}
	var u rtUsage
	u.InputTokens = inText + inAudio
	u.OutputTokens = emitted + outAudio
	u.TotalTokens = u.InputTokens + u.OutputTokens
	u.InputTokenDetails.TextTokens = inText
	u.InputTokenDetails.AudioTokens = inAudio
	u.InputTokenDetails.CachedTokens = k.cached
	u.InputTokenDetails.CachedTokensDetails.TextTokens = k.cached
	u.OutputTokenDetails.TextTokens = emitted
	u.OutputTokenDetails.AudioTokens = outAudio
	rc.usages = append(rc.usages, Usage{
		InputTokens: u.InputTokens, CachedInputTokens: k.cached, InputAudioTokens: inAudio,
		OutputTokens: u.OutputTokens, OutputAudioTokens: outAudio,
	})
	// What this response adds to the conversation.
	rc.st.textWords += emitted
	rc.st.audioTokens += outAudio
	rc.st.items++
	if rc.ss == nil {
		return
	}
	rc.ss.n++
	seed := rc.ss.seed("/realtime", nil)
	e := rc.ss.emitter(k, seed)
	if k.hang {
		<-rc.ss.ctx.Done()
		e.abort()
	}
	e.sleep(k.firstByte)
	rs := &rtResponseStream{rc: rc, id: "resp_" + makeID(seed, "rt-response", 20), itemID: rc.itemID(rc.st.items), audio: audio}
	mods := []string{"text"}
	if audio {
		mods = []string{"audio"}
	}
	base := rtResponse{Object: "realtime.response", ID: rs.id, ConversationID: "conv_" + makeID(rc.seed, "conversation", 20),
		OutputModalities: mods, MaxOutputTokens: "inf", Output: []rtItem{}, Metadata: map[string]string{}}
	rs.base = base
	rs.final = base
	rs.final.Status, rs.final.StatusDetails, rs.final.Usage = status, details, &u
	n := words
	if k.errorAt >= 0 {
		n = emitted
	}
	e.run(rs, &plan{k: k}, n)
}

// rtResponseStream generates one Realtime response's events.
type rtResponseStream struct {
	rc     *rtConn
	id     string
	itemID string
	audio  bool
	base   rtResponse
	final  rtResponse
	text   strings.Builder
}

func (s *rtResponseStream) item(status string) *rtItem {
	it := &rtItem{ID: s.itemID, Type: "message", Object: "realtime.item", Status: status, Role: "assistant", Content: []rtContent{}}
	if status != "in_progress" {
		t := s.text.String()
		if s.audio {
			it.Content = []rtContent{{Type: "output_audio", Transcript: &t}}
		} else {
			it.Content = []rtContent{{Type: "output_text", Text: &t}}
		}
	}
	return it
}

func (s *rtResponseStream) part(done bool) *rtContent {
	t := ""
	if done {
		t = s.text.String()
	}
	if s.audio {
		return &rtContent{Type: "output_audio", Transcript: &t}
	}
	return &rtContent{Type: "output_text", Text: &t}
}

func (s *rtResponseStream) preamble(e *emitter) {
	zero := 0
	r := s.base
	r.Status = "in_progress"
	s.rc.send(e, rtEvent{Type: "response.created", Response: &r})
	s.rc.send(e, rtEvent{Type: "conversation.item.added", Item: s.item("in_progress")})
	s.rc.send(e, rtEvent{Type: "response.output_item.added", ResponseID: s.id, OutputIndex: &zero, Item: s.item("in_progress")})
	s.rc.send(e, rtEvent{Type: "response.content_part.added", ResponseID: s.id, ItemID: s.itemID, OutputIndex: &zero, ContentIndex: &zero, Part: s.part(false)})
}

// silence is the base64 of one output audio token of PCM16 silence.
var silence = base64.StdEncoding.EncodeToString(make([]byte, AudioBytesPerToken))

func (s *rtResponseStream) content(e *emitter, i int, text string) {
	zero := 0
	s.text.WriteString(word(i, e.k.eventBytes))
	if s.audio {
		s.rc.send(e, rtEvent{Type: "response.output_audio_transcript.delta", ResponseID: s.id, ItemID: s.itemID, OutputIndex: &zero, ContentIndex: &zero, Delta: &text})
		for range AudioTokensPerWord {
			s.rc.send(e, rtEvent{Type: "response.output_audio.delta", ResponseID: s.id, ItemID: s.itemID, OutputIndex: &zero, ContentIndex: &zero, Delta: &silence})
		}
		return
	}
	s.rc.send(e, rtEvent{Type: "response.output_text.delta", ResponseID: s.id, ItemID: s.itemID, OutputIndex: &zero, ContentIndex: &zero, Delta: &text})
}

func (s *rtResponseStream) trailer(e *emitter) { s.finish(e, "completed") }

func (s *rtResponseStream) fail(e *emitter) { s.finish(e, "incomplete") }

func (s *rtResponseStream) finish(e *emitter, itemStatus string) {
	zero := 0
	t := s.text.String()
	if s.audio {
		s.rc.send(e, rtEvent{Type: "response.output_audio.done", ResponseID: s.id, ItemID: s.itemID, OutputIndex: &zero, ContentIndex: &zero})
		s.rc.send(e, rtEvent{Type: "response.output_audio_transcript.done", ResponseID: s.id, ItemID: s.itemID, OutputIndex: &zero, ContentIndex: &zero, Transcript: &t})
	} else {
		s.rc.send(e, rtEvent{Type: "response.output_text.done", ResponseID: s.id, ItemID: s.itemID, OutputIndex: &zero, ContentIndex: &zero, Text: &t})
	}
	s.rc.send(e, rtEvent{Type: "response.content_part.done", ResponseID: s.id, ItemID: s.itemID, OutputIndex: &zero, ContentIndex: &zero, Part: s.part(true)})
	it := s.item(itemStatus)
	s.rc.send(e, rtEvent{Type: "response.output_item.done", ResponseID: s.id, OutputIndex: &zero, Item: it})
	s.rc.send(e, rtEvent{Type: "conversation.item.done", Item: it})
	r := s.final
	r.Output = []rtItem{*it}
	s.rc.send(e, rtEvent{Type: "response.done", Response: &r})
}
