package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
)

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// shutdownGrace bounds how long in-flight responses may finish after a
// stop signal.
const shutdownGrace = 5 * time.Second

// run parses args, serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeprovider", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fakeprovider [flags]\n\n"+
			"Serves fake OpenAI, Anthropic, Gemini, Ollama, Bedrock, Vertex and Azure APIs (HTTP and WebSocket)\nfor tests, the demo and benchmarks.\n"+
			"Per-request X-Fake-* headers override the knob defaults below.\n\n"+
			"Examples:\n"+
			"  fakeprovider -listen 127.0.0.1:9999\n"+
			"  fakeprovider -tls -tls-cert /tmp/fake.pem -delay 5ms -events 200\n\n"+
			"Flags:\n")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a fresh self-signed certificate")
	certPath := fs.String("tls-cert", "", "where to write the certificate (PEM) with -tls (default: fakeprovider-cert.pem in the temp dir); implies -tls")
	var o fakeprovider.Options
	fs.IntVar(&o.Events, "events", 0, "content events (word-tokens) per response when the request sets no max tokens (0: 8)")
	fs.IntVar(&o.EventBytes, "event-bytes", 0, "bytes of text per content event (0: one plain word)")
	fs.DurationVar(&o.Delay, "delay", 0, "delay between events, e.g. 5ms")
	fs.DurationVar(&o.FirstByteDelay, "first-byte-delay", 0, "delay before the status line")
	fs.IntVar(&o.Chunk, "chunk", 0, "write bodies in pieces of this many bytes, flushing each (0: whole events)")
	fs.BoolVar(&o.Gzip, "gzip", false, "gzip every response body")
	fs.IntVar(&o.CachedTokens, "cached-tokens", 0, "cache-read tokens added to every prompt")
	fs.IntVar(&o.CacheWrite5m, "cache-write-5m", 0, "5-minute cache-write tokens (Anthropic)")
	fs.IntVar(&o.CacheWrite1h, "cache-write-1h", 0, "1-hour cache-write tokens (Anthropic)")
	fs.IntVar(&o.ReasoningTokens, "reasoning-tokens", 0, "reasoning tokens added to every output")
	fs.StringVar(&o.Model, "model", "", "model name reported in responses (default: the requested one)")
	fs.StringVar(&o.Cost, "cost", "", "OpenRouter-style usage.cost to report (a JSON number)")
	fs.StringVar(&o.Style, "style", "", `vendor extras: "groq" or "deepseek"`)
	fs.StringVar(&o.WSDeflate, "ws-deflate", "", "WebSocket permessage-deflate answer: auto, off, no-context-takeover, server-no-context-takeover, client-no-context-takeover")
	fs.IntVar(&o.WSFragment, "ws-fragment", 0, "cut server WebSocket messages into frames of at most this many payload bytes (0: whole)")
	fs.BoolVar(&o.WSPing, "ws-ping", false, "send a WebSocket ping before each message and between its frames")
	fs.IntVar(&o.WSStatus, "ws-status", 0, "refuse WebSocket upgrades with this 4xx/5xx status (426: clients fall back to HTTP); plain requests are served")
	fs.IntVar(&o.Status, "status", 0, "answer every request (and WebSocket upgrade) with this 4xx/5xx status, e.g. 426")
	logRequests := fs.Bool("log", false, "print one line per request and per WebSocket client message to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (all settings are flags; see -help)", errUsage, fs.Arg(0))
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *certPath != "" {
		*useTLS = true
	}
	if *useTLS && *certPath == "" {
		*certPath = filepath.Join(os.TempDir(), "fakeprovider-cert.pem")
	}
	// Nobody reads Requests in a standalone process: keep none, so long
	// benchmark runs stay flat in memory.
	o.KeepRequests = -1

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	defer ln.Close()
	scheme := "http"
	var tlsConfig *tls.Config
	if *useTLS {
		cert, err := selfSigned(*certPath, time.Now())
		if err != nil {
			return err
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		scheme = "https"
	}
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, ln.Addr())
	if *useTLS {
		fmt.Fprintf(stdout, "tls certificate %s\n", *certPath)
	}

	if *logRequests {
		var mu sync.Mutex
		o.Observe = func(r fakeprovider.Seen) {
			mu.Lock()
			defer mu.Unlock()
			line := r.Method + " " + r.Path
			if r.RawQuery != "" {
				line += "?" + r.RawQuery
			}
			if r.Method == "WS" {
				line += " " + string(r.Body[:min(len(r.Body), 120)])
			}
			fmt.Fprintln(stderr, line)
		}
	}
	fake := fakeprovider.New(o)
	srv := &http.Server{
		Handler:           fake,
		ReadHeaderTimeout: 30 * time.Second,
		// Aborted responses are the point of some knobs; keep net/http's
		// per-connection noise off the terminal.
		ErrorLog:  log.New(io.Discard, "", 0),
		TLSConfig: tlsConfig,
	}
	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	fake.Close() // release hung requests and pending delays
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// selfSigned makes a one-day ECDSA P-256 CA and a leaf it signs for
// localhost, 127.0.0.1 and ::1, and writes the CA (not its key) as PEM to
// path for clients to trust. The leaf is not its own CA because rustls
// (Codex's TLS stack) refuses a CA certificate presented as the server's.
func selfSigned(path string, now time.Time) (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate CA key: %w", err)
	}
	ca := &x509.Certificate{
		Subject: pkix.Name{CommonName: "fakeprovider test CA"},
		// Backdated so a slightly skewed client clock still accepts it.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	if ca.SerialNumber, err = serialNumber(); err != nil {
		return tls.Certificate{}, err
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create CA certificate: %w", err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return tls.Certificate{}, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate TLS key: %w", err)
	}
	leaf := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "fakeprovider localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if leaf.SerialNumber, err = serialNumber(); err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create TLS certificate: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(path, pemBytes, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write TLS certificate %s: %w", path, err)
	}
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, nil
}

// serialNumber is a random 128-bit certificate serial.
func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	return n, nil
}
