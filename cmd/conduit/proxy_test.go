package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
)

// TestProxyServesAndStopsGracefully guards `conduit proxy` end to end: it
// loads the config, serves a provider at /<key>, logs the documented lines,
// and on stop lets a call in flight finish before returning.
func TestProxyServesAndStopsGracefully(t *testing.T) {
	release := make(chan struct{})
	fake := fakeprovider.New(fakeprovider.Options{Sleep: func(ctx context.Context, _ time.Duration) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	fs := httptest.NewServer(fake)
	defer fs.Close()
	defer fake.Close()

	dir := t.TempDir()
	path := filepath.Join(dir, "conduit.toml")
	// ca_dir keeps the test off the user's real CA directory.
	writeFile(t, path, "listen = \"127.0.0.1:0\"\n[providers.openai]\nupstream = \""+fs.URL+"\"\n[mitm]\nca_dir = \""+filepath.Join(dir, "ca")+"\"\n")
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: make(chan struct{}, 1), w: logs}, nil))
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveProxy(ctx, logger, cfg, ready) }()
	addr := <-ready

	req, _ := http.NewRequest("POST", "http://"+addr+"/openai/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set(fakeprovider.HeaderDelay, "1ms")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// The stream is in flight (held by the fake): stop the proxy now.
	stop()
	close(release)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Fatalf("in-flight stream cut by the stop: %v %q", err, body)
	}
	if err := <-done; err != nil {
		t.Fatalf("serveProxy: %v", err)
	}
	// The call was written to the ledger beside the config before the stop returned.
	db, err := ledger.OpenReadOnly(cfg.Ledger.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.Page(context.Background(), ledger.Filter{}, ledger.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 1 || page.Rows[0].Provider != "openai" || page.Rows[0].Outcome != ledger.OutcomeComplete || !page.Rows[0].HasUsage {
		t.Fatalf("ledger rows %+v", page.Rows)
	}
	out := logs.String()
	for _, want := range []string{
		"proxy running at http://" + addr,
		// What an OpenAI SDK needs, /v1 included, and what reads it.
		"openai → " + fs.URL + ": base URL http://" + addr + "/openai/v1 (OPENAI_BASE_URL for OpenAI SDKs)",
		"ledger at " + cfg.Ledger.Path + " (beside " + path + "; [ledger] path moves it)",
		"msg=call method=POST provider=openai path=/v1/chat/completions status=200",
		"stopping",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestProxyDrainZeroStopsAtOnce guards `[timeouts] drain = "0s"` end to
// end: when the client leaves a stream, the upstream request is cancelled
// at once instead of being read on for the default 60 s, and the call is
// recorded as client_cancelled.
func TestProxyDrainZeroStopsAtOnce(t *testing.T) {
	cancelled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}`+"\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // the provider never finishes on its own
		close(cancelled)
	}))
	defer up.Close()

	dir := t.TempDir()
	path := filepath.Join(dir, "conduit.toml")
	writeFile(t, path, "listen = \"127.0.0.1:0\"\n[providers.openai]\nupstream = \""+up.URL+"\"\n[timeouts]\ndrain = \"0s\"\n[mitm]\nca_dir = \""+filepath.Join(dir, "ca")+"\"\n")
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveProxy(ctx, slog.New(slog.DiscardHandler), cfg, ready) }()
	addr := <-ready

	req, _ := http.NewRequest("POST", "http://"+addr+"/openai/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // the client leaves mid-stream
	select {
	case <-cancelled:
	case <-time.After(30 * time.Second):
		// Half the default drain: only a drain keeps the upstream this long.
		t.Fatal("the upstream request was not cancelled within 30 s of the client leaving: the stream is being drained")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serveProxy: %v", err)
	}
	db, err := ledger.OpenReadOnly(cfg.Ledger.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.Page(context.Background(), ledger.Filter{}, ledger.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 1 || page.Rows[0].Outcome != ledger.OutcomeClientCancelled {
		t.Fatalf("ledger rows %+v, want one client_cancelled call", page.Rows)
	}
}

type lockedWriter struct {
	mu chan struct{}
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.w.Write(p)
}
