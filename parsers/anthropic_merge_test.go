package parsers

import (
	"bytes"
	"testing"

	"github.com/valyala/fastjson"
)

// refMerged is the merged usage object as it was kept before
// mergedUsage: a key string and a value buffer per member. It is the
// reference FuzzMergedUsage holds mergedUsage to.
type refMerged []struct {
	key string
	val []byte
}

func (r *refMerged) merge(u *fastjson.Value) {
	o, err := u.Object()
	if err != nil {
		return
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if v.Type() == fastjson.TypeNull {
			return
		}
		for i := range *r {
			if (*r)[i].key == string(k) {
				(*r)[i].val = v.MarshalTo((*r)[i].val[:0])
				return
			}
		}
		if len(*r) < maxMergedMembers {
			*r = append(*r, struct {
				key string
				val []byte
			}{string(k), v.MarshalTo(nil)})
		}
	})
}

func (r refMerged) encode() []byte {
	if len(r) == 0 {
		return nil
	}
	out := []byte{'{'}
	for i, kv := range r {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendQuoted(out, []byte(kv.key))
		out = append(out, ':')
		out = append(out, kv.val...)
	}
	return append(out, '}')
}

// FuzzMergedUsage: merging a sequence of usage objects (one per line of
// the input) gives the object the per-member copies gave, byte for byte.
// Seeds: a message_start and message_delta pair, a key repeated (nulls
// among them), a key with escapes, invalid UTF-8 in keys, more members
// than the bound.
func FuzzMergedUsage(f *testing.F) {
	for _, s := range []string{
		`{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":2,"service_tier":"standard"}` + "\n" +
			`{"output_tokens":503,"server_tool_use":{"web_search_requests":1}}`,
		`{"a":1,"a":null,"b":2,"a":3}` + "\n" + `{"b":null,"c":{"d":[1,2]},"c":4}` + "\n" + `{"a":null}`,
		`{"k\"\\\u00e9":1,"\u0000":2}` + "\n" + `{"k\"\\é":5}`,
		"{\"\xff\":1,\"\xfe\":2}\n{\"\xfe\":3}",
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17}` + "\n" + `{"k17":"x","k18":18}`,
		`[1]` + "\n" + `{"x":1}` + "\n" + `5`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var got mergedUsage
		var want refMerged
		var p fastjson.Parser
		for line := range bytes.SplitSeq(in, []byte("\n")) {
			v, err := p.ParseBytes(line)
			if err != nil {
				continue
			}
			got.merge(v)
			want.merge(v)
		}
		if g, w := got.encode(), want.encode(); !bytes.Equal(g, w) {
			t.Fatalf("merged %q, per-member copies %q", g, w)
		}
	})
}
