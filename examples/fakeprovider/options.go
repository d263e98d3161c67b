package fakeprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request headers that tune one response. Each has a server-wide default in
// [Options]; a header, when present, wins over that default. A malformed
// knob is answered with 400 in the provider's error shape, naming the header.
const (
	// HeaderEvents sets the number of content events of a stream (and so the
	// number of generated word-tokens, streamed or not). Without it the
	// request's max-tokens field decides, then Options.Events, then
	// DefaultEvents.
	HeaderEvents = "X-Fake-Events"
	// HeaderEventBytes makes the text of every content event exactly this many
	// bytes long (still one word-token), for big streams.
	HeaderEventBytes = "X-Fake-Event-Bytes"
	// HeaderDelay is a Go duration ("5ms") waited before every event but the
	// first; each event is flushed when written. For non-streaming bodies it
	// is waited between the pieces that HeaderChunk cuts.
	HeaderDelay = "X-Fake-Delay"
	// HeaderFirstByteDelay is a Go duration waited before the status line.
	HeaderFirstByteDelay = "X-Fake-First-Byte-Delay"
	// HeaderChunk writes the body in pieces of this many bytes, flushing
	// after each piece.
	HeaderChunk = "X-Fake-Chunk"
	// HeaderGzip ("1") gzips the body with Content-Encoding: gzip whatever the
	// request's Accept-Encoding says. Streams are gzip-flushed per event.
	HeaderGzip = "X-Fake-Gzip"
	// HeaderAbortAfter cuts the connection after N content events (streams)
	// or after N bytes of the body (non-streaming responses). N at or past the
	// number of content events cuts a stream just before its closing events.
	HeaderAbortAfter = "X-Fake-Abort-After"
	// HeaderCachedTokens adds N cache-read tokens to the prompt.
	HeaderCachedTokens = "X-Fake-Cached-Tokens"
	// HeaderCacheWrite5m adds N tokens written to the 5-minute cache
	// (Anthropic only; other formats have no cache writes).
	HeaderCacheWrite5m = "X-Fake-Cache-Write-5m"
	// HeaderCacheWrite1h adds N tokens written to the 1-hour cache
	// (Anthropic only).
	HeaderCacheWrite1h = "X-Fake-Cache-Write-1h"
	// HeaderReasoningTokens adds N reasoning tokens to the output.
	HeaderReasoningTokens = "X-Fake-Reasoning-Tokens"
	// HeaderModel is the resolved model name the response reports, instead of
	// echoing the requested one.
	HeaderModel = "X-Fake-Model"
	// HeaderStatus (a 4xx or 5xx code) answers with that status and the
	// provider's error body instead of a result.
	HeaderStatus = "X-Fake-Status"
	// HeaderErrorEvent ends a stream with the provider's error event after N
	// content events (the status stays 200). Ignored when not streaming.
	HeaderErrorEvent = "X-Fake-Error-Event"
	// HeaderHang ("1") never answers: the handler waits until the client
	// goes away or Server.Close is called, then cuts the connection.
	HeaderHang = "X-Fake-Hang"
	// HeaderCost adds OpenRouter's usage.cost (the header's text, a JSON
	// number) to OpenAI-format usage objects.
	HeaderCost = "X-Fake-Cost"
	// HeaderStyle ("groq" or "deepseek") adds that vendor's extras to
	// OpenAI-format responses: Groq's x_groq.usage and timings, DeepSeek's
	// prompt_cache_hit_tokens and prompt_cache_miss_tokens.
	HeaderStyle = "X-Fake-Style"
	// HeaderIncomplete ("1") ends Responses API responses (HTTP, SSE and
	// WebSocket) as incomplete (status "incomplete", reason
	// max_output_tokens, event response.incomplete) with the full usage.
	HeaderIncomplete = "X-Fake-Incomplete"
	// HeaderWSDeflate chooses the permessage-deflate answer to a WebSocket
	// upgrade: one of the Deflate… constants (default DeflateAuto).
	HeaderWSDeflate = "X-Fake-WS-Deflate"
	// HeaderWSFragment cuts every server WebSocket message into frames of at
	// most N payload bytes (after compression); 0 sends one frame each.
	HeaderWSFragment = "X-Fake-WS-Fragment"
	// HeaderWSPing ("1") sends a ping before every server WebSocket message
	// and between the frames of a fragmented one.
	HeaderWSPing = "X-Fake-WS-Ping"
	// HeaderWSStatus (a 4xx or 5xx code) refuses WebSocket upgrades with that
	// status and the provider's error body while plain requests are served:
	// 426 makes Codex fall back to HTTP.
	HeaderWSStatus = "X-Fake-WS-Status"
)

// Defaults used when neither a header nor Options says otherwise.
const (
	// DefaultEvents is the number of content events (word-tokens) generated
	// when nothing else decides.
	DefaultEvents = 8
	// PromptOverhead is added to the words counted in a prompt to make its
	// input token count.
	PromptOverhead = 3
	// DefaultKeepRequests is how many requests Requests remembers.
	DefaultKeepRequests = 256
	// DefaultMaxBodyBytes caps a request body; larger bodies get 413.
	DefaultMaxBodyBytes = 64 << 20
	// DefaultRecordBodyBytes caps the body copy kept in each Seen.
	DefaultRecordBodyBytes = 1 << 20
)

// Style names accepted by HeaderStyle and Options.Style.
const (
	StyleGroq     = "groq"
	StyleDeepSeek = "deepseek"
)

// Limits that keep a knob from asking for absurd work.
const (
	maxEvents     = 10_000_000
	maxEventBytes = 64 << 20
	maxTokenKnob  = 1_000_000_000
)

// Epoch is the time the fake reports (created, created_at) when
// Options.Clock is nil: a fixed instant, so equal requests get
// byte-identical responses.
var Epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// Options are the server-wide defaults for the knobs (see the Header…
// constants) and the server's own settings. The zero value is ready to use:
// every knob off, DefaultEvents content events, real-time sleeps, the fixed
// Epoch clock.
type Options struct {
	// Events is the default number of content events when neither
	// HeaderEvents nor the request's max-tokens field says; 0 means
	// DefaultEvents.
	Events int
	// EventBytes is the default for HeaderEventBytes; 0 means plain words.
	EventBytes int
	// Delay is the default for HeaderDelay.
	Delay time.Duration
	// FirstByteDelay is the default for HeaderFirstByteDelay.
	FirstByteDelay time.Duration
	// Chunk is the default for HeaderChunk; 0 writes each event (or the whole
	// body) at once.
	Chunk int
	// Gzip is the default for HeaderGzip.
	Gzip bool
	// AbortAfter is the default for HeaderAbortAfter, where 0 means never
	// (send the header with value 0 to cut a stream before its first content
	// event).
	AbortAfter int
	// ErrorEvent is the default for HeaderErrorEvent, where 0 means never.
	ErrorEvent int
	// CachedTokens, CacheWrite5m, CacheWrite1h and ReasoningTokens are the
	// defaults for their headers.
	CachedTokens, CacheWrite5m, CacheWrite1h, ReasoningTokens int
	// Model is the default for HeaderModel; "" echoes the requested model.
	Model string
	// Status is the default for HeaderStatus; 0 answers normally.
	Status int
	// Hang is the default for HeaderHang.
	Hang bool
	// Cost is the default for HeaderCost; "" adds no cost.
	Cost string
	// Style is the default for HeaderStyle; "" is plain OpenAI.
	Style string
	// Incomplete is the default for HeaderIncomplete.
	Incomplete bool
	// WSDeflate, WSFragment and WSPing are the defaults for HeaderWSDeflate
	// ("" is DeflateAuto), HeaderWSFragment and HeaderWSPing.
	WSDeflate  string
	WSFragment int
	WSPing     bool
	// WSStatus is the default for HeaderWSStatus; 0 accepts upgrades.
	WSStatus int

	// KeepRequests is how many of the latest requests Requests returns: 0
	// means DefaultKeepRequests, negative keeps none.
	KeepRequests int
	// MaxBodyBytes caps a request body (413 past it); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RecordBodyBytes caps the body copy kept per Seen; 0 means
	// DefaultRecordBodyBytes.
	RecordBodyBytes int
	// AWSCredentials, when set, makes the Bedrock endpoints require a valid
	// SigV4 signature (header form) by one of these access key ids (mapped
	// to their secrets): 403 MissingAuthenticationTokenException without
	// one, InvalidSignatureException for a wrong one. Unset, Bedrock
	// requests need no credential at all, as Claude Code's
	// CLAUDE_CODE_SKIP_BEDROCK_AUTH sends none. See SignV4.
	AWSCredentials map[string]string
	// Deployments maps Azure OpenAI deployment names to the model the
	// responses report; an unmapped deployment reports DefaultAzureModel.
	Deployments map[string]string
	// Observe, when set, is called with every request (and every WebSocket
	// client message, Method "WS") as it is recorded, even when KeepRequests
	// keeps none; it must not keep the Seen's slices. The command's -log
	// flag prints them.
	Observe func(Seen)
	// Clock gives the time reported in responses; nil means the fixed Epoch.
	Clock func() time.Time
	// Sleep waits for d (a delay knob) or until ctx ends, returning ctx's
	// error then. ctx ends when the client goes away or Server.Close is
	// called. nil means a real timer. Tests inject a Sleep that blocks on a
	// channel to observe each event before the next is written.
	Sleep func(ctx context.Context, d time.Duration) error
}

// knobs is one request's resolved knob values.
type knobs struct {
	events     int // -1: not set by header
	eventBytes int
	delay      time.Duration
	firstByte  time.Duration
	chunk      int
	gzip       bool
	abortAfter int // -1: never
	errorAt    int // -1: never
	cached     int
	write5m    int
	write1h    int
	reasoning  int
	model      string
	status     int
	hang       bool
	cost       string
	style      string
	incomplete bool
}

// defaultKnobs turns Options into the knobs a request without headers gets.
func defaultKnobs(o *Options) knobs {
	k := knobs{
		events:     -1,
		eventBytes: o.EventBytes,
		delay:      o.Delay,
		firstByte:  o.FirstByteDelay,
		chunk:      o.Chunk,
		gzip:       o.Gzip,
		abortAfter: -1,
		errorAt:    -1,
		cached:     o.CachedTokens,
		write5m:    o.CacheWrite5m,
		write1h:    o.CacheWrite1h,
		reasoning:  o.ReasoningTokens,
		model:      o.Model,
		status:     o.Status,
		hang:       o.Hang,
		cost:       o.Cost,
		style:      strings.ToLower(o.Style),
		incomplete: o.Incomplete,
	}
	if o.AbortAfter > 0 {
		k.abortAfter = o.AbortAfter
	}
	if o.ErrorEvent > 0 {
		k.errorAt = o.ErrorEvent
	}
	return k
}

// knobError is a malformed knob header; it becomes a 400.
type knobError struct {
	header string
	value  string
	why    string
}

func (e *knobError) Error() string {
	return fmt.Sprintf("fakeprovider: header %s: %q %s", e.header, e.value, e.why)
}

// parseKnobs reads the knob headers over the defaults. It returns a
// *knobError for the first malformed one.
func parseKnobs(h http.Header, o *Options) (knobs, error) {
	k := defaultKnobs(o)
	ints := []struct {
		name string
		dst  *int
		min  int
		max  int
	}{
		{HeaderEvents, &k.events, 0, maxEvents},
		{HeaderEventBytes, &k.eventBytes, 0, maxEventBytes},
		{HeaderChunk, &k.chunk, 0, maxEventBytes},
		{HeaderAbortAfter, &k.abortAfter, 0, maxTokenKnob},
		{HeaderErrorEvent, &k.errorAt, 0, maxEvents},
		{HeaderCachedTokens, &k.cached, 0, maxTokenKnob},
		{HeaderCacheWrite5m, &k.write5m, 0, maxTokenKnob},
		{HeaderCacheWrite1h, &k.write1h, 0, maxTokenKnob},
		{HeaderReasoningTokens, &k.reasoning, 0, maxTokenKnob},
		{HeaderStatus, &k.status, 400, 599},
	}
	for _, f := range ints {
		v := h.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < f.min || n > f.max {
			return k, &knobError{f.name, v, fmt.Sprintf("is not an integer in [%d, %d]", f.min, f.max)}
		}
		*f.dst = n
	}
	durs := []struct {
		name string
		dst  *time.Duration
	}{
		{HeaderDelay, &k.delay},
		{HeaderFirstByteDelay, &k.firstByte},
	}
	for _, f := range durs {
		v := h.Get(f.name)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return k, &knobError{f.name, v, `is not a non-negative Go duration such as "5ms"`}
		}
		*f.dst = d
	}
	bools := []struct {
		name string
		dst  *bool
	}{
		{HeaderGzip, &k.gzip},
		{HeaderHang, &k.hang},
		{HeaderIncomplete, &k.incomplete},
	}
	for _, f := range bools {
		v := h.Get(f.name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return k, &knobError{f.name, v, "is not a boolean (1, 0, true, false)"}
		}
		*f.dst = b
	}
	if v := h.Get(HeaderModel); v != "" {
		k.model = v
	}
	if v := h.Get(HeaderCost); v != "" {
		k.cost = strings.TrimSpace(v)
	}
	if k.cost != "" && !isJSONNumber(k.cost) {
		return k, &knobError{HeaderCost, k.cost, "is not a JSON number"}
	}
	if v := h.Get(HeaderStyle); v != "" {
		k.style = strings.ToLower(strings.TrimSpace(v))
	}
	switch k.style {
	case "", StyleGroq, StyleDeepSeek:
	default:
		return k, &knobError{HeaderStyle, k.style, `is not "groq" or "deepseek"`}
	}
	if k.status != 0 && (k.status < 400 || k.status > 599) {
		return k, &knobError{HeaderStatus, strconv.Itoa(k.status), "is not a 4xx or 5xx status"}
	}
	return k, nil
}

// isJSONNumber reports whether s is exactly one JSON number.
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}

// Validate reports the first Options field out of range (negative counts,
// a status that is not 4xx/5xx, an unknown style, a cost that is not a
// JSON number). New does not validate; a command-line front end should.
func (o Options) Validate() error {
	counts := []struct {
		name string
		v    int
	}{
		{"Events", o.Events}, {"EventBytes", o.EventBytes}, {"Chunk", o.Chunk},
		{"AbortAfter", o.AbortAfter}, {"ErrorEvent", o.ErrorEvent},
		{"CachedTokens", o.CachedTokens}, {"CacheWrite5m", o.CacheWrite5m},
		{"CacheWrite1h", o.CacheWrite1h}, {"ReasoningTokens", o.ReasoningTokens},
		{"WSFragment", o.WSFragment},
	}
	for _, c := range counts {
		if c.v < 0 {
			return fmt.Errorf("fakeprovider options: %s is negative (%d)", c.name, c.v)
		}
	}
	if o.Events > maxEvents || o.EventBytes > maxEventBytes {
		return fmt.Errorf("fakeprovider options: Events (%d) or EventBytes (%d) too large", o.Events, o.EventBytes)
	}
	if o.Delay < 0 || o.FirstByteDelay < 0 {
		return fmt.Errorf("fakeprovider options: negative delay")
	}
	if o.Status != 0 && (o.Status < 400 || o.Status > 599) {
		return fmt.Errorf("fakeprovider options: Status %d is not a 4xx or 5xx status", o.Status)
	}
	switch strings.ToLower(o.Style) {
	case "", StyleGroq, StyleDeepSeek:
	default:
		return fmt.Errorf("fakeprovider options: Style %q is not %q or %q", o.Style, StyleGroq, StyleDeepSeek)
	}
	if o.Cost != "" && !isJSONNumber(o.Cost) {
		return fmt.Errorf("fakeprovider options: Cost %q is not a JSON number", o.Cost)
	}
	if _, err := parseWSKnobs(http.Header{}, &o); err != nil {
		return fmt.Errorf("fakeprovider options: WSDeflate or WSStatus: %w", err)
	}
	return nil
}
