package budgets

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookServer is a fake webhook receiver: it answers each POST with the
// next status in statuses (200 once they run out) and keeps the bodies.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	got      chan struct{} // a receive per request
	block    chan struct{} // non-nil: requests wait for it to close
}

func newHookServer(t *testing.T, statuses ...int) *hookServer {
	h := &hookServer{statuses: statuses, got: make(chan struct{}, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		block := h.block
		h.mu.Unlock()
		h.got <- struct{}{}
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}
		if r.Header.Get("Content-Type") != "application/json" || r.Method != http.MethodPost {
			status = http.StatusUnsupportedMediaType
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) requests() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// waits records the backoff a Webhook asked for, and lets it pass at once.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) after(d time.Duration) <-chan time.Time {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func testAlert() Alert {
	helsinki := time.FixedZone("EET", 2*3600)
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, helsinki)
	return Alert{
		Status: Status{
			Budget:      Budget{Name: "daily", LimitUSD: 10, Period: Day, WarnAt: []float64{0.5, 0.8}, Enforce: true},
			PeriodStart: start, ResetsAt: start.Add(24 * time.Hour),
			SpentUSD: 8.0123456789, Calls: 41, Unpriced: 2, Fraction: 0.80123456789, Crossed: 0.8,
		},
		Threshold: 0.8, At: time.Date(2026, 1, 5, 12, 30, 0, 0, time.UTC),
	}
}

func newTestWebhook(t *testing.T, url string, o WebhookOptions) (*Webhook, *waits, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	w := &waits{}
	o.URL = url
	o.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.after = w.after
	o.jitter = func(d time.Duration) time.Duration { return d } // the longest wait
	wh, err := NewWebhook(o)
	if err != nil {
		t.Fatal(err)
	}
	return wh, w, &log
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func closeWebhook(t *testing.T, w *Webhook) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookPayload guards the body a receiver gets: every documented
// field, times in the budget's zone, and text a chat hook shows.
func TestWebhookPayload(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t)
	w, _, _ := newTestWebhook(t, srv.URL+"/hook", WebhookOptions{})
	w.Notify(testAlert())
	closeWebhook(t, w)
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var got map[string]any
	if err := json.Unmarshal(reqs[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"text":   `Conduit: budget "daily" passed 80% of its $10.00 day limit ($8.01 spent); it resets at 2026-01-06 00:00 EET (2 unpriced calls not counted)`,
		"budget": "daily", "period": "day", "period_label": "2026-01-05",
		"period_start": "2026-01-05T00:00:00+02:00", "resets_at": "2026-01-06T00:00:00+02:00",
		"spent_usd": 8.012346, "limit_usd": 10.0, "fraction": 0.801235, "threshold": 0.8, "limit_reached": false,
		"enforce": true, "calls": 41.0, "unpriced_calls": 2.0, "at": "2026-01-05T14:30:00+02:00", "source": "conduit",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %d", got, len(want))
	}
}

// TestWebhookRetries guards delivery: a failure worth retrying (5xx, 429)
// is retried with doubling, capped waits; a refusal (4xx) is not; an
// alert is abandoned after MaxAttempts.
func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int
		attempts int
		waits    string
	}{
		{"ok at once", nil, 1, "[]"},
		{"two failures", []int{503, 429}, 3, "[1s 2s]"},
		{"capped", []int{500, 500, 500, 500, 500}, 6, "[1s 2s 4s 5s 5s]"},
		{"gives up", []int{502, 502, 502, 502, 502, 502, 502}, 6, "[1s 2s 4s 5s 5s]"},
		{"refused", []int{400}, 1, "[]"},
		{"gone", []int{404, 200}, 1, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newHookServer(t, tt.statuses...)
			w, waits, log := newTestWebhook(t, srv.URL, WebhookOptions{MaxDelay: 5 * time.Second})
			w.Notify(testAlert())
			closeWebhook(t, w)
			if n := len(srv.requests()); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			if got := fmtDurations(waits.d); got != tt.waits {
				t.Errorf("waits %v, want %s", waits.d, tt.waits)
			}
			if gaveUp := strings.Contains(log.String(), "gave up"); gaveUp != (tt.name == "gives up" || tt.name == "refused" || tt.name == "gone") {
				t.Errorf("log:\n%s", log.String())
			}
		})
	}
}

func fmtDurations(d []time.Duration) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = x.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestWebhookJitter guards the spread of the waits: each between half
// the backoff and all of it.
func TestWebhookJitter(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t, 500, 500, 500)
	w, waits, _ := newTestWebhook(t, srv.URL, WebhookOptions{BaseDelay: 4 * time.Second})
	w.o.jitter = func(d time.Duration) time.Duration { return 0 } // the shortest wait
	w.Notify(testAlert())
	closeWebhook(t, w)
	if got := fmtDurations(waits.d); got != "[2s 4s 8s]" {
		t.Errorf("shortest waits %s, want [2s 4s 8s]", got)
	}
}

// TestWebhookNeverBlocks guards the calls that raise alerts: with the
// receiver stuck, Notify returns at once, the queue holds QueueSize
// alerts, the rest are dropped and counted, and Close gives up when its
// context ends.
func TestWebhookNeverBlocks(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t)
	srv.block = make(chan struct{})
	defer close(srv.block)
	w, _, log := newTestWebhook(t, srv.URL, WebhookOptions{QueueSize: 4})
	w.Notify(testAlert())
	<-srv.got // the first is being sent, and stuck
	for range 4 + 3 {
		w.Notify(testAlert())
	}
	if d := w.Dropped(); d != 3 {
		t.Errorf("dropped %d, want 3", d)
	}
	if !strings.Contains(log.String(), "is not keeping up") {
		t.Errorf("no warning for the dropped alerts:\n%s", log.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Close(ctx); err == nil {
		t.Error("Close with undelivered alerts and no time left returned nil")
	}
	w.Notify(testAlert()) // after Close: dropped, no panic
}

// TestWebhookURLIsSecret guards the URL: neither logs nor errors hold its
// path or query, whatever fails.
func TestWebhookURLIsSecret(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t)
	dead := srv.URL
	srv.Close() // connection refused from now on
	w, _, log := newTestWebhook(t, dead+"/services/T000/B000/s3cr3t-token?sig=abc", WebhookOptions{MaxAttempts: 2})
	w.Notify(testAlert())
	closeWebhook(t, w)
	if !strings.Contains(log.String(), "gave up") {
		t.Fatalf("no failure logged:\n%s", log.String())
	}
	for _, secret := range []string{"s3cr3t-token", "sig=abc", "/services"} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, log.String())
		}
	}
	if _, err := NewWebhook(WebhookOptions{URL: "ftp://x/s3cr3t"}); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("bad URL: %v", err)
	}
}
