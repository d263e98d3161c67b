package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/internal/npmcache"
	"github.com/valohai/conduit/ledger"
)

// claudeCodePackage is the Claude Code release the platform tests run: the
// one whose Bedrock and Vertex AI traffic
// fakeprovider/testdata/clients.md describes.
const claudeCodePackage = "@anthropic-ai/claude-code@2.1.332"

// TestClaudeCodePlatforms runs the real Claude Code CLI (`claude -p`)
// through `conduit proxy` in base-URL mode, once on Amazon Bedrock
// (CLAUDE_CODE_USE_BEDROCK, ANTHROPIC_BEDROCK_BASE_URL to a provider with
// api = "bedrock") and once on Vertex AI (CLAUDE_CODE_USE_VERTEX,
// ANTHROPIC_VERTEX_BASE_URL), both with the fake provider upstream and the
// platforms' auth skipped. For each it asserts that Claude Code printed no
// error, that the ledger holds exactly one call with the tokens the fake
// reported for the request it received (and Claude Code itself counted),
// priced, and that every other request (Bedrock's ListInferenceProfiles)
// is kind other and counts in no total. Claude Code is installed once from
// npm into the user cache; the test skips when npm or its registry is out
// of reach.
func TestClaudeCodePlatforms(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: skipping the Claude Code run (an npm install of ~400 MB on first use)")
	}
	claude := npmcache.Bin(npmcache.DirWithScripts(t, "claude-code", claudeCodePackage), "claude")
	tests := []struct {
		name     string
		env      func(proxy string) []string
		endpoint string
		model    string // as the ledger records it: the model the response names
		path     string // the upstream path of the model call
	}{
		{
			name: "bedrock",
			env: func(proxy string) []string {
				return []string{"CLAUDE_CODE_USE_BEDROCK=1", "CLAUDE_CODE_SKIP_BEDROCK_AUTH=1",
					"ANTHROPIC_BEDROCK_BASE_URL=http://" + proxy + "/bedrock", "AWS_REGION=us-east-1",
					"ANTHROPIC_MODEL=us.anthropic.claude-haiku-4-5-20251001-v1:0"}
			},
			endpoint: "bedrock_invoke",
			model:    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
			path:     "/model/us.anthropic.claude-haiku-4-5-20251001-v1:0/invoke-with-response-stream",
		},
		{
			name: "vertex",
			env: func(proxy string) []string {
				return []string{"CLAUDE_CODE_USE_VERTEX=1", "CLAUDE_CODE_SKIP_VERTEX_AUTH=1",
					"ANTHROPIC_VERTEX_BASE_URL=http://" + proxy + "/vertex/v1", "CLOUD_ML_REGION=us-east5",
					"ANTHROPIC_VERTEX_PROJECT_ID=proj", "ANTHROPIC_MODEL=claude-haiku-4-5@20251001"}
			},
			endpoint: "messages",
			model:    "claude-haiku-4-5@20251001",
			path:     "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001:streamRawPredict",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each platform has its own fake, proxy and ledger
			fake := fakeprovider.New(fakeprovider.Options{})
			fs := httptest.NewServer(fake)
			t.Cleanup(fs.Close)
			t.Cleanup(fake.Close)
			s := &stack{bin: conduitBin(t), dir: t.TempDir()}
			s.config = filepath.Join(s.dir, "conduit.toml")
			s.ledger = filepath.Join(s.dir, "conduit.db")
			s.logPath = filepath.Join(s.dir, "proxy.log")
			cfg := fmt.Sprintf("listen = \"127.0.0.1:0\"\n[providers.bedrock]\nupstream = %q\napi = \"bedrock\"\n"+
				"[providers.vertex]\nupstream = %q\napi = \"anthropic\"\n[ledger]\npath = \"conduit.db\"\n", fs.URL, fs.URL)
			if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			s.start(t)

			out := runClaude(t, claude, tt.env(s.addr))
			s.stop(t)
			if t.Failed() {
				t.Fatalf("proxy log:\n%s", s.log())
			}

			var call *fakeprovider.Seen
			for _, r := range fake.Requests() {
				if r.Method == "POST" && r.Path == tt.path {
					if call != nil {
						t.Fatalf("two model calls reached the fake: %s", tt.path)
					}
					call = &r
				}
			}
			if call == nil {
				t.Fatalf("no POST %s reached the fake; it saw %v", tt.path, seenPaths(fake.Requests()))
			}
			want, err := fakeprovider.ExpectedUsage(call.Path, call.Header, call.Body, fakeprovider.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := out.tokens(); got != [2]int{want.InputTokens, want.OutputTokens} {
				t.Errorf("Claude Code counted %v input/output tokens, the fake reported %d/%d", got, want.InputTokens, want.OutputTokens)
			}

			db, err := ledger.OpenReadOnly(s.ledger)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			page, err := db.Page(ctx, ledger.Filter{IncludeOther: true}, ledger.Cursor{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			for _, r := range page.Rows {
				if r.Kind != ledger.KindCall {
					if r.Endpoint != "" || r.HasUsage {
						t.Errorf("other traffic %s %s recorded with endpoint %q, usage %v", r.Method, r.Path, r.Endpoint, r.HasUsage)
					}
					continue
				}
				calls++
				if r.Provider != tt.name || r.Endpoint != tt.endpoint || r.Model != tt.model || !r.Stream || r.Outcome != ledger.OutcomeComplete {
					t.Errorf("call %s %s: provider %q endpoint %q model %q stream %v outcome %q; want %q %q %q, a complete stream",
						r.Method, r.Path, r.Provider, r.Endpoint, r.Model, r.Stream, r.Outcome, tt.name, tt.endpoint, tt.model)
				}
				if !r.HasUsage || r.InputTokens != int64(want.InputTokens) || r.OutputTokens != int64(want.OutputTokens) || r.CostUSD == nil {
					t.Errorf("call usage %v in %d out %d cost %v; want in %d out %d, priced",
						r.HasUsage, r.InputTokens, r.OutputTokens, r.CostUSD, want.InputTokens, want.OutputTokens)
				}
			}
			if calls != 1 {
				t.Errorf("%d calls in the ledger, want 1; rows %v", calls, rowPaths(page.Rows))
			}
			// Only the call counts in the totals the reports and budgets read.
			tot, err := db.Totals(ctx, ledger.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if tot.Calls != 1 || tot.InputTokens != int64(want.InputTokens) {
				t.Errorf("totals %d calls, %d input tokens; want 1 call of %d", tot.Calls, tot.InputTokens, want.InputTokens)
			}
			t.Logf("%s: %d requests reached Conduit, 1 call (%d in, %d out); rows %v", tt.name, len(page.Rows), want.InputTokens, want.OutputTokens, rowPaths(page.Rows))
		})
	}
}

// TestClaudeCodeBedrockForward runs Claude Code on Bedrock the way a
// company does, with AWS credentials and no base URL, under `conduit run`
// style variables (HTTPS_PROXY and NODE_EXTRA_CA_CERTS): Conduit decrypts
// the call to bedrock-runtime.us-east-1.amazonaws.com, which is intercepted
// with no configuration, and forwards it byte for byte — the fake behind
// it verifies Claude Code's SigV4 signature over the host, path, headers
// and body, and serves only a call whose signature holds. The ledger has
// the call under the built-in provider bedrock, with the tokens the fake
// reported.
func TestClaudeCodeBedrockForward(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: skipping the Claude Code run (an npm install of ~400 MB on first use)")
	}
	claude := npmcache.Bin(npmcache.DirWithScripts(t, "claude-code", claudeCodePackage), "claude")
	const accessKey, secret = "AKIDCONDUITTEST", "conduit/test/secret/key"
	// Hosts other than the intercepted ones (Bedrock's control plane, for
	// ListInferenceProfiles) are refused at once rather than tunnelled to a
	// network the test does not have.
	s := startStackWith(t, stackOptions{
		fake: fakeprovider.Options{AWSCredentials: map[string]string{accessKey: secret}, KeepRequests: 64},
		mitm: "tunnel_others = false",
	})
	out := runClaude(t, claude, []string{
		"HTTPS_PROXY=http://" + s.addr, "NODE_EXTRA_CA_CERTS=" + s.caPath,
		"CLAUDE_CODE_USE_BEDROCK=1", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secret,
		"ANTHROPIC_MODEL=us.anthropic.claude-haiku-4-5-20251001-v1:0",
	})
	s.stop(t)
	if t.Failed() {
		t.Fatalf("proxy log:\n%s", s.log())
	}
	var call *fakeprovider.Seen
	for _, r := range s.fake.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/invoke-with-response-stream") {
			call = &r
		}
	}
	if call == nil {
		t.Fatalf("no InvokeModelWithResponseStream reached the fake; it saw %v", seenPaths(s.fake.Requests()))
	}
	if !strings.HasPrefix(call.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		t.Fatalf("the call reached the fake unsigned: %v", call.Header)
	}
	want, err := fakeprovider.ExpectedUsage(call.Path, call.Header, call.Body, fakeprovider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.tokens(); got != [2]int{want.InputTokens, want.OutputTokens} {
		t.Errorf("Claude Code counted %v input/output tokens, the fake reported %d/%d", got, want.InputTokens, want.OutputTokens)
	}
	// With credentials (no skip-auth), Claude Code also checks which
	// models it may use with one-token InvokeModel calls: Bedrock bills
	// them, so they are calls too.
	checkForwardCalls(t, s, "bedrock", "bedrock-runtime.us-east-1.amazonaws.com", "bedrock_invoke")
}

// TestClaudeCodeVertexForward runs Claude Code on Vertex AI with no base
// URL under HTTPS_PROXY (auth skipped: the fake's Vertex endpoints need no
// token): its call to us-east5-aiplatform.googleapis.com, intercepted with
// no configuration, is recorded under the built-in provider vertex with
// the tokens the fake reported.
func TestClaudeCodeVertexForward(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: skipping the Claude Code run (an npm install of ~400 MB on first use)")
	}
	claude := npmcache.Bin(npmcache.DirWithScripts(t, "claude-code", claudeCodePackage), "claude")
	s := startStackWith(t, stackOptions{fake: fakeprovider.Options{KeepRequests: 64}, mitm: "tunnel_others = false"})
	runClaude(t, claude, []string{
		"HTTPS_PROXY=http://" + s.addr, "NODE_EXTRA_CA_CERTS=" + s.caPath,
		"CLAUDE_CODE_USE_VERTEX=1", "CLAUDE_CODE_SKIP_VERTEX_AUTH=1", "CLOUD_ML_REGION=us-east5",
		"ANTHROPIC_VERTEX_PROJECT_ID=proj", "ANTHROPIC_MODEL=claude-haiku-4-5@20251001",
	})
	s.stop(t)
	if t.Failed() {
		t.Fatalf("proxy log:\n%s", s.log())
	}
	checkForwardCalls(t, s, "vertex", "us-east5-aiplatform.googleapis.com", "messages")
}

// checkForwardCalls checks the stack's ledger after a forward-mode run:
// one complete, priced call under provider at host for each model call
// (POST) that reached the fake, each with the tokens the fake reported for
// it, and nothing else counted.
func checkForwardCalls(t *testing.T, s *stack, provider, host, endpoint string) {
	t.Helper()
	db, err := ledger.OpenReadOnly(s.ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.Page(context.Background(), ledger.Filter{}, ledger.Cursor{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	byPath := make(map[string]ledger.Row)
	for _, r := range page.Rows {
		byPath[r.Path] = r
		if r.Provider != provider || r.Mode != ledger.ModeForward || r.Host != host ||
			r.Endpoint != endpoint || r.Outcome != ledger.OutcomeComplete || r.CostUSD == nil {
			t.Errorf("call %s: %s %s %s %s outcome %s (%s), cost %v; want a complete forward %s call to %s, priced",
				r.Path, r.Provider, r.Mode, r.Host, r.Endpoint, r.Outcome, r.Error, r.CostUSD, provider, host)
		}
	}
	posts := 0
	for _, req := range s.fake.Requests() {
		if req.Method != "POST" {
			continue
		}
		posts++
		want, err := fakeprovider.ExpectedUsage(req.Path, req.Header, req.Body, fakeprovider.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, ok := byPath[req.Path]
		if !ok || r.InputTokens != int64(want.InputTokens) || r.OutputTokens != int64(want.OutputTokens) {
			t.Errorf("%s: in the ledger %v (in %d out %d), the fake reported %d/%d", req.Path, ok, r.InputTokens, r.OutputTokens, want.InputTokens, want.OutputTokens)
		}
	}
	if len(page.Rows) != posts || posts == 0 {
		t.Errorf("%d calls in the ledger, %d model calls reached the fake: %v", len(page.Rows), posts, rowPaths(page.Rows))
	}
	t.Logf("%d calls: %v", len(page.Rows), rowPaths(page.Rows))
}

// claudeOutput is what `claude -p --output-format json` prints.
type claudeOutput struct {
	IsError    bool   `json:"is_error"`
	Result     string `json:"result"`
	ModelUsage map[string]struct {
		InputTokens              int `json:"inputTokens"`
		OutputTokens             int `json:"outputTokens"`
		CacheReadInputTokens     int `json:"cacheReadInputTokens"`
		CacheCreationInputTokens int `json:"cacheCreationInputTokens"`
	} `json:"modelUsage"`
}

// tokens sums Claude Code's own count of the run's input (cache reads and
// writes included, as the ledger counts them) and output tokens.
func (o claudeOutput) tokens() [2]int {
	var in, out int
	for _, u := range o.ModelUsage {
		in += u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
		out += u.OutputTokens
	}
	return [2]int{in, out}
}

// errorLine is a line of Claude Code's output that reports a failure.
var errorLine = regexp.MustCompile(`(?i)\berror\b|failed|retrying`)

// runClaude runs one `claude -p` in a fresh home with env, bounded in time,
// and fails the test if it fails or prints an error.
func runClaude(t *testing.T, claude string, env []string) claudeOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, claude, "-p", "say hello", "--output-format", "json")
	cmd.Dir = t.TempDir()
	// The fake writes as many words as max_tokens asks: keep it small.
	// Telemetry, error reporting and update checks off, as a CI run has them.
	cmd.Env = append(baseEnv(t), append(env, "CLAUDE_CODE_MAX_OUTPUT_TOKENS=5",
		"DISABLE_TELEMETRY=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("claude -p: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if errorLine.MatchString(line) {
			t.Errorf("claude printed an error: %s", line)
		}
	}
	var out claudeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("claude's JSON output: %v\n%s", err, stdout.Bytes())
	}
	if out.IsError || errorLine.MatchString(out.Result) || len(out.ModelUsage) == 0 {
		t.Errorf("claude's result is an error, or counted no usage: %s", stdout.Bytes())
	}
	return out
}

func seenPaths(seen []fakeprovider.Seen) []string {
	var out []string
	for _, s := range seen {
		out = append(out, s.Method+" "+s.Path)
	}
	return out
}

func rowPaths(rows []ledger.Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s %s %s (%s)", r.Kind, r.Method, r.Path, r.Endpoint))
	}
	return out
}
