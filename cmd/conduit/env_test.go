package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runConduit runs the CLI in-process and returns its exit status and output.
func runConduit(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

// envConfig writes a config with the usual providers, listening on listen,
// with its CA directory at caDir.
func envConfig(t *testing.T, listen, caDir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conduit.toml")
	writeFile(t, path, `listen = "`+listen+`"
[providers.groq]
upstream = "https://api.groq.com/openai"
[providers.openai]
upstream = "https://api.openai.com"
[providers.claude]
upstream = "https://api.anthropic.com"
[providers.gemini]
upstream = "https://generativelanguage.googleapis.com"
[providers.ollama]
upstream = "http://127.0.0.1:11434"
api = "ollama"
[mitm]
ca_dir = "`+caDir+`"
[server]
allow_remote = true # some tests listen on 0.0.0.0
`)
	return path
}

// TestEnvBaseURL guards the base-URL snippet: each SDK variable points at
// the provider for its real host (not merely the first of its format), and
// every other provider is a comment line.
func TestEnvBaseURL(t *testing.T) {
	cfg := envConfig(t, "0.0.0.0:9090", t.TempDir())
	code, out, errOut := runConduit(t, nil, "-c", cfg, "env", "--shell", "sh")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `# Conduit, base-url mode. Apply with: eval "$(conduit env --mode base-url)"
# openai → https://api.openai.com (OpenAI SDKs (Python, JS, Go), Codex CLI, LiteLLM)
export OPENAI_BASE_URL='http://127.0.0.1:9090/openai/v1'
# claude → https://api.anthropic.com (Anthropic SDKs, Claude Code)
export ANTHROPIC_BASE_URL='http://127.0.0.1:9090/claude'
# gemini → https://generativelanguage.googleapis.com (Google Gen AI SDKs (@google/genai, google-genai), Gemini CLI)
export GOOGLE_GEMINI_BASE_URL='http://127.0.0.1:9090/gemini'
# groq → https://api.groq.com/openai: OpenAI-compatible base URL http://127.0.0.1:9090/groq/v1
# ollama → http://127.0.0.1:11434: Ollama base URL http://127.0.0.1:9090/ollama (OLLAMA_HOST for the ollama Python and JS clients)
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}
}

// TestEnvProxy guards the proxy snippet: both spellings of the proxy
// variables, the user's NO_PROXY kept, Node's switch, and the CA variables —
// the replacing ones pointing at a bundle (system roots + CA) written beside
// the CA.
func TestEnvProxy(t *testing.T) {
	ca := newCA(t, "api.openai.com")
	cfg := envConfig(t, "127.0.0.1:9090", ca.Dir())
	code, out, errOut := runConduit(t, map[string]string{"no_proxy": "corp.internal, localhost"}, "-c", cfg, "env", "--mode", "proxy", "--shell", "sh")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, line := range []string{
		"export HTTPS_PROXY='http://127.0.0.1:9090'",
		"export https_proxy='http://127.0.0.1:9090'",
		"export HTTP_PROXY='http://127.0.0.1:9090'",
		"export http_proxy='http://127.0.0.1:9090'",
		"export NO_PROXY='corp.internal,localhost,127.0.0.1'",
		"export no_proxy='corp.internal,localhost,127.0.0.1'",
		"export NODE_USE_ENV_PROXY='1'",
		"export NODE_EXTRA_CA_CERTS='" + ca.CertPath() + "'",
		"export CODEX_CA_CERTIFICATE='" + ca.CertPath() + "'",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("output lacks %s:\n%s", line, out)
		}
	}
	bundle, err := os.ReadFile(ca.BundlePath())
	if err != nil {
		t.Skipf("no bundle written (no system roots on this machine: %s)", errOut)
	}
	caPEM, _ := os.ReadFile(ca.CertPath())
	if !bytes.Contains(bundle, caPEM) || len(bundle) <= len(caPEM) {
		t.Errorf("bundle of %d bytes does not hold the system roots and the CA", len(bundle))
	}
	for _, name := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"} {
		if !strings.Contains(out, "export "+name+"='"+ca.BundlePath()+"'\n") {
			t.Errorf("%s not pointed at the bundle:\n%s", name, out)
		}
	}
	// The snippet is valid sh: evaluate it and read a variable back.
	if sh, err := exec.LookPath("sh"); err == nil {
		got, err := exec.Command(sh, "-c", out+`printf %s "$SSL_CERT_FILE|$NO_PROXY"`).Output()
		if err != nil || string(got) != ca.BundlePath()+"|corp.internal,localhost,127.0.0.1" {
			t.Errorf("sh evaluation: %q %v", got, err)
		}
	}
}

// TestEnvProxyWithoutCA guards proxy mode before `conduit ca init`: the
// proxy variables are printed, the CA ones are not, and stderr says why.
func TestEnvProxyWithoutCA(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "none")
	cfg := envConfig(t, "127.0.0.1:9090", caDir)
	code, out, errOut := runConduit(t, nil, "-c", cfg, "env", "--mode", "proxy")
	if code != 0 || !strings.Contains(out, "HTTPS_PROXY") || strings.Contains(out, "NODE_EXTRA_CA_CERTS") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(errOut, "conduit ca init") || !strings.Contains(errOut, caDir) {
		t.Errorf("stderr %q", errOut)
	}
	if _, err := os.Stat(caDir); err == nil {
		t.Error("env created the CA directory")
	}
}

// TestEnvUsageErrors guards flag mistakes: exit status 2 and the flag named.
func TestEnvUsageErrors(t *testing.T) {
	cfg := envConfig(t, "127.0.0.1:9090", t.TempDir())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"env", "--mode", "socks"}, "--mode must be proxy or base-url"},
		{[]string{"env", "--shell", "tcsh"}, "--shell must be sh, fish or powershell"},
		{[]string{"env", "extra"}, "unexpected argument 'extra'"},
		{[]string{"env", "--mdoe", "proxy"}, "did you mean --mode?"},
	} {
		code, _, errOut := runConduit(t, nil, append([]string{"-c", cfg}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q", tt.args, code, errOut)
		}
	}
}

// TestRenderEnvQuoting guards each shell's quoting with a value that
// holds every character special to one of them.
func TestRenderEnvQuoting(t *testing.T) {
	v := []clientVar{{Name: "X", Value: `a'b\c $d "e" ’f`, Comment: "why"}, {Comment: "note only"}}
	tests := []struct {
		shell, want string
	}{
		{shellSh, `export X='a'\''b\c $d "e" ’f'`},
		{shellFish, `set -gx X 'a\'b\\c $d "e" ’f'`},
		{shellPowerShell, `$Env:X = 'a''b\c $d "e" ’’f'`},
	}
	for _, tt := range tests {
		out := renderEnv(tt.shell, modeProxy, v)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 4 || lines[1] != "# why" || lines[2] != tt.want || lines[3] != "# note only" {
			t.Errorf("%s:\n%s\nwant line %s", tt.shell, out, tt.want)
		}
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		got, err := exec.Command(sh, "-c", renderEnv(shellSh, modeProxy, v)+`printf %s "$X"`).Output()
		if err != nil || string(got) != v[0].Value {
			t.Errorf("sh read back %q (%v), want %q", got, err, v[0].Value)
		}
	}
}

// TestPickShell guards the default shell: --shell, else $SHELL, else sh
// (PowerShell on Windows).
func TestPickShell(t *testing.T) {
	tests := []struct {
		flag, shellEnv, goos, want string
	}{
		{"", "/bin/bash", "linux", shellSh},
		{"", "/usr/local/bin/fish", "darwin", shellFish},
		{"", "/usr/bin/pwsh", "linux", shellPowerShell},
		{"", "", "windows", shellPowerShell},
		{"", "", "linux", shellSh},
		{"zsh", "/usr/bin/fish", "linux", shellSh},
		{"PowerShell", "", "linux", shellPowerShell},
	}
	for _, tt := range tests {
		got, err := pickShell("env", tt.flag, func(string) string { return tt.shellEnv }, tt.goos)
		if err != nil || got != tt.want {
			t.Errorf("pickShell(%q, SHELL=%q, %s) = %q %v, want %q", tt.flag, tt.shellEnv, tt.goos, got, err, tt.want)
		}
	}
}

// TestClientAddr guards the address clients dial for each listen form.
func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "[::1]:8080",
		"[::1]:8080":     "[::1]:8080",
		"myhost:8080":    "myhost:8080",
	} {
		if got := clientAddr(in); got != want {
			t.Errorf("clientAddr(%s) = %s, want %s", in, got, want)
		}
	}
}
