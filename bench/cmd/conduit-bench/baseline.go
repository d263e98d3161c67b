//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// routes is a repeatable -route key=URL flag.
type routes map[string]*url.URL

func (r routes) String() string { return fmt.Sprint(map[string]*url.URL(r)) }

func (r routes) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("route %q: want key=URL", s)
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("route %q: bad URL", s)
	}
	r[k] = u
	return nil
}

// serveBaseline is the bare proxy the benchmark measures Conduit against: a
// standard library httputil.ReverseProxy that flushes every write at once
// (FlushInterval -1) and records nothing. Like Conduit's base-URL mode it
// serves /<key>/<rest> as <upstream>/<rest>, so both do the same routing
// work; its upstream transport pools connections as Conduit's does (512
// idle, 256 per host: Go's default of 2 per host would churn connections
// under 64 clients and make the baseline look worse than it is). It prints
// "listening on http://host:port" and serves until SIGTERM.
func serveBaseline(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve-baseline", flag.ContinueOnError)
	rs := routes{}
	fs.Var(rs, "route", "key=URL: serve /key/… from URL/… (repeatable)")
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	caFile := fs.String("ca-file", "", "PEM roots for TLS upstreams")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(rs) == 0 {
		return errors.New("no -route")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 256
	if *caFile != "" {
		pool, err := caPool(*caFile)
		if err != nil {
			return err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	mux := make(map[string]http.Handler, len(rs))
	for k, u := range rs {
		mux[k] = http.StripPrefix("/"+k, &httputil.ReverseProxy{
			Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
			FlushInterval: -1,
			Transport:     tr,
			ErrorLog:      log.New(os.Stderr, "reverseproxy: ", log.LstdFlags|log.Lmicroseconds),
		})
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		h := mux[key]
		if h == nil {
			http.NotFound(w, r)
			return
		}
		// Without full duplex, net/http reads to the end of and closes the
		// request body at the response's first write, while the
		// transport may still be reading it (for the end of the body):
		// that read then fails as a request write error, and the
		// transport closes the upstream connection in the middle of the
		// response (seen as streams cut now and then).
		http.NewResponseController(w).EnableFullDuplex()
		h.ServeHTTP(w, r)
	})
	return serveUntilSignal(*listen, handler, stdout)
}

// serveUntilSignal serves h on addr with the same server settings as
// Conduit's listener, printing the address it listens on, until SIGTERM or
// an interrupt.
func serveUntilSignal(addr string, h http.Handler, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: log.New(io.Discard, "", 0)}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// caPool reads the -ca-file the baselines trust the TLS fake with.
func caPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read -ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca-file %s: no certificate", path)
	}
	return pool, nil
}
