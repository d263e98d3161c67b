package telemetry

import (
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// TestSpanLimits guards the span attribute limits: string values cut to
// the length limit in characters (never inside one), attributes past the
// count limit dropped and counted, and bytes that are not UTF-8 replaced,
// so that one odd header cannot make the whole batch unencodable.
func TestSpanLimits(t *testing.T) {
	t.Parallel()
	rec := intercept.Call{Record: ledger.Record{
		ID: "c1", StartedAt: time.Unix(10, 0), Duration: time.Second, Model: "m\xff", Endpoint: "chat_completions",
		Client: "ünïcödé-client/1.0", Tags: []string{"héllo wörld"}, Outcome: ledger.OutcomeUpstreamError, Status: 500,
		Error: "upstream \xfe said no", VHHeaders: map[string]string{"x-vh-a": "1", "x-vh-b": "2\xff"},
	}}
	tests := []struct {
		name            string
		length, count   int
		wantDropped     uint32
		wantClient, tag string
	}{
		{"no limits", -1, -1, 0, "ünïcödé-client/1.0", "héllo wörld"},
		{"length", 4, -1, 0, "ünïc", "héll"},
		{"count", -1, 5, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &otelPipeline{cfg: otelConfig{attrValueLength: tt.length, attrCount: tt.count}}
			s := pbSpan(t, p.toSpan(&rec))
			a := attrs(s.Attributes)
			if tt.count >= 0 {
				if len(s.Attributes) != tt.count || s.DroppedAttributesCount == 0 {
					t.Errorf("%d attributes, %d dropped", len(s.Attributes), s.DroppedAttributesCount)
				}
				full := &otelPipeline{cfg: otelConfig{attrValueLength: -1, attrCount: -1}}
				if n := len(full.toSpan(&rec).attrs); int(s.DroppedAttributesCount) != n-tt.count {
					t.Errorf("%d dropped, want %d", s.DroppedAttributesCount, n-tt.count)
				}
				return
			}
			if s.DroppedAttributesCount != 0 || a["user_agent.original"] != tt.wantClient || a["conduit.tags"].([]string)[0] != tt.tag {
				t.Errorf("dropped %d, attributes %v", s.DroppedAttributesCount, a)
			}
			if !strings.Contains(s.Status.GetMessage(), "upstream \uFFFD said") || a["http.request.header.x-vh-b"].([]string)[0] != "2\uFFFD" {
				t.Errorf("status %q, header %v", s.Status.GetMessage(), a["http.request.header.x-vh-b"])
			}
			if len(s.TraceId) != 16 || len(s.SpanId) != 8 || s.Flags&0x01 == 0 {
				t.Errorf("ids %x %x flags %x", s.TraceId, s.SpanId, s.Flags)
			}
		})
	}
}

func TestNewIDUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		var b [8]byte
		newID(b[:])
		id := string(b[:])
		if seen[id] || id == string(make([]byte, 8)) {
			t.Fatalf("repeated or zero ID %x", id)
		}
		seen[id] = true
	}
}
