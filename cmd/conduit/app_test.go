package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/valohai/conduit/config"
)

// runCLI runs conduit in-process and returns its exit status and output.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

// TestTopHelp guards the help shape users of the Rust Conduit know.
func TestTopHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, want := range []string{
			"Usage: conduit [OPTIONS] [COMMAND]",
			"Commands:\n  proxy      Run the proxy server [default command]\n  dashboard  Open the terminal-based dashboard\n",
			"  help       Print this message or the help of the given subcommand(s)\n",
			"-c, --config <PATH>", "-v, --verbose...", "-q, --quiet...", "-V, --version",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, out)
			}
		}
	}
}

// TestCommandHelp guards `conduit help proxy` and `conduit proxy --help` printing the same text.
func TestCommandHelp(t *testing.T) {
	_, a, _ := runCLI(t, nil, "help", "proxy")
	_, b, _ := runCLI(t, nil, "proxy", "--help")
	if a == "" || a != b || !strings.Contains(a, "Usage: conduit proxy [OPTIONS]") {
		t.Fatalf("help proxy = %q\nproxy --help = %q", a, b)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"-V"}, {"--version"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "conduit ") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
}

// TestUsageErrors guards that mistakes are one line naming the culprit, with
// a hint, and exit status 2.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"prox"}, []string{"unknown command 'prox'", "did you mean 'proxy'"}},
		{[]string{"frobnicate"}, []string{"unknown command 'frobnicate'", "conduit --help"}},
		{[]string{"proxy", "--lisen", "x"}, []string{"unknown flag --lisen", "did you mean --listen"}},
		{[]string{"proxy", "-z"}, []string{"unknown flag -z", "conduit proxy --help"}},
		{[]string{"-v", "-q", "proxy"}, []string{"--verbose and --quiet cannot be used together"}},
		{[]string{"help", "nope"}, []string{"unknown command 'nope'"}},
		{[]string{"proxy", "extra"}, []string{"unexpected argument 'extra'"}},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, nil, tt.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tt.args, code, stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: error is not one line: %q", tt.args, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", tt.args, stderr, w)
			}
		}
	}
}

// TestMissingConfig guards the default command failing clearly without a config.
func TestMissingConfig(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, nil, "-c", filepath.Join(dir, "conduit.toml"))
	if code != 1 || !strings.Contains(stderr, "conduit init") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestConfigFromEnv guards CONDUIT_CONFIG being used when --config is absent.
func TestConfigFromEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	writeFile(t, path, "listn = 1\n")
	code, _, stderr := runCLI(t, map[string]string{"CONDUIT_CONFIG": path}, "proxy")
	if code != 1 || !strings.Contains(stderr, path+":1: listn: unknown key") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestInit guards `conduit init` writing the example and refusing to overwrite.
func TestInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conduit.toml")
	code, out, stderr := runCLI(t, nil, "-c", path, "init")
	if code != 0 || !strings.Contains(out, "wrote "+path) {
		t.Fatalf("exit %d, out %q, err %q", code, out, stderr)
	}
	if _, err := config.Load(path, noEnv); err != nil {
		t.Fatalf("written config does not load: %v", err)
	}
	writeFile(t, path, "# mine\n")
	code, _, stderr = runCLI(t, nil, "-c", path, "init")
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("second init: exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != "# mine\n" {
		t.Fatalf("init overwrote the file: %q", b)
	}
}

func noEnv(string) string { return "" }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHelpHasOneOptionsHeading guards every help text, the top one and each
// command's (ca's and prices' subcommands too): one Options: heading, holding the
// command's own options and then the global ones.
func TestHelpHasOneOptionsHeading(t *testing.T) {
	helps := map[string]string{}
	_, helps["conduit"], _ = runCLI(t, nil, "--help")
	for _, c := range slices.Concat(commands, caSubcommands, pricesSubcommands) {
		helps[c.name] = c.help
	}
	for name, help := range helps {
		if n := strings.Count(help, "Options:\n"); n != 1 {
			t.Errorf("%s: %d Options: headings:\n%s", name, n, help)
		}
		if i, j := strings.Index(help, "Options:\n"), strings.Index(help, "-c, --config <PATH>"); j < i {
			t.Errorf("%s: the global options are not under Options:\n%s", name, help)
		}
	}
}

// TestImplicitCommandErrors guards a mistake made without naming a command
// (the default command, proxy, runs): the message names no command the
// user did not type, and points at the top-level help.
func TestImplicitCommandErrors(t *testing.T) {
	for _, args := range [][]string{{"-x"}, {"--lisen=127.0.0.1:1"}} {
		code, _, errOut := runCLI(t, nil, args...)
		if code != exitUsage || strings.Contains(errOut, "proxy") || !strings.HasPrefix(errOut, "conduit: unknown flag") ||
			!strings.Contains(errOut, "run 'conduit --help' for usage") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// TestMissingLedgerMessages guards the advice when the ledger is missing:
// a --ledger path is checked, not blamed on [ledger] path; the config's
// ledger says where it comes from and how to create it.
func TestMissingLedgerMessages(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "my.toml")
	writeFile(t, cfg, "[providers.openai]\nupstream = \"https://api.openai.com\"\n")
	missing := filepath.Join(dir, "elsewhere.db")
	for _, cmd := range []string{"report", "export", "dashboard"} {
		code, _, errOut := runCLI(t, nil, "-c", cfg, cmd, "--ledger", missing)
		if code != exitError || !strings.Contains(errOut, "no ledger at "+missing+" (--ledger): check the path") || strings.Contains(errOut, "[ledger]") {
			t.Errorf("%s --ledger: exit %d, stderr %q", cmd, code, errOut)
		}
		code, _, errOut = runCLI(t, nil, "-c", cfg, cmd)
		want := "no ledger at " + filepath.Join(dir, "conduit.db") + " (conduit.db beside " + cfg + ") yet: start the proxy with 'conduit -c " + cfg + " proxy'"
		if code != exitError || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", cmd, code, errOut, want)
		}
	}
}
