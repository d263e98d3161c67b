//go:build unix

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
)

// TestBudgetClientHelper is not a test: TestBudgetsEndToEnd runs the test
// binary under `conduit run` with CONDUIT_BUDGET_CLIENT=1 to make it an
// agent that knows only its environment, as conduit run set it: base-URL
// mode (ANTHROPIC_BASE_URL) or forward mode (HTTPS_PROXY, trusting
// NODE_EXTRA_CA_CERTS). It makes CONDUIT_TEST_CALLS calls, one at a time,
// and prints "<status> <body>" per call.
func TestBudgetClientHelper(t *testing.T) {
	if os.Getenv("CONDUIT_BUDGET_CLIENT") != "1" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("CONDUIT_TEST_CALLS"))
	client, u, body := http.DefaultClient, os.Getenv("ANTHROPIC_BASE_URL")+"/v1/messages",
		`{"model":"budget-test-claude","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`
	if p := os.Getenv("HTTPS_PROXY"); p != "" {
		proxy, err := url.Parse(p)
		if err != nil {
			fmt.Println("bad HTTPS_PROXY:", err)
			os.Exit(3)
		}
		pool := x509.NewCertPool()
		pem, _ := os.ReadFile(os.Getenv("NODE_EXTRA_CA_CERTS"))
		pool.AppendCertsFromPEM(pem)
		// http.ProxyFromEnvironment never proxies loopback, where the
		// test's provider is: use the variable's URL as it is.
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}}
		u = os.Getenv("CONDUIT_TEST_TARGET") + "/v1/chat/completions"
		body = `{"model":"budget-test-gpt","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`
	}
	for range n {
		req, _ := http.NewRequest("POST", u, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", "sk-ant-test")
		req.Header.Set("Authorization", "Bearer sk-test")
		if os.Getenv("CONDUIT_TEST_OVERRIDE") == "1" {
			req.Header.Set("X-Conduit-Budget", "override")
		}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s\n", resp.StatusCode, bytes.TrimSpace(b))
	}
	os.Exit(0)
}

// hookReceiver is the webhook of [alerts]: it keeps every alert posted.
type hookReceiver struct {
	mu     sync.Mutex
	alerts []map[string]any
	got    chan struct{}
	read   int // alerts returned by wait
}

func newHookReceiver(t *testing.T) (*hookReceiver, string) {
	h := &hookReceiver{got: make(chan struct{}, 64)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a map[string]any
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.alerts = append(h.alerts, a)
		h.mu.Unlock()
		h.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL + "/hooks/s3cr3t-token"
}

// wait returns the next alert posted, in the order they came.
func (h *hookReceiver) wait(t *testing.T) map[string]any {
	t.Helper()
	select {
	case <-h.got:
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook alert within 30 s")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.read++
	return h.alerts[h.read-1]
}

// TestBudgetsEndToEnd is the budgets' whole story, as a test on the real
// binary: two projects' agents through `conduit run` in both modes (the
// project found from the git repository around each, a session per run),
// an enforced budget for one project crossing its warnings (log lines and
// webhook posts) and then refusing its calls in each provider's error
// shape while the other project's calls go on, the override header letting
// one through, conduit budget --check's exit statuses, and the provider
// never seeing any attribution.
func TestBudgetsEndToEnd(t *testing.T) {
	t.Parallel()
	conduitBin, _ := binaries(t)
	fake := fakeprovider.New(fakeprovider.Options{})
	t.Cleanup(fake.Close)
	hook, hookURL := newHookReceiver(t)
	w := newWorld(t, worldOptions{handler: fake, extraCfg: fmt.Sprintf(`
# $1 per output token: every call with max_tokens = 1 costs exactly $1.
[pricing."budget-test-"]
input = 0
output = 1000000

[budgets.alpha]
limit_usd = 5
period = "month"
warn_at = [0.5, 0.8]
enforce = true
project = "alpha"

[budgets.all]
limit_usd = 100
period = "month"

[budget_settings]
timezone = "UTC"

[alerts]
webhook = %q
`, hookURL)})
	p := startConduit(t, w)
	// The agents' config: the same, with the address the proxy got.
	src, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	clientCfg := filepath.Join(t.TempDir(), "conduit.toml")
	writeFile(t, clientCfg, strings.Replace(string(src), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", p.addr), 1))

	// Two projects: alpha is a git repository (run from a directory
	// inside it), beta a plain directory.
	root := t.TempDir()
	alphaDir, betaDir := filepath.Join(root, "alpha", "src"), filepath.Join(root, "beta")
	for _, d := range []string{filepath.Join(root, "alpha", ".git"), alphaDir, betaDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		status int
		body   string
	}
	agent := func(dir, mode string, calls int, override bool) []result {
		t.Helper()
		args := []string{"-c", clientCfg, "run", "--mode", mode, "--tag", "e2e", "--", os.Args[0], "-test.run=^TestBudgetClientHelper$"}
		env := []string{"CONDUIT_BUDGET_CLIENT=1", "CONDUIT_TEST_CALLS=" + strconv.Itoa(calls), "CONDUIT_TEST_TARGET=https://" + w.provider}
		if override {
			env = append(env, "CONDUIT_TEST_OVERRIDE=1")
		}
		run := startProcIn(t, dir, env, conduitBin, args...)
		<-run.done
		if run.err != nil {
			t.Fatalf("conduit run --mode %s in %s: %v\n%s", mode, dir, run.err, run.out.String())
		}
		var out []result
		for line := range strings.SplitSeq(strings.TrimSpace(run.out.String()), "\n") {
			status, body, _ := strings.Cut(line, " ")
			code, err := strconv.Atoi(status)
			if err != nil {
				continue // conduit's own warnings
			}
			out = append(out, result{code, body})
			t.Logf("%s, %s mode: %s", filepath.Base(strings.TrimSuffix(dir, "/src")), mode, line)
		}
		if len(out) != calls {
			t.Fatalf("%d answers, want %d:\n%s", len(out), calls, run.out.String())
		}
		return out
	}
	recorded := 0
	expect := func(res []result, status int) {
		t.Helper()
		for _, r := range res {
			if r.status != status {
				t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
			}
		}
		// Every call is counted by the budgets before its record reaches
		// the ledger, so the next step's calls see it.
		recorded += len(res)
		waitRows(t, w.db, recorded)
	}
	check := func(want int) string {
		t.Helper()
		code, out, errOut := runConduit(t, nil, "-c", w.cfg, "budget", "--check", "--line")
		if code != want {
			t.Fatalf("conduit budget --check: exit %d, want %d\n%s%s", code, want, out, errOut)
		}
		t.Logf("conduit budget --check --line: exit %d: %s", code, strings.TrimSpace(out))
		return strings.TrimSpace(out)
	}
	warned := func(re string) {
		t.Helper()
		p.out.wait(t, regexp.MustCompile(re), 30*time.Second)
		t.Logf("proxy log: %s", p.out.wait(t, regexp.MustCompile(`level=WARN msg="budget: `+re+`[^\n]*`), time.Second)[0])
	}

	expect(agent(alphaDir, "base-url", 3, false), 200) // alpha $3 of $5
	warned(`budget \\"alpha\\" passed 50% of its \$5.00 month limit \(\$3.00 spent\)`)
	if a := hook.wait(t); a["budget"] != "alpha" || a["threshold"] != 0.5 || a["spent_usd"] != 3.0 || a["limit_reached"] != false {
		t.Errorf("webhook alert %v", a)
	}
	expect(agent(betaDir, "proxy", 2, false), 200) // beta is not alpha's
	if line := check(0); line != "alpha $3/$5 · all $5/$100" {
		t.Errorf("--line %q", line)
	}
	expect(agent(alphaDir, "proxy", 2, false), 200) // alpha $5 of $5: 80%, then the limit
	warned(`budget \\"alpha\\" passed 80% of its \$5.00 month limit \(\$4.00 spent\)`)
	warned(`budget \\"alpha\\" reached its \$5.00 month limit \(\$5.00 spent\); new calls in its scope are refused until \d{4}-\d\d-01 00:00 UTC`)
	if a := hook.wait(t); a["threshold"] != 0.8 || a["spent_usd"] != 4.0 {
		t.Errorf("webhook alert %v", a)
	}
	if a := hook.wait(t); a["threshold"] != 1.0 || a["limit_reached"] != true || a["enforce"] != true {
		t.Errorf("webhook alert %v", a)
	}

	// alpha is refused, in each provider's own shape; beta goes on.
	before := len(fake.Requests())
	refusedBase := agent(alphaDir, "base-url", 1, false)
	refusedFwd := agent(alphaDir, "proxy", 1, false)
	expect(refusedBase, http.StatusTooManyRequests)
	expect(refusedFwd, http.StatusTooManyRequests)
	if n := len(fake.Requests()) - before; n != 0 {
		t.Errorf("refused calls reached the provider: %d", n)
	}
	var anthropicErr struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal([]byte(refusedBase[0].body), &anthropicErr); err != nil || anthropicErr.Type != "error" || anthropicErr.Error.Type != "conduit_budget_exceeded" {
		t.Errorf("base-url refusal is not Anthropic's error shape: %s", refusedBase[0].body)
	}
	wantMsg := regexp.MustCompile(`^conduit: budget "alpha" is spent: \$5\.00 of its \$5\.00 month limit; it resets at \d{4}-\d\d-01 00:00 UTC\. ` +
		`To raise it, change limit_usd under \[budgets\.alpha\] \(` + regexp.QuoteMeta(w.cfg) + `:\d+\) and restart the proxy; ` +
		`to let one call through, send the header x-conduit-budget: override$`)
	if !wantMsg.MatchString(anthropicErr.Error.Message) {
		t.Errorf("refusal message %q", anthropicErr.Error.Message)
	}
	var openaiErr struct {
		Error struct{ Type, Code, Message string }
	}
	if err := json.Unmarshal([]byte(refusedFwd[0].body), &openaiErr); err != nil || openaiErr.Error.Type != "conduit_budget_exceeded" ||
		openaiErr.Error.Code != "conduit_budget_exceeded" || !wantMsg.MatchString(openaiErr.Error.Message) {
		t.Errorf("forward refusal is not OpenAI's error shape: %s", refusedFwd[0].body)
	}
	expect(agent(alphaDir, "base-url", 1, true), 200) // the override
	expect(agent(betaDir, "base-url", 1, false), 200)
	if line := check(1); line != "alpha $6/$5! · all $9/$100" {
		t.Errorf("--line %q", line)
	}
	code, table, _ := runConduit(t, nil, "-c", w.cfg, "budget")
	if code != 0 || !regexp.MustCompile(`(?m)^alpha +month +\$6\.00 +- +\$5\.00 +120% +over, enforced +2 +\d{4}-\d\d-01 00:00 UTC +project alpha$`).MatchString(table) {
		t.Errorf("conduit budget: exit %d\n%s", code, table)
	}
	t.Logf("conduit budget:\n%s", table)

	// The ledger: each call under its project and its run's session, the
	// refusals and the override recorded as such.
	rows := ledgerRows(t, w.db)
	sessions := map[string]string{}
	var refused, overridden int
	for _, r := range rows {
		if r.Project != "alpha" && r.Project != "beta" {
			t.Errorf("row %s: project %q", r.ID, r.Project)
		}
		if prev, ok := sessions[r.Session]; (ok && prev != r.Project) || !regexp.MustCompile(`^\d{8}T\d{6}-[0-9a-f]{4}$`).MatchString(r.Session) {
			t.Errorf("row %s: session %q (project %s)", r.ID, r.Session, r.Project)
		}
		sessions[r.Session] = r.Project
		if !slices.Contains(r.Tags, "e2e") {
			t.Errorf("row %s: tags %q", r.ID, r.Tags)
		}
		if r.Outcome == ledger.OutcomeBudgetRefused {
			refused++
		}
		if slices.Contains(r.Tags, ledger.TagBudgetOverride) {
			overridden++
		}
	}
	if len(rows) != 11 || len(sessions) != 7 || refused != 2 || overridden != 1 {
		t.Errorf("%d rows, %d sessions, %d refused, %d overridden; want 11, 7, 2, 1", len(rows), len(sessions), refused, overridden)
	}
	// The provider saw no attribution: no @ segment, proxy credential or
	// Conduit header, nothing naming the projects or sessions.
	for _, r := range fake.Requests() {
		if strings.Contains(r.Path, "@") || strings.Contains(r.Path, "project") {
			t.Errorf("the provider saw path %q", r.Path)
		}
		for name, vs := range r.Header {
			if l := strings.ToLower(name); strings.HasPrefix(l, "x-conduit") || l == "proxy-authorization" ||
				strings.Contains(strings.Join(vs, " "), "alpha") || strings.Contains(strings.Join(vs, " "), "beta") {
				t.Errorf("the provider saw %s: %q", name, vs)
			}
		}
	}
	if strings.Contains(p.out.String(), "s3cr3t-token") {
		t.Error("the proxy's log shows the webhook URL's secret path")
	}
}
