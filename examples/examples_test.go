package examples

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// wantCall is one call an example's header promises in the dashboard.
type wantCall struct {
	provider, model string
	stream          bool
	mode            string
}

func calls(mode, provider, model string, streams ...bool) []wantCall {
	var out []wantCall
	for _, s := range streams {
		out = append(out, wantCall{provider, model, s, mode})
	}
	return out
}

// Each example tags its calls (X-Conduit-Tag): what its header says the
// dashboard shows, per tag.
var (
	base    = ledger.ModeBaseURL
	forward = ledger.ModeForward

	curlExamples = map[string][]wantCall{
		"openai-chat.sh":        calls(base, "openai", "gpt-4o-mini", false, true),
		"openai-responses.sh":   calls(base, "openai", "gpt-4.1-mini", false, true),
		"anthropic-messages.sh": calls(base, "anthropic", "claude-haiku-4-5", false, true),
		"gemini.sh":             calls(base, "gemini", "gemini-2.5-flash", false, true),
	}
	nodeExamples = map[string][]wantCall{
		"chat.mjs":        calls(base, "openai", "gpt-4o-mini", false, true),
		"completions.mjs": calls(base, "openai", "gpt-3.5-turbo-instruct", false, true),
		"responses.mjs":   calls(base, "openai", "gpt-4.1-mini", false, true),
		"messages.mjs":    calls(base, "anthropic", "claude-haiku-4-5", false, true),
	}
	proxyExamples = map[string][]wantCall{
		"curl.sh":        append(calls(forward, "openai", "gpt-4o-mini", true), calls(forward, "anthropic", "claude-haiku-4-5", false)...),
		"proxy-mode.mjs": append(calls(forward, "openai", "gpt-4o-mini", true), calls(forward, "anthropic", "claude-haiku-4-5", false)...),
	}
)

// tagRE finds the tag an example puts on its calls.
var tagRE = regexp.MustCompile(`X-Conduit-Tag["']?\s*[:,]\s*["']?(example:[a-z-]+)`)

// exampleTag returns the tag the example at path puts on its calls, and
// checks that its header comment names the same tag as what the dashboard
// shows.
func exampleTag(t *testing.T, path string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := tagRE.FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s sets no X-Conduit-Tag: example:…", path)
	}
	tag := string(m[1])
	head := string(src)
	if len(head) > 1500 {
		head = head[:1500]
	}
	if !strings.Contains(head, "In the dashboard:") || !strings.Contains(head, "tagged "+tag) {
		t.Errorf("%s: its header must say what the dashboard shows (\"In the dashboard: … tagged %s …\")", path, tag)
	}
	return tag
}

// apiKeys are stand-in credentials: the fake accepts any.
var apiKeys = []string{"OPENAI_API_KEY=sk-test-examples", "ANTHROPIC_API_KEY=sk-ant-test-examples", "GEMINI_API_KEY=test-examples"}

// TestExamples runs the curl, Node and proxy-mode examples, as their
// headers say to run them, against a real `conduit proxy` in front of the
// fake provider, then checks the ledger: each example's calls (found by
// its tag) are the provider, model, streaming and way in (base URL or
// HTTPS_PROXY) its header promises, complete, with the token counts the
// fake reported and a cost. The Node examples need node and npm; without
// them, or without the npm registry, they are skipped and say so.
func TestExamples(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh: the curl examples and conduit run need a POSIX shell")
	}
	s := startStack(t)
	want := map[string][]wantCall{} // tag → calls, for the examples that ran
	env := func(extra ...string) []string {
		return append(append(baseEnv(t), apiKeys...), extra...)
	}

	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("curl not installed: the curl examples were not run")
		}
		for name, calls := range curlExamples {
			path := filepath.Join("curl", name)
			tag := exampleTag(t, path)
			out := runExample(t, ".", env("CONDUIT_URL=http://"+s.addr), "sh", path)
			if badOutput(out) {
				t.Errorf("%s: output shows Conduit's usage chunk or an error:\n%s", name, out)
			}
			want[tag] = calls
		}
	})

	t.Run("node", func(t *testing.T) {
		node, dir := npmInstall(t, "node")
		for name, calls := range nodeExamples {
			tag := exampleTag(t, filepath.Join("node", name))
			// The variables exactly as the README and the headers give them.
			runExample(t, dir, env("OPENAI_BASE_URL=http://"+s.addr+"/openai/v1", "ANTHROPIC_BASE_URL=http://"+s.addr+"/anthropic"), node, name)
			want[tag] = calls
		}
	})

	t.Run("proxy-mode/curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("curl not installed: the proxy-mode curl example was not run")
		}
		path := filepath.Join("proxy-mode", "curl.sh")
		tag := exampleTag(t, path)
		out := runExample(t, ".", env(), s.bin, "-c", s.config, "run", "--", "sh", path)
		if badOutput(out) {
			t.Errorf("output shows Conduit's usage chunk or an error:\n%s", out)
		}
		want[tag] = proxyExamples["curl.sh"]
	})

	t.Run("proxy-mode/node", func(t *testing.T) {
		node, dir := npmInstall(t, "proxy-mode")
		tag := exampleTag(t, filepath.Join("proxy-mode", "proxy-mode.mjs"))
		out := runExample(t, dir, env(), s.bin, "-c", s.config, "run", "--", node, "proxy-mode.mjs")
		// On a Node that ignores NODE_USE_ENV_PROXY (Node 20 here), conduit
		// run says it loads its preload, and the calls below prove it works.
		if strings.Contains(out, "ignores NODE_USE_ENV_PROXY") {
			t.Logf("proxy-mode.mjs ran through Conduit's Node.js preload: %s", firstLine(out))
		} else {
			t.Logf("proxy-mode.mjs ran through Node's own NODE_USE_ENV_PROXY: %s", firstLine(out))
		}
		want[tag] = proxyExamples["proxy-mode.mjs"]
	})

	s.stop(t) // flushes every record
	if t.Failed() {
		t.Fatalf("proxy log:\n%s", s.log())
	}
	if len(want) == 0 {
		t.Skip("no example could run here")
	}
	db, err := ledger.OpenReadOnly(s.ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for tag, wantCalls := range want {
		page, err := db.Page(ctx, ledger.Filter{Tag: tag}, ledger.Cursor{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []wantCall
		for _, r := range page.Rows {
			got = append(got, wantCall{r.Provider, r.Model, r.Stream, r.Mode})
			if r.Outcome != ledger.OutcomeComplete || !r.HasUsage || r.InputTokens <= 0 || r.OutputTokens != 32 || r.CostUSD == nil {
				t.Errorf("%s: call %s %s: outcome %s, usage %v (in %d, out %d), cost %v; want complete, 32 output tokens, priced",
					tag, r.Provider, r.Path, r.Outcome, r.HasUsage, r.InputTokens, r.OutputTokens, r.CostUSD)
			}
		}
		sortCalls(got)
		sortCalls(wantCalls)
		if !slices.Equal(got, wantCalls) {
			t.Errorf("%s: the ledger has\n  %v\nthe example promises\n  %v", tag, got, wantCalls)
		}
	}
}

// badOutput reports whether a curl example's output shows the usage-only
// chunk Conduit asked for (it must hide it) or an error object.
func badOutput(out string) bool {
	return strings.Contains(out, `"choices":[]`) || errorObject.MatchString(out)
}

var errorObject = regexp.MustCompile(`"error"\s*:\s*\{`)

func sortCalls(c []wantCall) {
	slices.SortFunc(c, func(a, b wantCall) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// npmNetworkErrors mark an npm install that failed for want of the
// registry, not because of the package.json.
var npmNetworkErrors = regexp.MustCompile(`ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network`)

// npmInstall copies the package.json and scripts of examples/<sub> into a
// directory in the user cache (keyed by the package.json, so a version
// change reinstalls; never inside the repository) and installs the pinned
// packages there. It returns node's path and that directory, or skips the
// test, saying why, when node or npm is missing or the registry cannot be
// reached.
func npmInstall(t *testing.T, sub string) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node not installed: the examples in %s/ were not run", sub)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("npm not installed: the examples in %s/ were not run", sub)
	}
	pkg, err := os.ReadFile(filepath.Join(sub, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir = filepath.Join(cache, "conduit", "examples-"+strings.ReplaceAll(sub, "/", "-")+"-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob(filepath.Join(sub, "*.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(scripts, filepath.Join(sub, "package.json")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil {
		return node, dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if npmNetworkErrors.Match(out) {
			t.Skipf("npm install in %s could not reach the registry: the examples in %s/ were not run\n%s", dir, sub, out)
		}
		t.Fatalf("npm install in %s: %v\n%s", dir, err, out)
	}
	return node, dir
}

// TestPythonExamplesCompile compiles every Python example. They cannot run
// here (no PyPI to install the SDKs from): they were written against the
// SDKs' documented APIs, and this catches syntax errors only.
func TestPythonExamplesCompile(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the Python examples were not even compiled")
	}
	files, _ := filepath.Glob(filepath.Join("python", "*.py"))
	more, _ := filepath.Glob(filepath.Join("proxy-mode", "*.py"))
	files = append(files, more...)
	if len(files) != 5 {
		t.Fatalf("found %d Python examples, want 5: %v", len(files), files)
	}
	for _, f := range files {
		exampleTag(t, f)
	}
	// One interpreter for all files: py_compile stops at the first error and
	// names its file.
	cmd := exec.Command(py, append([]string{"-m", "py_compile"}, files...)...)
	// Keep __pycache__ out of the repository.
	cmd.Env = append(os.Environ(), "PYTHONPYCACHEPREFIX="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("py_compile: %v\n%s", err, out)
	}
}

// TestPythonExamplesCoverTheAPIs guards the Python examples' promise:
// chat completions, completions, responses and messages, each whole and
// streamed, with the base URL and key from the environment (no base_url
// argument in base-URL mode).
func TestPythonExamplesCoverTheAPIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		calls []string
	}{
		{"openai_chat.py", []string{"client.chat.completions.create(", "stream=True"}},
		{"openai_completions.py", []string{"client.completions.create(", "stream=True"}},
		{"openai_responses.py", []string{"client.responses.create(", "stream=True"}},
		{"anthropic_messages.py", []string{"client.messages.create(", "client.messages.stream("}},
	}
	for _, tt := range tests {
		src, err := os.ReadFile(filepath.Join("python", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tt.calls {
			if !strings.Contains(string(src), c) {
				t.Errorf("%s does not call %s", tt.file, c)
			}
		}
		if strings.Contains(string(src), "base_url=") {
			t.Errorf("%s sets base_url: base-URL examples take it from the environment, as the README says", tt.file)
		}
	}
}

// TestProvidersConfigLoads guards examples/providers.toml: conduit loads it
// and serves a route for each provider it documents.
func TestProvidersConfigLoads(t *testing.T) {
	t.Parallel()
	bin := conduitBin(t)
	cmd := exec.Command(bin, "-c", "providers.toml", "env")
	cmd.Env = baseEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("conduit -c examples/providers.toml env: %v\n%s", err, out)
	}
	for _, key := range []string{"groq", "openrouter", "ollama", "vllm", "gemini", "gemini-openai"} {
		if !strings.Contains(string(out), "127.0.0.1:8080/"+key) {
			t.Errorf("no route for %s in:\n%s", key, out)
		}
	}
}

// TestReadmeCommandsMatchHelp keeps the README's command list in step with
// the binary: the block under "## Commands" is `conduit --help` without its
// first line. (It lives here because this package builds conduit.)
func TestReadmeCommandsMatchHelp(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(conduitBin(t), "--help")
	cmd.Env = baseEnv(t)
	help, err := cmd.Output()
	if err != nil {
		t.Fatalf("conduit --help: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Commands\n")
	if !ok {
		t.Fatal("README.md has no ## Commands section")
	}
	_, block, _ := strings.Cut(section, "```\n")
	block, _, _ = strings.Cut(block, "```")
	_, want, _ := strings.Cut(string(help), "\n") // the first line is the tagline
	if strings.TrimSpace(block) != strings.TrimSpace(want) {
		t.Errorf("README.md's ## Commands block\n%s\nconduit --help (less its first line)\n%s", block, want)
	}
}

// TestRunLeftoversIgnored guards a clean `git status` after following the
// examples' instructions: `npm install` in examples/node and
// examples/proxy-mode leaves a package-lock.json, and a proxy run from the
// repository (make run) its state and lock files beside the ledger.
func TestRunLeftoversIgnored(t *testing.T) {
	t.Parallel()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	paths := []string{"node/package-lock.json", "proxy-mode/package-lock.json", "../conduit.db.proxy.json", "../conduit.db.proxy.lock", "conduit.db.proxy.json"}
	cmd := exec.Command(git, append([]string{"check-ignore", "--no-index"}, paths...)...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 128 {
		t.Skipf("not a git checkout: %s", ee.Stderr)
	}
	got := strings.Fields(string(out))
	for _, p := range paths {
		if !slices.Contains(got, p) {
			t.Errorf("%s is not ignored by .gitignore (git check-ignore: %q)", p, got)
		}
	}
}
