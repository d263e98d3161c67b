package conduit_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/internal/testbin"
	"github.com/valohai/conduit/ledger"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// readmeIntro returns the README's text before its first "## " heading:
// what a newcomer sees first.
func readmeIntro(t *testing.T) string {
	t.Helper()
	text := string(mustRead(t, "README.md"))
	intro, _, ok := strings.Cut(text, "\n## ")
	if !ok {
		t.Fatal("README.md has no ## heading")
	}
	return intro
}

// shBlocks returns the ```sh code blocks of text.
func shBlocks(text string) []string {
	return regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllString(text, -1)
}

// TestReadmeFirstScreenComesBeforeInstall guards what a newcomer sees
// first: the commands that need nothing but a clone and Go (make demo,
// make test, make run, and the keyless first call) come before any
// install step that needs a network.
func TestReadmeFirstScreenComesBeforeInstall(t *testing.T) {
	intro := readmeIntro(t)
	for _, cmd := range []string{"make demo", "make test", "make run", "make fake", "make run CONFIG=examples/fake.toml"} {
		if !strings.Contains(intro, cmd) {
			t.Errorf("the README's first screen lacks %q", cmd)
		}
	}
	if strings.Contains(intro, "go install") || strings.Contains(intro, "curl -fsSL") {
		t.Error("the README's first screen has an install step that needs a network")
	}
}

// TestReadmeFirstCallWithoutKeys follows the README's keyless first call as
// written: the Makefile targets it names (make fake, make run
// CONFIG=examples/fake.toml) run the fake provider and Conduit on
// examples/fake.toml, the two curl lines are run as they stand, and the
// report line then shows both calls, one by base URL and one in forward
// mode, complete with tokens and a cost. Only the ports differ from the
// README (free ones, so the test never collides with a proxy of yours), and
// the binaries are built once for the test instead of by go run.
func TestReadmeFirstCallWithoutKeys(t *testing.T) {
	for _, tool := range []string{"sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: the README's first call was not followed", tool)
		}
	}
	intro := readmeIntro(t)
	var serve, call string
	for _, b := range shBlocks(intro) {
		switch {
		case strings.Contains(b, "make fake"):
			serve = b
		case strings.Contains(b, "curl "):
			call = b
		}
	}
	if serve == "" || call == "" {
		t.Fatalf("the README's first screen has no make fake block and curl block:\n%s", intro)
	}

	// The Makefile targets the README names run what this test runs.
	makefile := string(mustRead(t, "Makefile"))
	for _, want := range []string{
		"FAKE_LISTEN ?= 127.0.0.1:9999", "fake:\n\t$(GO) run ./examples/fakeprovider/cmd/fakeprovider -listen $(FAKE_LISTEN)\n",
		"run:\n\t$(GO) run ./cmd/conduit -c $(CONFIG) proxy\n",
	} {
		if !strings.Contains(makefile, want) {
			t.Fatalf("Makefile lacks %q", want)
		}
	}
	if !strings.Contains(serve, "make run CONFIG=examples/fake.toml") {
		t.Fatalf("the README does not run the proxy on examples/fake.toml:\n%s", serve)
	}
	fakeTOML := string(mustRead(t, filepath.Join("examples", "fake.toml")))
	if !strings.Contains(fakeTOML, `listen = "127.0.0.1:8080"`) || !strings.Contains(fakeTOML, `upstream = "http://127.0.0.1:9999"`) {
		t.Fatalf("examples/fake.toml does not put Conduit on 127.0.0.1:8080 in front of 127.0.0.1:9999:\n%s", fakeTOML)
	}

	// Terminal 1: make fake.
	fakeAddr := startAndRead(t, regexp.MustCompile(`listening on http://(\S+)`),
		testbin.Path(t, testbin.FakeProvider), "-listen", "127.0.0.1:0")
	// Terminal 2: make run CONFIG=examples/fake.toml, on free ports.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "fake.toml")
	body := strings.ReplaceAll(fakeTOML, "127.0.0.1:9999", fakeAddr)
	body = strings.ReplaceAll(body, `listen = "127.0.0.1:8080"`, `listen = "127.0.0.1:0"`)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	conduitBin := testbin.Path(t, testbin.Conduit)
	proxy := startProcess(t, regexp.MustCompile(`proxy running at http://(\S+?)"`), conduitBin, "-c", cfg, "proxy")

	// Terminal 3: the curl lines as written, then the report.
	script := strings.TrimSuffix(strings.TrimPrefix(call, "```sh\n"), "```")
	var curls, report []string
	for _, line := range strings.SplitAfter(script, "\n") {
		if strings.HasPrefix(line, "go run ./cmd/conduit") {
			report = append(report, line)
		} else {
			curls = append(curls, line)
		}
	}
	if len(report) != 1 || !strings.HasPrefix(report[0], "go run ./cmd/conduit -c examples/fake.toml report") {
		t.Fatalf("the README's call block does not end with the report of examples/fake.toml:\n%s", call)
	}
	local := strings.NewReplacer("127.0.0.1:8080", proxy.addr, "127.0.0.1:9999", fakeAddr)
	out := runSh(t, local.Replace(strings.Join(curls, "")))
	if strings.Count(out, `"chat.completion"`) != 2 || strings.Contains(out, `"error"`) {
		t.Fatalf("the curl lines did not both get a completion:\n%s", out)
	}
	proxy.stop(t) // every record is in the ledger
	reportLine := strings.Replace(report[0], "go run ./cmd/conduit -c examples/fake.toml", conduitBin+" -c "+cfg, 1)
	out = runSh(t, reportLine)
	if !regexp.MustCompile(`(?m)^gpt-4o-mini\s+2\s`).MatchString(out) || !regexp.MustCompile(`(?m)^TOTAL\s+2\s`).MatchString(out) {
		t.Errorf("the report does not show the two calls:\n%s", out)
	}

	db, err := ledger.OpenReadOnly(filepath.Join(dir, "conduit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.Page(context.Background(), ledger.Filter{}, ledger.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]int{}
	for _, r := range page.Rows {
		modes[r.Mode]++
		if r.Outcome != ledger.OutcomeComplete || !r.HasUsage || r.CostUSD == nil {
			t.Errorf("%s call: outcome %s, usage %v, cost %v; want complete, with usage and a cost", r.Mode, r.Outcome, r.HasUsage, r.CostUSD)
		}
	}
	if modes[ledger.ModeBaseURL] != 1 || modes[ledger.ModeForward] != 1 {
		t.Errorf("calls by mode %v, want one by base URL and one forward", modes)
	}
}

// process is a command the test started and stops at its end.
type process struct {
	cmd      *exec.Cmd
	addr     string
	done     chan error
	stopOnce sync.Once
}

// startProcess starts name with args and waits for a line of its stderr
// or stdout that addrRE matches, returning the process and the match.
func startProcess(t *testing.T, addrRE *regexp.Regexp, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), done: make(chan error, 1)}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() { err := p.cmd.Wait(); pw.Close(); p.done <- err }()
	t.Cleanup(func() { p.stop(t) })
	select {
	case p.addr = <-found:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("%s exited at start: %v", name, err)
	}
	return p
}

// startAndRead is startProcess for a process whose address is all the test
// needs.
func startAndRead(t *testing.T, addrRE *regexp.Regexp, name string, args ...string) string {
	t.Helper()
	return startProcess(t, addrRE, name, args...).addr
}

// stop interrupts the process (as Ctrl-C does) and waits for it; the
// proxy flushes every record before it exits.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.stopOnce.Do(func() {
		p.cmd.Process.Signal(os.Interrupt)
		if err := <-p.done; err != nil {
			t.Errorf("%s: %v", p.cmd.Path, err)
		}
	})
}

// runSh runs script with sh -e and returns its output, failing the test
// when it fails.
func runSh(t *testing.T, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-ec", script).CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v\n%s\noutput:\n%s", err, script, out)
	}
	return string(out)
}
