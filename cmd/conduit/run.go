package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"time"
)

var runCmd = &command{
	name:    "run",
	summary: "Run a command with its LLM calls going through Conduit",
	help: `Run a command with its LLM calls going through Conduit

Usage: conduit run [OPTIONS] [--] <COMMAND> [ARGS]...

Runs COMMAND with the variables 'conduit env' prints set for it alone
(proxy mode by default: HTTPS_PROXY and the CA trust variables), so tools
that cannot change their base URL are recorded too. The proxy must be
running ('conduit proxy', in another terminal or as a service): run finds
it through the state file it leaves beside its ledger (or --listen, or the
config's listen) and checks its /health first.

When COMMAND is a Node.js program (node, npx, npm, or a script whose #!
line names node) and that Node ignores NODE_USE_ENV_PROXY (before 22.21,
and 24.0 to 24.4), run says so: Conduit's preload, loaded through
NODE_OPTIONS, then sends its fetch through the proxy.

Every call COMMAND makes is attributed to a project (the name of the git
repository around the working directory, else the directory's name, or
--project) and to a session, a new id per conduit run: 'conduit report --by
project' and budgets' project scopes use them. The attribution rides in the
proxy URL's user name (proxy mode) or in a /@… segment of the base URLs
(base-url mode); Conduit strips it, so no provider sees it.

On Unix, conduit run becomes COMMAND (exec): the terminal, every signal and
the exit status are COMMAND's own. Elsewhere it waits for COMMAND, passes on
the signals it receives, and exits with COMMAND's status.

Options:
      --mode <MODE>     proxy or base-url [default: proxy]
      --listen <ADDR>   The proxy's address, if neither the running proxy
                        nor the config says it
      --project <NAME>  Attribute the calls to this project instead
      --tag <TAG>       Tag every call (repeatable, or comma-separated)
` + globalOptionsHelp + `
Examples:
  conduit run -- claude
  conduit run -- codex
  conduit run --mode base-url -- python my_agent.py
  conduit run --project website --tag team:web -- aider
`,
	run: runRun,
}

// healthTimeout bounds the check that the proxy is up.
const healthTimeout = 2 * time.Second

func runRun(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	// The first argument that is not one of run's flags starts COMMAND:
	// 'conduit run claude --resume' passes --resume to claude.
	fs.SetInterspersed(false)
	modeFlag := fs.String("mode", modeProxy, "")
	listenFlag := fs.String("listen", "", "")
	projectFlag := fs.String("project", "", "")
	tagFlag := fs.StringArray("tag", nil, "")
	argv, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(argv) == 0 {
		return usageErrorf("run: missing the command to run, as in 'conduit run -- claude'; run 'conduit run --help' for usage")
	}
	mode, err := parseClientMode("run", *modeFlag)
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	addr, from, err := proxyAddr(cfg, *listenFlag)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	wd, _ := os.Getwd()
	attr, err := clientAttribution("run", *projectFlag, *tagFlag, wd, true, time.Now())
	if err != nil {
		return err
	}
	res, err := clientEnv(cfg, addr, mode, a.getenv, attr)
	if err != nil {
		return err
	}
	if err := checkProxy(ctx, res.BaseURL); err != nil {
		return fmt.Errorf("run: %w (from %s); start it with 'conduit proxy' (in another terminal or as a service), then run again", err, from)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "conduit: warning: %s\n", w)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(a.stderr, "conduit: run: %s: command not found\n", argv[0])
		return &exitStatusError{code: 127}
	}
	if note := a.runNodeNote(ctx, res, path); note != "" {
		fmt.Fprintf(a.stderr, "conduit: note: %s\n", note)
	}
	env := mergeEnv(os.Environ(), res.Vars, runtime.GOOS == "windows")
	if a.stdin == os.Stdin && a.stdout == os.Stdout && a.stderr == os.Stderr {
		if err := execCommand(path, argv, env); !errors.Is(err, errExecUnsupported) {
			return fmt.Errorf("run: exec %s: %w", path, err)
		}
	}
	return spawnCommand(a, path, argv, env)
}

// exitStatusError ends conduit with a status and no message of its own:
// conduit run passes on its command's status.
type exitStatusError struct{ code int }

func (e *exitStatusError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// checkProxy asks the proxy's /health directly (never through a proxy
// from the environment).
func checkProxy(ctx context.Context, baseURL string) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", baseURL+"/health", nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("no Conduit proxy answers at %s", baseURL)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "OK" {
		return fmt.Errorf("%s/health answered %s, not Conduit's OK", baseURL, resp.Status)
	}
	return nil
}

// mergeEnv returns environ with vars set (replacing any value of the same
// name; names compare case-insensitively on Windows) and comments dropped.
func mergeEnv(environ []string, vars []clientVar, foldCase bool) []string {
	same := func(a, b string) bool {
		if foldCase {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	out := make([]string, 0, len(environ)+len(vars))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		set := false
		for _, v := range vars {
			if v.Name != "" && same(v.Name, name) {
				set = true
				break
			}
		}
		if !set {
			out = append(out, kv)
		}
	}
	for _, v := range vars {
		if v.Name != "" && !(foldCase && containsFold(out, v.Name)) {
			out = append(out, v.Name+"="+v.Value)
		}
	}
	return out
}

// containsFold reports whether env already sets name (any case): on
// Windows HTTPS_PROXY and https_proxy are one variable, set once.
func containsFold(env []string, name string) bool {
	for _, kv := range env {
		if n, _, _ := strings.Cut(kv, "="); strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// spawnCommand runs the command as a child, passes on the signals conduit
// receives, and returns its exit status.
func spawnCommand(a *app, path string, argv, env []string) error {
	c := exec.Command(path, argv[1:]...)
	c.Args[0] = argv[0]
	c.Env = env
	c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return fmt.Errorf("run: start %s: %w", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	for {
		select {
		case s := <-sigs:
			c.Process.Signal(s) // best effort: Windows cannot deliver most signals
		case err := <-done:
			return exitStatus(err)
		}
	}
}

// exitStatus maps the child's end to conduit's: its exit code, or 128+N
// when signal N killed it (as shells report it).
func exitStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("run: %w", err)
	}
	if code := ee.ExitCode(); code >= 0 {
		return &exitStatusError{code: code}
	}
	if sig, ok := signalOf(ee); ok {
		return &exitStatusError{code: 128 + sig}
	}
	return &exitStatusError{code: exitError}
}
