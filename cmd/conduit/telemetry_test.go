package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/examples/fakeprovider"
)

// TestProxyTelemetry guards the wiring of [metrics] and [otel] in `conduit
// proxy`: /metrics on the proxy's port counts the calls (404 with
// enabled = false), and with an [otel] endpoint the stop flushes spans and
// metrics to the collector.
func TestProxyTelemetry(t *testing.T) {
	tests := []struct {
		name    string
		extra   string
		metrics bool
		otel    bool
	}{
		{"defaults: metrics on, no export", "", true, false},
		{"metrics off", "[metrics]\nenabled = false\n", false, false},
		{"metrics off, export on", "[metrics]\nenabled = false\n[otel]\nendpoint = \"COLLECTOR\"\n", false, true},
		{"both", "[otel]\nendpoint = \"COLLECTOR\"\nservice_name = \"conduit-test\"\n", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeprovider.New(fakeprovider.Options{})
			fs := httptest.NewServer(fake)
			defer fs.Close()
			defer fake.Close()
			var mu sync.Mutex
			exports := map[string]int{}
			collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				mu.Lock()
				exports[r.URL.Path]++
				mu.Unlock()
			}))
			defer collector.Close()

			dir := t.TempDir()
			path := filepath.Join(dir, "conduit.toml")
			writeFile(t, path, "listen = \"127.0.0.1:0\"\n[providers.openai]\nupstream = \""+fs.URL+"\"\n[mitm]\nca_dir = \""+
				filepath.Join(dir, "ca")+"\"\n"+strings.ReplaceAll(tt.extra, "COLLECTOR", collector.URL))
			cfg, err := config.Load(path, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			logs := &strings.Builder{}
			logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: make(chan struct{}, 1), w: logs}, nil))
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			ready := make(chan string, 1)
			done := make(chan error, 1)
			go func() { done <- serveProxy(ctx, logger, cfg, ready) }()
			addr := <-ready

			resp, err := http.Post("http://"+addr+"/openai/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()

			resp, err = http.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case tt.metrics && resp.StatusCode != 200:
				t.Errorf("GET /metrics: %d", resp.StatusCode)
			case tt.metrics && !strings.Contains(string(body), "conduit_ledger_queue_depth"):
				t.Errorf("/metrics lacks the ledger gauges:\n%s", body)
			case !tt.metrics && resp.StatusCode != 404:
				t.Errorf("GET /metrics with [metrics] enabled = false: %d, want 404", resp.StatusCode)
			}

			stop()
			if err := <-done; err != nil {
				t.Fatalf("serveProxy: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := exports["/v1/traces"] > 0 && exports["/v1/metrics"] > 0; got != tt.otel {
				t.Errorf("exports %v, want spans and metrics exported: %v", exports, tt.otel)
			}
			if tt.otel && !strings.Contains(logs.String(), "opentelemetry export (OTLP/HTTP) to "+collector.URL) {
				t.Errorf("the export is not announced:\n%s", logs)
			}
		})
	}
}
