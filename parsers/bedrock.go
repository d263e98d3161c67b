package parsers

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/valyala/fastjson"
)

// This file reads the Amazon Bedrock runtime
// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_Operations_Amazon_Bedrock_Runtime.html):
// InvokeModel and InvokeModelWithResponseStream (invokeFormat), Converse
// and ConverseStream (converseFormat). Streams are AWS event streams, which
// the Meter decodes (the eventstream package); an exception message in
// them fails the call with its exception type, and a request error is a
// JSON {"message"} body whose type is the x-amzn-ErrorType header.
//
// Bedrock's own counts (Converse's usage, the invocation metrics of
// InvokeModel's streams, its x-amzn-bedrock-*-token-count headers) give
// input without the prompt cache: the cache reads and writes are reported
// apart, and the input total adds them, as in Anthropic's own usage (see
// "Prompt caching" in the Bedrock user guide,
// https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html).

// bedrockCounts are Bedrock's own counts of one call.
type bedrockCounts struct {
	input, output, cacheRead, cacheWrite, cw5m, cw1h count
	raw                                              rawUsage
}

// add counts them into a tally.
func (c *bedrockCounts) add(t *tally) {
	t.add(&c.input, &c.output, &c.cacheRead, &c.cacheWrite, &c.cw5m, &c.cw1h)
}

// fill writes the counts with Usage's meanings.
func (c *bedrockCounts) fill(u *Usage) (inputKnown bool) {
	u.CachedInputTokens = c.cacheRead.v
	u.CacheWriteTokens = c.cacheWrite.v
	if !c.cacheWrite.ok {
		u.CacheWriteTokens = c.cw5m.v + c.cw1h.v
	}
	u.CacheWrite5mTokens = min(c.cw5m.v, u.CacheWriteTokens)
	u.CacheWrite1hTokens = min(c.cw1h.v, u.CacheWriteTokens-u.CacheWrite5mTokens)
	u.InputTokens = c.input.v + u.CachedInputTokens + u.CacheWriteTokens
	u.OutputTokens = c.output.v
	u.Raw = c.raw.keep()
	return c.input.ok || c.cacheRead.ok || c.cacheWrite.ok
}

// readConverse reads Converse's usage object (TokenUsage: inputTokens,
// outputTokens, totalTokens, cacheReadInputTokens, cacheWriteInputTokens,
// cacheDetails[{inputTokens, ttl}]).
func (c *bedrockCounts) readConverse(u *fastjson.Value) {
	c.input.set(get(u, "inputTokens"), "inputTokens")
	c.output.set(get(u, "outputTokens"), "outputTokens")
	c.cacheRead.set(get(u, "cacheReadInputTokens"), "cacheReadInputTokens")
	c.cacheWrite.set(get(u, "cacheWriteInputTokens"), "cacheWriteInputTokens")
	if d := get(u, "cacheDetails"); d != nil && d.Type() != fastjson.TypeNull {
		c.readCacheDetails(d)
	}
	c.raw.set(u)
}

// readCacheDetails reads the cache writes by TTL.
func (c *bedrockCounts) readCacheDetails(d *fastjson.Value) {
	const name = "cacheDetails"
	items, err := d.Array()
	if err != nil {
		c.cw5m.fail(notAnArray, name)
		return
	}
	var w5, w1 int64
	for _, it := range items {
		if !isObject(it) {
			c.cw5m.fail(notAnObject, name)
			return
		}
		n, _, why := tokenCount(get(it, "inputTokens"))
		if why != noProblem {
			c.cw5m.fail(why, "cacheDetails[].inputTokens")
			return
		}
		switch string(str(get(it, "ttl"))) {
		case "5m":
			w5 += n
		case "1h":
			w1 += n
		}
		if w5 > maxTokenCount || w1 > maxTokenCount {
			c.cw5m.fail(tooLarge, name)
			return
		}
	}
	c.cw5m, c.cw1h = count{v: w5, ok: true}, count{v: w1, ok: true}
}

// readMetrics reads amazon-bedrock-invocationMetrics (inputTokenCount,
// outputTokenCount, cacheReadInputTokenCount, cacheWriteInputTokenCount).
func (c *bedrockCounts) readMetrics(v *fastjson.Value) {
	c.input.set(get(v, "inputTokenCount"), "inputTokenCount")
	c.output.set(get(v, "outputTokenCount"), "outputTokenCount")
	c.cacheRead.set(get(v, "cacheReadInputTokenCount"), "cacheReadInputTokenCount")
	c.cacheWrite.set(get(v, "cacheWriteInputTokenCount"), "cacheWriteInputTokenCount")
	c.raw.set(v)
}

// readHeaders reads InvokeModel's token-count headers.
func (c *bedrockCounts) readHeaders(m *Meter, h http.Header) {
	for _, x := range [...]struct {
		c    *count
		name string
	}{
		{&c.input, "X-Amzn-Bedrock-Input-Token-Count"},
		{&c.output, "X-Amzn-Bedrock-Output-Token-Count"},
		{&c.cacheRead, "X-Amzn-Bedrock-Cache-Read-Input-Token-Count"},
		{&c.cacheWrite, "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"},
	} {
		s := strings.TrimSpace(h.Get(x.name))
		if s == "" {
			continue
		}
		v, err := m.parseJSON([]byte(s))
		if err != nil {
			x.c.fail(notANumber, x.name)
			continue
		}
		x.c.set(v, x.name)
	}
	if c.input.read() || c.output.read() {
		// Raw keeps what the headers said, as an object of their values.
		b := append(c.raw.reset(), '{')
		for _, name := range [...]string{"X-Amzn-Bedrock-Input-Token-Count", "X-Amzn-Bedrock-Output-Token-Count",
			"X-Amzn-Bedrock-Cache-Read-Input-Token-Count", "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"} {
			if v := strings.TrimSpace(h.Get(name)); v != "" {
				if len(b) > 1 {
					b = append(b, ',')
				}
				b = appendQuoted(b, []byte(strings.ToLower(name)))
				b = append(b, ':')
				b = appendQuoted(b, []byte(v))
			}
		}
		c.raw.b = append(b, '}')
	}
}

// bedrockErrorType is the x-amzn-ErrorType of a response, without the
// ":http://…" suffix Bedrock may add.
func bedrockErrorType(h http.Header) []byte {
	t, _, _ := strings.Cut(h.Get("X-Amzn-ErrorType"), ":")
	return []byte(strings.TrimSpace(t))
}

// bedrockError reads a request error body ({"message": …}); it reports
// whether v was one.
func bedrockError(m *Meter, v *fastjson.Value, errType []byte) bool {
	msg := get(v, "message")
	if msg == nil || msg.Type() != fastjson.TypeString || get(v, "output") != nil || get(v, "type") != nil {
		return false
	}
	typ := string(errType)
	if typ == "" {
		typ = "error"
	}
	m.failText(typ, str(msg))
	return true
}

// bedrockBilledModel is the model id a Bedrock call is billed under, from
// the id in its path: a model or inference profile id as it is
// (us.anthropic.claude-haiku-4-5-20251001-v1:0), the id inside a foundation
// model or system inference profile ARN, and "" for an ARN that names no
// model (application inference profiles, provisioned and custom models:
// the response's model is all there is to go by).
func bedrockBilledModel(id string) string {
	if !strings.HasPrefix(id, "arn:") {
		return id
	}
	for _, kind := range [...]string{":inference-profile/", ":foundation-model/"} {
		if _, after, ok := strings.Cut(id, kind); ok {
			return after
		}
	}
	return ""
}

// invokeFormat reads InvokeModel and InvokeModelWithResponseStream. The
// body is the model's own: for Anthropic models, the Messages API's
// (anthropic_version "bedrock-2023-05-31"), read as the Anthropic format
// does; each stream "chunk" event carries one Messages stream event, base64
// in "bytes". The last chunk adds amazon-bedrock-invocationMetrics, and a
// non-streaming response has the same counts in x-amzn-bedrock-* headers:
// those are the usage of models whose bodies have none the format reads
// (Llama, Titan, Mistral, …), and stand in when an Anthropic body brought
// no usage object.
type invokeFormat struct {
	anthropicFormat
	metrics bedrockCounts
	errType []byte
	b64     []byte
	peek    [chunkPeek / 4 * 3]byte // the start of a chunk's event, decoded
	// parseEveryChunk turns off the shortcut for chunks that are dropped
	// (chunkDropped), so that tests can compare the two.
	parseEveryChunk bool
}

// chunkSkip are the Anthropic events that carry neither usage nor the
// invocation metrics: not parsed.
var chunkSkip = [...]string{"content_block_delta", "content_block_stop", "ping"}

// skippedType reports whether typ is one of chunkSkip.
func skippedType(typ []byte) bool {
	for _, s := range chunkSkip {
		if string(typ) == s {
			return true
		}
	}
	return false
}

func (f *invokeFormat) event(m *Meter, name, data []byte, _ bool) {
	if string(name) != "chunk" || (!f.parseEveryChunk && f.chunkDropped(data)) {
		return
	}
	v := m.parse(data)
	b := str(get(v, "bytes"))
	if b == nil {
		return
	}
	need := base64.StdEncoding.DecodedLen(len(b))
	if cap(f.b64) < need {
		f.b64 = make([]byte, need)
	}
	n, err := base64.StdEncoding.Decode(f.b64[:need], b)
	if err != nil {
		return
	}
	ev := f.b64[:n]
	if skippedType(peekType(ev)) {
		return
	}
	v = m.parse(ev)
	if v == nil {
		return
	}
	if mt := get(v, "amazon-bedrock-invocationMetrics"); isObject(mt) {
		f.metrics.readMetrics(mt)
		m.terminal = true
	}
	if t := str(get(v, "type")); len(t) > 0 {
		f.anthropicFormat.eventValue(m, t, v)
	}
}

func (f *invokeFormat) object(m *Meter, v *fastjson.Value) {
	if bedrockError(m, v, f.errType) {
		return
	}
	f.anthropicFormat.object(m, v)
}

func (f *invokeFormat) readHeader(m *Meter, h http.Header) {
	f.metrics.readHeaders(m, h)
	f.errType = bedrockErrorType(h)
}

func (f *invokeFormat) fill(r *Result) (seen, inputKnown bool) {
	if seen, inputKnown = f.anthropicFormat.fill(r); seen {
		return seen, inputKnown
	}
	r.Usage = Usage{}
	var t tally
	f.metrics.add(&t)
	r.Invalid = t.problem
	inputKnown = f.metrics.fill(&r.Usage)
	return t.seen, inputKnown
}

// converseFormat reads Converse and ConverseStream
// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html):
// a body with output, stopReason and usage, or a stream of events named by
// their :event-type — messageStart, contentBlockStart/Delta/Stop,
// messageStop (the end of the answer) and metadata (usage and metrics,
// after messageStop). The response names no model: the path's model id is
// the call's.
type converseFormat struct {
	counts  bedrockCounts
	errType []byte
}

func (f *converseFormat) event(m *Meter, name, data []byte, oversize bool) {
	switch string(name) {
	case "messageStop":
		m.terminal = true
		return
	case "metadata":
	default:
		return
	}
	if oversize {
		m.tail(data)
		return
	}
	if v := m.parse(data); v != nil {
		if u := get(v, "usage"); isObject(u) {
			f.counts.readConverse(u)
		}
	}
}

func (f *converseFormat) object(m *Meter, v *fastjson.Value) {
	if bedrockError(m, v, f.errType) {
		return
	}
	if u := get(v, "usage"); isObject(u) {
		f.counts.readConverse(u)
	}
}

func (*converseFormat) usageKey() string { return "usage" }

func (f *converseFormat) readUsage(_ *Meter, u *fastjson.Value) { f.counts.readConverse(u) }

func (f *converseFormat) readHeader(_ *Meter, h http.Header) { f.errType = bedrockErrorType(h) }

func (f *converseFormat) fill(r *Result) (seen, inputKnown bool) {
	var t tally
	f.counts.add(&t)
	r.Invalid = t.problem
	inputKnown = f.counts.fill(&r.Usage)
	return t.seen, inputKnown
}

// peekType returns the raw value of a JSON object's "type" member when it
// is the object's first member and a plain string, else nil: a cheap look
// at an event's type before deciding to parse it.
func peekType(b []byte) []byte {
	var typ []byte
	visitTopLevel(b, func(k []byte, mm member) bool {
		if keyEquals(k, "type") && mm.valEnd-mm.valStart >= 2 && b[mm.valStart] == '"' {
			v := b[mm.valStart+1 : mm.valEnd-1]
			if bytes.IndexByte(v, '\\') < 0 {
				typ = v
			}
		}
		return false
	})
	return typ
}

// chunkPeek is how much of a chunk's base64 is decoded to see its event's
// type: 48 bytes, more than `{"type":"content_block_delta"` needs.
const chunkPeek = 64

// chunkSkipB64 are the base64 starts of the chunkSkip events as Bedrock
// relays them (`{"type":"content_block_delta",` and so on, each a whole
// number of base64 quanta): base64 that starts so decodes to an event
// that starts so, whose type is then known without decoding anything.
var chunkSkipB64 = [...][]byte{
	[]byte(base64.StdEncoding.EncodeToString([]byte(`{"type":"content_block_delta",`))),
	[]byte(base64.StdEncoding.EncodeToString([]byte(`{"type":"content_block_stop","`))),
	[]byte(base64.StdEncoding.EncodeToString([]byte(`{"type":"ping"}`))),
}

// chunkDropped reports, without parsing the chunk or decoding all of its
// base64, that invokeFormat.event would drop it: a content delta, block
// stop or ping, almost every chunk of a stream. It decides only what it
// can prove, and returns false (the chunk is read in full) otherwise, so
// the Result never differs from a full read's (FuzzBedrockChunkShortcut
// compares the two):
//
//   - The payload must be a flat object of plain strings (no escape, no
//     other value, nothing after it): then the "bytes" found here is the
//     string a parse gets, and if the parse fails anyway the chunk is
//     dropped all the same (so shallow a document cannot set the
//     unreadable-usage note either).
//   - Base64 decodes quantum by quantum: if the whole string decodes, its
//     first whole quanta (with no line break, which the decoder skips)
//     decode to the start of what it decodes to, as do those matched
//     against chunkSkipB64; if the whole does not decode, the chunk is
//     dropped all the same.
//   - peekType reads only the first member, so a type it finds whole in
//     the first bytes is the type it finds in the whole event.
func (f *invokeFormat) chunkDropped(data []byte) bool {
	b64 := flatStringMember(data, "bytes")
	for _, p := range chunkSkipB64 {
		if bytes.HasPrefix(b64, p) {
			return true
		}
	}
	src := b64[:min(len(b64), chunkPeek)&^3]
	if len(src) == 0 || bytes.IndexByte(src, '\n') >= 0 || bytes.IndexByte(src, '\r') >= 0 {
		return false
	}
	n, err := base64.StdEncoding.Decode(f.peek[:], src)
	return err == nil && skippedType(peekType(f.peek[:n]))
}

// flatStringMember returns the value of the last top-level member named
// key of b when b is exactly one object whose keys and values are all
// strings without escapes (space around them aside); else nil.
func flatStringMember(b []byte, key string) []byte {
	if bytes.IndexByte(b, '\\') >= 0 {
		return nil
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil
	}
	var found []byte
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		k, end := plainString(b, i)
		if end < 0 {
			return nil
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil
		}
		v, end := plainString(b, skipSpace(b, i+1))
		if end < 0 {
			return nil
		}
		if string(k) == key {
			found = v
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return nil
		}
		i = skipSpace(b, i+1)
	}
	if skipSpace(b, i+1) != len(b) {
		return nil
	}
	return found
}

// plainString reads the string at b[i], which holds no backslash: its
// content and the index past its closing quote, or end -1.
func plainString(b []byte, i int) (s []byte, end int) {
	if i >= len(b) || b[i] != '"' {
		return nil, -1
	}
	q := bytes.IndexByte(b[i+1:], '"')
	if q < 0 {
		return nil, -1
	}
	return b[i+1 : i+1+q], i + 2 + q
}
