package intercept

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// Bodies of the cloud platforms' calls, as their SDKs send them.
const (
	bedrockInvokeBody   = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":3,"system":"be brief","messages":[{"role":"user","content":"hello there"}]}`
	bedrockConverseBody = `{"messages":[{"role":"user","content":[{"text":"hello there"}]}],"system":[{"text":"be brief"}],"inferenceConfig":{"maxTokens":3}}`
	vertexClaudeBody    = `{"anthropic_version":"vertex-2023-10-16","max_tokens":3,"messages":[{"role":"user","content":"hello there"}]}`
	vertexGeminiBody    = `{"contents":[{"role":"user","parts":[{"text":"hello there"}]}],"generationConfig":{"maxOutputTokens":3}}`
	azureChatBody       = `{"messages":[{"role":"user","content":"hello there"}],"max_tokens":2}`
	bedrockModelID      = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	vertexClaudePrefix  = "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001"
	vertexGeminiPrefix  = "/v1/projects/proj/locations/global/publishers/google/models/gemini-2.5-flash"
)

// TestPlatformsBaseURL guards base-URL mode on the cloud platforms: each of
// Bedrock's four operations (the model id escaped as the AWS SDKs send it,
// or not, as Claude Code does), Vertex AI's Anthropic and Gemini methods and
// Azure OpenAI's deployment and /openai/v1/ paths become one call each, of
// the right endpoint, model and stream flag, with exactly the usage the
// fake reports.
func TestPlatformsBaseURL(t *testing.T) {
	fakeOpts := fakeprovider.Options{Deployments: map[string]string{"prod-mini": "gpt-4o-mini-2024-07-18"}}
	h := newHarness(t, harnessConfig{fake: fakeOpts, options: func(o *Options) {
		u := o.Providers[0].Upstream
		o.Providers = append(o.Providers,
			Provider{Key: "bedrock", Upstream: u, API: parsers.Bedrock},
			Provider{Key: "vertex", Upstream: u, API: parsers.Gemini},
			Provider{Key: "azure", Upstream: u, API: parsers.OpenAI},
		)
	}})
	escaped := "/bedrock/model/" + url.PathEscape(bedrockModelID)
	azureKey := hdr("Api-Key", "azure-key", "Content-Type", "application/json")
	// Vertex AI takes an OAuth access token.
	vertexToken := hdr("Authorization", "Bearer ya29.token", "Content-Type", "application/json")
	tests := []struct {
		name, path, body string
		header           http.Header
		endpoint, model  string
		stream           bool
	}{
		{"bedrock invoke", escaped + "/invoke", bedrockInvokeBody, nil, "bedrock_invoke", bedrockModelID, false},
		{"bedrock invoke stream", "/bedrock/model/" + bedrockModelID + "/invoke-with-response-stream", bedrockInvokeBody, nil, "bedrock_invoke", bedrockModelID, true},
		{"bedrock converse", escaped + "/converse", bedrockConverseBody, nil, "bedrock_converse", bedrockModelID, false},
		{"bedrock converse stream", escaped + "/converse-stream", bedrockConverseBody, nil, "bedrock_converse", bedrockModelID, true},
		{"vertex claude", "/vertex" + vertexClaudePrefix + ":rawPredict", vertexClaudeBody, nil, "messages", "claude-haiku-4-5@20251001", false},
		{"vertex claude stream", "/vertex" + vertexClaudePrefix + ":streamRawPredict", vertexClaudeBody, nil, "messages", "claude-haiku-4-5@20251001", true},
		{"vertex gemini", "/vertex" + vertexGeminiPrefix + ":generateContent", vertexGeminiBody, vertexToken, "generate_content", "gemini-2.5-flash", false},
		{"vertex gemini stream", "/vertex" + vertexGeminiPrefix + ":streamGenerateContent?alt=sse", vertexGeminiBody, vertexToken, "generate_content", "gemini-2.5-flash", true},
		{"azure deployment", "/azure/openai/deployments/prod-mini/chat/completions?api-version=2024-10-21", azureChatBody, azureKey, "chat_completions", "gpt-4o-mini-2024-07-18", false},
		{"azure deployment stream", "/azure/openai/deployments/other/chat/completions?api-version=2024-10-21", strings.Replace(azureChatBody, `"max_tokens"`, `"stream":true,"stream_options":{"include_usage":true},"max_tokens"`, 1), azureKey, "chat_completions", fakeprovider.DefaultAzureModel, true},
		{"azure v1", "/azure/openai/v1/chat/completions", strings.Replace(azureChatBody, `{`, `{"model":"gpt-4o-mini",`, 1), azureKey, "chat_completions", fakeprovider.DefaultAzureModel, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := tt.header
			if header == nil {
				header = hdr("Content-Type", "application/json")
			}
			resp, body := do(t, http.MethodPost, h.proxyURL+tt.path, header, tt.body)
			rec := h.record(t)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			upstreamPath := strings.SplitN(tt.path, "/", 3)[2]
			want, err := fakeprovider.ExpectedUsage("/"+upstreamPath, header, []byte(tt.body), fakeOpts)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Kind != ledger.KindCall || rec.Endpoint != tt.endpoint || rec.Model != tt.model || rec.Stream != tt.stream ||
				rec.Outcome != ledger.OutcomeComplete {
				t.Errorf("record kind %q endpoint %q model %q stream %v outcome %q (%s), want call %q %q %v complete",
					rec.Kind, rec.Endpoint, rec.Model, rec.Stream, rec.Outcome, rec.Error, tt.endpoint, tt.model, tt.stream)
			}
			if !rec.HasUsage || rec.InputTokens != int64(want.InputTokens) || rec.OutputTokens != int64(want.OutputTokens) ||
				rec.CachedInputTokens != int64(want.CachedInputTokens) || rec.CacheWriteTokens != int64(want.CacheWriteTokens()) {
				t.Errorf("usage in %d cached %d write %d out %d, want %+v", rec.InputTokens, rec.CachedInputTokens, rec.CacheWriteTokens, rec.OutputTokens, want)
			}
		})
	}
}

// TestAzureDeploymentModel guards [providers.<key>] deployments: a call to
// a mapped deployment whose response names no model (here a 401: the fake
// wants an api-key) is recorded, as a failed call and not as other
// traffic, under the model the config maps it to; without a mapping the
// deployment name stands for the model; a response's own model wins.
func TestAzureDeploymentModel(t *testing.T) {
	h := newHarness(t, harnessConfig{options: func(o *Options) {
		o.Providers = append(o.Providers, Provider{Key: "azure", Upstream: o.Providers[0].Upstream, API: parsers.OpenAI,
			Deployments: map[string]string{"my-gpt": "gpt-4o"}})
	}})
	const q = "/chat/completions?api-version=2024-10-21"
	tests := []struct {
		name, deployment string
		header           http.Header
		status           int
		model            string
	}{
		{"mapped, no model in the response", "my-gpt", nil, http.StatusUnauthorized, "gpt-4o"},
		{"unmapped, no model in the response", "other", nil, http.StatusUnauthorized, "other"},
		{"the response's model wins", "my-gpt", hdr("Api-Key", "k"), http.StatusOK, fakeprovider.DefaultAzureModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodPost, h.proxyURL+"/azure/openai/deployments/"+tt.deployment+q, tt.header, azureChatBody)
			rec := h.record(t)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if rec.Kind != ledger.KindCall || rec.Model != tt.model || rec.Status != tt.status {
				t.Errorf("record kind %q model %q status %d, want call %q %d", rec.Kind, rec.Model, rec.Status, tt.model, tt.status)
			}
		})
	}
}

// TestPlatformsOtherTraffic guards that the platforms' requests that are no
// model call (Bedrock's ListInferenceProfiles, which Claude Code sends
// first; token counters; a GET on a metered path) are forwarded and kept as
// kind other, and that a metered call the provider refuses stays a call.
func TestPlatformsOtherTraffic(t *testing.T) {
	h := newHarness(t, harnessConfig{fake: fakeprovider.Options{AWSCredentials: map[string]string{"AKID": "secret"}}, options: func(o *Options) {
		o.Providers = append(o.Providers, Provider{Key: "bedrock", Upstream: o.Providers[0].Upstream, API: parsers.Bedrock})
	}})
	tests := []struct {
		name, method, path, body string
		kind                     string
	}{
		{"list inference profiles", http.MethodGet, "/bedrock/inference-profiles?type=SYSTEM_DEFINED", "", ledger.KindOther},
		{"count tokens", http.MethodPost, "/bedrock/model/" + bedrockModelID + "/count-tokens", `{"input":{}}`, ledger.KindOther},
		{"get on a metered path", http.MethodGet, "/bedrock/model/" + bedrockModelID + "/invoke", "", ledger.KindOther},
		{"unsigned invoke, refused", http.MethodPost, "/bedrock/model/" + bedrockModelID + "/invoke", bedrockInvokeBody, ledger.KindCall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := do(t, tt.method, h.proxyURL+tt.path, hdr("Content-Type", "application/json"), tt.body)
			rec := h.record(t)
			if rec.Kind != tt.kind || rec.Status != resp.StatusCode {
				t.Errorf("record kind %q status %d (client saw %d), want kind %q", rec.Kind, rec.Status, resp.StatusCode, tt.kind)
			}
		})
	}
}

// TestBedrockSigV4Forward guards that forward mode sends a SigV4-signed
// Bedrock call upstream byte for byte: the fake recomputes the signature
// over the method, path, query, signed headers and body it received, and
// serves the call only if they are unchanged. A request changed after
// signing is the control: the fake refuses it, so the check can fail.
func TestBedrockSigV4Forward(t *testing.T) {
	creds := map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	// The fake stands in for bedrock-runtime: its address is intercepted
	// and recorded under a Bedrock provider (the first configured for it).
	h := newHarness(t, harnessConfig{fake: fakeprovider.Options{AWSCredentials: creds}, options: func(o *Options) {
		u := o.Providers[0].Upstream
		o.Providers = append([]Provider{{Key: "bedrock", Upstream: u, API: parsers.Bedrock}}, o.Providers...)
		o.Forward = &Forward{Hosts: []string{u.Host}, TunnelOthers: true}
	}})
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, h.proxyURL)), DisableCompression: true}}
	at := time.Now()
	send := func(path, body string, before, tamper func(*http.Request)) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, h.fakeURL+path, bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/vnd.amazon.eventstream")
		req.Header.Set("X-Amzn-Bedrock-Accept", "*/*")
		if before != nil {
			before(req)
		}
		fakeprovider.SignV4(req, []byte(body), "AKIDEXAMPLE", creds["AKIDEXAMPLE"], "us-east-1", "bedrock", at)
		if tamper != nil {
			tamper(req)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	escaped := "/model/" + url.PathEscape(bedrockModelID)
	for _, op := range []string{"/invoke", "/invoke-with-response-stream", "/converse", "/converse-stream"} {
		body := bedrockInvokeBody
		if strings.HasPrefix(op, "/converse") {
			body = bedrockConverseBody
		}
		if code, b := send(escaped+op, body, nil, nil); code != http.StatusOK {
			t.Errorf("%s: signed call refused upstream: %d %s", op, code, b)
		}
		rec := h.record(t)
		if rec.Kind != ledger.KindCall || rec.Mode != ledger.ModeForward || rec.Provider != "bedrock" || !rec.HasUsage || rec.OutputTokens != 3 {
			t.Errorf("%s: record %s/%s by %q, usage %v out %d; want a forward bedrock call with 3 output tokens",
				op, rec.Kind, rec.Mode, rec.Provider, rec.HasUsage, rec.OutputTokens)
		}
	}
	// A client that signs Accept-Encoding (the AWS SDKs sign every header
	// they set) gets it forwarded as signed, not replaced by Go's gzip.
	for _, enc := range []string{"identity", "gzip"} {
		code, b := send(escaped+"/invoke", bedrockInvokeBody, func(r *http.Request) { r.Header.Set("Accept-Encoding", enc) }, nil)
		if rec := h.record(t); code != http.StatusOK || rec.OutputTokens != 3 {
			t.Errorf("Accept-Encoding %s signed: %d %s, %d output tokens recorded", enc, code, b, rec.OutputTokens)
		}
	}
	code, b := send(escaped+"/invoke", bedrockInvokeBody, nil, func(r *http.Request) { r.Header.Set("Accept", "application/json") })
	if code != http.StatusForbidden {
		t.Errorf("a request changed after signing: %d %s, want the fake's 403", code, b)
	}
	h.record(t)
}

// TestForwardPlatforms guards forward mode on the cloud platforms with no
// configuration: HTTPS calls to a Bedrock, a Vertex AI and an Azure OpenAI
// host are decrypted and recorded under the platform's built-in provider,
// with the usage the fake reports; a SigV4-signed Bedrock call reaches
// the upstream unchanged (the fake verifies the signature over the real
// host name); Bedrock's ListInferenceProfiles is other traffic.
func TestForwardPlatforms(t *testing.T) {
	creds := map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	fakeOpts := fakeprovider.Options{AWSCredentials: creds}
	// The CA covers what `conduit ca init` makes it cover by default:
	// Azure's per-customer hosts as a pattern.
	h := newFwdHarness(t, fwdConfig{fake: fakeOpts, caHosts: append(slices.Clone(fakeHosts), "*.openai.azure.com")})
	client := h.client(h.roots())
	signed := func(r *http.Request, body string) {
		fakeprovider.SignV4(r, []byte(body), "AKIDEXAMPLE", creds["AKIDEXAMPLE"], "us-east-1", "bedrock", time.Now())
	}
	tests := []struct {
		name, method, url, body string
		header                  http.Header
		sign                    bool
		key                     string
		api                     parsers.API
		kind, endpoint          string
	}{
		{"bedrock invoke stream, signed", http.MethodPost, "https://" + hostBedrock + "/model/" + url.PathEscape(bedrockModelID) + "/invoke-with-response-stream",
			bedrockInvokeBody, hdr("Content-Type", "application/json"), true, "bedrock", parsers.Bedrock, ledger.KindCall, "bedrock_invoke"},
		{"bedrock converse, signed", http.MethodPost, "https://" + hostBedrock + "/model/" + url.PathEscape(bedrockModelID) + "/converse",
			bedrockConverseBody, hdr("Content-Type", "application/json"), true, "bedrock", parsers.Bedrock, ledger.KindCall, "bedrock_converse"},
		{"bedrock list inference profiles", http.MethodGet, "https://" + hostBedrock + "/inference-profiles?type=SYSTEM_DEFINED",
			"", nil, true, "bedrock", parsers.Bedrock, ledger.KindOther, ""},
		{"vertex claude stream", http.MethodPost, "https://" + hostVertex + vertexClaudePrefix + ":streamRawPredict",
			vertexClaudeBody, hdr("Authorization", "Bearer ya29.token", "Content-Type", "application/json"), false, "vertex", parsers.Gemini, ledger.KindCall, "messages"},
		{"vertex gemini", http.MethodPost, "https://" + hostVertex + vertexGeminiPrefix + ":generateContent",
			vertexGeminiBody, hdr("Authorization", "Bearer ya29.token", "Content-Type", "application/json"), false, "vertex", parsers.Gemini, ledger.KindCall, "generate_content"},
		{"azure deployment", http.MethodPost, "https://" + hostAzure + "/openai/deployments/prod/chat/completions?api-version=2024-10-21",
			azureChatBody, hdr("Api-Key", "azure-key", "Content-Type", "application/json"), false, "azure", parsers.OpenAI, ledger.KindCall, "chat_completions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.body == "" {
				req.Body = http.NoBody
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			if tt.sign {
				signed(req, tt.body)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			rec := h.record(t)
			if tt.kind == ledger.KindCall && resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if resp.TLS == nil || resp.TLS.PeerCertificates[0].Issuer.CommonName == h.pki.root.Subject.CommonName {
				t.Fatal("the call was not decrypted by Conduit")
			}
			u := mustURL(t, tt.url)
			if rec.Kind != tt.kind || rec.Provider != tt.key || rec.API != string(tt.api) || rec.Endpoint != tt.endpoint ||
				rec.Mode != ledger.ModeForward || rec.Host != u.Host {
				t.Errorf("record %s %s/%s endpoint %q mode %s host %s; want %s %s/%s %q forward %s",
					rec.Kind, rec.Provider, rec.API, rec.Endpoint, rec.Mode, rec.Host, tt.kind, tt.key, tt.api, tt.endpoint, u.Host)
			}
			if tt.kind != ledger.KindCall {
				return
			}
			want, err := fakeprovider.ExpectedUsage(u.RequestURI(), tt.header, []byte(tt.body), fakeOpts)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.HasUsage || rec.InputTokens != int64(want.InputTokens) || rec.OutputTokens != int64(want.OutputTokens) {
				t.Errorf("usage in %d out %d, want %+v", rec.InputTokens, rec.OutputTokens, want)
			}
		})
	}
}

// TestAcceptsStreamOptions guards which upstreams Conduit may ask for
// stream usage: any but Azure's, and on Azure only the api-versions that
// accept stream_options (older ones refuse the request with a 400).
func TestAcceptsStreamOptions(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"https://api.openai.com/v1/chat/completions", true},
		{"https://llm-gateway.corp.example/openai/deployments/x/chat/completions?api-version=2023-05-15", true},
		{"https://acme.openai.azure.com/openai/deployments/x/chat/completions?api-version=2024-10-21", true},
		{"https://acme.openai.azure.com/openai/deployments/x/chat/completions?api-version=2024-09-01-preview", true},
		{"https://acme.openai.azure.com/openai/deployments/x/chat/completions?api-version=2025-04-01-preview", true},
		{"https://ACME.OpenAI.Azure.com:443/openai/deployments/x/chat/completions?api-version=2024-06-01", false},
		{"https://acme.openai.azure.com/openai/deployments/x/chat/completions?api-version=2024-08-01-preview", false},
		{"https://acme.cognitiveservices.azure.com/openai/deployments/x/chat/completions?api-version=2023-05-15", false},
		{"https://acme.services.ai.azure.com/openai/deployments/x/chat/completions", false},
		{"https://acme.openai.azure.com/openai/v1/chat/completions", true},
		{"https://acme.openai.azure.com/openai/v1/chat/completions?api-version=preview", true},
		{"https://acme.openai.azure.com/openai/deployments/x/chat/completions?api-version=junk", false},
	}
	for _, tt := range tests {
		if got := acceptsStreamOptions(mustURL(t, tt.url)); got != tt.want {
			t.Errorf("acceptsStreamOptions(%s) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

// TestAzureStreamUsage guards stream usage on Azure through a provider
// that asks for it: an api-version that accepts stream_options gets it
// (and the call its usage, the extra event hidden from the client); an
// older one is forwarded as sent, so Azure does not refuse it.
func TestAzureStreamUsage(t *testing.T) {
	var fakeURL *url.URL
	h := newHarness(t, harnessConfig{fake: fakeprovider.Options{KeepRequests: 16}, options: func(o *Options) {
		fakeURL = o.Providers[0].Upstream
		// The fake answers for any host: the client's transport sends
		// acme.openai.azure.com to it.
		o.Providers = append(o.Providers, Provider{Key: "azure", Upstream: mustURL(t, "http://acme.openai.azure.com"), API: parsers.OpenAI, InjectStreamUsage: true})
		o.Upstream.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, fakeURL.Host)
		}
	}})
	body := `{"messages":[{"role":"user","content":"hello there"}],"max_tokens":2,"stream":true}`
	for _, tt := range []struct {
		version  string
		injected bool
	}{{"2024-10-21", true}, {"2024-06-01", false}} {
		t.Run(tt.version, func(t *testing.T) {
			resp, got := do(t, http.MethodPost, h.proxyURL+"/azure/openai/deployments/prod/chat/completions?api-version="+tt.version,
				hdr("Api-Key", "k", "Content-Type", "application/json"), body)
			rec := h.record(t)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			seen := h.fake.Requests()
			sent := seen[len(seen)-1].Body
			if bytes.Contains(sent, []byte("stream_options")) != tt.injected {
				t.Errorf("forwarded body %s; want stream_options added: %v", sent, tt.injected)
			}
			if rec.HasUsage != tt.injected || bytes.Contains(got, []byte(`"prompt_tokens"`)) {
				t.Errorf("usage recorded %v (want %v); client saw %s", rec.HasUsage, tt.injected, got)
			}
		})
	}
}

// TestSigV4Signs guards the reading of a SigV4 Authorization header's
// SignedHeaders: case-insensitive names, nothing for other schemes.
func TestSigV4Signs(t *testing.T) {
	const sig = "AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/bedrock/aws4_request, SignedHeaders=accept-encoding;content-type;host;x-amz-date, Signature=abc"
	tests := []struct {
		auth, name string
		want       bool
	}{
		{sig, "Accept-Encoding", true},
		{sig, "host", true},
		{sig, "Accept", false},
		{"Bearer accept-encoding", "Accept-Encoding", false},
		{"AWS4-HMAC-SHA256 Credential=x, Signature=y", "Accept-Encoding", false},
		{"", "Accept-Encoding", false},
	}
	for _, tt := range tests {
		if got := sigV4Signs(hdr("Authorization", tt.auth), tt.name); got != tt.want {
			t.Errorf("sigV4Signs(%q, %s) = %v, want %v", tt.auth, tt.name, got, tt.want)
		}
	}
}
