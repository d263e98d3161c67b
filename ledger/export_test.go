package ledger

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExportJSONLGolden pins one exported line byte for byte: field names
// and order, null for unknowns, {} and [] for none.
func TestExportJSONLGolden(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	full := sampleRecord(1)
	full.StartedAt = baseTime.Add(123 * time.Millisecond)
	full.Project, full.Session, full.ConnectionID = "web", "s-1", "ws-7"
	full.PriceVersion, full.CostNote = "2026-11-01", "audio output unpriced"
	full.Detail = &UsageDetail{AudioOutputTokens: 40,
		Iterations: []Iteration{{Type: "compaction", InputTokens: 900, OutputTokens: 100}}}
	bare := Record{
		ID: "bare", StartedAt: baseTime.Add(time.Hour), FinishedAt: baseTime.Add(time.Hour),
		Provider: "anthropic", API: "anthropic", Mode: ModeForward, Method: "POST",
		Host: "api.anthropic.com", Path: "/v1/messages", Outcome: OutcomeUpstreamError,
		Duration: 42 * time.Millisecond,
	}
	mustInsert(t, db, bare, full)
	var buf bytes.Buffer
	n, err := db.Export(context.Background(), &buf, JSONL, Filter{})
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	want := `{"id":"0193a000-0000-7000-8000-000000000001","started_at":"2026-11-20T12:00:00.123Z","provider":"openai","api":"openai","mode":"base_url","method":"POST","path":"/v1/chat/completions","model":"gpt-4.1","stream":true,"status":200,"outcome":"complete","input_tokens":1200,"cached_input_tokens":200,"cache_write_tokens":0,"output_tokens":300,"reasoning_tokens":50,"cost_usd":0.0045,"ttfb_ms":250,"duration_ms":1500,"request_id":"req_abc","response_id":"chatcmpl-123","client":"OpenAI/Python 1.99.0","vh_headers":{"x-vh-run":"r1"},"tags":["eval"],"usage":{"prompt_tokens":1200,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":200}},"kind":"call","project":"web","session":"s-1","connection_id":"ws-7","price_version":"2026-11-01","cost_note":"audio output unpriced","usage_detail":{"audio_output_tokens":40,"iterations":[{"type":"compaction","input_tokens":900,"output_tokens":100}]},"truncated":[]}
{"id":"bare","started_at":"2026-11-20T13:00:00.000Z","provider":"anthropic","api":"anthropic","mode":"forward","method":"POST","path":"/v1/messages","model":null,"stream":false,"status":null,"outcome":"upstream_error","input_tokens":null,"cached_input_tokens":null,"cache_write_tokens":null,"output_tokens":null,"reasoning_tokens":null,"cost_usd":null,"ttfb_ms":null,"duration_ms":42,"request_id":null,"response_id":null,"client":null,"vh_headers":{},"tags":[],"usage":null,"kind":"call","project":null,"session":null,"connection_id":null,"price_version":null,"cost_note":null,"usage_detail":null,"truncated":[]}
`
	if got := buf.String(); got != want {
		t.Errorf("export:\n%s\nwant:\n%s", got, want)
	}
	// Keys are exactly ExportFields, in order.
	line, _, _ := strings.Cut(buf.String(), "\n")
	dec := json.NewDecoder(strings.NewReader(line))
	dec.Token()
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	if !slices.Equal(keys, ExportFields) {
		t.Errorf("keys %v\nwant %v", keys, ExportFields)
	}
}

// TestExportEscaping: any string a client or provider sent comes out as
// valid JSON that decodes to the same text.
func TestExportEscaping(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	r := sampleRecord(1)
	r.Client = "quote\" back\\slash\nnew\tline \x01 é 日本 \u2028 end"
	r.Model = "bad-utf8-\xff-end"
	r.Tags = []string{`a"b`, "c,d"}
	r.VHHeaders = map[string]string{"x-vh-note": "x\"y"}
	mustInsert(t, db, r)
	var buf bytes.Buffer
	if _, err := db.Export(context.Background(), &buf, JSONL, Filter{}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("invalid JSON %q: %v", buf.String(), err)
	}
	if got["client"] != r.Client {
		t.Errorf("client = %q", got["client"])
	}
	if got["model"] != "bad-utf8-\uFFFD-end" {
		t.Errorf("model = %q", got["model"])
	}
	if strings.Contains(buf.String(), "\u2028") {
		t.Error("U+2028 not escaped")
	}
}

// TestExportCSV: the header is ExportFields; nulls are empty; nested
// values are JSON text; oldest first.
func TestExportCSV(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	a, b := sampleRecord(1), sampleRecord(2)
	a.Project, a.Session, a.ConnectionID = "web", "s-1", "ws-7"
	a.PriceVersion, a.CostNote = "2026-11-01", "no price for audio"
	a.Detail = &UsageDetail{ImageInputTokens: 12,
		Iterations: []Iteration{{Type: "message", Model: "m2", CachedInputTokens: 3}}}
	b.HasUsage, b.CostUSD, b.VHHeaders, b.Tags, b.UsageRaw = false, nil, nil, nil, nil
	mustInsert(t, db, b, a)
	var buf bytes.Buffer
	n, err := db.Export(context.Background(), &buf, CSV, Filter{})
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || !slices.Equal(rows[0], ExportFields) {
		t.Fatalf("rows = %v", rows)
	}
	col := func(row []string, name string) string { return row[slices.Index(ExportFields, name)] }
	if col(rows[1], "id") != a.ID || col(rows[2], "id") != b.ID {
		t.Errorf("not oldest first: %s, %s", col(rows[1], "id"), col(rows[2], "id"))
	}
	for name, want := range map[string]string{
		"started_at": "2026-11-20T12:00:01.000Z", "stream": "true", "cost_usd": "0.0045",
		"input_tokens": "1200", "vh_headers": `{"x-vh-run":"r1"}`, "tags": `["eval"]`,
		"usage": string(a.UsageRaw), "kind": "call", "project": "web", "session": "s-1",
		"connection_id": "ws-7", "price_version": "2026-11-01", "cost_note": "no price for audio",
		"usage_detail": `{"image_input_tokens":12,"iterations":[{"type":"message","model":"m2","cached_input_tokens":3}]}`,
	} {
		if got := col(rows[1], name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{
		"input_tokens": "", "cost_usd": "", "vh_headers": "{}", "tags": "[]", "usage": "",
		"kind": "call", "project": "", "session": "", "connection_id": "", "price_version": "",
		"cost_note": "", "usage_detail": "",
	} {
		if got := col(rows[2], name); got != want {
			t.Errorf("no-usage row: %s = %q, want %q", name, got, want)
		}
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("broken pipe")
	}
	w.after--
	return len(p), nil
}

// TestExportWriteError: a failing output stops the export with an error.
func TestExportWriteError(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	var recs []Record
	for i := range 2000 { // more than the 64 KiB buffer
		recs = append(recs, sampleRecord(i))
	}
	mustInsert(t, db, recs...)
	_, err := db.Export(context.Background(), &failingWriter{after: 1}, JSONL, Filter{})
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseExportFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ExportFormat{"jsonl": JSONL, "CSV": CSV} {
		if got, err := ParseExportFormat(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseExportFormat("json"); err == nil || !strings.Contains(err.Error(), "jsonl or csv") {
		t.Errorf("json: %v", err)
	}
}

// FuzzAppendJSONString: any bytes encode to a JSON string that decodes to
// the same text (invalid UTF-8 as U+FFFD), as encoding/json would.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\s", "\x00\x1f\x7f", "é日本\u2028\u2029", "\xff\xfe", "a\xc3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := appendJSONString(nil, in)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q → invalid JSON %q: %v", in, out, err)
		}
		want := strings.ToValidUTF8(string(in), "\uFFFD")
		// encoding/json replaces each invalid byte; ToValidUTF8 replaces
		// runs. Compare with runs collapsed on both sides.
		collapse := func(s string) string {
			for strings.Contains(s, "\uFFFD\uFFFD") {
				s = strings.ReplaceAll(s, "\uFFFD\uFFFD", "\uFFFD")
			}
			return s
		}
		if collapse(got) != collapse(want) {
			t.Fatalf("%q → %q, want %q", in, got, want)
		}
	})
}

// FuzzParseTime: no input panics, and a success is a real time.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"90m", "7d", "1.5w", "2026-11-01", "2026-11-01T14:00:00Z", "9999999999999d", "1d-2h", ".d"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now, time.UTC)
		if err == nil && got.IsZero() {
			t.Fatalf("%q parsed to the zero time", s)
		}
	})
}

// TestCostsArePlainDecimals guards one way of writing a cost for programs,
// in JSONL and CSV exports and in AppendCost, which the JSON and CSV
// reports use: a plain decimal that reads back as the same float, never an
// exponent.
func TestCostsArePlainDecimals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cost float64
		want string
	}{
		{5.55e-06, "0.00000555"},
		{5.55e-08, "0.0000000555"},
		{0.0045, "0.0045"},
		{1234.5, "1234.5"},
		{1e21, "1000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			db := mustOpen(t)
			r := sampleRecord(1)
			r.CostUSD = f64(tt.cost)
			mustInsert(t, db, r)
			ctx := context.Background()

			var jsonl, csvOut bytes.Buffer
			if _, err := db.Export(ctx, &jsonl, JSONL, Filter{}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(jsonl.String(), `,"cost_usd":`+tt.want+`,`) {
				t.Errorf("JSONL: %s", jsonl.String())
			}
			if _, err := db.Export(ctx, &csvOut, CSV, Filter{}); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&csvOut).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if i := slices.Index(rows[0], "cost_usd"); rows[1][i] != tt.want {
				t.Errorf("CSV cost_usd %q", rows[1][i])
			}
			if got := string(AppendCost(nil, tt.cost)); got != tt.want {
				t.Errorf("AppendCost (which reports use) = %q", got)
			}
		})
	}
}

// TestExportCSVFormulaSafe guards spreadsheets opening an export: a text
// cell from the wire starting with = + - @, a tab or a carriage return gets
// a leading ' so it is never run as a formula; JSONL keeps the values
// exact.
func TestExportCSVFormulaSafe(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	hostile := []string{`=HYPERLINK("http://evil.example","x")`, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tx", "\rx"}
	var recs []Record
	for i, s := range hostile {
		r := sampleRecord(i)
		r.Model, r.Client = s, s
		recs = append(recs, r)
	}
	mustInsert(t, db, recs...)
	ctx := context.Background()
	var out bytes.Buffer
	if _, err := db.Export(ctx, &out, CSV, Filter{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	model, client, input := slices.Index(rows[0], "model"), slices.Index(rows[0], "client"), slices.Index(rows[0], "input_tokens")
	for i, s := range hostile {
		if got := rows[i+1][model]; got != "'"+s {
			t.Errorf("model %q exported as %q", s, got)
		}
		if got := rows[i+1][client]; got != "'"+s {
			t.Errorf("client %q exported as %q", s, got)
		}
		if got := rows[i+1][input]; got != "1200" {
			t.Errorf("a number cell changed: %q", got)
		}
	}
	out.Reset()
	if _, err := db.Export(ctx, &out, JSONL, Filter{}); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["model"] != hostile[i] {
			t.Errorf("JSONL model %v (%v), want %q", m["model"], err, hostile[i])
		}
	}
}
