//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
)

// The small non-streaming call every throughput and latency row makes: an
// OpenAI Chat Completions request of 8 output tokens (~500 bytes back).
const (
	chatPath  = "/v1/chat/completions"
	smallBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"say hi"}]}`
	// streamBody asks for a stream with its usage chunk, so no proxy has
	// to add stream_options: every target sends the same bytes.
	streamBody = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hi"}]}`
)

// target is one way to reach the fake provider.
type target struct {
	name   string
	client *http.Client
	base   string // URL prefix the API path is appended to
	proc   *proc  // the proxy's process (CPU figures); nil for direct calls
	// counter, when set, counts the successful calls (Conduit's, for the
	// ledger check).
	counter *atomic.Int64
}

// newClient is a keep-alive client with room for conns idle connections,
// through proxy when it is not "", trusting roots for HTTPS.
func newClient(conns int, proxy string, roots *x509.CertPool) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        0, // no total limit
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		// Identity bodies: the fake never compresses unless asked, and no
		// proxy should be made to decode.
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{RootCAs: roots},
	}
	if proxy != "" {
		u, _ := url.Parse(proxy)
		tr.Proxy = http.ProxyURL(u)
	}
	return &http.Client{Transport: tr}
}

// smallCall returns the loadgen.Call making one small call to t.
func (t target) smallCall() loadgen.Call {
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+chatPath, strings.NewReader(smallBody))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer sk-bench")
		req.Header.Set("Content-Type", "application/json")
		resp, err := t.client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: reading the body: %w", t.name, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: status %s", t.name, resp.Status)
		}
		if t.counter != nil {
			t.counter.Add(1)
		}
		return nil
	}
}

// streamRequest is a streaming call to t with the fake's knobs in header.
func (t target) streamRequest(ctx context.Context, header map[string]string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+chatPath, strings.NewReader(streamBody))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer sk-bench")
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req, nil
}

// rotate returns ts starting at index r (mod len), so that across rounds
// each target runs first, second and last equally often.
func rotate[T any](ts []T, r int) []T {
	out := make([]T, 0, len(ts))
	for i := range ts {
		out = append(out, ts[(i+r)%len(ts)])
	}
	return out
}

// cpuOf reads a target's proxy CPU time; 0 without a process.
func cpuOf(t target) time.Duration {
	if t.proc == nil {
		return 0
	}
	d, err := loadgen.ReadCPU(t.proc.pid())
	if err != nil {
		return 0
	}
	return d
}

// roundResult is one target's run within one round.
type roundResult struct {
	loadgen.Result
	cpu time.Duration // its proxy's CPU time over the run
}

// rounds runs every target for block with clients workers, in rotated
// order, rounds times, after a short warm-up of each. res[target][round].
// The first failed call ends it with an error.
func (b *bench) rounds(ctx context.Context, ts []target, clients int) (map[string][]roundResult, error) {
	for _, t := range ts {
		if r := loadgen.Run(ctx, clients, 300*time.Millisecond, t.smallCall()); r.Errors > 0 {
			return nil, fmt.Errorf("warm-up of %s: %d errors, first: %w", t.name, r.Errors, r.FirstErr)
		}
	}
	res := make(map[string][]roundResult, len(ts))
	for round := range b.cfg.rounds {
		for _, t := range rotate(ts, round) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			cpu0 := cpuOf(t)
			r := loadgen.Run(ctx, clients, b.cfg.block, t.smallCall())
			cpu := cpuOf(t) - cpu0
			if r.Errors > 0 {
				return nil, fmt.Errorf("%s: %d errors, first: %w", t.name, r.Errors, r.FirstErr)
			}
			res[t.name] = append(res[t.name], roundResult{Result: r, cpu: cpu})
		}
	}
	return res, nil
}
