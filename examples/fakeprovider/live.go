package fakeprovider

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// LiveAudioBytesPerToken is the Live fake's input audio rule: Gemini counts
// 32 tokens per second of audio, and 16 kHz mono PCM16 is 32000 bytes a
// second, so one token per 1000 bytes (rounded up per turn).
const LiveAudioBytesPerToken = 1000

// liveUsage is usageMetadata of a Live server message.
type liveUsage struct {
	PromptTokenCount        int              `json:"promptTokenCount"`
	CachedContentTokenCount int              `json:"cachedContentTokenCount,omitempty"`
	ResponseTokenCount      int              `json:"responseTokenCount"`
	ThoughtsTokenCount      int              `json:"thoughtsTokenCount,omitempty"`
	TotalTokenCount         int              `json:"totalTokenCount"`
	PromptTokensDetails     []geminiModality `json:"promptTokensDetails"`
	CacheTokensDetails      []geminiModality `json:"cacheTokensDetails,omitempty"`
	ResponseTokensDetails   []geminiModality `json:"responseTokensDetails"`
}

// livePart is a model turn part: text or inline audio.
type livePart struct {
	Text       *string     `json:"text,omitempty"`
	InlineData *liveInline `json:"inlineData,omitempty"`
}

type liveInline struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type liveTurn struct {
	Parts []livePart `json:"parts"`
}

type liveText struct {
	Text string `json:"text"`
}

type liveServerContent struct {
	ModelTurn           *liveTurn `json:"modelTurn,omitempty"`
	OutputTranscription *liveText `json:"outputTranscription,omitempty"`
	GenerationComplete  bool      `json:"generationComplete,omitempty"`
	TurnComplete        bool      `json:"turnComplete,omitempty"`
}

// liveMessage is one server message.
type liveMessage struct {
	SetupComplete *struct{}          `json:"setupComplete,omitempty"`
	ServerContent *liveServerContent `json:"serverContent,omitempty"`
	UsageMetadata *liveUsage         `json:"usageMetadata,omitempty"`
}

// liveConn is one Live connection's state.
type liveConn struct {
	ss          *wsSession // nil in a dry run
	opts        *Options
	header      http.Header
	setup       bool
	audioOut    bool
	transcribe  bool // outputAudioTranscription
	system      int  // words of the system instruction
	textWords   int  // words of every turn so far (inputs and outputs)
	audioTokens int  // audio tokens of every turn so far
	pending     int  // input audio bytes of the open turn
	failed      bool // the error knob closed the connection
	usages      []Usage
}

// serveLive speaks the Gemini Live API (BidiGenerateContent): the first
// client message must be setup (answered with setupComplete); clientContent
// with turnComplete, realtimeInput text, and realtimeInput audio ended by
// audioStreamEnd each make one model turn: a serverContent message per
// word (text parts, or inline audio with outputTranscription when asked),
// generationComplete, then turnComplete with usageMetadata for the whole
// context so far. Server messages are binary frames, as the real service
// sends them. The error knob closes the connection with 1011 mid-turn (the
// status knob refuses the upgrade itself).
func serveLive(ss *wsSession, msgs <-chan wsMessage) {
	ss.binary = true
	lc := &liveConn{ss: ss, opts: &ss.s.opts, header: ss.r.Header}
	for m := range msgs {
		ss.record(m.data)
		if !lc.handle(m) {
			return
		}
	}
}

// handle applies one client message; false ends the connection.
func (lc *liveConn) handle(m wsMessage) bool {
	req, err := parseBody(m.data)
	if err != nil {
		lc.close(closeInvalidData, "Request contains an invalid argument.")
		return false
	}
	if !lc.setup {
		setup, ok := req.get("setup").(map[string]any)
		if !ok {
			lc.close(closeInvalidData, "Request contains an invalid argument.")
			return false
		}
		lc.setup = true
		if mods, ok := reqBody(setup).get("generationConfig", "responseModalities").([]any); ok {
			for _, x := range mods {
				m, _ := x.(string)
				lc.audioOut = lc.audioOut || strings.EqualFold(m, "AUDIO")
			}
		}
		_, lc.transcribe = setup["outputAudioTranscription"]
		lc.system = promptWords(map[string]any{"system": setup["systemInstruction"]})
		if lc.ss != nil {
			lc.send(lc.ss.emitter(defaultKnobs(lc.opts), nil), liveMessage{SetupComplete: &struct{}{}})
		}
		return true
	}
	switch {
	case req.get("clientContent") != nil:
		lc.textWords += promptWords(map[string]any(req))
		if done, _ := req.boolean("clientContent", "turnComplete"); done {
			return lc.turn()
		}
	case req.get("realtimeInput") != nil:
		obj, _ := req.get("realtimeInput").(map[string]any)
		in := reqBody(obj)
		if t, ok := in.get("text").(string); ok {
			lc.textWords += len(strings.Fields(t))
			return lc.turn()
		}
		chunks := []any{in.get("audio")}
		if list, ok := in.get("mediaChunks").([]any); ok {
			chunks = list
		}
		for _, c := range chunks {
			if cm, ok := c.(map[string]any); ok {
				if d, ok := cm["data"].(string); ok {
					b, err := base64.StdEncoding.DecodeString(d)
					if err != nil {
						lc.close(closeInvalidData, "Request contains an invalid argument.")
						return false
					}
					lc.pending += len(b)
				}
			}
		}
		if end, _ := in.boolean("audioStreamEnd"); end {
			lc.audioTokens += (lc.pending + LiveAudioBytesPerToken - 1) / LiveAudioBytesPerToken
			lc.pending = 0
			return lc.turn()
		}
	case req.get("toolResponse") != nil:
		lc.textWords += promptWords(map[string]any(req))
	default:
		lc.close(closeInvalidData, "Request contains an invalid argument.")
		return false
	}
	return true
}

func (lc *liveConn) close(code int, reason string) {
	if lc.ss != nil {
		lc.ss.c.close(code, reason)
	}
}

func (lc *liveConn) send(e *emitter, m liveMessage) {
	if lc.ss != nil {
		e.sse("", m)
	}
}

// turn generates one model turn; false ends the connection.
func (lc *liveConn) turn() bool {
	k, err := parseKnobs(lc.header, lc.opts)
	if err != nil {
		lc.close(closePolicy, err.Error())
		return false
	}
	words := k.events
	if words < 0 {
		words = lc.opts.Events
		if words <= 0 {
			words = DefaultEvents
		}
	}
	inText := PromptOverhead + lc.system + lc.textWords + k.cached
	inAudio := lc.audioTokens
	outAudio := 0
	if lc.audioOut {
		outAudio = words * AudioTokensPerWord
	}
	out := outAudio
	if !lc.audioOut {
		out = words
	}
	u := &liveUsage{
		PromptTokenCount:        inText + inAudio,
		CachedContentTokenCount: k.cached,
		ResponseTokenCount:      out,
		ThoughtsTokenCount:      k.reasoning,
		TotalTokenCount:         inText + inAudio + out + k.reasoning,
		PromptTokensDetails:     []geminiModality{{"TEXT", inText}},
		ResponseTokensDetails:   []geminiModality{{"TEXT", out}},
	}
	if inAudio > 0 {
		u.PromptTokensDetails = append(u.PromptTokensDetails, geminiModality{"AUDIO", inAudio})
	}
	if lc.audioOut {
		u.ResponseTokensDetails = []geminiModality{{"AUDIO", out}}
	}
	if k.cached > 0 {
		u.CacheTokensDetails = []geminiModality{{"TEXT", k.cached}}
	}
	lc.usages = append(lc.usages, Usage{
		InputTokens: u.PromptTokenCount, CachedInputTokens: k.cached, InputAudioTokens: inAudio,
		OutputTokens: out + k.reasoning, ReasoningTokens: k.reasoning, OutputAudioTokens: outAudio,
	})
	if lc.audioOut {
		lc.audioTokens += outAudio
	} else {
		lc.textWords += words
	}
	if lc.ss == nil {
		return true
	}
	lc.ss.n++
	e := lc.ss.emitter(k, nil)
	if k.hang {
		<-lc.ss.ctx.Done()
		e.abort()
	}
	e.sleep(k.firstByte)
	e.run(&liveStream{lc: lc, usage: u}, &plan{k: k}, words)
	return !lc.failed
}

// liveStream generates one model turn's messages.
type liveStream struct {
	lc    *liveConn
	usage *liveUsage
}

// liveSilence is one output word of 24 kHz PCM16 silence.
var liveSilence = base64.StdEncoding.EncodeToString(make([]byte, AudioTokensPerWord*1500))

func (s *liveStream) preamble(*emitter) {}

func (s *liveStream) content(e *emitter, _ int, text string) {
	if !s.lc.audioOut {
		t := text
		s.lc.send(e, liveMessage{ServerContent: &liveServerContent{ModelTurn: &liveTurn{[]livePart{{Text: &t}}}}})
		return
	}
	s.lc.send(e, liveMessage{ServerContent: &liveServerContent{ModelTurn: &liveTurn{[]livePart{{InlineData: &liveInline{MimeType: "audio/pcm;rate=24000", Data: liveSilence}}}}}})
	if s.lc.transcribe {
		s.lc.send(e, liveMessage{ServerContent: &liveServerContent{OutputTranscription: &liveText{text}}})
	}
}

func (s *liveStream) trailer(e *emitter) {
	s.lc.send(e, liveMessage{ServerContent: &liveServerContent{GenerationComplete: true}})
	s.lc.send(e, liveMessage{ServerContent: &liveServerContent{TurnComplete: true}, UsageMetadata: s.usage})
}

func (s *liveStream) fail(*emitter) {
	s.lc.failed = true
	s.lc.close(closeInternal, "Internal error encountered.")
}
