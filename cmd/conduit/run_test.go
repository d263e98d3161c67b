package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// fakeConduit answers /health as a running proxy does, and returns its
// listen address.
func fakeConduit(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			io.WriteString(w, "OK")
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(ts.URL, "http://")
}

func needSh(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run as the command")
	}
}

// TestRunSetsVariablesForTheCommand guards conduit run in both modes: the
// command sees the variables, attributed to the project and a new session
// (in the proxy user name, or the base URLs' /@ segment), its exit status
// becomes conduit's, and conduit's own environment is untouched.
func TestRunSetsVariablesForTheCommand(t *testing.T) {
	needSh(t)
	addr := fakeConduit(t)
	ca := newCA(t, "api.openai.com")
	cfg := envConfig(t, addr, ca.Dir())
	t.Setenv("HTTPS_PROXY", "http://someone-else:3128")
	attr := `project=web%20site\+session=\d{8}T\d{6}-[0-9a-f]{4}\+tag=team%3Aweb`
	tests := []struct {
		mode, script, want string
	}{
		{"proxy", `printf '%s|%s|%s|%s' "$HTTPS_PROXY" "$https_proxy" "$NODE_USE_ENV_PROXY" "$NODE_EXTRA_CA_CERTS"; exit 3`,
			"http://conduit\\+" + strings.ReplaceAll(attr, "%", "%25") + "@" + addr + "\\|http://conduit\\+.*@" + addr + "\\|1\\|" + regexp.QuoteMeta(ca.CertPath())},
		{"base-url", `printf '%s|%s|%s' "$OPENAI_BASE_URL" "$ANTHROPIC_BASE_URL" "$HTTPS_PROXY"; exit 3`,
			"http://" + addr + "/@" + attr + "/openai/v1\\|http://" + addr + "/@.*/claude\\|http://someone-else:3128"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			code, out, errOut := runConduit(t, nil, "-c", cfg, "run", "--mode", tt.mode, "--project", "web site", "--tag", "team:web", "--", "sh", "-c", tt.script)
			if code != 3 || !regexp.MustCompile("^"+tt.want+"$").MatchString(out) {
				t.Errorf("exit %d, output %q (stderr %q), want 3 and %s", code, out, errOut, tt.want)
			}
		})
	}
	if os.Getenv("HTTPS_PROXY") != "http://someone-else:3128" {
		t.Error("conduit run changed its own environment")
	}
	// Flags after the command belong to the command.
	code, out, _ := runConduit(t, nil, "-c", cfg, "run", "sh", "-c", `printf '%s' "$1"`, "sh", "--mode")
	if code != 0 || out != "--mode" {
		t.Errorf("interspersed: exit %d, %q", code, out)
	}
}

// TestRunErrors guards what conduit run refuses, and how.
func TestRunErrors(t *testing.T) {
	addr := fakeConduit(t)
	cfg := envConfig(t, addr, t.TempDir())
	down := envConfig(t, "127.0.0.1:1", t.TempDir())
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", []string{"-c", cfg, "run"}, exitUsage, "missing the command"},
		{"bad mode", []string{"-c", cfg, "run", "--mode", "x", "--", "true"}, exitUsage, "--mode must be"},
		{"not found", []string{"-c", cfg, "run", "--", "no-such-command-xyz"}, 127, "no-such-command-xyz: command not found"},
		{"proxy not running", []string{"-c", down, "run", "--", "true"}, exitError, "no Conduit proxy answers at http://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runConduit(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}

// TestRunExecHelper is not a test: TestRunExecs runs the test binary with
// CONDUIT_RUN_HELPER=1 to make it conduit itself, on the real terminal
// streams, so that run takes the exec path.
func TestRunExecHelper(t *testing.T) {
	if os.Getenv("CONDUIT_RUN_HELPER") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// TestMergeEnv guards the child's environment: Conduit's variables replace
// the user's of the same name, everything else is kept, comments are
// dropped; on Windows names match in any case and are set once.
func TestMergeEnv(t *testing.T) {
	vars := []clientVar{{Name: "HTTPS_PROXY", Value: "http://c"}, {Name: "https_proxy", Value: "http://c"}, {Comment: "only a comment"}}
	environ := []string{"PATH=/bin", "https_proxy=http://corp", "Https_Proxy=x", "HOME=/h"}
	got := strings.Join(mergeEnv(environ, vars, false), " ")
	if got != "PATH=/bin Https_Proxy=x HOME=/h HTTPS_PROXY=http://c https_proxy=http://c" {
		t.Errorf("unix: %s", got)
	}
	got = strings.Join(mergeEnv(environ, vars, true), " ")
	if got != "PATH=/bin HOME=/h HTTPS_PROXY=http://c" {
		t.Errorf("windows: %s", got)
	}
}
