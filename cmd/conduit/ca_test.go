package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valohai/conduit/certs"
)

// TestCAInit guards `conduit ca init`: the CA lands in [mitm] ca_dir,
// covers every intercepted TLS host (configured upstreams plus the
// well-known ones) but not a plain-http-only local server, and is never
// replaced without --force.
func TestCAInit(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	cfg := envConfig(t, "127.0.0.1:9090", caDir)
	code, out, errOut := runConduit(t, nil, "-c", cfg, "ca", "init")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	ca, err := certs.Load(caDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"created the local CA in " + caDir, ca.CertPath(), ca.Fingerprint(), "api.groq.com", "conduit run --"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if err := ca.Covers([]string{"api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com", "api.groq.com", "openrouter.ai"}); err != nil {
		t.Errorf("CA does not cover the intercepted hosts: %v", err)
	}
	var nce *certs.NotCoveredError
	if err := ca.Covers([]string{"127.0.0.1"}); !errors.As(err, &nce) {
		t.Errorf("CA covers the plain-http Ollama host 127.0.0.1: %v", err)
	}

	code, _, errOut = runConduit(t, nil, "-c", cfg, "ca", "init")
	if code != 1 || !strings.Contains(errOut, "--force") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("second init: exit %d, stderr %q; want 1 and a one-line hint at --force", code, errOut)
	}
	if again, _ := certs.Load(caDir); again == nil || again.Fingerprint() != ca.Fingerprint() {
		t.Error("refused init replaced the CA")
	}

	// [mitm] hosts decides alone once set; --force replaces the CA.
	writeFile(t, cfg, strings.Replace(readFile(t, cfg), "[mitm]\n", "[mitm]\nhosts = [\"api.openai.com\", \"*.openai.azure.com\"]\n", 1))
	code, out, errOut = runConduit(t, nil, "ca", "init", "--force", "--config", cfg)
	if code != 0 {
		t.Fatalf("init --force: exit %d: %s", code, errOut)
	}
	forced, err := certs.Load(caDir)
	if err != nil {
		t.Fatal(err)
	}
	if forced.Fingerprint() == ca.Fingerprint() || !strings.Contains(out, "previous CA") {
		t.Errorf("init --force kept the CA or did not warn about it:\n%s", out)
	}
	if got := strings.Join(forced.Hosts(), ", "); got != "api.openai.com, *.openai.azure.com" {
		t.Errorf("forced CA covers %s", got)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCAPathShow guards `conduit ca path` (the path alone, for $(…)) and
// `conduit ca show` (the description plus whether the CA covers the
// configuration's hosts), and their error without a CA.
func TestCAPathShow(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	cfg := envConfig(t, "127.0.0.1:9090", caDir)
	for _, sub := range []string{"path", "show", "env"} {
		code, out, errOut := runConduit(t, nil, "-c", cfg, "ca", sub)
		if code != 1 || out != "" || !strings.Contains(errOut, "conduit ca init") {
			t.Errorf("ca %s without a CA: exit %d, stdout %q, stderr %q", sub, code, out, errOut)
		}
	}

	if code, _, errOut := runConduit(t, nil, "-c", cfg, "ca", "init"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	code, out, errOut := runConduit(t, nil, "-c", cfg, "ca", "path")
	if code != 0 || out != filepath.Join(caDir, "ca.pem")+"\n" {
		t.Errorf("ca path: exit %d, %q (stderr %q)", code, out, errOut)
	}

	code, out, errOut = runConduit(t, nil, "-c", cfg, "ca", "show")
	ca, _ := certs.Load(caDir)
	if code != 0 {
		t.Fatalf("ca show: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"SHA-256:", ca.Fingerprint(), "Covers:", "api.openai.com", "Config hosts:", "covers all"} {
		if !strings.Contains(out, want) {
			t.Errorf("ca show lacks %q:\n%s", want, out)
		}
	}

	// The host list outgrows the CA: show names the missing host.
	writeFile(t, cfg, readFile(t, cfg)+"[providers.internal]\nupstream = \"https://llm.corp.example\"\napi = \"openai\"\n")
	code, out, errOut = runConduit(t, nil, "-c", cfg, "ca", "show")
	if code != 0 {
		t.Fatalf("ca show: exit %d: %s", code, errOut)
	}
	if want := "does NOT cover llm.corp.example"; !strings.Contains(out, want) || !strings.Contains(out, "conduit ca init --force") {
		t.Errorf("ca show lacks %q and the fix:\n%s", want, out)
	}
}

// TestCAEnv guards `conduit ca env`: the five trust variables per shell,
// the replacing ones pointing at a freshly written bundle of system roots
// plus the CA.
func TestCAEnv(t *testing.T) {
	ca := newCA(t, "api.openai.com")
	cfg := envConfig(t, "127.0.0.1:9090", ca.Dir())
	bundle := ca.BundlePath()
	for _, tc := range []struct {
		shell string
		line  func(name, value string) string
		apply string
	}{
		{"sh", func(n, v string) string { return fmt.Sprintf("export %s='%s'\n", n, v) }, `eval "$(conduit ca env)"`},
		{"fish", func(n, v string) string { return fmt.Sprintf("set -gx %s '%s'\n", n, v) }, "conduit ca env --shell fish | source"},
		{"powershell", func(n, v string) string { return fmt.Sprintf("$Env:%s = '%s'\n", n, v) }, "conduit ca env --shell powershell | Invoke-Expression"},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			os.Remove(bundle)
			code, out, errOut := runConduit(t, nil, "-c", cfg, "ca", "env", "--shell", tc.shell)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.HasPrefix(out, "# Conduit's local CA, trusted per runtime. Apply with: "+tc.apply+"\n") {
				t.Errorf("header: %q", out)
			}
			_, bundleErr := os.Stat(bundle)
			systemRoots := bundleErr == nil && strings.Count(readFile(t, bundle), "BEGIN CERTIFICATE") > 1
			for _, v := range []struct{ name, value string }{
				{"NODE_EXTRA_CA_CERTS", ca.CertPath()},
				{"SSL_CERT_FILE", bundle},
				{"REQUESTS_CA_BUNDLE", bundle},
				{"CURL_CA_BUNDLE", bundle},
				{"CODEX_CA_CERTIFICATE", ca.CertPath()},
			} {
				want := tc.line(v.name, v.value)
				if v.value == bundle && !systemRoots {
					// No system roots here: the replacing variables are
					// withheld and a warning says why.
					if strings.Contains(out, v.name) || !strings.Contains(errOut, "left unset") {
						t.Errorf("without system roots %s is set or not warned about:\n%s\n%s", v.name, out, errOut)
					}
					continue
				}
				if !strings.Contains(out, want) {
					t.Errorf("lacks %q:\n%s", want, out)
				}
			}
			if strings.Count(out, "\n# ") != 5 {
				t.Errorf("want one comment per variable:\n%s", out)
			}
		})
	}
}

// TestCAUsage guards the ca command's own mistakes and help: one line,
// exit 2, a suggestion; help for the group and for each subcommand.
func TestCAUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"ca"}, []string{"ca: missing command", "conduit ca --help"}},
		{[]string{"ca", "nit"}, []string{"unknown command 'nit'", "did you mean 'ca init'"}},
		{[]string{"ca", "init", "--forc"}, []string{"unknown flag --forc", "did you mean --force", "conduit ca init --help"}},
		{[]string{"ca", "path", "extra"}, []string{"ca path: unexpected argument 'extra'"}},
		{[]string{"ca", "env", "--shell", "tcsh"}, []string{"--shell must be sh, fish or powershell"}},
	} {
		code, _, errOut := runConduit(t, nil, tc.args...)
		if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%q: stderr %q lacks %q", tc.args, errOut, w)
			}
		}
	}

	_, group, _ := runConduit(t, nil, "help", "ca")
	_, group2, _ := runConduit(t, nil, "ca", "--help")
	if group == "" || group != group2 || !strings.Contains(group, "Usage: conduit ca <COMMAND>") || !strings.Contains(group, "Examples:") {
		t.Errorf("help ca = %q\nca --help = %q", group, group2)
	}
	for _, sub := range []string{"init", "path", "show", "env"} {
		code, out, _ := runConduit(t, nil, "ca", sub, "--help")
		if code != 0 || !strings.Contains(out, "Usage: conduit ca "+sub+" [OPTIONS]") || !strings.Contains(out, "Examples:\n  conduit ca "+sub) && !strings.Contains(out, "Examples:\n  eval") {
			t.Errorf("ca %s --help: exit %d\n%s", sub, code, out)
		}
	}
	_, top, _ := runConduit(t, nil, "--help")
	if !strings.Contains(top, "\n  ca         Create and inspect the local CA") {
		t.Errorf("top help does not list ca:\n%s", top)
	}
}
