package intercept

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
)

// cleanEnv is a minimal environment for client processes, so that the
// developer's own proxy or CA variables never leak into a test.
func cleanEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8"}
	return append(env, extra...)
}

func runClient(t *testing.T, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.New(err.Error() + ": " + stderr.String())
	}
	return out, nil
}

// checkForwardRecord checks a forward-mode record against the usage the
// fake reported for the call.
func checkForwardRecord(t *testing.T, r Call, c testCall, header map[string][]string) {
	t.Helper()
	want, err := fakeprovider.ExpectedUsage(c.path, header, []byte(c.body), fakeprovider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != ledger.ModeForward || r.Host != providerHost[c.provider] {
		t.Errorf("record mode %q host %q", r.Mode, r.Host)
	}
	r.Mode = ledger.ModeBaseURL // checkRecord expects base-URL mode
	checkRecord(t, r, c, want)
}

// TestForwardCurl guards curl as an HTTPS_PROXY client (-x, --cacert with
// Conduit's CA): the same bytes as a base-URL call and the same usage; and
// a tunnelled host shows curl its own certificate (Conduit's CA alone does
// not verify it, the public root does).
func TestForwardCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed: TestForwardRecordsLikeBaseURL covers the same path with Go's client")
	}
	h := newFwdHarness(t, fwdConfig{})
	env := cleanEnv()
	for _, c := range []testCall{calls[1], calls[6], calls[8]} {
		t.Run(c.name, func(t *testing.T) {
			header := hdr("Authorization", auth, "Content-Type", "application/json")
			_, base := do(t, "POST", h.proxyURL+"/"+c.provider+c.path, header, c.body)
			h.record(t)
			out, err := runClient(t, env, curl, "-sS", "-N", "--fail-with-body", "-x", h.proxyURL, "--cacert", h.ca.CertPath(),
				"-H", "Authorization: "+auth, "-H", "Content-Type: application/json", "--data-binary", c.body,
				"https://"+providerHost[c.provider]+c.path)
			if err != nil {
				t.Fatalf("curl: %v", err)
			}
			if !bytes.Equal(out, base) {
				t.Fatalf("curl through the proxy got\n%q\nbase-URL call got\n%q", out, base)
			}
			checkForwardRecord(t, h.record(t), c, header)
		})
	}
	t.Run("tunnelled host", func(t *testing.T) {
		rootFile := filepath.Join(t.TempDir(), "root.pem")
		os.WriteFile(rootFile, h.pki.rootPEM, 0o644)
		target := "https://" + hostOther + "/v1/models"
		if _, err := runClient(t, env, curl, "-sS", "--fail", "-x", h.proxyURL, "--cacert", h.ca.CertPath(), "-H", "Authorization: "+auth, target); err == nil {
			t.Error("curl trusting only Conduit's CA accepted the tunnelled host: Conduit decrypted it")
		}
		out, err := runClient(t, env, curl, "-sS", "--fail", "-x", h.proxyURL, "--cacert", rootFile, "-H", "Authorization: "+auth, target)
		if err != nil || !bytes.Contains(out, []byte("gpt-4o-mini")) {
			t.Fatalf("curl through the tunnel: %v %q", err, out)
		}
		h.noRecord(t)
	})
}

// pythonUrllib posts argv[2] to argv[1] with the JSON headers of argv[3]
// using only the standard library, so HTTPS_PROXY and SSL_CERT_FILE are
// honoured exactly as a plain Python script honours them.
const pythonUrllib = `
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers=json.loads(sys.argv[3]), method="POST")
with urllib.request.urlopen(req, timeout=20) as r:
    sys.stdout.buffer.write(r.read())
`

// TestForwardPythonUrllib guards Python's urllib as an HTTPS_PROXY client
// trusting a bundle through SSL_CERT_FILE: the same bytes and usage as
// base-URL mode.
func TestForwardPythonUrllib(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: TestForwardRecordsLikeBaseURL covers the same path with Go's client")
	}
	h := newFwdHarness(t, fwdConfig{})
	env := cleanEnv("HTTPS_PROXY="+h.proxyURL, "SSL_CERT_FILE="+h.bundle(t))
	for _, c := range []testCall{calls[0], calls[3], calls[6], calls[8]} {
		t.Run(c.name, func(t *testing.T) {
			header := hdr("Authorization", auth, "Content-Type", "application/json")
			_, base := do(t, "POST", h.proxyURL+"/"+c.provider+c.path, header, c.body)
			h.record(t)
			hj, _ := json.Marshal(map[string]string{"Authorization": auth, "Content-Type": "application/json"})
			out, err := runClient(t, env, python, "-c", pythonUrllib, "https://"+providerHost[c.provider]+c.path, c.body, string(hj))
			if err != nil {
				t.Fatalf("python: %v", err)
			}
			if !bytes.Equal(out, base) {
				t.Fatalf("urllib through the proxy got\n%q\nbase-URL call got\n%q", out, base)
			}
			checkForwardRecord(t, h.record(t), c, header)
		})
	}
}

// sdkEnv opts in to TestForwardOfficialSDKs, which installs npm packages.
const sdkEnv = "CONDUIT_SDK_TESTS"

// TestForwardOfficialSDKs runs the official openai and @anthropic-ai/sdk
// npm packages, with their default base URLs (the real hosts), through
// Conduit as an HTTPS proxy (undici's ProxyAgent) trusting its CA by
// NODE_EXTRA_CA_CERTS: every call must parse, Conduit's injected
// include_usage must stay invisible to the SDK, and each record must carry
// the usage the fake reported. It needs node, npm and CONDUIT_SDK_TESTS=1
// (npm install fetches the versions pinned in testdata/forward-sdk).
func TestForwardOfficialSDKs(t *testing.T) {
	t.Parallel()
	if os.Getenv(sdkEnv) != "1" {
		t.Skipf("set %s=1 to run the official SDKs through forward mode (needs node, npm and the npm registry)", sdkEnv)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found")
	}
	dir := sdkDir(t, npm)
	h := newFwdHarness(t, fwdConfig{})
	out, err := runClient(t, cleanEnv("HTTPS_PROXY="+h.proxyURL, "NODE_EXTRA_CA_CERTS="+h.ca.CertPath()), node, filepath.Join(dir, "check.mjs"))
	if err != nil {
		t.Fatalf("node check.mjs: %v", err)
	}
	var got struct {
		Chat struct {
			Text  string
			Usage struct{ Prompt_tokens, Completion_tokens int }
		}
		ChatStream struct {
			Text         string
			SawUsage     bool
			EmptyChoices int
		}
		ResponsesStream struct{ Text string }
		MessagesStream  struct {
			Text  string
			Usage struct{ Output_tokens int }
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("SDK output %q: %v", out, err)
	}
	if got.Chat.Text == "" || got.Chat.Usage.Completion_tokens != 3 || got.ResponsesStream.Text == "" || got.MessagesStream.Usage.Output_tokens != 3 {
		t.Errorf("SDK results %+v", got)
	}
	if got.ChatStream.Text == "" || got.ChatStream.SawUsage || got.ChatStream.EmptyChoices != 0 {
		t.Errorf("chat stream as the SDK saw it: %+v (Conduit's usage chunk must stay hidden)", got.ChatStream)
	}
	seen := h.fake.Requests()
	if len(seen) != 4 {
		t.Fatalf("the fake saw %d requests, want 4", len(seen))
	}
	for i, s := range seen {
		r := h.record(t)
		want, err := fakeprovider.ExpectedUsage(s.Path, s.Header, s.Body, fakeprovider.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Mode != ledger.ModeForward || r.Outcome != ledger.OutcomeComplete || !r.HasUsage ||
			int(r.InputTokens) != want.InputTokens || int(r.OutputTokens) != want.OutputTokens {
			t.Errorf("call %d (%s): record %+v, want usage %+v", i, s.Path, r, want)
		}
		if !strings.HasPrefix(r.Client, "OpenAI/JS") && !strings.HasPrefix(r.Client, "Anthropic/JS") {
			t.Errorf("call %d: client %q", i, r.Client)
		}
	}
}

// sdkDir returns a directory with the pinned packages installed, keyed by
// the package.json hash so that a version change reinstalls; the install
// lives in the user cache directory and is never committed.
func sdkDir(t *testing.T, npm string) string {
	t.Helper()
	pkg, err := os.ReadFile(filepath.Join("testdata", "forward-sdk", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join("testdata", "forward-sdk", "check.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "conduit", "forward-sdk-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "check.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil {
		return dir
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install in %s: %v\n%s", dir, err, out)
	}
	return dir
}
