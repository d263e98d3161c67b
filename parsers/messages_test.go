package parsers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/wsframe"
)

// t0 is the time of a script's first message; step n is t0 + n seconds.
var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// step is one message of a script: from the client or the server, at
// second n. A close step is a server close frame.
type step struct {
	client bool
	data   string
	n      int
	close  int // a server close frame with this code
	// head, when set, makes the message oversize: data is then its tail.
	head string
}

func c(n int, data string) step { return step{client: true, data: data, n: n} }
func s(n int, data string) step { return step{data: data, n: n} }

// res is a MessageResult in a comparable form.
type res struct {
	r                 string
	start, first, end int
	seq               int
	prewarm           bool
}

func resOf(r MessageResult) res {
	r.Raw = nil
	return res{r: resultString(r.Result), start: int(r.Start.Sub(t0) / time.Second), first: int(r.FirstByte.Sub(t0) / time.Second),
		end: int(r.End.Sub(t0) / time.Second), seq: r.Seq, prewarm: r.Prewarm}
}

func (r res) String() string {
	return fmt.Sprintf("#%d start=%d first=%d end=%d prewarm=%v %s", r.seq, r.start, r.first, r.end, r.prewarm, r.r)
}

// want builds an expected res.
func want(seq, start, first, end int, prewarm bool, r Result) res {
	return res{r: resultString(r), start: start, first: first, end: end, seq: seq, prewarm: prewarm}
}

// script runs steps through a fresh MessageMeter and finishes it at
// second finish.
func script(ep Endpoint, steps []step, finish int) []res {
	var out []res
	mm := NewMessageMeter(ep, func(r MessageResult) { out = append(out, resOf(r)) })
	mm.keepPanics = true
	for _, st := range steps {
		msg := &wsframe.Message{Opcode: wsframe.OpText, Data: []byte(st.data), Size: int64(len(st.data))}
		if st.head != "" {
			msg.Head, msg.Oversize = []byte(st.head), true
		}
		switch {
		case st.close != 0:
			mm.ServerMessage(&wsframe.Message{Opcode: wsframe.OpClose, CloseCode: st.close, CloseReason: []byte(st.data)}, at(st.n))
		case st.client:
			mm.ClientMessage(msg, at(st.n))
		default:
			mm.ServerMessage(msg, at(st.n))
		}
	}
	mm.Finish(at(finish))
	mm.Finish(at(finish + 1)) // idempotent
	return out
}

func checkScript(t *testing.T, ep Endpoint, steps []step, finish int, wantRes []res) {
	t.Helper()
	got := script(ep, steps, finish)
	if fmt.Sprint(got) != fmt.Sprint(wantRes) {
		t.Errorf("results:\n got %v\nwant %v", got, wantRes)
	}
}

var respWSEP = Endpoint{API: OpenAI, Kind: Responses, WebSocket: true}

// wsResp is a Responses event as a WebSocket message.
func wsResp(typ, response string) string {
	return `{"type":"` + typ + `","sequence_number":0,"response":` + response + `}`
}

func TestMessageMeterResponses(t *testing.T) {
	t.Parallel()
	const u1 = `"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":60},"output_tokens":20,"output_tokens_details":{"reasoning_tokens":5}}`
	const zero = `"usage":{"input_tokens":0,"input_tokens_details":{"cached_tokens":0},"output_tokens":0,"output_tokens_details":{"reasoning_tokens":0}}`
	create := func(model, extra string) string {
		return `{"type":"response.create","model":"` + model + `","input":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	delta := `{"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1","delta":"Hi"}`
	full := Result{Usage: usage(100, 60, 0, 20, 5), Model: "gpt-5.5-2026-04-01", ResponseID: "resp_2", Terminal: true}
	tests := []struct {
		name   string
		steps  []step
		finish int
		want   []res
	}{
		{
			name: "prewarm then a turn",
			steps: []step{
				c(1, create("gpt-5.5", `,"generate":false`)),
				s(2, wsResp("response.created", `{"id":"resp_1","model":"gpt-5.5-2026-04-01","usage":null}`)),
				s(3, wsResp("response.completed", `{"id":"resp_1","model":"gpt-5.5-2026-04-01",`+zero+`}`)),
				c(4, create("gpt-5.5", `,"previous_response_id":"resp_1"`)),
				s(6, wsResp("response.created", `{"id":"resp_2","model":"gpt-5.5-2026-04-01","usage":null}`)),
				s(7, delta),
				s(9, wsResp("response.completed", `{"id":"resp_2","model":"gpt-5.5-2026-04-01",`+u1+`}`)),
			},
			finish: 10,
			want: []res{
				want(1, 1, 2, 3, true, Result{Usage: Usage{Seen: true}, Model: "gpt-5.5-2026-04-01", ResponseID: "resp_1", Terminal: true}),
				want(2, 4, 6, 9, false, full),
			},
		},
		{
			name: "incomplete and failed responses",
			steps: []step{
				c(1, create("gpt-5", "")),
				s(2, wsResp("response.created", `{"id":"r1","model":"gpt-5","usage":null}`)),
				s(3, wsResp("response.incomplete", `{"id":"r1","model":"gpt-5","incomplete_details":{"reason":"max_output_tokens"},`+u1+`}`)),
				c(4, create("gpt-5", "")),
				s(5, wsResp("response.created", `{"id":"r2","model":"gpt-5","usage":null}`)),
				s(6, wsResp("response.failed", `{"id":"r2","model":"gpt-5","error":{"code":"server_error","message":"boom"},"usage":null}`)),
			},
			finish: 7,
			want: []res{
				want(1, 1, 2, 3, false, Result{Usage: usage(100, 60, 0, 20, 5), Model: "gpt-5", ResponseID: "r1", Terminal: true}),
				want(2, 4, 5, 6, false, Result{Model: "gpt-5", ResponseID: "r2", Terminal: true, Failed: true, ErrorType: "server_error", ErrorMessage: "boom"}),
			},
		},
		{
			name: "an in-band error before the response began",
			steps: []step{
				c(1, create("gpt-nope", "")),
				s(2, `{"type":"error","status":400,"error":{"type":"invalid_request_error","code":"model_not_found","message":"The model gpt-nope does not exist."}}`),
				c(3, create("gpt-5", "")),
				s(4, wsResp("response.created", `{"id":"r3","model":"gpt-5","usage":null}`)),
				s(5, wsResp("response.completed", `{"id":"r3","model":"gpt-5",`+u1+`}`)),
			},
			finish: 6,
			want: []res{
				want(1, 1, 2, 2, false, Result{Model: "gpt-nope", Failed: true, ErrorType: "model_not_found", ErrorMessage: "The model gpt-nope does not exist."}),
				want(2, 3, 4, 5, false, Result{Usage: usage(100, 60, 0, 20, 5), Model: "gpt-5", ResponseID: "r3", Terminal: true}),
			},
		},
		{
			name: "an error mid-response ends it",
			steps: []step{
				c(1, create("gpt-5", "")),
				s(2, wsResp("response.created", `{"id":"r1","model":"gpt-5","usage":null}`)),
				s(3, delta),
				s(4, `{"type":"error","code":"rate_limit_exceeded","message":"slow down"}`),
			},
			finish: 5,
			want: []res{
				want(1, 1, 2, 4, false, Result{Model: "gpt-5", ResponseID: "r1", Failed: true, ErrorType: "rate_limit_exceeded", ErrorMessage: "slow down"}),
			},
		},
		{
			name: "connection closed mid-response, and a request never answered",
			steps: []step{
				c(1, create("gpt-5", "")),
				s(2, wsResp("response.created", `{"id":"r1","model":"gpt-5","usage":null}`)),
				s(3, delta),
				c(4, create("gpt-5-mini", "")),
			},
			finish: 8,
			want: []res{
				want(1, 1, 2, 8, false, Result{Model: "gpt-5", ResponseID: "r1"}),
				want(2, 4, 8, 8, false, Result{Model: "gpt-5-mini"}),
			},
		},
		{
			name: "server close with an error code fails the open response; nothing after it counts",
			steps: []step{
				c(1, create("gpt-5", "")),
				s(2, wsResp("response.created", `{"id":"r1","model":"gpt-5","usage":null}`)),
				{n: 3, close: 1011, data: "internal error"},
				s(4, wsResp("response.completed", `{"id":"r1","model":"gpt-5",`+u1+`}`)),
			},
			finish: 4,
			want: []res{
				want(1, 1, 2, 3, false, Result{Model: "gpt-5", ResponseID: "r1", Failed: true, ErrorType: "websocket_close_1011", ErrorMessage: "internal error"}),
			},
		},
		{
			name: "pipelined requests keep their own start and model",
			steps: []step{
				c(1, create("gpt-5", "")),
				c(2, create("gpt-5-mini", "")),
				s(3, `{"type":"response.created","response":{"id":"a","usage":null}}`),
				s(4, `{"type":"response.completed","response":{"id":"a",`+u1+`}}`),
				s(5, `{"type":"response.created","response":{"id":"b","usage":null}}`),
				s(6, `{"type":"response.completed","response":{"id":"b",`+u1+`}}`),
			},
			finish: 7,
			want: []res{
				want(1, 1, 3, 4, false, Result{Usage: usage(100, 60, 0, 20, 5), Model: "gpt-5", ResponseID: "a", Terminal: true}),
				want(2, 2, 5, 6, false, Result{Usage: usage(100, 60, 0, 20, 5), Model: "gpt-5-mini", ResponseID: "b", Terminal: true}),
			},
		},
		{
			name: "oversize terminal event: type from its head, usage from its tail",
			steps: []step{
				c(1, create("gpt-5", "")),
				s(2, wsResp("response.created", `{"id":"r1","model":"gpt-5","usage":null}`)),
				{n: 3, head: `{"type":"response.completed","sequence_number":9,"response":{"id":"r1","model":"gpt-5","output":[{"text":"aaaa`,
					data: `aaaaaaa"}],` + u1 + `,"user":null}}`},
			},
			finish: 4,
			want: []res{
				want(1, 1, 2, 3, false, Result{Usage: usage(100, 60, 0, 20, 5), Model: "gpt-5", ResponseID: "r1", Terminal: true}),
			},
		},
		{
			name: "oversize request: model from its head",
			steps: []step{
				{client: true, n: 1, head: `{"type":"response.create","model":"gpt-5-codex","input":[{"role":"user","content":"` + strings.Repeat("x", 50), data: `xxx"}]}`},
				s(2, `{"type":"response.created","response":{"id":"a","usage":null}}`),
				s(3, `{"type":"response.completed","response":{"id":"a",`+u1+`}}`),
			},
			finish: 4,
			want: []res{
				want(1, 1, 2, 3, false, Result{Usage: usage(100, 60, 0, 20, 5), Model: "gpt-5-codex", ResponseID: "a", Terminal: true}),
			},
		},
		{
			name: "noise is ignored",
			steps: []step{
				c(1, `{"type":"response.processed","response_id":"x"}`),
				c(2, `not json`),
				s(3, `{"type":"codex.rate_limits","primary":{"used_percent":3}}`),
				s(4, `[1,2]`),
			},
			finish: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkScript(t, respWSEP, tt.steps, tt.finish, tt.want) })
	}
}

var realtimeEP = Endpoint{API: OpenAI, Kind: Realtime, Model: "gpt-realtime", WebSocket: true}

func TestMessageMeterRealtime(t *testing.T) {
	t.Parallel()
	const rtUsage = `{"total_tokens":1346,"input_tokens":1186,"output_tokens":160,"input_token_details":{"text_tokens":186,"audio_tokens":1000,"image_tokens":0,"cached_tokens":64,"cached_tokens_details":{"text_tokens":64,"audio_tokens":0,"image_tokens":0}},"output_token_details":{"text_tokens":40,"audio_tokens":120}}`
	rtResult := Result{Usage: Usage{Seen: true, InputTokens: 1186, CachedInputTokens: 64, AudioInputTokens: 1000, OutputTokens: 160, AudioOutputTokens: 120},
		Model: "gpt-realtime-2025-08-28", ResponseID: "resp_A", Terminal: true}
	session := `{"type":"session.created","event_id":"event_1","session":{"type":"realtime","object":"realtime.session","id":"sess_1","model":"gpt-realtime-2025-08-28","audio":{"input":{"transcription":null}}}}`
	created := func(id string) string {
		return `{"type":"response.created","event_id":"e","response":{"object":"realtime.response","id":"` + id + `","status":"in_progress","usage":null}}`
	}
	done := func(id, status, extra, usage string) string {
		return `{"type":"response.done","event_id":"e","response":{"object":"realtime.response","id":"` + id + `","status":"` + status + `"` + extra + `,"usage":` + usage + `}}`
	}
	tests := []struct {
		name  string
		steps []step
		want  []res
	}{
		{
			name: "a response with audio, text and cached tokens",
			steps: []step{
				s(1, session),
				c(2, `{"type":"input_audio_buffer.append","audio":"AAAA"}`),
				c(3, `{"type":"response.create","event_id":"c1"}`),
				s(4, created("resp_A")),
				s(5, `{"type":"response.output_audio.delta","response_id":"resp_A","delta":"AAAA"}`),
				s(6, done("resp_A", "completed", "", rtUsage)),
			},
			want: []res{want(1, 3, 4, 6, false, rtResult)},
		},
		{
			name: "out-of-band responses side by side, a VAD response, a cancelled one",
			steps: []step{
				s(1, session),
				c(2, `{"type":"response.create","response":{"conversation":"none"}}`),
				s(3, created("resp_B")),
				s(4, created("resp_C")), // started by the server (VAD)
				s(5, done("resp_C", "cancelled", `,"status_details":{"type":"cancelled","reason":"turn_detected"}`, `{"input_tokens":10,"output_tokens":2}`)),
				s(6, done("resp_B", "completed", "", `{"input_tokens":7,"output_tokens":3}`)),
			},
			want: []res{
				want(1, 4, 4, 5, false, Result{Usage: usage(10, 0, 0, 2, 0), Model: "gpt-realtime-2025-08-28", ResponseID: "resp_C", Terminal: true}),
				want(2, 2, 3, 6, false, Result{Usage: usage(7, 0, 0, 3, 0), Model: "gpt-realtime-2025-08-28", ResponseID: "resp_B", Terminal: true}),
			},
		},
		{
			name: "failed response",
			steps: []step{
				c(1, `{"type":"response.create"}`),
				s(2, created("resp_F")),
				s(3, done("resp_F", "failed", `,"status_details":{"type":"failed","error":{"type":"server_error","code":"server_error","message":"The server had an error."}}`, `{"input_tokens":50,"output_tokens":4}`)),
			},
			want: []res{want(1, 1, 2, 3, false, Result{Usage: usage(50, 0, 0, 4, 0), Model: "gpt-realtime", ResponseID: "resp_F",
				Terminal: true, Failed: true, ErrorType: "server_error", ErrorMessage: "The server had an error."})},
		},
		{
			name: "transcription usage, to the transcription model",
			steps: []step{
				c(1, `{"type":"session.update","session":{"type":"realtime","audio":{"input":{"transcription":{"model":"gpt-4o-mini-transcribe"}}}}}`),
				s(2, `{"type":"session.updated","session":{"type":"realtime","model":"gpt-realtime","audio":{"input":{"transcription":{"model":"gpt-4o-transcribe"}}}}}`),
				s(3, `{"type":"conversation.item.input_audio_transcription.completed","item_id":"item_1","content_index":0,"transcript":"hello","usage":{"type":"tokens","input_tokens":14,"output_tokens":3,"total_tokens":17,"input_token_details":{"text_tokens":0,"audio_tokens":14}}}`),
				s(4, `{"type":"conversation.item.input_audio_transcription.completed","item_id":"item_2","content_index":0,"transcript":"x","usage":{"type":"duration","seconds":2.1}}`),
			},
			want: []res{
				want(1, 3, 3, 3, false, Result{Usage: Usage{Seen: true, InputTokens: 14, AudioInputTokens: 14, OutputTokens: 3}, Model: "gpt-4o-transcribe", Terminal: true}),
				want(2, 4, 4, 4, false, Result{Model: "gpt-4o-transcribe", Terminal: true}),
			},
		},
		{
			name: "an error for a response.create fails it; other errors do not",
			steps: []step{
				c(1, `{"type":"session.update","event_id":"c0","session":{"voice":"nope"}}`),
				s(2, `{"type":"error","event_id":"e1","error":{"type":"invalid_request_error","code":"invalid_value","message":"bad voice","param":"session.voice","event_id":"c0"}}`),
				c(3, `{"type":"response.create","event_id":"c1"}`),
				s(4, `{"type":"error","event_id":"e2","error":{"type":"invalid_request_error","code":"conversation_already_has_active_response","message":"busy","event_id":"c1"}}`),
			},
			want: []res{want(1, 3, 4, 4, false, Result{Model: "gpt-realtime", Failed: true, ErrorType: "invalid_request_error", ErrorMessage: "busy"})},
		},
		{
			name: "closed mid-response",
			steps: []step{
				s(1, session),
				s(2, created("resp_X")),
				s(3, `{"type":"response.output_text.delta","response_id":"resp_X","delta":"Hi"}`),
			},
			want: []res{want(1, 2, 2, 9, false, Result{Model: "gpt-realtime-2025-08-28", ResponseID: "resp_X"})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkScript(t, realtimeEP, tt.steps, 9, tt.want) })
	}
}

var liveEP = Endpoint{API: Gemini, Kind: Live, WebSocket: true}

func TestMessageMeterLive(t *testing.T) {
	t.Parallel()
	setup := `{"setup":{"model":"models/gemini-live-2.5-flash-preview","generationConfig":{"responseModalities":["AUDIO"]}}}`
	um := `"usageMetadata":{"promptTokenCount":120,"cachedContentTokenCount":20,"responseTokenCount":40,"thoughtsTokenCount":6,"toolUsePromptTokenCount":3,"totalTokenCount":169,"promptTokensDetails":[{"modality":"TEXT","tokenCount":90},{"modality":"AUDIO","tokenCount":30}],"responseTokensDetails":[{"modality":"AUDIO","tokenCount":40}]}`
	liveResult := Result{Usage: Usage{Seen: true, InputTokens: 123, CachedInputTokens: 20, OutputTokens: 46, ReasoningTokens: 6,
		AudioInputTokens: 30, AudioOutputTokens: 40}, Model: "gemini-live-2.5-flash-preview", Terminal: true}
	part := `{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AAAA"}}]}}}`
	tests := []struct {
		name  string
		steps []step
		want  []res
	}{
		{
			name: "two turns, usage on turnComplete",
			steps: []step{
				c(1, setup),
				s(2, `{"setupComplete":{}}`),
				c(3, `{"clientContent":{"turns":[{"role":"user","parts":[{"text":"hi"}]}],"turnComplete":true}}`),
				s(4, part),
				s(5, `{"serverContent":{"generationComplete":true}}`),
				s(6, `{"serverContent":{"turnComplete":true},`+um+`}`),
				c(7, `{"realtimeInput":{"audio":{"data":"AAAA","mimeType":"audio/pcm;rate=16000"}}}`),
				c(8, `{"realtimeInput":{"audioStreamEnd":true}}`),
				s(9, part),
				s(10, `{"serverContent":{"turnComplete":true},`+um+`}`),
			},
			want: []res{want(1, 3, 4, 6, false, liveResult), want(2, 8, 9, 10, false, liveResult)},
		},
		{
			name: "usage after turnComplete, running totals",
			steps: []step{
				c(1, setup),
				c(2, `{"realtimeInput":{"text":"hello"}}`),
				s(3, `{"serverContent":{"modelTurn":{"parts":[{"text":"Hi"}]}},"usageMetadata":{"promptTokenCount":5,"responseTokenCount":1}}`),
				s(4, `{"serverContent":{"turnComplete":true}}`),
				s(5, `{`+um+`}`),
				s(6, `{"serverContent":{"modelTurn":{"parts":[{"text":"again"}]}}}`),
				s(7, `{"serverContent":{"turnComplete":true}}`),
				s(8, `{"goAway":{"timeLeft":"10s"}}`),
			},
			want: []res{
				want(1, 2, 3, 4, false, liveResult),
				want(2, 6, 6, 7, false, Result{Model: "gemini-live-2.5-flash-preview", Terminal: true}),
			},
		},
		{
			name: "a turn without usage is reported at the next turn",
			steps: []step{
				c(1, setup),
				s(2, `{"serverContent":{"modelTurn":{"parts":[{"text":"A"}]}}}`),
				s(3, `{"serverContent":{"turnComplete":true}}`),
				s(4, `{"serverContent":{"modelTurn":{"parts":[{"text":"B"}]}},"usageMetadata":{"promptTokenCount":5,"responseTokenCount":1}}`),
				s(5, `{"serverContent":{"turnComplete":true}}`),
			},
			want: []res{
				want(1, 2, 2, 3, false, Result{Model: "gemini-live-2.5-flash-preview", Terminal: true}),
				want(2, 4, 4, 5, false, Result{Usage: usage(5, 0, 0, 1, 0), Model: "gemini-live-2.5-flash-preview", Terminal: true}),
			},
		},
		{
			name: "closed with an error mid-turn",
			steps: []step{
				c(1, `{"setup":{"model":"projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-live-preview-04-09"}}`),
				c(2, `{"clientContent":{"turnComplete":true}}`),
				s(3, part),
				{n: 4, close: 1011, data: "Internal error encountered."},
			},
			want: []res{want(1, 2, 3, 4, false, Result{Model: "gemini-2.0-flash-live-preview-04-09", Failed: true,
				ErrorType: "websocket_close_1011", ErrorMessage: "Internal error encountered."})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkScript(t, liveEP, tt.steps, 20, tt.want) })
	}
}

// TestMessageMeterNotMetered guards that a WebSocket endpoint that is not
// metered reports nothing.
func TestMessageMeterNotMetered(t *testing.T) {
	t.Parallel()
	got := script(Endpoint{API: OpenAI, WebSocket: true}, []step{c(1, `{"type":"response.create"}`), s(2, wsResp("response.completed", `{"usage":{"input_tokens":1}}`))}, 3)
	if len(got) != 0 {
		t.Errorf("results %v", got)
	}
}

// wsFrame encodes one unfragmented text frame, masked when client.
func wsFrame(client bool, payload []byte) []byte {
	b := []byte{0x81}
	var maskBit byte
	if client {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, maskBit|byte(n))
	case n <= 0xFFFF:
		b = append(b, maskBit|126, byte(n>>8), byte(n))
	default:
		b = append(b, maskBit|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if !client {
		return append(b, payload...)
	}
	key := [4]byte{1, 2, 3, 4}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// TestMessageMeter10000Responses guards a long connection: 10,000
// responses on one Responses WebSocket, through the frame readers, give
// 10,000 results with their own usage, while what the readers and the
// meter keep stays small.
func TestMessageMeter10000Responses(t *testing.T) {
	t.Parallel()
	const n = 10000
	var results []MessageResult
	mm := NewMessageMeter(respWSEP, func(r MessageResult) { results = append(results, r) })
	mm.keepPanics = true
	now := t0
	client := wsframe.NewReader(wsframe.FromClient, func(m *wsframe.Message) { mm.ClientMessage(m, now) }, wsframe.Options{})
	server := wsframe.NewReader(wsframe.FromServer, func(m *wsframe.Message) { mm.ServerMessage(m, now) }, wsframe.Options{})
	maxRetained := 0
	for i := range n {
		now = now.Add(time.Millisecond)
		client.Write(wsFrame(true, []byte(`{"type":"response.create","model":"gpt-5","input":"hello number `+fmt.Sprint(i)+`"}`)))
		id := fmt.Sprintf("resp_%d", i)
		server.Write(wsFrame(false, []byte(`{"type":"response.created","response":{"id":"`+id+`","model":"gpt-5","usage":null}}`)))
		for j := range 5 {
			server.Write(wsFrame(false, []byte(fmt.Sprintf(`{"type":"response.output_text.delta","item_id":"m","delta":" w%d"}`, j))))
		}
		server.Write(wsFrame(false, []byte(fmt.Sprintf(`{"type":"response.completed","response":{"id":"%s","model":"gpt-5","usage":{"input_tokens":%d,"output_tokens":5}}}`, id, 10+i%7))))
		if len(mm.open) > 1 || len(mm.pending) > 1 {
			t.Fatalf("response %d: %d open, %d pending", i, len(mm.open), len(mm.pending))
		}
		maxRetained = max(maxRetained, client.Retained()+server.Retained())
	}
	mm.Finish(now)
	if len(results) != n {
		t.Fatalf("%d results", len(results))
	}
	for i, r := range results {
		if r.InputTokens != int64(10+i%7) || r.OutputTokens != 5 || r.Seq != i+1 || r.ResponseID != fmt.Sprintf("resp_%d", i) || !r.Terminal {
			t.Fatalf("result %d: %s", i, resultString(r.Result))
		}
	}
	if maxRetained > 64<<10 {
		t.Errorf("the readers held up to %d bytes", maxRetained)
	}
}

// TestMessageMeterConcurrent guards that the relay's two directions may
// call the meter at once (run with -race): every response is reported once.
func TestMessageMeterConcurrent(t *testing.T) {
	t.Parallel()
	const n = 200
	results := 0
	mm := NewMessageMeter(respWSEP, func(MessageResult) { results++ })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			mm.ClientMessage(&wsframe.Message{Opcode: wsframe.OpText, Data: []byte(`{"type":"response.create","model":"gpt-5"}`)}, t0)
		}
	}()
	for i := range n {
		mm.ServerMessage(&wsframe.Message{Opcode: wsframe.OpText, Data: []byte(wsResp("response.created", fmt.Sprintf(`{"id":"r%d"}`, i)))}, t0)
		mm.ServerMessage(&wsframe.Message{Opcode: wsframe.OpText, Data: []byte(wsResp("response.completed", fmt.Sprintf(`{"id":"r%d","usage":{"input_tokens":1}}`, i)))}, t0)
	}
	<-done
	mm.Finish(t0)
	// Every server response is one result; requests not matched by one
	// (they arrived after the responses) are reported at Finish, at most
	// maxPending of them.
	if results < n || results > n+maxPending {
		t.Errorf("%d results for %d responses", results, n)
	}
}
