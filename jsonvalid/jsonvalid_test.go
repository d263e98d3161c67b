package jsonvalid

import (
	"encoding/json"
	"strings"
	"testing"
)

// cases are documents Valid must judge as json.Valid does: usage objects
// as providers send them, and the ways one can be broken.
var cases = []string{
	`{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0}}`,
	`{"input_tokens":1,"output_tokens":-0,"service_tier":"standard","server_tool_use":{"web_search_requests":1.5e3}}`,
	`{"a":[1,2.0,-3e-2,true,false,null,"\u00e9\n\"\\"]}`,
	` {"a": 1} `, `[]`, `{}`, `0`, `"s"`, `null`,
	`{"prompt_tokens":12,"completion_tokens":3`, // truncated
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":+1}`, `{"a":-}`,
	`{"a":1,}`, `{"a" 1}`, `{a:1}`, `{'a':1}`, `{"a":1}}`, `{"a":1} x`,
	`{"a":"\x01"}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":"é日本"}`, "{\"a\":\"\xff\"}",
	"\"\x02\\b\"", "{\"a\":\"\t\"}", "{\"a\":\t1}", // control characters, in and out of strings
	`{"a":tru}`, `{"a":nul}`, `{"a":NaN}`, ``, ` `, "{\"a\":1}\x00",
	"{\"a\\u0000\":1}", `{"\"\\\/\b\f\n\r\t":1}`, `{"a":1e400}`, `{"a":Infinity}`, // as fastjson re-encodes keys and numbers
}

// TestValid guards every check of a usage object: Valid agrees with
// json.Valid on every case, so what was kept before is kept still, and a
// broken object is still refused.
func TestValid(t *testing.T) {
	t.Parallel()
	for _, in := range cases {
		if got, want := Valid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", in, got, want)
		}
	}
}

// FuzzValid: Valid and json.Valid agree on any input nested less deeply
// than json.Valid's limit of 10,000 levels.
func FuzzValid(f *testing.F) {
	for _, in := range cases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if strings.Count(string(in), "[")+strings.Count(string(in), "{") > 10_000 {
			return
		}
		if got, want := Valid(in), json.Valid(in); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid says %v", in, got, want)
		}
	})
}

// BenchmarkValid compares Valid with json.Valid on an OpenAI usage object.
func BenchmarkValid(b *testing.B) {
	raw := []byte(`{"prompt_tokens":1234,"completion_tokens":567,"total_tokens":1801,"prompt_tokens_details":{"cached_tokens":512,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":64,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
	for _, bc := range []struct {
		name  string
		valid func([]byte) bool
	}{{"Valid", Valid}, {"json.Valid", json.Valid}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if !bc.valid(raw) {
					b.Fatal("valid usage judged invalid")
				}
			}
		})
	}
}
