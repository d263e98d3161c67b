package examples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// codexBin installs Codex CLI (@openai/codex, pinned in
// testdata/codex/package.json; its WebSocket behaviour is described in
// examples/fakeprovider/testdata/clients.md) once into the user cache, and
// returns its executable.
func codexBin(t *testing.T) string {
	t.Helper()
	_, dir := npmInstall(t, "testdata/codex")
	return filepath.Join(dir, "node_modules", ".bin", "codex")
}

// codexUsage is Codex's own account of a turn's tokens (turn.completed in
// `codex exec --json`).
type codexUsage struct {
	InputTokens       int64 `json:"input_tokens"`
	CachedInputTokens int64 `json:"cached_input_tokens"`
	OutputTokens      int64 `json:"output_tokens"`
}

// TestCodexWebSocket runs the real Codex CLI through Conduit with its
// Responses WebSocket on, in base-URL mode (a custom provider with
// supports_websockets = true) and in forward mode (the built-in OpenAI
// provider, HTTPS_PROXY and Conduit's CA): Codex must not fall back or
// retry, and the ledger must hold its WebSocket responses with exactly the
// tokens Codex itself reports.
func TestCodexWebSocket(t *testing.T) {
	t.Parallel()
	codex := codexBin(t)
	s := startStack(t)
	modes := []struct {
		mode    string
		project string
		config  string
		env     []string
	}{
		{ledger.ModeBaseURL, "codex-base", fmt.Sprintf(`model_provider = "conduit"
[model_providers.conduit]
name = "conduit"
base_url = "http://%s/@project=codex-base/openai/v1"
env_key = "CODEX_API_KEY"
wire_api = "responses"
supports_websockets = true
`, s.addr), []string{"NO_PROXY=127.0.0.1"}},
		{ledger.ModeForward, "codex-forward", "", []string{
			"HTTPS_PROXY=http://conduit+project=codex-forward:x@" + s.addr,
			"CODEX_CA_CERTIFICATE=" + s.caPath,
		}},
	}
	want := map[string]codexUsage{}
	for _, m := range modes {
		home := t.TempDir()
		// Top-level keys first, then the tables.
		top, tables, _ := strings.Cut(m.config, "\n[")
		cfg := "model = \"gpt-5.5\"\ncheck_for_update_on_startup = false\n" + top +
			"\n[features]\nplugins = false\n[analytics]\nenabled = false\n"
		if tables != "" {
			cfg += "[" + tables
		}
		if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		cmd := exec.CommandContext(ctx, codex, "exec", "--json", "--skip-git-repo-check", "say hello")
		cmd.Dir = t.TempDir()
		cmd.Env = append(baseEnv(t), append([]string{"CODEX_HOME=" + home, "CODEX_API_KEY=sk-test"}, m.env...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("%s: codex exec: %v\nstdout:\n%s\nstderr:\n%s\nproxy log:\n%s", m.mode, err, stdout.String(), stderr.String(), s.log())
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			switch {
			case strings.Contains(line, "codex_models_manager"):
				// In forward mode Codex refreshes its model list from
				// chatgpt.com, which Conduit does not intercept: it tunnels
				// the CONNECT, and the test's upstream proxy, which reaches
				// only the fake's API hosts, refuses it. No part of the
				// transport under test, so it is shown, not failed on.
				t.Logf("%s: codex printed %q", m.mode, line)
			case strings.Contains(line, "ERROR") || strings.Contains(line, "Falling back") || strings.Contains(line, "Reconnecting"):
				t.Errorf("%s: codex printed %q", m.mode, line)
			}
		}
		var u codexUsage
		sc := bufio.NewScanner(&stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				Type  string
				Usage *codexUsage
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "turn.completed" && ev.Usage != nil {
				u = *ev.Usage
			}
		}
		if u.OutputTokens == 0 {
			t.Fatalf("%s: no turn.completed usage in codex's output:\n%s", m.mode, stdout.String())
		}
		want[m.project] = u
		t.Logf("%s: codex reported %+v", m.mode, u)
	}

	s.stop(t) // flushes every record
	db, err := ledger.OpenReadOnly(s.ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, m := range modes {
		page, err := db.Page(context.Background(), ledger.Filter{Project: m.project}, ledger.Cursor{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got codexUsage
		conn := ""
		for _, r := range page.Rows {
			t.Logf("%s: %s %s %s %s in %d out %d connection %s", m.mode, r.Method, r.Path, r.Outcome, r.Model, r.InputTokens, r.OutputTokens, r.ConnectionID)
			if r.Mode != m.mode || r.Status != 101 || r.ConnectionID == "" || r.Outcome != ledger.OutcomeComplete {
				t.Errorf("%s: record %s %s status %d outcome %s connection %q: want a complete WebSocket response", m.mode, r.Method, r.Path, r.Status, r.Outcome, r.ConnectionID)
			}
			if conn == "" {
				conn = r.ConnectionID
			}
			got.InputTokens += r.InputTokens
			got.CachedInputTokens += r.CachedInputTokens
			got.OutputTokens += r.OutputTokens
		}
		if len(page.Rows) < 1 || got != want[m.project] {
			t.Errorf("%s: %d records with %+v in all; codex reported %+v", m.mode, len(page.Rows), got, want[m.project])
		}
	}
}
