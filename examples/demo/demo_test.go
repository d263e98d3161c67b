package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/internal/testbin"
	"github.com/valohai/conduit/ledger"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// buildTestConduit returns cmd/conduit, built once for the package's tests.
func buildTestConduit(t *testing.T) string { return testbin.Path(t, testbin.Conduit) }

// TestDemoTraffic runs the demo without the dashboard and checks what it
// promises a newcomer: every call of the mix reached the ledger, through
// the way in it was sent by (base URL or HTTPS_PROXY), with the outcome,
// model and token counts the fake provider reported; the report printed at
// the end shows the calls; the proxy stopped (run returned only after it
// exited). The cloud calls name the real hosts, in both modes.
func TestDemoTraffic(t *testing.T) {
	bin := buildTestConduit(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"-conduit", bin, "-dir", dir, "-no-dashboard", "-fast"}, nil, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{"sent 16 calls: 11 by base URL, 5 through HTTPS_PROXY", "Calls by model", "claude-sonnet-4-5", "TOTAL                      16"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	db, err := ledger.OpenReadOnly(filepath.Join(dir, "conduit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, _, err := db.RowsSince(ctx, ledger.Filter{}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(mix) {
		t.Fatalf("ledger has %d calls, want %d", len(rows), len(mix))
	}
	tg := target{proxy: "http://proxy.invalid", fakes: map[string]string{}}
	for i, c := range mix {
		r := rows[i] // the calls are sent one after another: ledger order is mix order
		wantMode := ledger.ModeBaseURL
		if c.forward {
			wantMode = ledger.ModeForward
		}
		if r.Mode != wantMode || r.Provider != c.provider || r.Outcome != c.outcome || r.Client != c.client {
			t.Errorf("call %d (%s %s): mode %s provider %s outcome %s client %q; want %s %s %s %q",
				i, c.provider, c.path, r.Mode, r.Provider, r.Outcome, r.Client, wantMode, c.provider, c.outcome, c.client)
		}
		if h, ok := cloudHosts[c.provider]; ok && r.Host != h {
			t.Errorf("call %d: host %q, want the real host %q", i, r.Host, h)
		}
		wantModel := c.model
		if m := c.knobs[fakeprovider.HeaderModel]; m != "" {
			wantModel = m
		}
		if r.Model != wantModel {
			t.Errorf("call %d: model %q, want %q", i, r.Model, wantModel)
		}
		if c.outcome != ledger.OutcomeComplete {
			continue
		}
		req, err := tg.request(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fakeprovider.ExpectedUsage(req.URL.Path, req.Header, []byte(c.body()), fakeprovider.Options{})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if !r.HasUsage || int(r.InputTokens) != want.InputTokens || int(r.OutputTokens) != want.OutputTokens {
			t.Errorf("call %d (%s): tokens in %d out %d, want %d %d", i, c.model, r.InputTokens, r.OutputTokens, want.InputTokens, want.OutputTokens)
		}
		if wantTags := strings.Split(c.tags, ","); c.tags != "" && !slices.Equal(r.Tags, wantTags) {
			t.Errorf("call %d: tags %v, want %v", i, r.Tags, wantTags)
		}
	}
}

// TestDemoMixCoversBothModesAndAllAPIs guards the promise that the demo
// shows every API format, both ways in, and each outcome a newcomer should
// recognise.
func TestDemoMixCoversBothModesAndAllAPIs(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range mix {
		seen["provider:"+c.provider] = true
		seen["outcome:"+c.outcome] = true
		seen["forward:"+map[bool]string{true: "yes", false: "no"}[c.forward]] = true
		seen["stream:"+map[bool]string{true: "yes", false: "no"}[c.stream]] = true
	}
	for _, want := range []string{
		"provider:openai", "provider:anthropic", "provider:gemini", "provider:ollama",
		"outcome:" + ledger.OutcomeComplete, "outcome:" + ledger.OutcomeIncomplete, "outcome:" + ledger.OutcomeUpstreamError,
		"forward:yes", "forward:no", "stream:yes", "stream:no",
	} {
		if !seen[want] {
			t.Errorf("the demo's mix has no call with %s", want)
		}
	}
}

// TestDemoFlags guards the command line: mistakes are usage errors, and
// dashboard flags after -- reach the dashboard.
func TestDemoFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantErr  error
		wantRest []string
	}{
		{"defaults", nil, nil, nil},
		{"dashboard flags", []string{"--", "--theme", "qbasic"}, nil, []string{"--theme", "qbasic"}},
		{"unknown flag", []string{"-nope"}, errUsage, nil},
		{"dashboard flags without a dashboard", []string{"-no-dashboard", "--", "--theme", "mono"}, errUsage, nil},
		{"help", []string{"-h"}, errHelp, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && !slices.Equal(o.dashArgs, tt.wantRest) {
				t.Errorf("dashboard args %q, want %q", o.dashArgs, tt.wantRest)
			}
		})
	}
}

// TestDemoProxyExitAtStart guards the error a newcomer sees when the proxy
// cannot start: it names the failure and includes the proxy's log.
func TestDemoProxyExitAtStart(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil || runtime.GOOS == "windows" {
		t.Skip("no sh to stand in for a failing conduit")
	}
	// A "conduit" whose every command but "ca" fails at once.
	fake := filepath.Join(t.TempDir(), "conduit")
	script := "#!" + sh + "\ncase \"$3\" in ca) exit 0;; esac\necho 'config: listen: address already in use' >&2\nexit 1\n"
	if err := writeExecutable(fake, script); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	err = run(ctx, []string{"-conduit", fake, "-dir", t.TempDir(), "-no-dashboard"}, nil, &stdout, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "exited at start") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v, want the start failure with the proxy's log", err)
	}
}

// TestWaitHealthy guards the readiness poll: a proxy that answers 200 on
// /health is ready; one that never does fails at the deadline.
func TestWaitHealthy(t *testing.T) {
	ok := newHealthServer(t, http.StatusOK)
	if err := waitHealthy(context.Background(), ok, nil); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	bad := newHealthServer(t, http.StatusServiceUnavailable)
	deadline := make(chan time.Time, 1)
	deadline <- time.Now()
	if err := waitHealthy(context.Background(), bad, deadline); err == nil {
		t.Error("unhealthy server: no error")
	}
}

var errHelp = flag.ErrHelp

func writeExecutable(path, text string) error {
	return os.WriteFile(path, []byte(text), 0o755)
}

// newHealthServer answers every request with status and returns its URL.
func newHealthServer(t *testing.T, status int) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestConnectProxy guards the demo's stand-in for a corporate proxy: it
// tunnels CONNECTs to the fake's API hosts on port 443 and refuses the rest,
// so nothing the demo starts can reach another host.
func TestConnectProxy(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	p, err := startConnectProxy([]string{"api.openai.com"}, target.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tests := []struct {
		method, host string
		want         int
	}{
		{http.MethodConnect, "api.openai.com:443", http.StatusOK},
		{http.MethodConnect, "example.com:443", http.StatusForbidden},
		{http.MethodConnect, "api.openai.com:8443", http.StatusForbidden},
		{http.MethodGet, "api.openai.com:443", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", tt.method, tt.host, tt.host)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestDemoAgainInAKeptDirectoryWithoutATerminal guards two newcomer paths:
// `make demo DEMOFLAGS=-dir=…` a second time reuses the CA the first run
// made (it used to fail: a local CA already exists), and a demo started
// where there is no terminal (CI, a pipe) runs as with -no-dashboard,
// saying so, instead of failing when the dashboard opens /dev/tty.
func TestDemoAgainInAKeptDirectoryWithoutATerminal(t *testing.T) {
	bin := buildTestConduit(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	if err := run(ctx, []string{"-conduit", bin, "-dir", dir, "-no-dashboard", "-fast"}, nil, &stdout, io.Discard); err != nil {
		t.Fatalf("first run: %v\n%s", err, &stdout)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}

	defer func(prev func() error) { checkTerminal = prev }(checkTerminal)
	checkTerminal = func() error { return errors.New("open /dev/tty: no such device or address") }
	stdout.Reset()
	if err := run(ctx, []string{"-conduit", bin, "-dir", dir, "-fast"}, nil, &stdout, io.Discard); err != nil {
		t.Fatalf("second run: %v\n%s", err, &stdout)
	}
	out := stdout.String()
	for _, want := range []string{
		"using the CA from the last run in " + filepath.Join(dir, "ca"),
		"no terminal for the dashboard (open /dev/tty: no such device or address): running as with -no-dashboard",
		"Calls by model",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second run's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "opening the dashboard") {
		t.Errorf("the second run tried the dashboard:\n%s", out)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "ca", "ca.pem")); !bytes.Equal(again, caPEM) {
		t.Error("the second run replaced the CA")
	}
}
