package fakeprovider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sdkEnv opts in to TestOfficialSDKs, which installs npm packages.
const sdkEnv = "CONDUIT_SDK_TESTS"

// TestOfficialSDKs runs the official openai, @anthropic-ai/sdk,
// @google/genai and ollama npm packages (versions pinned in
// testdata/sdk/package.json) against the fake, proving the SDKs accept its
// wire formats and read its usage figures. It needs node and npm, and
// CONDUIT_SDK_TESTS=1 because `npm install` fetches from the npm registry
// (into the user cache directory, reused across runs; never committed).
func TestOfficialSDKs(t *testing.T) {
	if os.Getenv(sdkEnv) != "1" {
		t.Skipf("set %s=1 to run the official SDKs against the fake (needs node, npm and the npm registry)", sdkEnv)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: cannot run the official SDKs")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found: cannot install the official SDKs")
	}
	dir := sdkDir(t, npm, "sdk")
	script, err := os.ReadFile(filepath.Join("testdata", "sdk", "check.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "check.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}

	s := New(Options{})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "check.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FAKE_URL="+ts.URL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node check.mjs: %v\n%s", err, stderr.String())
	}
	var got map[string]any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode SDK results: %v\n%s", err, out)
	}

	// Each check: a path into the results and the value the SDK must have
	// parsed ("hello there world" = 3 words, so 6 prompt tokens).
	checks := []struct {
		path []any
		want any
	}{
		{[]any{"chat", "text"}, "lorem ipsum dolor"},
		{[]any{"chat", "usage", "prompt_tokens"}, 8},
		{[]any{"chat", "usage", "completion_tokens_details", "reasoning_tokens"}, 1},
		{[]any{"chatStream", "text"}, "lorem ipsum dolor"},
		{[]any{"chatStream", "usage", "total_tokens"}, 9},
		{[]any{"chatHelper", "text"}, "lorem ipsum"},
		{[]any{"chatHelper", "finish"}, "stop"},
		{[]any{"completionsStream", "usage", "completion_tokens"}, 2},
		{[]any{"responses", "text"}, "lorem ipsum"},
		{[]any{"responses", "usage", "input_tokens"}, 6},
		{[]any{"responsesStream", "text"}, "lorem ipsum"},
		{[]any{"responsesStream", "usage", "total_tokens"}, 8},
		{[]any{"embeddings", "dims"}, defaultDimensions},
		{[]any{"embeddings", "usage", "prompt_tokens"}, 6},
		{[]any{"models", 0}, "gpt-4o-mini"},
		{[]any{"rateLimit", "status"}, 429},
		{[]any{"rateLimit", "name"}, "RateLimitError"},
		{[]any{"messages", "usage", "cache_creation", "ephemeral_1h_input_tokens"}, 5},
		{[]any{"messages", "usage", "cache_read_input_tokens"}, 6},
		{[]any{"messagesStream", "text"}, "lorem ipsum dolor"},
		{[]any{"messagesStream", "usage", "cache_creation_input_tokens"}, 5},
		{[]any{"messagesStream", "usage", "output_tokens"}, 3},
		{[]any{"countTokens"}, 6},
		{[]any{"gemini", "text"}, "lorem ipsum dolor"},
		{[]any{"gemini", "usage", "totalTokenCount"}, 11},
		{[]any{"geminiStream", "text"}, "lorem ipsum dolor"},
		{[]any{"geminiStream", "usage", "candidatesTokenCount"}, 3},
		{[]any{"ollama", "text"}, "lorem ipsum"},
		{[]any{"ollama", "eval_count"}, 2},
	}
	for _, c := range checks {
		v := at(got, c.path...)
		if fmt.Sprint(v) != fmt.Sprint(c.want) {
			t.Errorf("%v = %v, want %v", c.path, v, c.want)
		}
	}
	if msg := str(got, "anthropicErrorEvent", "message"); !strings.Contains(msg, "overloaded_error") {
		t.Errorf("the Anthropic SDK did not raise the mid-stream error event: %v", at(got, "anthropicErrorEvent"))
	}
	if types, _ := at(got, "responsesStream", "types").([]any); len(types) != 10 || types[len(types)-1] != "response.completed" {
		t.Errorf("Responses events seen by the SDK: %v", types)
	}
}

// sdkDir returns a directory with the packages pinned in
// testdata/<name>/package.json installed, keyed by its hash so a version
// change reinstalls.
func sdkDir(t *testing.T, npm, name string) string {
	t.Helper()
	pkg, err := os.ReadFile(filepath.Join("testdata", name, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "conduit", "fakeprovider-"+name+"-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
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

// TestOfficialSDKsWebSocket runs the official WebSocket and Bedrock
// clients (openai's ResponsesWS and OpenAIRealtimeWS, @google/genai's Live
// session, @aws-sdk/client-bedrock-runtime; pinned in
// testdata/sdk-ws/package.json) against the fake over TLS (the openai SDK
// dials Realtime only over wss:), proving they accept its messages, framing
// and event streams and read its usage, and that the fake verifies the AWS
// SDK's SigV4 signatures. Opt-in like TestOfficialSDKs.
func TestOfficialSDKsWebSocket(t *testing.T) {
	if os.Getenv(sdkEnv) != "1" {
		t.Skipf("set %s=1 to run the official SDKs against the fake (needs node, npm and the npm registry)", sdkEnv)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: cannot run the official SDKs")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found: cannot install the official SDKs")
	}
	dir := sdkDir(t, npm, "sdk-ws")
	script, err := os.ReadFile(filepath.Join("testdata", "sdk-ws", "check.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "check.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	const accessKey, secret = "AKIDEXAMPLE", "fake-secret"
	s := New(Options{AWSCredentials: map[string]string{accessKey: secret}})
	ts := httptest.NewUnstartedServer(s)
	ts.EnableHTTP2 = true // the AWS SDK streams over HTTP/2; the WebSocket clients stay on HTTP/1.1
	ts.StartTLS()
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "check.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FAKE_URL="+ts.URL, "NODE_EXTRA_CA_CERTS="+ca,
		"AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_SESSION_TOKEN=", "AWS_PROFILE=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node check.mjs: %v\n%s", err, stderr.String())
	}
	var got map[string]any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode SDK results: %v\n%s", err, out)
	}
	// "hello there" = 2 words, so 5 prompt tokens; max tokens 2 or 3.
	checks := []struct {
		path []any
		want any
	}{
		{[]any{"responsesWS", 0, "type"}, "response.completed"},
		{[]any{"responsesWS", 0, "deltas"}, 2},
		{[]any{"responsesWS", 0, "usage", "input_tokens"}, 5},
		{[]any{"responsesWS", 1, "usage", "input_tokens"}, 6},
		{[]any{"responsesWS", 1, "usage", "total_tokens"}, 8},
		{[]any{"realtime", "text"}, "lorem ipsum dolor"},
		{[]any{"realtime", "usage", "input_tokens"}, 7},
		{[]any{"realtime", "usage", "output_token_details", "text_tokens"}, 3},
		{[]any{"realtimeAudio", "audioDeltas"}, 2 * AudioTokensPerWord},
		{[]any{"realtimeAudio", "transcript"}, "lorem ipsum"},
		{[]any{"realtimeAudio", "usage", "input_tokens"}, 10},
		{[]any{"realtimeAudio", "usage", "output_token_details", "audio_tokens"}, 2 * AudioTokensPerWord},
		{[]any{"live", "setup"}, true},
		{[]any{"live", "text"}, "lorem ipsum dolor sit amet consectetur adipiscing elit"},
		{[]any{"live", "usage", "promptTokenCount"}, 7},
		{[]any{"live", "usage", "responseTokenCount"}, DefaultEvents},
		{[]any{"invoke", "model"}, "claude-haiku-4-5-20251001"},
		{[]any{"invoke", "usage", "input_tokens"}, 5},
		{[]any{"invokeStream", "text"}, "lorem ipsum dolor"},
		{[]any{"invokeStream", "metrics", "outputTokenCount"}, 3},
		{[]any{"converse", "stopReason"}, "end_turn"},
		{[]any{"converse", "usage", "totalTokens"}, 8},
		{[]any{"converseStream", "text"}, "lorem ipsum dolor"},
		{[]any{"converseStream", "usage", "outputTokens"}, 3},
	}
	for _, c := range checks {
		if v := at(got, c.path...); fmt.Sprint(v) != fmt.Sprint(c.want) {
			t.Errorf("%v = %v, want %v", c.path, v, c.want)
		}
	}
	if id0, id1 := str(got, "responsesWS", 0, "id"), str(got, "responsesWS", 1, "id"); id0 == "" || id0 == id1 {
		t.Errorf("response ids %q %q", id0, id1)
	}
}
