package valohai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// TestSendBatches: Send posts everything eligible, oldest first, at most
// BatchSize per POST, to {url}/api/ingest/transits/ with the Bearer key
// and a JSON body, and marks what was accepted.
func TestSendBatches(t *testing.T) {
	db := mustOpen(t)
	ctx := context.Background()
	recs := insertEligible(t, db, 0, 130)
	// Not eligible: no usage, or no x-vh-* header.
	noUsage, noVH := eligibleRecord(1000), eligibleRecord(1001)
	noUsage.HasUsage = false
	noVH.VHHeaders = nil
	if err := db.Insert(ctx, []ledger.Record{noUsage, noVH}); err != nil {
		t.Fatal(err)
	}
	in := newIngest(t, nil)
	c := in.client()
	c.URL += "/" // a trailing slash is ignored

	res, err := c.Send(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Sent: 130, Requests: 3}) {
		t.Errorf("result %+v", res)
	}
	reqs := in.requests()
	var sizes []int
	for _, r := range reqs {
		sizes = append(sizes, len(r.IDs))
		if r.Method != "POST" || r.Path != "/api/ingest/transits/" || r.Auth != "Bearer "+testKey || r.ContentType != "application/json" {
			t.Errorf("request %s %s auth %q type %q", r.Method, r.Path, r.Auth, r.ContentType)
		}
	}
	if fmt.Sprint(sizes) != "[64 64 2]" {
		t.Errorf("batch sizes %v, want [64 64 2]", sizes)
	}
	var want []string
	for _, r := range recs {
		want = append(want, r.ID)
	}
	if got := in.sentIDs(); !slices.Equal(got, want) {
		t.Errorf("sent %d ids out of order or wrong:\n%v", len(got), got)
	}
	if c := counts(t, db); c != (ledger.SyncCounts{Sent: 130}) {
		t.Errorf("counts %+v", c)
	}
	row, _, _ := db.Get(ctx, recs[0].ID)
	if row.SyncedAt == nil || !row.SyncedAt.Equal(t0) {
		t.Errorf("synced_at %v, want %v", row.SyncedAt, t0)
	}
	if st, _ := db.SyncState(ctx); !st.LastSentAt.Equal(t0) || st.Failures != 0 {
		t.Errorf("sync state %+v", st)
	}

	// Nothing left: no request.
	res, err = c.Send(ctx, db)
	if err != nil || res != (Result{}) || len(in.requests()) != 3 {
		t.Errorf("second Send: %+v, %v, %d requests", res, err, len(in.requests()))
	}
}

// TestSendOneRecordError guards the count in an error's words: "send 1
// record", not "send 1 records".
func TestSendOneRecordError(t *testing.T) {
	db := mustOpen(t)
	insertEligible(t, db, 0, 1)
	in := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) { hijackClose(w) })
	_, err := in.client().Send(context.Background(), db)
	if err == nil || !strings.Contains(err.Error(), "send 1 record to Valohai LLM") {
		t.Fatalf("err %v, want it to say %q", err, "send 1 record to Valohai LLM")
	}
}

// TestSendRetriesFailures: a refused batch (a 500, a 503 after a success)
// or a dropped connection stays unsent, counts a failed attempt and is
// noted as the last error; the next Send delivers it.
func TestSendRetriesFailures(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(w http.ResponseWriter)
		okFirst   bool // one batch is accepted before the failure
		wantErr   string
		wantFirst Result
	}{
		{"500", func(w http.ResponseWriter) {
			http.Error(w, "internal\nerror", http.StatusInternalServerError)
		}, false, "Valohai LLM answered 500 Internal Server Error: internal error", Result{Requests: 1}},
		{"503 after a success", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}, true, "Valohai LLM answered 503 Service Unavailable", Result{Sent: 64, Requests: 2}},
		{"dropped connection", hijackClose, false, "send 64 records to Valohai LLM: Post", Result{Requests: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := context.Background()
			insertEligible(t, db, 0, 100)
			failAt := 0
			if tt.okFirst {
				failAt = 1
			}
			in := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == failAt {
					tt.fail(w)
				}
			})
			c := in.client()
			res, err := c.Send(ctx, db)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if res != tt.wantFirst {
				t.Errorf("result %+v, want %+v", res, tt.wantFirst)
			}
			sent := int64(tt.wantFirst.Sent)
			failing := min(100-sent, BatchSize) // the failed batch
			if got := counts(t, db); got != (ledger.SyncCounts{Pending: 100 - sent, Sent: sent, Failing: failing}) {
				t.Errorf("after failure: counts %+v", got)
			}
			st, _ := db.SyncState(ctx)
			if st.Failures != 1 || !strings.Contains(st.LastError, tt.wantErr) || !st.LastErrorAt.Equal(t0) {
				t.Errorf("sync state %+v", st)
			}

			res, err = c.Send(ctx, db)
			if err != nil || res.Sent != int(100-sent) {
				t.Fatalf("retry: %+v, %v", res, err)
			}
			if got := counts(t, db); got != (ledger.SyncCounts{Sent: 100}) {
				t.Errorf("after retry: counts %+v", got)
			}
			if st, _ := db.SyncState(ctx); st.Failures != 0 {
				t.Errorf("failures after success: %d", st.Failures)
			}
			// Each record arrived; the failed batch more than once (at
			// least once) only when the failure came after its POST.
			ids := in.sentIDs()
			slices.Sort(ids)
			if len(slices.Compact(ids)) != 100 {
				t.Errorf("%d distinct ids arrived", len(ids))
			}
		})
	}
}

// TestPostRefusals: what Post makes of answers other than 2xx.
func TestPostRefusals(t *testing.T) {
	retryDate := t0.Add(90 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name    string
		respond func(w http.ResponseWriter)
		want    StatusError
	}{
		{"redirect is not followed", func(w http.ResponseWriter) {
			w.Header().Set("Location", "https://elsewhere.example/login")
			w.WriteHeader(http.StatusMovedPermanently)
		}, StatusError{StatusCode: 301, Status: "301 Moved Permanently", Location: "https://elsewhere.example/login"}},
		{"429 with Retry-After seconds", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		}, StatusError{StatusCode: 429, Status: "429 Too Many Requests", RetryAfter: 7 * time.Second, HasRetryAfter: true}},
		{"503 with Retry-After date", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", retryDate)
			w.WriteHeader(http.StatusServiceUnavailable)
		}, StatusError{StatusCode: 503, Status: "503 Service Unavailable", RetryAfter: 90 * time.Second, HasRetryAfter: true}},
		{"long body is cut", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, strings.Repeat("ä", 300))
		}, StatusError{StatusCode: 400, Status: "400 Bad Request", Body: strings.Repeat("ä", 200) + "…"}},
		{"the key is never quoted", func(w http.ResponseWriter) {
			w.Header().Set("Location", "/x?token="+testKey)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, "bad token: Bearer "+testKey)
		}, StatusError{StatusCode: 401, Status: "401 Unauthorized", Body: "bad token: Bearer [redacted]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) { tt.respond(w) })
			c := in.client()
			err := c.Post(context.Background(), []ledger.Record{eligibleRecord(1)})
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err %v, want a *StatusError", err)
			}
			if *se != tt.want {
				t.Errorf("got  %+v\nwant %+v", *se, tt.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error holds the key: %v", err)
			}
			if len(in.requests()) != 1 {
				t.Errorf("%d requests: a redirect was followed?", len(in.requests()))
			}
		})
	}
}

// TestPostTimeout: a POST that gets no answer ends after Timeout.
func TestPostTimeout(t *testing.T) {
	in := newStuckIngest(t)
	c := in.client()
	c.Timeout = 50 * time.Millisecond
	err := c.Post(context.Background(), []ledger.Record{eligibleRecord(1)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a deadline", err)
	}
	if (&Client{}).Endpoint() != "https://llm.valohai.com/api/ingest/transits/" || DefaultTimeout != 30*time.Second {
		t.Errorf("defaults: %s, %s", (&Client{}).Endpoint(), DefaultTimeout)
	}
}

// TestPostBatchLimit: more than BatchSize records are refused before any
// request; none make no request.
func TestPostBatchLimit(t *testing.T) {
	in := newIngest(t, nil)
	c := in.client()
	recs := make([]ledger.Record, BatchSize+1)
	for i := range recs {
		recs[i] = eligibleRecord(i)
	}
	if err := c.Post(context.Background(), recs); err == nil {
		t.Error("65 records: no error")
	}
	if err := c.Post(context.Background(), nil); err != nil {
		t.Error(err)
	}
	if err := c.Post(context.Background(), recs[:BatchSize]); err != nil {
		t.Error(err)
	}
	if n := len(in.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestSendStoppedByContext: a Send that ctx cut short leaves its batch
// unsent but does not count it as Valohai's failure.
func TestSendStoppedByContext(t *testing.T) {
	db := mustOpen(t)
	insertEligible(t, db, 0, 3)
	ctx, cancel := context.WithCancel(context.Background())
	in := newIngest(t, func(n int, w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	_, err := in.client().Send(ctx, db)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if c := counts(t, db); c != (ledger.SyncCounts{Pending: 3}) {
		t.Errorf("counts %+v", c)
	}
	if st, _ := db.SyncState(context.Background()); st != (ledger.SyncState{}) {
		t.Errorf("sync state %+v", st)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := t0
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false},
		{"9999999999999", time.Duration(1<<63-1) / time.Second * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(time.Minute).Format(time.RFC850), time.Minute, true},
		{now.Add(time.Minute).Format(time.ANSIC), time.Minute, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 5, ""},
		{"a\r\nb\tc", 10, "a b c"},
		{"  spaced   out  ", 20, "spaced out"},
		{"abcdef", 3, "abc…"},
		{"abc", 3, "abc"},
		{"\xff\xfeok", 10, "\uFFFDok"},
		{"\x1b[31mred", 10, "[31mred"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in, tt.n); got != tt.want {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
