package parsers

import (
	"bytes"
	"testing"

	"github.com/valyala/fastjson"
)

// objectByGet and readUsageByGet are openAIFormat's object and readUsage
// as they read before the one-walk versions: one get per member, the
// reference FuzzMembers holds them to.
func (f *openAIFormat) objectByGet(m *Meter, v *fastjson.Value) {
	m.setModel(get(v, "model"))
	m.setID(get(v, "id"))
	if e := get(v, "error"); e != nil && e.Type() != fastjson.TypeNull {
		m.fail(e)
	}
	if u := get(v, "x_groq", "usage"); isObject(u) {
		f.readUsageByGet(u)
	}
	if u := get(v, "usage"); isObject(u) {
		f.readUsageByGet(u)
	}
	f.prompt.set(get(v, "prompt_eval_count"), "prompt_eval_count")
}

func (f *openAIFormat) readUsageByGet(u *fastjson.Value) {
	f.prompt.set(get(u, "prompt_tokens"), "prompt_tokens")
	f.completion.set(get(u, "completion_tokens"), "completion_tokens")
	f.deepSeekHit.set(get(u, "prompt_cache_hit_tokens"), "prompt_cache_hit_tokens")
	if d := get(u, "prompt_tokens_details"); d != nil {
		f.cached.set(get(d, "cached_tokens"), "prompt_tokens_details.cached_tokens")
		f.cacheWrite.set(get(d, "cache_write_tokens"), "prompt_tokens_details.cache_write_tokens")
		f.audioIn.set(get(d, "audio_tokens"), "prompt_tokens_details.audio_tokens")
		f.imageIn.set(get(d, "image_tokens"), "prompt_tokens_details.image_tokens")
	}
	if d := get(u, "completion_tokens_details"); d != nil {
		f.reasoning.set(get(d, "reasoning_tokens"), "completion_tokens_details.reasoning_tokens")
		f.audioOut.set(get(d, "audio_tokens"), "completion_tokens_details.audio_tokens")
		f.imageOut.set(get(d, "image_tokens"), "completion_tokens_details.image_tokens")
	}
	f.setCost(get(u, "cost"))
	f.raw.set(u)
}

// membersSeeds are chunks and bodies whose members the two readings must
// agree on: duplicates (the last wins, null included), nulls, details
// that are not objects, problems, Groq's and Ollama's places.
var membersSeeds = [][2]string{
	{`{"id":"a","model":"m","usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":1,"image_tokens":0},"cost":0.5}}`,
		`{"usage":{"prompt_tokens":null,"completion_tokens":3}}`},
	{`{"usage":{"prompt_tokens":5,"prompt_tokens":null,"completion_tokens":1,"completion_tokens":2}}`, `{"usage":{"cost":1}}`},
	{`{"usage":{"prompt_tokens_details":{"cached_tokens":1},"prompt_tokens_details":null}}`, `{"usage":{"prompt_tokens_details":[1],"completion_tokens_details":"x"}}`},
	{`{"usage":{"prompt_tokens":-1,"completion_tokens":1.5,"prompt_cache_hit_tokens":"7"},"usage":{"prompt_tokens":2}}`, `{"usage":null}`},
	{`{"x_groq":{"usage":{"prompt_tokens":4}},"x_groq":{"id":"q"},"prompt_eval_count":9}`, `{"error":{"type":"t","message":"m"},"error":null}`},
	{`{"model":"a","model":"","id":3,"error":"boom","usage":{"cost":-1,"cost":1e400}}`, `{"model":"b","usage":{"completion_tokens_details":{"audio_tokens":1,"audio_tokens":null}}}`},
}

// FuzzMembers holds the one-walk object and readUsage to the get-based
// reading they replace: after the same two documents, the meter and the
// format hold the same.
func FuzzMembers(f *testing.F) {
	for _, s := range membersSeeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		walk, byGet := newTestMeter(chatEP, "application/json", Request{}), newTestMeter(chatEP, "application/json", Request{})
		fw, fg := walk.f.(*openAIFormat), byGet.f.(*openAIFormat)
		var pw, pg fastjson.Parser
		for _, doc := range [][]byte{a, b} {
			vw, err := pw.ParseBytes(doc)
			if err != nil {
				return
			}
			vg, _ := pg.ParseBytes(doc)
			fw.object(walk, vw)
			fg.objectByGet(byGet, vg)
		}
		if !bytes.Equal(walk.model, byGet.model) || !bytes.Equal(walk.respID, byGet.respID) || walk.failed != byGet.failed ||
			!bytes.Equal(walk.errType, byGet.errType) || !bytes.Equal(walk.errMsg, byGet.errMsg) {
			t.Fatalf("meter: walk %q %q %v %q %q, get %q %q %v %q %q", walk.model, walk.respID, walk.failed, walk.errType, walk.errMsg,
				byGet.model, byGet.respID, byGet.failed, byGet.errType, byGet.errMsg)
		}
		cw, cg := fw.all(), fg.all()
		for i := range cw {
			if *cw[i] != *cg[i] {
				t.Fatalf("count %d: walk %+v, get %+v", i, *cw[i], *cg[i])
			}
		}
		if fw.cost != fg.cost || fw.costOK != fg.costOK || !bytes.Equal(fw.raw.b, fg.raw.b) {
			t.Fatalf("walk cost %v %v raw %q, get cost %v %v raw %q", fw.cost, fw.costOK, fw.raw.b, fg.cost, fg.costOK, fg.raw.b)
		}
	})
}
