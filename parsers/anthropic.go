package parsers

import (
	"bytes"

	"github.com/valyala/fastjson"
)

// anthropicFormat reads Anthropic Messages, mirroring the SDK's
// accumulation (https://docs.anthropic.com/en/api/messages-streaming).
//
// The stream starts from message_start.message.usage, the only place with
// the cache_creation 5m/1h split and service_tier; every message_delta
// usage then replaces the counts it carries (they are cumulative, there may
// be several, and some compatible servers send only output_tokens). The
// stream ends at message_stop; an "error" event (possible after a 200)
// marks the call failed and keeps what usage arrived. Content deltas and
// pings are skipped without parsing.
//
// input_tokens is only the uncached part: the input total adds
// cache_creation_input_tokens (the writes) and cache_read_input_tokens.
//
// usage.iterations, when present (server-side compaction, an advisor tool,
// a server-side fallback; see
// https://platform.claude.com/docs/en/build-with-claude/compaction), lists every sampling step the call ran, each
// with its own counts and, for advisor and fallback steps, its own model.
// The top-level counts then cover only the message steps, while all of
// them are billed: the call's counts are the sums over the iterations,
// each kept in Usage.Iterations to be priced at its model. The latest
// non-null list wins, like every other member (the stream's last
// message_delta carries the whole list).
//
// A server-side fallback answers with another model than the one
// message_start named: a "fallback" content block names it (to.model), and
// a fallback_message iteration carries it. The last model named wins.
//
// Usage.Raw for Anthropic is a merged object: the message_start usage with
// each later usage's non-null members replacing (or, if new, appending)
// the members of the same name, in first-seen order. For a non-streaming
// body it is that body's usage object.
type anthropicFormat struct {
	anthropicCounts
	thinking count
	// iters is the last usage.iterations list read; itersBad says what was
	// wrong with it, if anything.
	iters    []anthropicIteration
	itersBad count
	merged   mergedUsage
}

// anthropicCounts are the counts of one usage object or iteration.
type anthropicCounts struct {
	input, cacheWrite, cacheRead, cw5m, cw1h, output count
}

// anthropicIteration is one entry of usage.iterations.
type anthropicIteration struct {
	typ, model []byte
	anthropicCounts
}

// maxIterations bounds usage.iterations: real calls run a handful of
// steps; a longer list is flagged rather than kept without limit.
const maxIterations = 256

// fallbackMarker is in the data of a content_block_start that opens a
// fallback block: only those are parsed.
var fallbackMarker = []byte(`"fallback"`)

func (f *anthropicFormat) event(m *Meter, name, data []byte, oversize bool) {
	switch string(name) {
	case "content_block_start":
		// A fallback block is small: one past the cap is some other block.
		if oversize || !bytes.Contains(data, fallbackMarker) {
			return
		}
	case "content_block_delta", "content_block_stop", "ping":
		return
	}
	if oversize {
		m.tail(data)
		if string(name) == "message_stop" {
			m.terminal = true
		}
		return
	}
	v := m.parse(data)
	if v == nil {
		if string(name) == "error" {
			m.failText("error", data)
		}
		return
	}
	typ := str(get(v, "type"))
	if len(typ) == 0 {
		typ = name
	}
	f.eventValue(m, typ, v)
}

// eventValue reads one parsed stream event of type typ.
func (f *anthropicFormat) eventValue(m *Meter, typ []byte, v *fastjson.Value) {
	switch string(typ) {
	case "message_start":
		msg := get(v, "message")
		if !isObject(msg) {
			return
		}
		m.setModel(get(msg, "model"))
		m.setID(get(msg, "id"))
		if u := get(msg, "usage"); isObject(u) {
			f.readUsage(m, u)
		}
	case "content_block_start":
		if b := get(v, "content_block"); string(str(get(b, "type"))) == "fallback" {
			m.setModel(get(b, "to", "model"))
		}
	case "message_delta":
		if u := get(v, "usage"); isObject(u) {
			f.readUsage(m, u)
		}
	case "message_stop":
		m.terminal = true
	case "error":
		if e := get(v, "error"); isObject(e) {
			m.fail(e)
		} else {
			m.fail(v)
		}
	}
}

// object reads a non-streaming body: a message, or an error.
func (f *anthropicFormat) object(m *Meter, v *fastjson.Value) {
	if string(str(get(v, "type"))) == "error" {
		m.fail(get(v, "error"))
		return
	}
	m.setModel(get(v, "model"))
	m.setID(get(v, "id"))
	if u := get(v, "usage"); isObject(u) {
		f.readUsage(m, u)
	}
}

func (*anthropicFormat) usageKey() string { return "usage" }

// readUsage applies one usage object: each count it carries (non-null)
// replaces the one held, and so does its iterations list.
func (f *anthropicFormat) readUsage(m *Meter, u *fastjson.Value) {
	f.anthropicCounts.read(u, &usageNames)
	f.thinking.set(get(u, "output_tokens_details", "thinking_tokens"), "output_tokens_details.thinking_tokens")
	if it := get(u, "iterations"); it != nil && it.Type() != fastjson.TypeNull {
		f.readIterations(m, it)
	}
	f.merged.merge(u)
}

// anthropicNames are the members of a usage object or iteration, as a
// problem's report names them.
type anthropicNames struct {
	input, cacheWrite, cacheRead, cw5m, cw1h, output string
}

var (
	usageNames = anthropicNames{"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
		"cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens", "output_tokens"}
	iterationNames = anthropicNames{"iterations[].input_tokens", "iterations[].cache_creation_input_tokens",
		"iterations[].cache_read_input_tokens", "iterations[].cache_creation.ephemeral_5m_input_tokens",
		"iterations[].cache_creation.ephemeral_1h_input_tokens", "iterations[].output_tokens"}
)

// read reads the counts of one usage object or iteration.
func (c *anthropicCounts) read(u *fastjson.Value, n *anthropicNames) {
	c.input.set(get(u, "input_tokens"), n.input)
	c.cacheWrite.set(get(u, "cache_creation_input_tokens"), n.cacheWrite)
	c.cacheRead.set(get(u, "cache_read_input_tokens"), n.cacheRead)
	if cc := get(u, "cache_creation"); cc != nil {
		c.cw5m.set(get(cc, "ephemeral_5m_input_tokens"), n.cw5m)
		c.cw1h.set(get(cc, "ephemeral_1h_input_tokens"), n.cw1h)
	}
	c.output.set(get(u, "output_tokens"), n.output)
}

// readIterations replaces the iterations held with the list it.
func (f *anthropicFormat) readIterations(m *Meter, it *fastjson.Value) {
	const name = "iterations"
	f.iters, f.itersBad = f.iters[:0], count{}
	items, err := it.Array()
	switch {
	case err != nil:
		f.itersBad.fail(notAnArray, name)
		return
	case len(items) > maxIterations:
		f.itersBad.fail(tooManyItems, name)
		return
	}
	for _, x := range items {
		if !isObject(x) {
			f.iters = f.iters[:0]
			f.itersBad.fail(notAnObject, name)
			return
		}
		// Reuse the entry's buffers from an earlier list.
		if len(f.iters) < cap(f.iters) {
			f.iters = f.iters[:len(f.iters)+1]
		} else {
			f.iters = append(f.iters, anthropicIteration{})
		}
		e := &f.iters[len(f.iters)-1]
		*e = anthropicIteration{
			typ:   append(e.typ[:0], str(get(x, "type"))...),
			model: append(e.model[:0], str(get(x, "model"))...),
		}
		e.anthropicCounts.read(x, &iterationNames)
		if string(e.typ) == "fallback_message" {
			m.setModel(get(x, "model"))
		}
	}
}

// maxMergedMembers bounds the merged usage object (Anthropic's has about
// ten members), so a hostile stream cannot grow it without limit.
const maxMergedMembers = 64

// mergedUsage is Anthropic's merged usage object: its members in
// first-seen order, each value encoded in one of two buffers. A merge
// re-encodes the members into the other buffer, its own values where it
// has them and the held ones copied otherwise, so that nothing is
// allocated per member (a key string and a value buffer each were most of
// metering a small Messages body's allocations) and the buffers hold
// only the live values. The first 16 members are part of the meter.
type mergedUsage struct {
	members []mergedMember
	inline  [16]mergedMember
	vals    [2]rawUsage // vals[cur] holds the values
	cur     int
}

// mergedMember is one member: its key, and where its value lies in
// mergedUsage.vals[cur].
type mergedMember struct {
	key        string
	start, end int32
}

// merge folds u's non-null members into the object: each replaces the
// value of the member of its name, or, if new, is appended (the last
// non-null member of a name in u wins, at the first one's place).
func (mu *mergedUsage) merge(u *fastjson.Value) {
	o, err := u.Object()
	if err != nil {
		return
	}
	if mu.members == nil {
		mu.members = mu.inline[:0]
	}
	var repl [maxMergedMembers]*fastjson.Value // the members' values in u
	o.Visit(func(k []byte, v *fastjson.Value) {
		if v.Type() == fastjson.TypeNull {
			return
		}
		for i := range mu.members {
			if mu.members[i].key == string(k) {
				repl[i] = v
				return
			}
		}
		if len(mu.members) < maxMergedMembers {
			repl[len(mu.members)] = v
			mu.members = append(mu.members, mergedMember{key: usageKeyString(k)})
		}
	})
	old := mu.vals[mu.cur].b
	next := &mu.vals[1-mu.cur]
	b := next.reset()
	for i := range mu.members {
		e := &mu.members[i]
		start := len(b)
		if v := repl[i]; v != nil {
			b = v.MarshalTo(b)
		} else {
			b = append(b, old[e.start:e.end]...)
		}
		e.start, e.end = int32(start), int32(len(b))
	}
	next.b, mu.cur = b, 1-mu.cur
}

// encode returns the merged object as JSON (nil if it has no members), a
// copy the caller may keep. It is built in the buffer a merge would use
// next, so call it once no more merges come.
func (mu *mergedUsage) encode() []byte {
	if len(mu.members) == 0 {
		return nil
	}
	vals := mu.vals[mu.cur].b
	out := &mu.vals[1-mu.cur]
	b := append(out.reset(), '{')
	for i, e := range mu.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, []byte(e.key))
		b = append(b, ':')
		b = append(b, vals[e.start:e.end]...)
	}
	out.b = append(b, '}')
	return out.keep()
}

// anthropicUsageKeys are the members Anthropic's usage objects have.
var anthropicUsageKeys = []string{"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
	"cache_creation", "output_tokens", "service_tier", "server_tool_use", "inference_geo", "iterations",
	"output_tokens_details", "speed"}

// usageKeyString returns k as a string, without allocating for
// anthropicUsageKeys.
func usageKeyString(k []byte) string {
	for _, key := range anthropicUsageKeys {
		if string(k) == key {
			return key
		}
	}
	return string(k)
}

func (f *anthropicFormat) fill(r *Result) (seen, inputKnown bool) {
	var t tally
	cs := f.anthropicCounts.all()
	t.add(cs[:]...)
	t.add(&f.thinking, &f.itersBad)
	u := &r.Usage
	if len(f.iters) > 0 {
		u.Iterations = make([]Iteration, len(f.iters))
		for i := range f.iters {
			e := &f.iters[i]
			cs := e.all()
			t.add(cs[:]...)
			it := e.normalize()
			it.Type, it.Model = string(e.typ), string(e.model)
			if it.Model == "" {
				it.Model = r.Model
			}
			u.Iterations[i] = it
			u.InputTokens += it.InputTokens
			u.CachedInputTokens += it.CachedInputTokens
			u.CacheWriteTokens += it.CacheWriteTokens
			u.CacheWrite5mTokens += it.CacheWrite5mTokens
			u.CacheWrite1hTokens += it.CacheWrite1hTokens
			u.OutputTokens += it.OutputTokens
		}
		inputKnown = true
	} else {
		it := f.normalize()
		u.InputTokens, u.CachedInputTokens, u.CacheWriteTokens = it.InputTokens, it.CachedInputTokens, it.CacheWriteTokens
		u.CacheWrite5mTokens, u.CacheWrite1hTokens = it.CacheWrite5mTokens, it.CacheWrite1hTokens
		u.OutputTokens = it.OutputTokens
		inputKnown = f.input.ok || f.cacheWrite.ok || f.cacheRead.ok
	}
	u.ReasoningTokens = f.thinking.v
	u.Raw = f.merged.encode()
	r.Invalid = t.problem
	return t.seen, inputKnown
}

// all lists the counts, for a tally.
func (c *anthropicCounts) all() [6]*count {
	return [...]*count{&c.input, &c.cacheWrite, &c.cacheRead, &c.cw5m, &c.cw1h, &c.output}
}

// normalize gives the counts Usage's meanings: the writes are
// cache_creation_input_tokens, or the sum of the 5m and 1h writes when
// only those are sent, and the input total adds writes and reads to the
// uncached input_tokens.
func (c *anthropicCounts) normalize() Iteration {
	var it Iteration
	it.CachedInputTokens = c.cacheRead.v
	it.CacheWriteTokens = c.cacheWrite.v
	if !c.cacheWrite.ok {
		it.CacheWriteTokens = c.cw5m.v + c.cw1h.v
	}
	it.InputTokens = c.input.v + it.CacheWriteTokens + it.CachedInputTokens
	it.CacheWrite5mTokens = min(c.cw5m.v, it.CacheWriteTokens)
	it.CacheWrite1hTokens = min(c.cw1h.v, it.CacheWriteTokens-it.CacheWrite5mTokens)
	it.OutputTokens = c.output.v
	return it
}
