package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
)

const testValohaiKey = "vh-CLI-SECRET-987654321"

// fakeIngest is a loopback Valohai LLM ingest endpoint. status, if set,
// answers request n (from 0); otherwise 200.
type fakeIngest struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]map[string]any
	auths  []string
}

func newFakeIngest(t *testing.T, status func(n int) int) *fakeIngest {
	t.Helper()
	f := &fakeIngest{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var items []map[string]any
		_ = json.Unmarshal(body, &items)
		f.mu.Lock()
		n := len(f.bodies)
		f.bodies = append(f.bodies, items)
		f.auths = append(f.auths, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if status != nil {
			if code := status(n); code != 0 {
				w.WriteHeader(code)
				fmt.Fprint(w, "refused; you sent "+r.Header.Get("Authorization"))
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIngest) received() ([][]map[string]any, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]map[string]any(nil), f.bodies...), append([]string(nil), f.auths...)
}

// syncFixture writes a config whose [valohai-llm] points at ingestURL (with
// the key unless key is "") and a ledger with three eligible calls and one
// without x-vh-* headers.
func syncFixture(t *testing.T, ingestURL, key string) (configPath, ledgerPath string) {
	t.Helper()
	dir := t.TempDir()
	configPath = filepath.Join(dir, "conduit.toml")
	vh := "[valohai-llm]\nurl = \"" + ingestURL + "\"\n"
	if key != "" {
		vh += "api_key = \"" + key + "\"\n"
	}
	writeFile(t, configPath, "[providers.work]\nupstream = \"https://api.anthropic.com\"\n"+vh)
	ledgerPath = filepath.Join(dir, "conduit.db")
	db, err := ledger.Open(ledgerPath, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	var recs []ledger.Record
	for i := range 4 {
		c := 0.01
		r := ledger.Record{
			ID: fmt.Sprintf("call-%d", i), StartedAt: now.Add(time.Duration(i-10) * time.Minute), FinishedAt: now,
			Provider: "work", API: "anthropic", Mode: ledger.ModeBaseURL, Method: "POST",
			Host: "api.anthropic.com", Path: "/v1/messages", Model: "claude-sonnet-4-5", Status: 200,
			Outcome: ledger.OutcomeComplete, HasUsage: true, InputTokens: 10, OutputTokens: 5, CostUSD: &c,
			UsageRaw:  json.RawMessage(`{"input_tokens":10,"output_tokens":5}`),
			VHHeaders: map[string]string{"x-vh-run": fmt.Sprintf("r%d", i)},
		}
		if i == 3 {
			r.VHHeaders = nil
		}
		recs = append(recs, r)
	}
	if err := db.Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return configPath, ledgerPath
}

func syncCounts(t *testing.T, path string) ledger.SyncCounts {
	t.Helper()
	db, err := ledger.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.SyncCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSyncCommand: `conduit sync` sends the eligible calls with the
// config's key, prints counts, and has nothing to send the second time.
func TestSyncCommand(t *testing.T) {
	in := newFakeIngest(t, nil)
	cfg, db := syncFixture(t, in.URL, testValohaiKey)
	code, out, errOut := runCLI(t, nil, "-c", cfg, "sync")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "Sent 3 calls to " + in.URL + " in 1 request.\nValohai LLM sync: 0 pending, 3 sent, 0 failing\n"
	if out != want {
		t.Errorf("stdout %q\nwant %q", out, want)
	}
	bodies, auths := in.received()
	if len(bodies) != 1 || len(bodies[0]) != 3 || auths[0] != "Bearer "+testValohaiKey {
		t.Fatalf("received %v with %v", bodies, auths)
	}
	// The built-in name of the host, not the [providers.work] key.
	if first := bodies[0][0]; first["transit_id"] != "call-0" || first["provider"] != "anthropic" {
		t.Errorf("first record %v", first)
	}
	if c := syncCounts(t, db); c != (ledger.SyncCounts{Sent: 3}) {
		t.Errorf("counts %+v", c)
	}

	code, out, _ = runCLI(t, nil, "sync", "-c", cfg)
	if code != 0 || out != "Nothing to send.\nValohai LLM sync: 0 pending, 3 sent, 0 failing\n" {
		t.Errorf("second run: exit %d, %q", code, out)
	}
}

// TestSyncCommandFailure: a refusal ends `conduit sync` with status 1,
// the calls still pending and failing, and the key in no output.
func TestSyncCommandFailure(t *testing.T) {
	in := newFakeIngest(t, func(int) int { return http.StatusUnauthorized })
	cfg, db := syncFixture(t, in.URL, testValohaiKey)
	code, out, errOut := runCLI(t, nil, "-c", cfg, "sync")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if out != "Valohai LLM sync: 3 pending, 0 sent, 3 failing\n" {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut, "conduit: sync: Valohai LLM answered 401 Unauthorized: refused; you sent Bearer [redacted]") {
		t.Errorf("stderr %q", errOut)
	}
	if strings.Contains(out+errOut, testValohaiKey) {
		t.Error("the key was printed")
	}
	if c := syncCounts(t, db); c != (ledger.SyncCounts{Pending: 3, Failing: 3}) {
		t.Errorf("counts %+v", c)
	}

	// conduit report shows the state, with the error.
	code, out, _ = runCLI(t, nil, "-c", cfg, "report")
	if code != 0 || !strings.Contains(out, "\nValohai LLM sync: 3 pending, 0 sent, 3 failing; last error at ") ||
		!strings.Contains(out, "401 Unauthorized") || strings.Contains(out, testValohaiKey) {
		t.Errorf("report: exit %d\n%s", code, out)
	}
}

// TestSyncCommandConfig: the key may come from the environment; without
// one, sync says how to set it; a missing ledger is not created.
func TestSyncCommandConfig(t *testing.T) {
	in := newFakeIngest(t, nil)
	cfg, _ := syncFixture(t, in.URL, "")
	code, _, errOut := runCLI(t, nil, "-c", cfg, "sync")
	if code != 1 || !strings.Contains(errOut, "Valohai LLM is not configured: set api_key in the [valohai-llm] table of "+cfg+", or VALOHAI_LLM_API_KEY") {
		t.Errorf("no key: exit %d, %q", code, errOut)
	}
	code, out, errOut := runCLI(t, map[string]string{"VALOHAI_LLM_API_KEY": testValohaiKey}, "-c", cfg, "sync")
	if code != 0 || !strings.HasPrefix(out, "Sent 3 calls") {
		t.Errorf("key from env: exit %d, %q %q", code, out, errOut)
	}
	if _, auths := in.received(); len(auths) != 1 || auths[0] != "Bearer "+testValohaiKey {
		t.Errorf("auth %v", auths)
	}

	missing := filepath.Join(t.TempDir(), "none.db")
	code, _, errOut = runCLI(t, map[string]string{"VALOHAI_LLM_API_KEY": testValohaiKey}, "-c", cfg, "sync", "--ledger", missing)
	if code != 1 || !strings.Contains(errOut, "no ledger at "+missing) {
		t.Errorf("missing ledger: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(missing); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("sync created %s: %v", missing, err)
	}
	code, _, errOut = runCLI(t, nil, "-c", cfg, "sync", "extra")
	if code != 2 || !strings.Contains(errOut, "unexpected argument 'extra'") {
		t.Errorf("extra argument: exit %d, %q", code, errOut)
	}
}

// TestSyncDryRun: --dry-run prints the payload as one indented JSON array
// in the wire's field names, sends and marks nothing, needs no key.
func TestSyncDryRun(t *testing.T) {
	in := newFakeIngest(t, nil)
	cfg, db := syncFixture(t, in.URL, "")
	code, out, errOut := runCLI(t, nil, "-c", cfg, "sync", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(items) != 3 {
		t.Fatalf("%d items", len(items))
	}
	if !strings.HasPrefix(out, "[\n  {\n    \"transit_id\": \"call-0\",\n    \"provider\": \"anthropic\",\n") ||
		!strings.HasSuffix(out, "\n  }\n]\n") || strings.Count(out, "\n  },\n  {\n") != 2 {
		t.Errorf("not indented as an array:\n%s", out)
	}
	for _, k := range []string{"transit_id", "provider", "vh_headers", "model", "usage", "estimated_cost_usd"} {
		if _, ok := items[0][k]; !ok {
			t.Errorf("item lacks %s: %v", k, items[0])
		}
	}
	if !strings.Contains(errOut, "dry run: would send 3 calls to "+in.URL+"/api/ingest/transits/ in 1 request") {
		t.Errorf("stderr %q", errOut)
	}
	if bodies, _ := in.received(); len(bodies) != 0 {
		t.Errorf("dry run sent %d requests", len(bodies))
	}
	if c := syncCounts(t, db); c != (ledger.SyncCounts{Pending: 3}) {
		t.Errorf("dry run marked: %+v", c)
	}

	// Nothing eligible: an empty array.
	empty := filepath.Join(t.TempDir(), "empty.db")
	e, err := ledger.Open(empty, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	code, out, _ = runCLI(t, nil, "-c", cfg, "sync", "--dry-run", "--ledger", empty)
	if code != 0 || out != "[]\n" {
		t.Errorf("empty: exit %d, %q", code, out)
	}
}

// TestReportSyncLine: `conduit report` ends its table with the sync's
// counts when the sync is configured, and only then; JSON stays JSON.
func TestReportSyncLine(t *testing.T) {
	in := newFakeIngest(t, nil)
	tests := []struct {
		name, key, format string
		want              bool
	}{
		{"enabled", testValohaiKey, "table", true},
		{"disabled", "", "table", false},
		{"json", testValohaiKey, "json", false},
	}
	for _, tt := range tests {
		cfg, _ := syncFixture(t, in.URL, tt.key)
		code, out, errOut := runCLI(t, nil, "-c", cfg, "report", "--format", tt.format)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tt.name, code, errOut)
		}
		if got := strings.Contains(out, "Valohai LLM sync: 3 pending, 0 sent, 0 failing\n"); got != tt.want {
			t.Errorf("%s: sync line %v, want %v:\n%s", tt.name, got, tt.want, out)
		}
		if strings.Contains(out, "last error") {
			t.Errorf("%s: a last error without failures:\n%s", tt.name, out)
		}
	}
}

// TestProxySendsToValohai: a running proxy with the sync configured sends
// the calls it recorded, and its stop sends the last ones; the provider's
// key never reaches Valohai.
func TestProxySendsToValohai(t *testing.T) {
	fake := fakeprovider.New(fakeprovider.Options{})
	fs := httptest.NewServer(fake)
	defer fs.Close()
	defer fake.Close()
	in := newFakeIngest(t, nil)

	dir := t.TempDir()
	path := filepath.Join(dir, "conduit.toml")
	writeFile(t, path, "listen = \"127.0.0.1:0\"\n[providers.openai]\nupstream = \""+fs.URL+"\"\n[mitm]\nca_dir = \""+
		filepath.Join(dir, "ca")+"\"\n[valohai-llm]\nurl = \""+in.URL+"\"\napi_key = \""+testValohaiKey+"\"\n")
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

	for _, vh := range []string{"run-1", ""} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/openai/v1/chat/completions",
			strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer sk-PROVIDER-KEY")
		if vh != "" {
			req.Header.Set("X-VH-Run", vh)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serveProxy: %v", err)
	}
	bodies, auths := in.received()
	if len(bodies) != 1 || len(bodies[0]) != 1 {
		t.Fatalf("Valohai LLM received %v", bodies)
	}
	got := bodies[0][0]
	if vh, _ := got["vh_headers"].(map[string]any); vh["x-vh-run"] != "run-1" || got["provider"] != "openai" || got["usage"] == nil {
		t.Errorf("record %v", got)
	}
	raw, _ := json.Marshal(bodies)
	if auths[0] != "Bearer "+testValohaiKey || strings.Contains(string(raw), "sk-PROVIDER-KEY") {
		t.Errorf("auth %q, payload %s", auths[0], raw)
	}
	if c := syncCounts(t, cfg.Ledger.Path); c != (ledger.SyncCounts{Sent: 1}) {
		t.Errorf("counts %+v", c)
	}
	if out := logs.String(); !strings.Contains(out, "sending records to Valohai LLM at "+in.URL) || strings.Contains(out, testValohaiKey) {
		t.Errorf("log:\n%s", out)
	}
}
