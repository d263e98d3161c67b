package valohai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/valohai/conduit/ledger"
)

// Protocol constants, as in the Rust Conduit.
const (
	// BatchSize is the most records one POST carries.
	BatchSize = 64
	// DefaultURL is Valohai LLM's base URL when the config names none.
	DefaultURL = "https://llm.valohai.com"
	// IngestPath is where records are posted, below the base URL.
	IngestPath = "/api/ingest/transits/"
	// DefaultTimeout bounds one POST, from dialling to the end of the
	// response.
	DefaultTimeout = 30 * time.Second
)

// maxErrorBody is how much of a refusing response's body an error quotes,
// in characters (as the Rust Conduit logs it).
const maxErrorBody = 200

// Client posts records to Valohai LLM. Its fields are read on every call;
// set them before first use and do not change them while requests run.
// A Client is safe for concurrent use.
type Client struct {
	// URL is Valohai LLM's base URL, e.g. "https://llm.valohai.com"; a
	// trailing slash is ignored. "" means DefaultURL.
	URL string
	// APIKey is sent as "Authorization: Bearer <APIKey>" and removed from
	// every error text the Client produces.
	APIKey string
	// Transport makes the requests (nil: a clone of
	// http.DefaultTransport, which honours HTTPS_PROXY). Redirects are
	// never followed: a POST turned into a GET elsewhere could answer 2xx
	// without ingesting anything, so a 3xx is a refusal that names the
	// new location.
	Transport http.RoundTripper
	// Timeout bounds each POST (0: DefaultTimeout).
	Timeout time.Duration
	// ProviderNames maps upstream hosts to the provider names Valohai
	// expects (see NewTransit). Nil: records' provider keys are sent.
	ProviderNames map[string]string
	// Now is the time source for HTTP-date Retry-After values and for the
	// marks Send writes (nil: time.Now).
	Now func() time.Time
}

// StatusError is a response other than 2xx: Valohai LLM (or something in
// between) did not accept the batch. Its texts never hold the API key.
type StatusError struct {
	StatusCode int
	Status     string // e.g. "503 Service Unavailable"
	// Body is the start of the response body (up to 200 characters, on
	// one line), or "".
	Body string
	// Location is the target of a redirect (3xx), or "".
	Location string
	// RetryAfter is how long the response asked the client to wait
	// (Retry-After, in seconds or as an HTTP date); HasRetryAfter is false
	// when it sent none that could be read.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// Error describes the refusal: "Valohai LLM answered 503 Service
// Unavailable: <body>".
func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString("Valohai LLM answered ")
	b.WriteString(e.Status)
	if e.Location != "" {
		b.WriteString(" (redirect to " + e.Location + "; is [valohai-llm] url right?)")
	}
	if e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	return b.String()
}

// Endpoint returns the URL records are posted to.
func (c *Client) Endpoint() string {
	base := c.URL
	if base == "" {
		base = DefaultURL
	}
	return strings.TrimRight(base, "/") + IngestPath
}

// Payload converts records into what one POST of them would carry, in the
// same order. The slice is new; it shares no memory with recs.
func (c *Client) Payload(recs []ledger.Record) []Transit {
	out := make([]Transit, len(recs))
	for i := range recs {
		out[i] = NewTransit(&recs[i], c.ProviderNames)
	}
	return out
}

// Post sends records in one request: nil means Valohai LLM accepted all of
// them (a 2xx status). A refusal is a *StatusError; a request that got no
// answer (connection refused or dropped, timeout, ctx done) is the
// transport's error, wrapped. More than BatchSize records is an error and
// sends nothing; none sends nothing and returns nil.
func (c *Client) Post(ctx context.Context, recs []ledger.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if len(recs) > BatchSize {
		return fmt.Errorf("send %s to Valohai LLM: at most %d per request", records(len(recs)), BatchSize)
	}
	body, err := encodePayload(c.Payload(recs))
	if err != nil {
		return fmt.Errorf("encode %s for Valohai LLM: %w", records(len(recs)), err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send %s to Valohai LLM: %s", records(len(recs)), c.redact(err.Error()))
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return &transportError{n: len(recs), msg: c.redact(err.Error()), err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read a little of the body so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	se := &StatusError{
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Body:       c.redact(oneLine(string(head), maxErrorBody)),
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		se.Location = c.redact(oneLine(resp.Header.Get("Location"), maxErrorBody))
	}
	se.RetryAfter, se.HasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	return se
}

// transportError is a request that got no answer. Its text has the API key
// removed; Unwrap gives the transport's own error for errors.Is/As.
type transportError struct {
	n   int
	msg string
	err error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("send %s to Valohai LLM: %s", records(e.n), e.msg)
}

func (e *transportError) Unwrap() error { return e.err }

// Result counts what a Send did.
type Result struct {
	Sent     int // records Valohai LLM accepted (and that are marked sent)
	Requests int // POSTs made, the failed one included
}

// Send posts every eligible record that is not yet sent, oldest first, in
// POSTs of up to BatchSize records, and marks each accepted batch in the
// ledger. It stops at the first failure and returns it: the batch's
// records count a failed attempt and stay unsent. Each outcome is noted in
// the ledger's sync state (db.NoteSyncResult) for other processes to show,
// except when ctx ended the attempt (a stop is not Valohai's failure).
//
// A batch that was accepted is marked even if ctx ends meanwhile (within a
// few seconds), so that a stop does not make it go out twice; if marking
// fails nonetheless, Send returns that error and the batch will be sent
// again: delivery is at least once.
func (c *Client) Send(ctx context.Context, db *ledger.DB) (Result, error) {
	var res Result
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		rows, err := db.Unsynced(ctx, BatchSize)
		if err != nil {
			return res, fmt.Errorf("read unsent records: %w", err)
		}
		if len(rows) == 0 {
			return res, nil
		}
		recs := make([]ledger.Record, len(rows))
		ids := make([]string, len(rows))
		for i := range rows {
			recs[i], ids[i] = rows[i].Record, rows[i].ID
		}
		res.Requests++
		postErr := c.Post(ctx, recs)
		// Bookkeeping outlives a stop: it is quick and keeps the ledger
		// true to what Valohai LLM has.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if postErr != nil {
			if ctx.Err() == nil {
				_ = db.MarkSyncFailed(bctx, ids)
				_ = db.NoteSyncResult(bctx, c.now(), postErr.Error())
			}
			cancel()
			return res, postErr
		}
		at := c.now()
		err = db.MarkSynced(bctx, ids, at)
		if err == nil {
			_ = db.NoteSyncResult(bctx, at, "")
		}
		cancel()
		if err != nil {
			return res, fmt.Errorf("the Valohai LLM server accepted %s but marking them sent failed (they will be sent again): %w", records(len(ids)), err)
		}
		res.Sent += len(ids)
	}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) redact(s string) string { return redact(s, c.APIKey) }

// redact removes key from s.
func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}

func (c *Client) httpClient() *http.Client {
	t := c.Transport
	if t == nil {
		t = defaultTransport
	}
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

var defaultTransport = http.DefaultTransport.(*http.Transport).Clone()

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP
// date, as a wait from now. A date in the past is a wait of 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		const maxSeconds = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(n, maxSeconds)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// oneLine makes s printable on one line and cuts it to n characters.
func oneLine(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if i := 0; len(s) > n {
		for j := range s {
			if i == n {
				return s[:j] + "…"
			}
			i++
		}
	}
	return s
}

// errorsAsStatus is errors.As for *StatusError.
func errorsAsStatus(err error) (*StatusError, bool) {
	var se *StatusError
	ok := errors.As(err, &se)
	return se, ok
}

// records counts records in words: "1 record", "64 records".
func records(n int) string {
	if n == 1 {
		return "1 record"
	}
	return fmt.Sprintf("%d records", n)
}
