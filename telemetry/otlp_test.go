package telemetry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Answers of a collector, as proto.Marshal encodes the collector's
// ExportTraceServiceResponse and ExportMetricsServiceResponse
// (go.opentelemetry.io/proto/otlp/collector/...; not imported: they link
// gRPC).
const (
	// partial_success {rejected_spans: 3, error_message: "over quota"}
	tracePartial = "\n\x0e\b\x03\x12\nover quota"
	// partial_success {rejected_data_points: 300, error_message: "bad"}
	metricPartial = "\n\b\b\xac\x02\x12\x03bad"
	// partial_success {error_message: "warning only"}
	warningOnly = "\n\x0e\x12\fwarning only"
)

// sleeps is a retryPolicy.sleep that records the delays and returns at
// once, so that retry tests neither wait nor depend on the clock.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// testSpans is an export request of one span, and its encoding.
func testSpans(t *testing.T) (*tracepb.TracesData, []byte) {
	t.Helper()
	msg := &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{
		Scope: &commonpb.InstrumentationScope{Name: "test"},
		Spans: []*tracepb.Span{{TraceId: make([]byte, 16), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "chat m"}},
	}}}}}
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return msg, b
}

// TestOTLPClientRetry guards the retry policy of the OTLP specification as
// the OpenTelemetry exporters implement it: 429, 502, 503 and 504 and
// attempts that time out are retried with backoff, Retry-After (seconds or
// a date) is honoured unless it is past the retry budget, other statuses
// and refused connections are final, and a 2xx can be a partial success.
func TestOTLPClientRetry(t *testing.T) {
	t.Parallel()
	const initial = 100 * time.Millisecond
	withHeader := func(status int, retryAfter string) answer {
		return answer{status: status, header: http.Header{"Retry-After": {retryAfter}}}
	}
	many503 := make([]answer, 50)
	for i := range many503 {
		many503[i] = answer{status: 503}
	}
	tests := []struct {
		name     string
		answers  []answer
		timeout  time.Duration
		budget   time.Duration // of waiting; zero: a minute
		attempts int
		check    func(t *testing.T, delays []time.Duration, rejected int64, err error)
	}{
		{"503 then success", []answer{{status: 503}}, 0, 0, 2, func(t *testing.T, d []time.Duration, _ int64, err error) {
			if err != nil || len(d) != 1 || d[0] < initial/2 || d[0] > initial*3/2 {
				t.Errorf("err %v, delays %v: want one backoff of %v±50%%", err, d, initial)
			}
		}},
		{"502 and 504", []answer{{status: 502}, {status: 504}}, 0, 0, 3, func(t *testing.T, d []time.Duration, _ int64, err error) {
			if err != nil || len(d) != 2 {
				t.Errorf("err %v, delays %v", err, d)
			}
		}},
		{"429 with Retry-After seconds", []answer{withHeader(429, "7")}, 0, 0, 2, func(t *testing.T, d []time.Duration, _ int64, err error) {
			if err != nil || len(d) != 1 || d[0] != 7*time.Second {
				t.Errorf("err %v, delays %v: want 7s", err, d)
			}
		}},
		{"503 with Retry-After date", []answer{withHeader(503, time.Now().Add(20*time.Second).UTC().Format(http.TimeFormat))}, 0, 0, 2,
			func(t *testing.T, d []time.Duration, _ int64, err error) {
				// The date has whole seconds, and time passes.
				if err != nil || len(d) != 1 || d[0] < 15*time.Second || d[0] > 20*time.Second {
					t.Errorf("err %v, delays %v: want about 20s", err, d)
				}
			}},
		{"Retry-After past the budget", []answer{withHeader(503, "3600")}, 0, 0, 1, func(t *testing.T, d []time.Duration, _ int64, err error) {
			var se *statusError
			if !errors.As(err, &se) || se.code != 503 || len(d) != 0 || !strings.Contains(err.Error(), "gave up after 1 attempts") {
				t.Errorf("err %v, delays %v: want to give up at once", err, d)
			}
		}},
		{"503 until the budget is spent", many503, 0, 2 * time.Second, -1, func(t *testing.T, d []time.Duration, _ int64, err error) {
			var total time.Duration
			for _, x := range d {
				total += x
			}
			var se *statusError
			if !errors.As(err, &se) || se.code != 503 || len(d) < 2 || total > 2*time.Second {
				t.Errorf("err %v, delays %v (total %v): want several retries within the 2s budget", err, d, total)
			}
		}},
		{"400 is final", []answer{{status: 400, body: []byte("bad data\n")}}, 0, 0, 1, func(t *testing.T, d []time.Duration, _ int64, err error) {
			var se *statusError
			if !errors.As(err, &se) || se.code != 400 || se.body != "bad data" || len(d) != 0 {
				t.Errorf("err %v, delays %v", err, d)
			}
		}},
		{"timed-out attempt", []answer{{hang: true}}, time.Second, 0, 2, func(t *testing.T, d []time.Duration, _ int64, err error) {
			if err != nil || len(d) != 1 {
				t.Errorf("err %v, delays %v", err, d)
			}
		}},
		{"partial success", []answer{{status: 200, body: []byte(tracePartial)}}, 0, 0, 1, func(t *testing.T, d []time.Duration, rejected int64, err error) {
			var pe *partialError
			if !errors.As(err, &pe) || rejected != 3 || pe.msg != "over quota" || len(d) != 0 {
				t.Errorf("rejected %d, err %v", rejected, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			rc.script("/v1/traces", tt.answers...)
			s := &sleeps{}
			c := newOTLPClient(signalConfig{url: rc.url + "/v1/traces", timeout: orDur(tt.timeout, 10*time.Second), gzip: true},
				retryPolicy{initial: initial, max: time.Second, maxElapsed: orDur(tt.budget, time.Minute), sleep: s.sleep}, "conduit/test")
			defer c.close()
			_, body := testSpans(t)
			rejected, err := c.export(context.Background(), body)
			if n := rc.requests(); tt.attempts >= 0 && n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			tt.check(t, s.delays(), rejected, err)
		})
	}
}

func orDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TestOTLPClientRefused guards a collector that is down: the export fails
// at once, without retries (the next batch tries again).
func TestOTLPClientRefused(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(nil)
	url := dead.URL
	dead.Close()
	s := &sleeps{}
	c := newOTLPClient(signalConfig{url: url + "/v1/traces", timeout: time.Second}, retryPolicy{initial: time.Millisecond, max: time.Second, maxElapsed: time.Minute, sleep: s.sleep}, "conduit")
	_, body := testSpans(t)
	if _, err := c.export(context.Background(), body); err == nil || len(s.delays()) != 0 {
		t.Errorf("err %v, delays %v: want a failure without retries", err, s.delays())
	}
}

// TestOTLPClientRequest guards what one request carries: the protobuf
// message, compressed or not, and the configured headers.
func TestOTLPClientRequest(t *testing.T) {
	t.Parallel()
	for _, gz := range []bool{true, false} {
		rc := newReceiver(t, nil)
		c := newOTLPClient(signalConfig{url: rc.url + "/v1/traces", timeout: time.Second, gzip: gz, headers: map[string]string{"x-key": "k1"}}, retryPolicy{}, "conduit/v1")
		msg, body := testSpans(t)
		if _, err := c.export(context.Background(), body); err != nil {
			t.Fatal(err)
		}
		h := rc.headers[0]
		if (h.Get("Content-Encoding") == "gzip") != gz || h.Get("x-key") != "k1" || h.Get("User-Agent") != "conduit/v1" {
			t.Errorf("gzip %v: headers %v", gz, h)
		}
		if len(rc.traces) != 1 || !proto.Equal(rc.traces[0], msg) {
			t.Errorf("gzip %v: received %v, want %v", gz, rc.traces, msg)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	r := retryPolicy{initial: time.Second, max: 4 * time.Second}
	for n, base := range []time.Duration{time.Second, 1500 * time.Millisecond, 2250 * time.Millisecond, 3375 * time.Millisecond, 4 * time.Second, 4 * time.Second} {
		for range 20 {
			if d := r.backoff(n + 1); d < base/2 || d > base*3/2 {
				t.Errorf("backoff(%d) = %v, want %v±50%%", n+1, d, base)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{"99999999999999999", time.Duration(1<<63-1) / time.Second * time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestPartialSuccess decodes the collector's answers as the collector's
// own types encode them.
func TestPartialSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body   string
		rejected     int64
		msg          string
		wantErr, bad bool
	}{
		{"empty answer", "", 0, "", false, false},
		{"trace partial success", tracePartial, 3, "over quota", true, false},
		{"metric partial success", metricPartial, 300, "bad", true, false},
		{"warning only", warningOnly, 0, "warning only", true, false},
		{"unknown fields skipped", "\x10\x01" + tracePartial + "\x1a\x00", 3, "over quota", true, false},
		{"truncated", tracePartial[:5], 0, "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected, err := partialSuccess([]byte(tt.body))
			var pe *partialError
			switch {
			case !tt.wantErr && err != nil, tt.wantErr && err == nil:
				t.Fatalf("err %v", err)
			case tt.bad:
				if errors.As(err, &pe) {
					t.Errorf("malformed answer read as a partial success: %v", err)
				}
			case tt.wantErr:
				if !errors.As(err, &pe) || pe.msg != tt.msg || pe.rejected != tt.rejected {
					t.Errorf("err %v", err)
				}
			}
			if rejected != tt.rejected {
				t.Errorf("rejected %d, want %d", rejected, tt.rejected)
			}
		})
	}
}
