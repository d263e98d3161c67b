package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// started runs the command in the background and returns the URL from its
// first stdout line, the second line (or ""), and a stop function that
// returns run's error.
func started(t *testing.T, args ...string) (url, second string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, io.Discard)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		cancel()
		t.Fatalf("no first line: %v", <-done)
	}
	url, ok := strings.CutPrefix(lines.Text(), "listening on ")
	if !ok {
		t.Fatalf("first line %q", lines.Text())
	}
	if strings.HasPrefix(url, "https://") && lines.Scan() {
		second = lines.Text()
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("run did not return after cancel")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return url, second, stop
}

// TestRunServes guards the address line, that flags become defaults, and a
// clean stop.
func TestRunServes(t *testing.T) {
	url, _, stop := started(t, "-listen", "127.0.0.1:0", "-model", "flag-model", "-events", "2")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("url %q", url)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"model":"flag-model"`) || !strings.Contains(string(body), `"content":"lorem ipsum"`) {
		t.Fatalf("flags not applied: %s", body)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestRunTLS guards -tls-cert: HTTPS with a certificate a client can trust
// from the written PEM file, served as a leaf that is not itself a CA
// (rustls clients such as Codex refuse a CA as the server certificate).
func TestRunTLS(t *testing.T) {
	certPath := filepath.Join(t.TempDir(), "fake.pem")
	url, second, stop := started(t, "-tls-cert", certPath)
	if !strings.HasPrefix(url, "https://127.0.0.1:") || second != "tls certificate "+certPath {
		t.Fatalf("lines %q, %q", url, second)
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("certificate file holds no PEM certificate")
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for _, host := range []string{url, strings.Replace(url, "127.0.0.1", "localhost", 1)} {
		resp, err := client.Get(host + "/api/tags")
		if err != nil {
			t.Fatalf("GET over TLS via %s: %v", host, err)
		}
		resp.Body.Close()
		if leaf := resp.TLS.PeerCertificates[0]; leaf.IsCA || len(resp.TLS.PeerCertificates) != 2 {
			t.Errorf("served leaf IsCA=%v, chain of %d", leaf.IsCA, len(resp.TLS.PeerCertificates))
		}
		if resp.StatusCode != http.StatusNotFound { // /api/tags is not served; the TLS handshake is the point
			t.Errorf("status %d", resp.StatusCode)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestRunUsageErrors guards that bad flags are usage errors (exit 2) and
// -help is not an error.
func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want error
	}{
		{[]string{"-nope"}, errUsage},
		{[]string{"extra"}, errUsage},
		{[]string{"-style", "azure"}, errUsage},
		{[]string{"-events", "-3"}, errUsage},
		{[]string{"-help"}, flag.ErrHelp},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, io.Discard, io.Discard)
		if !errors.Is(err, tt.want) {
			t.Errorf("run(%q) = %v, want %v", tt.args, err, tt.want)
		}
	}
	if err := run(context.Background(), []string{"-listen", "256.0.0.1:0"}, io.Discard, io.Discard); err == nil || errors.Is(err, errUsage) {
		t.Errorf("bad listen address: %v", err)
	}
}
