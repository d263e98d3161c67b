package intercept

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// The per-call line, field by field, as Logger.LogAttrs wrote it: log hands
// the record to the handler itself, and must not change a byte of it.
func TestCallLogLine(t *testing.T) {
	var buf bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	c := &capture{logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: noTime}))}
	c.log(&ledger.Record{
		Method: "POST", Provider: "openai", Path: "/v1/chat/completions", Status: 200,
		Duration: 1234567 * time.Nanosecond, Outcome: ledger.OutcomeComplete,
		Model: "gpt-4o-mini", HasUsage: true, InputTokens: 12, OutputTokens: 3,
	})
	c.log(&ledger.Record{
		Method: "GET", Provider: "api.example.com", Path: "/v1/models?key=REDACTED", Status: 502,
		Duration: 2 * time.Second, Outcome: ledger.OutcomeUpstreamError,
		Error: `conduit: could not reach provider "x" at api.example.com: refused`,
	})
	c.log(&ledger.Record{Method: "POST", Provider: "anthropic", Path: "/v1/messages", Status: 429, Outcome: ledger.OutcomeUpstreamError})
	want := `level=INFO msg=call method=POST provider=openai path=/v1/chat/completions status=200 duration=1.235ms outcome=complete model=gpt-4o-mini input_tokens=12 output_tokens=3
level=WARN msg=call method=GET provider=api.example.com path="/v1/models?key=REDACTED" status=502 duration=2s outcome=upstream_error error="conduit: could not reach provider \"x\" at api.example.com: refused"
level=INFO msg=call method=POST provider=anthropic path=/v1/messages status=429 duration=0s outcome=upstream_error
`
	if got := buf.String(); got != want {
		t.Errorf("log lines:\n%s\nwant:\n%s", got, want)
	}
}

// A handler's level still decides, and its source names the line's own
// code, not slog's.
func TestCallLogLevelAndSource(t *testing.T) {
	var buf bytes.Buffer
	c := &capture{logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn, AddSource: true}))}
	c.log(&ledger.Record{Method: "POST", Status: 200, Outcome: ledger.OutcomeComplete})
	if buf.Len() != 0 {
		t.Fatalf("info line under a warn-level handler: %s", buf.String())
	}
	for range 2 { // the second from the source looked up once
		c.log(&ledger.Record{Method: "POST", Status: 500, Outcome: ledger.OutcomeUpstreamError})
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got:\n%s", buf.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "intercept/capture.go:") {
			t.Errorf("line without its level or source: %s", l)
		}
	}
}
