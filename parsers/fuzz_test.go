package parsers

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/valohai/conduit/wsframe"

	"github.com/valyala/fastjson"
)

// contentTypes are the framings a fuzzed body is read with.
var contentTypes = []string{"text/event-stream", "application/json", "application/x-ndjson", "", eventStreamCT}

// checkMeter runs one fuzz input: the same Result whatever the split, with
// small caps (so oversize paths run) and default caps, no negative or
// inconsistent count, and a Raw that is valid JSON.
func checkMeter(t *testing.T, ep Endpoint, body []byte, ctSel uint8, seed uint64) {
	ct := contentTypes[int(ctSel)%len(contentTypes)]
	for _, c := range []meterCase{
		{ep: ep, ct: ct},
		{ep: ep, ct: ct, headCap: 96, tailCap: 32, eventCap: 64},
	} {
		whole := feed(c, [][]byte{body}, true)
		split := feed(c, splitRandom(body, rand.New(rand.NewPCG(seed, 3))), true)
		bytewise := feed(c, splitEvery(body, 1), true)
		for name, r := range map[string]Result{"split": split, "1-byte": bytewise} {
			if resultString(r) != resultString(whole) || !bytes.Equal(r.Raw, whole.Raw) {
				t.Fatalf("caps %d/%d: %s differs\n got %s raw %s\nwhole %s raw %s",
					c.headCap, c.eventCap, name, resultString(r), r.Raw, resultString(whole), whole.Raw)
			}
		}
		u := whole.Usage
		for _, n := range []int64{u.InputTokens, u.CachedInputTokens, u.CacheWriteTokens, u.CacheWrite5mTokens,
			u.CacheWrite1hTokens, u.OutputTokens, u.ReasoningTokens,
			u.AudioInputTokens, u.AudioOutputTokens, u.ImageInputTokens, u.ImageOutputTokens} {
			if n < 0 {
				t.Fatalf("negative count: %s", resultString(whole))
			}
		}
		if u.ReasoningTokens > u.OutputTokens || u.AudioOutputTokens+u.ImageOutputTokens > u.OutputTokens {
			t.Fatalf("a share above output: %s", resultString(whole))
		}
		if u.Iterations != nil {
			var in, out int64
			for _, it := range u.Iterations {
				in, out = in+it.InputTokens, out+it.OutputTokens
				if it.CachedInputTokens+it.CacheWriteTokens > it.InputTokens {
					t.Fatalf("iteration cache above its input: %s", resultString(whole))
				}
			}
			if in != u.InputTokens || out != u.OutputTokens {
				t.Fatalf("iterations do not sum to the totals: %s", resultString(whole))
			}
		}
		if !u.Seen && (u.InputTokens|u.OutputTokens|u.CachedInputTokens) != 0 {
			t.Fatalf("counts without Seen: %s", resultString(whole))
		}
		if u.Raw != nil && !json.Valid(u.Raw) {
			t.Fatalf("raw usage is not JSON: %q", u.Raw)
		}
		if u.ProviderCostUSD != nil && *u.ProviderCostUSD < 0 {
			t.Fatalf("negative cost")
		}
	}
}

func addSeeds(f *testing.F, bodies ...string) {
	for i, b := range bodies {
		f.Add([]byte(b), uint8(i), uint64(i))
	}
}

func FuzzMeterOpenAI(f *testing.F) {
	addSeeds(f,
		sseBody(chunk(`"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":1}}`), "data: [DONE]"),
		`{"id":"c","model":"m","usage":{"prompt_tokens":1.0,"completion_tokens":2,"cost":0.5,"prompt_cache_hit_tokens":1}}`,
		sseBody(`data: {"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4}}}`, "event: error\ndata: {\"error\":{\"type\":\"t\",\"message\":\"m\"}}"),
		`[{"usage":{"prompt_tokens":1}},{"error":{"code":5}}]`,
	)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, seed uint64) { checkMeter(t, chatEP, body, ct, seed) })
}

func FuzzMeterResponses(f *testing.F) {
	addSeeds(f,
		sseBody(append(respStream(), respEvent("response.completed", `{"type":"response.completed","response":{"id":"r","model":"m",`+respUsage+`}}`))...),
		`{"id":"r","model":"m","status":"failed","error":{"code":"x","message":"y"},`+respUsage+`}`,
		sseBody(respEvent("error", `{"type":"error","code":"c","message":"m"}`), respEvent("response.failed", `{"response":{"error":{"code":1}}}`)),
	)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, seed uint64) { checkMeter(t, respEP, body, ct, seed) })
}

func FuzzMeterAnthropic(f *testing.F) {
	addSeeds(f,
		`{"type":"message","model":"c","usage":{"input_tokens":5,"output_tokens":1,"iterations":[{"type":"compaction","input_tokens":180000,"output_tokens":3500},{"type":"advisor_message","model":"a","input_tokens":5,"cache_read_input_tokens":9,"output_tokens":1}]}}`,
		sseBody(anthEvent("content_block_start", `{"type":"content_block_start","content_block":{"type":"fallback","to":{"model":"x"}}}`)),
		anthStream(anthStart(`{"input_tokens":2679,"cache_creation_input_tokens":1200,"cache_read_input_tokens":8000,"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":1000},"output_tokens":3}`),
			anthEvent("message_delta", `{"type":"message_delta","usage":{"output_tokens":600,"output_tokens_details":{"thinking_tokens":9}}}`),
			anthEvent("message_stop", `{"type":"message_stop"}`)),
		`{"id":"m","type":"message","model":"c","usage":{"input_tokens":3,"cache_creation_input_tokens":2051,"output_tokens":20}}`,
		sseBody(anthEvent("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)),
	)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, seed uint64) { checkMeter(t, msgEP, body, ct, seed) })
}

func FuzzMeterGemini(f *testing.F) {
	var crlf bytes.Buffer
	for _, c := range geminiChunks {
		crlf.WriteString("data: " + c + "\r\n\r\n")
	}
	addSeeds(f,
		crlf.String(),
		"["+geminiChunks[0]+",\r\n"+geminiChunks[2]+"]",
		`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":8,"toolUsePromptTokenCount":2}}`,
		`[{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}]`,
	)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, seed uint64) { checkMeter(t, genSSEEP, body, ct, seed) })
}

func FuzzMeterOllama(f *testing.F) {
	addSeeds(f,
		ndjson(`{"model":"llama3.2","message":{"content":"The"},"done":false}`,
			`{"model":"llama3.2","done":true,"prompt_eval_count":26,"eval_count":282,"eval_duration":1,"prompt_eval_cached_count":3}`),
		`{"error":"model not found"}`,
		`{"model":"m","done":true,"weird\"_count":1}`,
	)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, seed uint64) { checkMeter(t, ollamaChatEP, body, ct, seed) })
}

// FuzzInjectStreamUsage checks that the rewrite only adds bytes (or turns a
// null into the new value), always yields JSON whose first stream_options
// has include_usage true, and never touches its input.
func FuzzInjectStreamUsage(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","stream":true,"messages":[]}`,
		`{"stream":true,"stream_options":{"x":1}}`,
		`{"stream":true,"stream_options":null}`,
		`{"stream":true,"stream_options":{"include_usage":null}}`,
		`{"stream":true,"stream_options":{ }}`,
		"{\"stream\":true,\"stream\\u005foptions\":{}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out, ok := InjectStreamUsage(chatEP, in)
		if !bytes.Equal(in, orig) {
			t.Fatal("input modified")
		}
		if !ok {
			if !bytes.Equal(out, in) {
				t.Fatal("not ok but body changed")
			}
			return
		}
		var p fastjson.Parser
		v, err := p.ParseBytes(out)
		if err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		if iu := v.Get("stream_options", "include_usage"); iu == nil || iu.Type() != fastjson.TypeTrue {
			t.Fatalf("include_usage not set: %s", out)
		}
		if !isSubsequence(in, out) && !nullReplaced(in, out) {
			t.Fatalf("bytes lost:\n in %s\nout %s", in, out)
		}
	})
}

// isSubsequence reports whether a's bytes all appear in b, in order.
func isSubsequence(a, b []byte) bool {
	i := 0
	for _, c := range b {
		if i < len(a) && a[i] == c {
			i++
		}
	}
	return i == len(a)
}

// nullReplaced reports whether out is in with one "null" token replaced by
// the injected object or by true.
func nullReplaced(in, out []byte) bool {
	for off := 0; ; {
		i := bytes.Index(in[off:], []byte("null"))
		if i < 0 {
			return false
		}
		i += off
		for _, r := range []string{`{"include_usage":true}`, `true`} {
			cand := append(append(append([]byte{}, in[:i]...), r...), in[i+4:]...)
			if bytes.Equal(cand, out) {
				return true
			}
		}
		off = i + 1
	}
}

func FuzzMeterBedrockInvoke(f *testing.F) {
	addSeeds(f,
		bedrockAnthropicStream(true), bedrockAnthropicStream(false)+esException("modelStreamErrorException", `{"message":"x"}`),
		esChunk(`{"generation":"Hi","amazon-bedrock-invocationMetrics":{"inputTokenCount":31,"outputTokenCount":2,"cacheReadInputTokenCount":4}}`),
		`{"id":"m","type":"message","model":"claude","usage":{"input_tokens":3,"cache_read_input_tokens":2,"output_tokens":20}}`,
		`{"message":"bad"}`,
		// Broken framing after good messages: a flipped payload byte (the
		// message CRC), a cut message, a header of no known type behind
		// right CRCs.
		corruptAt(bedrockAnthropicStream(true), len(bedrockAnthropicStream(false))+40),
		bedrockAnthropicStream(false)+esChunk(`{"type":"message_stop"}`)[:50],
		bedrockAnthropicStream(false)+rawEventStream([]byte{5, 'x', '-', 'a', 'b', 'c', 42}, []byte(`{}`)),
	)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, seed uint64) { checkMeter(t, invokeStreamEP, body, ct, seed) })
}

// corruptAt returns s with byte i flipped.
func corruptAt(s string, i int) string {
	b := []byte(s)
	b[i] ^= 0x20
	return string(b)
}

// rawEventStream is one event-stream message of any header block, its
// lengths and CRCs right.
func rawEventStream(headers, payload []byte) string {
	b := binary.BigEndian.AppendUint32(nil, uint32(16+len(headers)+len(payload)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(headers)))
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	b = append(append(b, headers...), payload...)
	return string(binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b)))
}

func FuzzMeterBedrockConverse(f *testing.F) {
	addSeeds(f,
		esEvent("messageStart", `{"role":"assistant"}`)+esEvent("messageStop", `{"stopReason":"end_turn"}`)+
			esEvent("metadata", `{"usage":{"inputTokens":12,"outputTokens":30,"cacheReadInputTokens":1000,"cacheWriteInputTokens":500,"cacheDetails":[{"inputTokens":400,"ttl":"1h"}]}}`),
		`{"output":{},"usage":{"inputTokens":1,"outputTokens":1,"cacheDetails":[{"inputTokens":7,"ttl":"5m"},{"inputTokens":1e3,"ttl":"1h"}]}}`,
		esException("throttlingException", `{"message":"slow"}`),
	)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, seed uint64) { checkMeter(t, converseStrEP, body, ct, seed) })
}

// fuzzStep reads a fuzzer's script: lines, each a message from the client
// ("c…"), from the server ("s…") or a server close ("x…", its code from the
// next two bytes).
func fuzzSteps(script []byte) []step {
	var out []step
	for i, line := range bytes.Split(script, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		data := string(line[1:])
		switch line[0] {
		case 'c':
			out = append(out, c(i, data))
		case 'x':
			code, reason := 1000, ""
			if len(line) >= 3 {
				code, reason = int(line[1])<<8|int(line[2]), string(line[3:min(len(line), 3+123)])
			}
			out = append(out, step{n: i, close: code, data: reason})
		default:
			out = append(out, s(i, data))
		}
	}
	return out
}

// FuzzMessageMeter feeds scripts of WebSocket messages to each WebSocket
// meter: nothing panics, no count is negative, results are numbered in
// order with their times in order, and the same messages sent as frames
// through the frame readers, cut at random, give the same results.
func FuzzMessageMeter(f *testing.F) {
	const u = `"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":60},"output_tokens":20}`
	for i, sc := range []string{
		"c{\"type\":\"response.create\",\"model\":\"m\",\"generate\":false}\ns{\"type\":\"response.created\",\"response\":{\"id\":\"a\"}}\ns{\"type\":\"response.completed\",\"response\":{\"id\":\"a\"," + u + "}}",
		"c{\"type\":\"response.create\"}\ns{\"type\":\"error\",\"error\":{\"code\":\"x\",\"message\":\"y\"}}\nc{\"type\":\"response.create\"}",
		"s{\"type\":\"session.created\",\"session\":{\"model\":\"gpt-realtime\",\"audio\":{\"input\":{\"transcription\":{\"model\":\"t\"}}}}}\nc{\"type\":\"response.create\",\"event_id\":\"e\"}\ns{\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\ns{\"type\":\"response.done\",\"response\":{\"id\":\"r\",\"status\":\"failed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1,\"input_token_details\":{\"audio_tokens\":9}}}}",
		"s{\"type\":\"conversation.item.input_audio_transcription.completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":3}}\ns{\"type\":\"error\",\"error\":{\"event_id\":\"e\"}}",
		"c{\"setup\":{\"model\":\"models/g\"}}\nc{\"clientContent\":{\"turnComplete\":true}}\ns{\"serverContent\":{\"modelTurn\":{}}}\ns{\"serverContent\":{\"turnComplete\":true}}\ns{\"usageMetadata\":{\"promptTokenCount\":9,\"responseTokenCount\":2,\"responseTokensDetails\":[{\"modality\":\"AUDIO\",\"tokenCount\":2}]}}\nx\x03\xf3",
	} {
		f.Add([]byte(sc), uint8(i), uint64(i))
	}
	kinds := []Endpoint{respWSEP, realtimeEP, liveEP}
	f.Fuzz(func(t *testing.T, in []byte, kind uint8, seed uint64) {
		ep := kinds[int(kind)%len(kinds)]
		steps := fuzzSteps(in)
		direct := script(ep, steps, len(steps)+1)
		got := framedScript(ep, steps, len(steps)+1, rand.New(rand.NewPCG(seed, 5)))
		if fmt.Sprint(got) != fmt.Sprint(direct) {
			t.Fatalf("through frames:\n got %v\nwant %v", got, direct)
		}
		var full []MessageResult
		mm := NewMessageMeter(ep, func(r MessageResult) { full = append(full, r) })
		mm.keepPanics = true
		for _, st := range steps {
			msg := &wsframe.Message{Opcode: wsframe.OpText, Data: []byte(st.data)}
			switch {
			case st.close != 0:
				mm.ServerMessage(&wsframe.Message{Opcode: wsframe.OpClose, CloseCode: st.close, CloseReason: []byte(st.data)}, at(st.n))
			case st.client:
				mm.ClientMessage(msg, at(st.n))
			default:
				mm.ServerMessage(msg, at(st.n))
			}
		}
		mm.Finish(at(len(steps) + 1))
		if len(full) > len(steps) {
			t.Fatalf("%d results from %d messages", len(full), len(steps))
		}
		for i, r := range full {
			u := r.Usage
			for _, n := range []int64{u.InputTokens, u.CachedInputTokens, u.CacheWriteTokens, u.OutputTokens, u.ReasoningTokens,
				u.AudioInputTokens, u.AudioOutputTokens, u.ImageInputTokens, u.ImageOutputTokens} {
				if n < 0 {
					t.Fatalf("negative count: %s", resultString(r.Result))
				}
			}
			if u.ReasoningTokens > u.OutputTokens || u.AudioOutputTokens+u.ImageOutputTokens > u.OutputTokens ||
				(u.InputTokens > 0 && u.CachedInputTokens > u.InputTokens) {
				t.Fatalf("a share above its total: %s", resultString(r.Result))
			}
			if r.Seq != i+1 || r.Start.After(r.FirstByte) || r.FirstByte.After(r.End) {
				t.Fatalf("result %d: seq %d, times %v %v %v", i, r.Seq, r.Start, r.FirstByte, r.End)
			}
			if u.Raw != nil && !json.Valid(u.Raw) {
				t.Fatalf("raw usage is not JSON: %q", u.Raw)
			}
		}
	})
}

// framedScript runs steps as frames through a reader per direction, each
// frame cut at random, into a MessageMeter.
func framedScript(ep Endpoint, steps []step, finish int, rng *rand.Rand) []res {
	var out []res
	mm := NewMessageMeter(ep, func(r MessageResult) { out = append(out, resOf(r)) })
	mm.keepPanics = true
	var now time.Time
	client := wsframe.NewReader(wsframe.FromClient, func(m *wsframe.Message) { mm.ClientMessage(m, now) }, wsframe.Options{})
	server := wsframe.NewReader(wsframe.FromServer, func(m *wsframe.Message) { mm.ServerMessage(m, now) }, wsframe.Options{})
	for _, st := range steps {
		now = at(st.n)
		r, frame := server, wsFrame(false, []byte(st.data))
		switch {
		case st.close != 0:
			frame = append([]byte{0x88, byte(2 + len(st.data)), byte(st.close >> 8), byte(st.close)}, st.data...)
		case st.client:
			r, frame = client, wsFrame(true, []byte(st.data))
		}
		for _, p := range splitRandom(frame, rng) {
			r.Write(p)
		}
	}
	mm.Finish(at(finish))
	return out
}
