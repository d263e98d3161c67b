package parsers

import (
	"bytes"
	"math"

	"github.com/valyala/fastjson"
)

// This file reads fastjson values the way the providers' own SDKs read the
// JSON they decode (Python's json and pydantic, JavaScript's JSON.parse),
// so that a count means here what it means to the client that made the
// call, and flags what no SDK would read as a token count.

// get returns the value at the path of member names below v, or nil. Where
// an object holds a name twice, the last member wins, as in Python's and
// JavaScript's JSON parsers (fastjson's own Get returns the first).
func get(v *fastjson.Value, keys ...string) *fastjson.Value {
	for _, k := range keys {
		if v == nil || v.Type() != fastjson.TypeObject {
			return nil
		}
		o, _ := v.Object()
		var last *fastjson.Value
		o.Visit(func(name []byte, x *fastjson.Value) {
			if string(name) == k {
				last = x
			}
		})
		v = last
	}
	return v
}

// rawUsage is a format's raw usage object (Usage.Raw) as last seen. Its
// first rawInline bytes are part of the meter: a usage object is a few
// hundred bytes, and a buffer grown for it cost one to three allocations
// per call.
type rawUsage struct {
	b      []byte
	inline [rawInline]byte
}

const rawInline = 512

// reset empties the object and returns the buffer to append a new one to
// (then stored in b).
func (r *rawUsage) reset() []byte {
	if r.b == nil {
		return r.inline[:0]
	}
	return r.b[:0]
}

// set keeps v re-encoded.
func (r *rawUsage) set(v *fastjson.Value) { r.b = v.MarshalTo(r.reset()) }

// keep returns a copy of the object the caller may keep, nil if none.
func (r *rawUsage) keep() []byte {
	if len(r.b) == 0 {
		return nil
	}
	return bytes.Clone(r.b)
}

// visit calls f with each member of v in order, when v is an object.
func visit(v *fastjson.Value, f func(k []byte, x *fastjson.Value)) {
	if v == nil || v.Type() != fastjson.TypeObject {
		return
	}
	o, _ := v.Object()
	o.Visit(f)
}

// isObject reports whether v is a JSON object (not missing, not null).
func isObject(v *fastjson.Value) bool { return v != nil && v.Type() == fastjson.TypeObject }

// str returns v's string bytes, or nil when v is not a string.
func str(v *fastjson.Value) []byte {
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := v.StringBytes()
	return b
}

// maxTokenCount bounds a plausible count: no call reads or writes ten
// billion tokens, and sums of counts this size cannot overflow int64.
const maxTokenCount = 1e10

// problem is what is wrong with a value where a token count belongs.
type problem uint8

const (
	noProblem problem = iota
	notANumber
	negative
	fractional
	tooLarge
	notFinite
	notAnArray
	notAnObject
	tooManyItems
)

// String is the problem as Result.Invalid reports it.
func (p problem) String() string {
	return [...]string{
		noProblem:    "",
		notANumber:   "not a number",
		negative:     "negative",
		fractional:   "not a whole number",
		tooLarge:     "above 10^10",
		notFinite:    "beyond the float range (an SDK reads it as infinity)",
		notAnArray:   "not an array",
		notAnObject:  "an entry is not an object",
		tooManyItems: "too many entries",
	}[p]
}

// tokenCount reads v as a token count. present is false for a missing or
// null v: the provider sent no value, and the count keeps its last one.
// Otherwise why says why v is no count a real call can report, or is
// noProblem for a count n.
//
// The reading follows the SDKs: 1.0 and 1e3 are read as floats by
// Python's json and hold whole numbers, so they count (1 and 1000); 1.5
// does not, nor does a negative number, a string ("7" stays a string in
// the SDKs' models, where arithmetic on it fails), a number past 10^10, or
// 1e400 (infinity to Python and JavaScript). NaN and Infinity, which
// fastjson accepts, are not numbers.
func tokenCount(v *fastjson.Value) (n int64, present bool, why problem) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return 0, false, noProblem
	}
	if v.Type() != fastjson.TypeNumber {
		return 0, true, notANumber
	}
	if i, err := v.Int64(); err == nil {
		switch {
		case i < 0:
			return 0, true, negative
		case i > maxTokenCount:
			return 0, true, tooLarge
		}
		return i, true, noProblem
	}
	f, err := v.Float64()
	switch {
	case err != nil || math.IsNaN(f):
		return 0, true, notANumber
	case math.IsInf(f, 0):
		return 0, true, notFinite
	case f < 0:
		return 0, true, negative
	case f != math.Trunc(f):
		return 0, true, fractional
	case f > maxTokenCount:
		return 0, true, tooLarge
	}
	return int64(f), true, noProblem
}

// count is one count a format reads: the last non-null value the response
// sent for it, which is either a count or a problem.
type count struct {
	v   int64
	ok  bool    // v was read and is a count
	bad problem // why the last value sent is no count
	// name is the member a bad value came from, for the report.
	name string
}

// set records v as the count's latest value (a missing or null v changes
// nothing: each count keeps its last non-null value). name is the member
// v was read from, as Result.Invalid names it.
func (c *count) set(v *fastjson.Value, name string) {
	n, present, why := tokenCount(v)
	if !present {
		return
	}
	if why != noProblem {
		c.fail(why, name)
		return
	}
	*c = count{v: n, ok: true}
}

// fail records a problem with the count's latest value.
func (c *count) fail(why problem, name string) { *c = count{bad: why, name: name} }

// read reports that the response sent a value for the count, valid or not.
func (c *count) read() bool { return c.ok || c.bad != noProblem }

// tally sums up counts for a Result: whether any was read, and the first
// problem among them ("" when none).
type tally struct {
	seen    bool
	problem string
}

func (t *tally) add(cs ...*count) {
	for _, c := range cs {
		t.seen = t.seen || c.read()
		if t.problem == "" && c.bad != noProblem {
			t.problem = c.name + ": " + c.bad.String()
		}
	}
}

// setModality records, from a list of {modality, tokenCount} entries
// (Gemini's promptTokensDetails and candidatesTokensDetails), the tokens
// of one modality. A missing or null list changes nothing; a list without
// the modality means zero (the API leaves out what it did not use, and
// its JSON leaves out zero tokenCounts).
func (c *count) setModality(list *fastjson.Value, modality, name string) {
	if list == nil || list.Type() == fastjson.TypeNull {
		return
	}
	if list.Type() != fastjson.TypeArray {
		c.fail(notAnArray, name)
		return
	}
	items, _ := list.Array()
	var sum int64
	for _, it := range items {
		if string(str(get(it, "modality"))) != modality {
			continue
		}
		n, _, why := tokenCount(get(it, "tokenCount"))
		if why != noProblem {
			c.fail(why, name)
			return
		}
		if sum += n; sum > maxTokenCount {
			c.fail(tooLarge, name)
			return
		}
	}
	*c = count{v: sum, ok: true}
}
