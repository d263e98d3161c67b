package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is Conduit's OTLP/HTTP client, written to the OTLP
// specification (https://opentelemetry.io/docs/specs/otlp/#otlphttp):
// binary protobuf bodies (Content-Type: application/x-protobuf, encoded by
// otlpwire.go), optionally gzip-compressed, POSTed to one URL per signal;
// 429, 502, 503 and 504 are retried with exponential backoff, honouring
// Retry-After; a 2xx body may carry a partial success. It replaces the
// OpenTelemetry Go exporters, whose configuration code links gRPC into the
// binary.

// Limits of one export.
const (
	// maxResponseBody bounds what is read of a collector's answer: a
	// partial success or an error message, never large.
	maxResponseBody = 64 << 10
	// maxErrorBody is how much of an error answer goes into the error.
	maxErrorBody = 256
)

// retryPolicy is the backoff between the attempts of one export. It
// follows the OpenTelemetry exporters' defaults.
type retryPolicy struct {
	initial    time.Duration // first backoff; zero: no retries
	max        time.Duration // backoff ceiling
	maxElapsed time.Duration // the most time spent waiting between attempts
	// sleep waits d or until ctx ends (tests replace it to record the
	// delays); nil: a timer.
	sleep func(ctx context.Context, d time.Duration) error
}

var defaultRetry = retryPolicy{initial: 5 * time.Second, max: 30 * time.Second, maxElapsed: time.Minute}

// backoff is the wait before attempt n+1 (n ≥ 1): initial×1.5^(n-1), capped
// at max, randomised by ±50% so that many Conduits do not retry in step.
func (r *retryPolicy) backoff(n int) time.Duration {
	d := float64(r.initial)
	for i := 1; i < n && d < float64(r.max); i++ {
		d *= 1.5
	}
	d = min(d, float64(r.max))
	return time.Duration(d * (0.5 + rand.Float64()))
}

func (r *retryPolicy) wait(ctx context.Context, d time.Duration) error {
	if r.sleep != nil {
		return r.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// otlpClient exports one signal (traces or metrics) to its URL. It is safe
// for concurrent use.
type otlpClient struct {
	url     string
	header  http.Header   // every request's headers
	gzip    bool          // compress bodies
	timeout time.Duration // one attempt
	retry   retryPolicy
	http    *http.Client
}

func newOTLPClient(sc signalConfig, retry retryPolicy, userAgent string) *otlpClient {
	h := http.Header{}
	for k, v := range sc.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/x-protobuf")
	h.Set("User-Agent", userAgent)
	if sc.gzip {
		h.Set("Content-Encoding", "gzip")
	}
	return &otlpClient{
		url: sc.url, header: h, gzip: sc.gzip, timeout: sc.timeout, retry: retry,
		http: &http.Client{Transport: newTransport(sc.tls)},
	}
}

// newTransport is net/http's default transport without the proxy: exports
// never follow an exported HTTPS_PROXY, which may point at Conduit itself.
func newTransport(tc *tls.Config) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// close drops the idle connections.
func (c *otlpClient) close() { c.http.CloseIdleConnections() }

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

// export sends body, an encoded export request, retrying what the
// specification says may be retried until ctx ends or the retry policy
// gives up. rejected is the count of items the collector accepted the
// request but refused (a partial success).
func (c *otlpClient) export(ctx context.Context, body []byte) (rejected int64, err error) {
	if c.gzip {
		var buf bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&buf)
		_, err = zw.Write(body)
		if err == nil {
			err = zw.Close()
		}
		zw.Reset(io.Discard)
		gzipWriters.Put(zw)
		if err != nil {
			return 0, fmt.Errorf("compress: %w", err)
		}
		body = buf.Bytes()
	}
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		rejected, err = c.post(ctx, body)
		var se *statusError
		retryable := err != nil && ctx.Err() == nil && (errors.As(err, &se) && se.retryable() || isTransient(err))
		if !retryable || c.retry.initial <= 0 {
			return rejected, err
		}
		delay := c.retry.backoff(attempt)
		if se != nil {
			delay = max(delay, se.retryAfter)
		}
		// Waiting past the export's deadline would only fail later.
		deadline, hasDeadline := ctx.Deadline()
		if waited+delay > c.retry.maxElapsed || hasDeadline && time.Until(deadline) < delay {
			return 0, fmt.Errorf("gave up after %d attempts (next in %v): %w", attempt, delay.Round(time.Millisecond), err)
		}
		if werr := c.retry.wait(ctx, delay); werr != nil {
			return 0, fmt.Errorf("%w (while waiting to retry: %w)", err, werr)
		}
		waited += delay
	}
}

// post makes one attempt.
func (c *otlpClient) post(ctx context.Context, body []byte) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = c.header.Clone()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return 0, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-protobuf") {
			return 0, nil
		}
		return partialSuccess(data)
	}
	return 0, &statusError{
		code:       resp.StatusCode,
		body:       strings.ToValidUTF8(strings.TrimSpace(string(data[:min(len(data), maxErrorBody)])), "?"),
		retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
}

// statusError is a collector's answer other than 2xx.
type statusError struct {
	code       int
	body       string        // the start of the answer, for the log
	retryAfter time.Duration // the answer's Retry-After; zero: none
}

func (e *statusError) Error() string {
	msg := "collector answered " + strconv.Itoa(e.code) + " " + http.StatusText(e.code)
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

// retryable reports the statuses the OTLP specification says to retry.
func (e *statusError) retryable() bool {
	switch e.code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// isTransient reports an attempt that timed out or whose connection was
// reset: a collector restarting or overloaded. A refused connection is not
// retried: the collector is down, and the next batch tries again.
func isTransient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ECONNRESET)
}

// retryAfter parses a Retry-After value, seconds or an HTTP date; zero
// when absent or malformed.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, int64(time.Duration(1<<63-1)/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// partialSuccess reads the partial_success of an ExportTraceServiceResponse
// or ExportMetricsServiceResponse: both are field 1, a message whose field
// 1 (int64) counts the rejected spans or data points and field 2 (string)
// says why.
func partialSuccess(b []byte) (int64, error) {
	ps, err := protoField(b, 1, protowire.BytesType)
	if err != nil || ps == nil {
		return 0, err
	}
	v, err := protoField(ps, 1, protowire.VarintType)
	if err != nil {
		return 0, err
	}
	var rejected int64
	if v != nil {
		n, _ := protowire.ConsumeVarint(v)
		rejected = int64(n)
	}
	msg, err := protoField(ps, 2, protowire.BytesType)
	if err != nil {
		return 0, err
	}
	if rejected != 0 || len(msg) > 0 {
		return rejected, &partialError{rejected: rejected, msg: strings.ToValidUTF8(string(msg[:min(len(msg), maxErrorBody)]), "?")}
	}
	return 0, nil
}

// partialError is a 2xx answer that refused some of the export.
type partialError struct {
	rejected int64
	msg      string
}

func (e *partialError) Error() string {
	return fmt.Sprintf("collector refused %d of the export: %s", e.rejected, e.msg)
}

// protoField returns the last occurrence of field num in the protobuf
// message b: a varint's encoding, or a length-delimited field's content;
// nil when absent.
func protoField(b []byte, num protowire.Number, typ protowire.Type) ([]byte, error) {
	var found []byte
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, fmt.Errorf("decode the answer: %w", protowire.ParseError(l))
		}
		b = b[l:]
		m := protowire.ConsumeFieldValue(n, t, b)
		if m < 0 {
			return nil, fmt.Errorf("decode the answer: %w", protowire.ParseError(m))
		}
		if n == num && t == typ {
			if typ == protowire.BytesType {
				found, _ = protowire.ConsumeBytes(b[:m])
			} else {
				found = b[:m]
			}
		}
		b = b[m:]
	}
	return found, nil
}
