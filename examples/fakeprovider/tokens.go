package fakeprovider

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Usage is what the fake reports for one call, in the normalized meaning
// Conduit's parsers give usage: InputTokens counts every prompt
// token, cache reads and writes included; CachedInputTokens the cache reads
// among them; CacheWrite5mTokens and CacheWrite1hTokens the cache writes
// among them (Anthropic only); OutputTokens every generated token, reasoning
// included; ReasoningTokens the reasoning share of OutputTokens;
// InputAudioTokens and OutputAudioTokens the audio share of InputTokens and
// OutputTokens (Realtime and Live only).
type Usage struct {
	InputTokens        int
	CachedInputTokens  int
	CacheWrite5mTokens int
	CacheWrite1hTokens int
	OutputTokens       int
	ReasoningTokens    int
	InputAudioTokens   int
	OutputAudioTokens  int
}

// CacheWriteTokens is the sum of the 5-minute and 1-hour cache writes.
func (u Usage) CacheWriteTokens() int { return u.CacheWrite5mTokens + u.CacheWrite1hTokens }

// ErrNoUsage is returned by ExpectedUsage for endpoints that report no
// consumption (model lists, token counters) and for unknown paths.
var ErrNoUsage = errors.New("fakeprovider: endpoint reports no usage")

// ExpectedUsage tells what usage the fake reports, at the end of a complete
// response, for a request with this path, headers and body, served by a
// Server built with opts. It applies the rule the server applies:
//
//   - prompt = PromptOverhead + the number of whitespace-separated words in
//     every JSON string whose key is content, text, prompt, input,
//     instructions or system, at any depth (strings in an array under such a
//     key count too); the cached-token knob adds to it and, for Anthropic,
//     so do the cache-write knobs;
//   - output = the content events (HeaderEvents, else the request's
//     max_completion_tokens / max_tokens / max_output_tokens /
//     generationConfig.maxOutputTokens / options.num_predict, else
//     Options.Events, else DefaultEvents), one word-token each, plus the
//     reasoning-token knob;
//   - embeddings have no output;
//   - ReasoningTokens (Anthropic, Ollama) and CachedInputTokens (Ollama) are
//     0 where the format has no such figure: the totals still include the
//     knobs.
//
// path may carry a query (?alt=sse); header may be nil. It returns ErrNoUsage for endpoints without usage and
// an error for a body that is not a JSON object or a malformed knob.
func ExpectedUsage(path string, header http.Header, body []byte, opts Options) (Usage, error) {
	path, _, _ = strings.Cut(path, "?")
	ep := route(http.MethodPost, path)
	if ep == nil || !ep.usage {
		return Usage{}, fmt.Errorf("expected usage for %s: %w", path, ErrNoUsage)
	}
	if header == nil {
		header = http.Header{}
	}
	k, err := parseKnobs(header, &opts)
	if err != nil {
		return Usage{}, fmt.Errorf("expected usage for %s: %w", path, err)
	}
	req, err := parseBody(body)
	if err != nil {
		return Usage{}, fmt.Errorf("expected usage for %s: %w", path, err)
	}
	p := newPlan(ep, path, nil, body, req, k, &opts)
	return p.usage(), nil
}

// promptKeys are the JSON keys whose string values count as prompt text.
var promptKeys = map[string]bool{
	"content": true, "text": true, "prompt": true,
	"input": true, "instructions": true, "system": true,
}

// promptWords counts the words of the prompt text anywhere in v.
func promptWords(v any) int {
	n := 0
	switch t := v.(type) {
	case map[string]any:
		for key, child := range t {
			if promptKeys[key] {
				n += textWords(child)
			} else {
				n += promptWords(child)
			}
		}
	case []any:
		for _, child := range t {
			n += promptWords(child)
		}
	}
	return n
}

// textWords counts the words of a value found under a prompt key: a string,
// strings in an array, or the prompt text nested in objects.
func textWords(v any) int {
	switch t := v.(type) {
	case string:
		return len(strings.Fields(t))
	case []any:
		n := 0
		for _, child := range t {
			n += textWords(child)
		}
		return n
	default:
		return promptWords(v)
	}
}

// vocabulary is the cycle of words the fake generates.
var vocabulary = [...]string{
	"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing",
	"elit", "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore",
	"et", "dolore", "magna", "aliqua",
}

// word returns the text of content event i: one word, with a leading space
// after the first. With size > 0 the text is exactly size bytes long (one
// word-token still: letters with no inner space).
func word(i, size int) string {
	w := vocabulary[i%len(vocabulary)]
	if size <= 0 {
		if i == 0 {
			return w
		}
		return " " + w
	}
	var b strings.Builder
	b.Grow(size)
	if i > 0 && size > 1 {
		b.WriteByte(' ')
	}
	for b.Len() < size {
		b.WriteString(w[:min(len(w), size-b.Len())])
	}
	return b.String()
}

// fullText is the whole generated text of n content events.
func fullText(n, size int) string {
	var b strings.Builder
	var later [len(vocabulary)]string
	for i := range n {
		if i == 0 {
			b.WriteString(word(0, size))
			continue
		}
		j := i % len(vocabulary)
		if later[j] == "" {
			later[j] = word(i, size)
		}
		b.WriteString(later[j])
	}
	return b.String()
}

// idAlphabet is the alphabet of generated ids.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// makeID derives an n-character id from seed and salt, so equal requests get
// equal ids.
func makeID(seed []byte, salt string, n int) string {
	out := make([]byte, 0, n)
	sum := sha256.Sum256(append([]byte(salt+"\x00"), seed...))
	for len(out) < n {
		for _, c := range sum {
			if len(out) == n {
				break
			}
			out = append(out, idAlphabet[int(c)%len(idAlphabet)])
		}
		sum = sha256.Sum256(sum[:])
	}
	return string(out)
}

// makeHexID is makeID over hex digits.
func makeHexID(seed []byte, salt string, n int) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, n)
	sum := sha256.Sum256(append([]byte("hex:"+salt+"\x00"), seed...))
	for len(out) < n {
		for _, c := range sum {
			if len(out) == n {
				break
			}
			out = append(out, hex[c&0xf])
		}
		sum = sha256.Sum256(sum[:])
	}
	return string(out)
}

// reqBody is the decoded request JSON (nil for bodiless requests).
type reqBody map[string]any

// errBadJSON marks a body that is not a JSON object.
var errBadJSON = errors.New("body is not a JSON object")

// parseBody decodes a request body; an empty body is an empty object.
func parseBody(b []byte) (reqBody, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return reqBody{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if m == nil {
		return nil, errBadJSON
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: data after the object", errBadJSON)
	}
	return m, nil
}

// get walks nested objects by keys; nil when any step is missing.
func (r reqBody) get(keys ...string) any {
	var v any = map[string]any(r)
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str is the string at keys, else "".
func (r reqBody) str(keys ...string) string {
	s, _ := r.get(keys...).(string)
	return s
}

// boolean is the boolean at keys and whether one is there.
func (r reqBody) boolean(keys ...string) (value, ok bool) {
	b, ok := r.get(keys...).(bool)
	return b, ok
}

// integer is the non-negative integer at keys (capped at maxEvents), else
// -1.
func (r reqBody) integer(keys ...string) int {
	n, ok := r.get(keys...).(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil || i < 0 {
		return -1
	}
	return int(min(i, maxEvents))
}
