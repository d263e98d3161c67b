package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/config"
)

// startClaimed runs serveClaimed on the config at path until the test ends,
// and returns the address the proxy listens on once its state file is
// written.
func startClaimed(t *testing.T, path string) string {
	t.Helper()
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	published := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveClaimed(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, false, published)
	}()
	var addr string
	select {
	case addr = <-published:
	case err := <-done:
		t.Fatalf("proxy did not start: %v", err)
	}
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	return addr
}

// freePortConfig writes a config listening on a free port (as the demo's
// does), its CA in caDir, and returns its path.
func freePortConfig(t *testing.T, dir, caDir string) string {
	t.Helper()
	path := filepath.Join(dir, "conduit.toml")
	writeFile(t, path, `listen = "127.0.0.1:0"
[providers.openai]
upstream = "https://api.openai.com"
[mitm]
ca_dir = "`+caDir+`"
`)
	return path
}

// TestEnvAndRunFollowTheRunningProxy guards that env and run point at the
// port the proxy really listens on (here a free port, from listen =
// "127.0.0.1:0"), found through the state file beside its ledger, and that
// the file goes when the proxy stops.
func TestEnvAndRunFollowTheRunningProxy(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "api.openai.com")
	path := freePortConfig(t, dir, ca.Dir())
	stateFile := filepath.Join(dir, "conduit.db.proxy.json")

	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	published := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveClaimed(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, false, published)
	}()
	addr := <-published

	var st proxyState
	if b, err := os.ReadFile(stateFile); err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("state file: %v %s", err, b)
	}
	if st.PID != os.Getpid() || st.Addr != addr || st.Config != path || st.Ledger != cfg.Ledger.Path || st.StartedAt.IsZero() {
		t.Errorf("state %+v, want pid %d addr %s config %s", st, os.Getpid(), addr, path)
	}

	code, out, errOut := runConduit(t, nil, "-c", path, "env", "--mode", "proxy", "--shell", "sh")
	if code != 0 || !strings.Contains(out, "export HTTPS_PROXY='http://"+addr+"'\n") {
		t.Errorf("env --mode proxy: exit %d, stderr %q:\n%s", code, errOut, out)
	}
	code, out, errOut = runConduit(t, nil, "-c", path, "env")
	if code != 0 || !strings.Contains(out, "export OPENAI_BASE_URL='http://"+addr+"/openai/v1'\n") {
		t.Errorf("env: exit %d, stderr %q:\n%s", code, errOut, out)
	}
	if _, err := os.Stat("/bin/sh"); err == nil {
		code, out, errOut = runConduit(t, nil, "-c", path, "run", "--", "/bin/sh", "-c", `printf %s "$HTTPS_PROXY"`)
		// run attributes its calls: a project and session before the @.
		if code != 0 || !strings.HasPrefix(out, "http://conduit+project=") || !strings.HasSuffix(out, "@"+addr) {
			t.Errorf("run: exit %d, output %q, stderr %q", code, out, errOut)
		}
	}

	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stateFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left after a clean stop: %v", err)
	}
}

// TestEnvNeverPrintsPortZero guards a listen = "127.0.0.1:0" config with no
// proxy running: env and run fail saying what to do instead of handing out
// an address nothing listens on; --listen says where the proxy is.
func TestEnvNeverPrintsPortZero(t *testing.T) {
	dir := t.TempDir()
	path := freePortConfig(t, dir, newCA(t, "api.openai.com").Dir())
	for _, args := range [][]string{
		{"env", "--mode", "proxy"},
		{"env"},
		{"run", "--", "true"},
	} {
		code, out, errOut := runConduit(t, nil, append([]string{"-c", path}, args...)...)
		if code != exitError || strings.Contains(out, ":0") || !strings.Contains(errOut, "picks a free port") ||
			!strings.Contains(errOut, "conduit -c "+path+" proxy") || !strings.Contains(errOut, "--listen") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	code, out, errOut := runConduit(t, nil, "-c", path, "env", "--mode", "proxy", "--listen", ":18095")
	if code != 0 || !strings.Contains(out, "export HTTPS_PROXY='http://127.0.0.1:18095'\n") {
		t.Errorf("--listen :18095: exit %d, stderr %q:\n%s", code, errOut, out)
	}
	code, _, errOut = runConduit(t, nil, "-c", path, "env", "--listen", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(errOut, "port 0") {
		t.Errorf("--listen 127.0.0.1:0: exit %d, stderr %q", code, errOut)
	}
}

// TestStaleStateFileIgnored guards a state file left by a proxy that died:
// its pid is not alive, so env uses the config's listen, and a new proxy
// starts on the ledger (and replaces the file).
func TestStaleStateFileIgnored(t *testing.T) {
	path := envConfig(t, "127.0.0.1:9090", t.TempDir())
	ledgerPath := filepath.Join(filepath.Dir(path), "conduit.db")
	stale, _ := json.Marshal(proxyState{PID: math.MaxInt32, Addr: "127.0.0.1:1", Config: path, Ledger: ledgerPath, StartedAt: time.Now()})
	writeFile(t, stateFilePath(ledgerPath), string(stale))
	code, out, errOut := runConduit(t, nil, "-c", path, "env", "--mode", "proxy")
	if code != 0 || !strings.Contains(out, "HTTPS_PROXY='http://127.0.0.1:9090'") {
		t.Errorf("exit %d, stderr %q:\n%s", code, errOut, out)
	}
}

// TestSecondProxyOnOneLedgerRefused guards the ledger's one writer: a
// second proxy on the same ledger does not start, and says which proxy
// holds it (pid and address) and how to go on; with --allow-second-writer
// it starts, and leaves the first one's state file alone.
func TestSecondProxyOnOneLedgerRefused(t *testing.T) {
	dir := t.TempDir()
	path := freePortConfig(t, dir, filepath.Join(dir, "ca"))
	first := startClaimed(t, path)

	code, _, errOut := runConduit(t, nil, "-c", path, "proxy")
	for _, want := range []string{"another conduit proxy", "pid " + itoa(os.Getpid()), "at " + first,
		filepath.Join(dir, "conduit.db"), "[ledger] path", "--allow-second-writer"} {
		if code != exitError || !strings.Contains(errOut, want) {
			t.Errorf("second proxy: exit %d, stderr %q lacks %q", code, errOut, want)
		}
	}

	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	ctx, stop := context.WithCancel(context.Background())
	published := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveClaimed(ctx, slog.New(slog.NewTextHandler(&lockedWriter{mu: make(chan struct{}, 1), w: &logs}, nil)), cfg, true, published)
	}()
	second := <-published
	stop()
	if err := <-done; err != nil {
		t.Fatalf("second proxy with --allow-second-writer: %v", err)
	}
	if !strings.Contains(logs.String(), "another conduit proxy writes this ledger too") {
		t.Errorf("no warning:\n%s", logs.String())
	}
	st := runningProxy(cfg.Ledger.Path)
	if st == nil || st.Addr != first || second == first {
		t.Errorf("state file after the second proxy stopped: %+v (first %s, second %s)", st, first, second)
	}
}

// TestReadersUseTheRunningProxysConfig guards `make run` then `conduit
// report` in the same directory: with no conduit.toml there, the commands
// that read the ledger use the config of the proxy running on a ledger in
// the working directory, and say which.
func TestReadersUseTheRunningProxysConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conduit.example.toml")
	writeFile(t, path, "listen = \"127.0.0.1:0\"\n[providers.openai]\nupstream = \"https://api.openai.com\"\n[mitm]\nca_dir = \"ca\"\n")
	addr := startClaimed(t, path)
	t.Chdir(dir)

	code, out, errOut := runConduit(t, nil, "report")
	if code != 0 || !strings.Contains(out, "TOTAL") {
		t.Fatalf("report: exit %d, stderr %q:\n%s", code, errOut, out)
	}
	if want := "using conduit.example.toml, the config of the proxy running on conduit.db (pid " + itoa(os.Getpid()) + " at " + addr + ")"; strings.Count(errOut, want) != 1 {
		t.Errorf("stderr %q does not say once %q", errOut, want)
	}
	// The proxy itself never takes another's config.
	code, _, errOut = runConduit(t, nil, "proxy")
	if code != exitError || !strings.Contains(errOut, "no config file at conduit.toml") {
		t.Errorf("proxy: exit %d, stderr %q", code, errOut)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
