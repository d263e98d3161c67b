package parsers

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/valohai/conduit/examples/fakeprovider"
)

// fakeUsage is the fake's Usage in this package's terms.
func fakeUsage(u fakeprovider.Usage) Usage {
	return Usage{Seen: true, InputTokens: int64(u.InputTokens), CachedInputTokens: int64(u.CachedInputTokens),
		CacheWriteTokens: int64(u.CacheWriteTokens()), CacheWrite5mTokens: int64(u.CacheWrite5mTokens),
		CacheWrite1hTokens: int64(u.CacheWrite1hTokens), OutputTokens: int64(u.OutputTokens),
		ReasoningTokens: int64(u.ReasoningTokens), AudioInputTokens: int64(u.InputAudioTokens),
		AudioOutputTokens: int64(u.OutputAudioTokens)}
}

// TestMeterPlatformsAgainstFake calls the fake provider's Bedrock, Vertex
// and Azure endpoints over loopback HTTP, classifies each request as the
// proxy would, meters the body (whole, byte by byte and at random cuts,
// with the response's headers) and checks the usage against what the fake
// says it sent.
func TestMeterPlatformsAgainstFake(t *testing.T) {
	t.Parallel()
	fake := fakeprovider.New(fakeprovider.Options{})
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	t.Cleanup(fake.Close)
	const anthropicBody = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":6,"system":"be brief","messages":[{"role":"user","content":"say hello to the nice people"}]}`
	const converseBody = `{"messages":[{"role":"user","content":[{"text":"say hello to the nice people"}]}],"inferenceConfig":{"maxTokens":5}}`
	cache := http.Header{fakeprovider.HeaderCachedTokens: {"300"}, fakeprovider.HeaderCacheWrite5m: {"40"}, fakeprovider.HeaderCacheWrite1h: {"2"}}
	const bedrockModel = "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0"
	tests := []struct {
		name    string
		api     API
		path    string
		header  http.Header
		body    string
		model   string
		noSplit bool // the format reports the cache writes without their TTL split
	}{
		{name: "bedrock invoke", api: Bedrock, path: bedrockModel + "/invoke", body: anthropicBody, model: "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{name: "bedrock invoke, cache", api: Bedrock, path: bedrockModel + "/invoke", header: cache, body: anthropicBody, model: "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{name: "bedrock invoke stream", api: Bedrock, path: bedrockModel + "/invoke-with-response-stream", header: cache, body: anthropicBody, model: "us.anthropic.claude-haiku-4-5-20251001-v1:0"},
		{name: "bedrock converse", api: Bedrock, path: bedrockModel + "/converse", header: cache, body: converseBody,
			model: "us.anthropic.claude-haiku-4-5-20251001-v1:0", noSplit: true},
		{name: "bedrock converse stream", api: Bedrock, path: bedrockModel + "/converse-stream", header: cache, body: converseBody,
			model: "us.anthropic.claude-haiku-4-5-20251001-v1:0", noSplit: true},
		{name: "vertex anthropic", api: Gemini, path: "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001:rawPredict",
			header: cache, body: strings.Replace(anthropicBody, "bedrock-2023-05-31", "vertex-2023-10-16", 1), model: "claude-haiku-4-5@20251001"},
		{name: "vertex anthropic stream", api: Gemini, path: "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-haiku-4-5@20251001:streamRawPredict",
			body: strings.Replace(anthropicBody, "bedrock-2023-05-31", "vertex-2023-10-16", 1), model: "claude-haiku-4-5@20251001"},
		{name: "vertex gemini", api: Gemini, path: "/v1/projects/proj/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
			header: http.Header{fakeprovider.HeaderCachedTokens: {"30"}, "X-Goog-Api-Key": {"k"}},
			body:   `{"contents":[{"role":"user","parts":[{"text":"say hello"}]}],"generationConfig":{"maxOutputTokens":4}}`, model: "gemini-2.5-flash"},
		{name: "azure deployment", api: OpenAI, path: "/openai/deployments/prod-mini/chat/completions?api-version=2024-10-21",
			header: http.Header{"Api-Key": {"k"}, fakeprovider.HeaderCachedTokens: {"8"}},
			body:   `{"messages":[{"role":"user","content":"hello there"}],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`,
			model:  fakeprovider.DefaultAzureModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(ts.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			ep := Classify(tt.api, "POST", u.Path)
			if !ep.Metered() {
				t.Fatalf("%s classified %+v", u.Path, ep)
			}
			req, _ := http.NewRequest("POST", u.String(), strings.NewReader(tt.body))
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d %v %s", resp.StatusCode, err, body)
			}
			want, err := fakeprovider.ExpectedUsage(u.Path, tt.header, []byte(tt.body), fakeprovider.Options{})
			if err != nil {
				t.Fatal(err)
			}
			wantUsage := fakeUsage(want)
			if tt.noSplit {
				wantUsage.CacheWrite5mTokens, wantUsage.CacheWrite1hTokens = 0, 0
			}
			preq := InspectRequest(ep, []byte(tt.body))
			for how, pieces := range map[string][][]byte{
				"whole": {body}, "1-byte": splitEvery(body, 1), "random": splitRandom(body, rand.New(rand.NewPCG(7, 7))),
			} {
				m := newTestMeter(ep, resp.Header.Get("Content-Type"), preq)
				m.ResponseHeader(resp.Header)
				for _, p := range pieces {
					m.Write(p)
				}
				r := m.Finish(true)
				r.Raw = nil
				if !reflect.DeepEqual(r.Usage, wantUsage) || !r.Terminal || r.Failed || r.Model != tt.model || r.Invalid != "" {
					t.Errorf("%s (%s): %s\nwant usage %+v model %q", how, resp.Header.Get("Content-Type"), resultString(r), wantUsage, tt.model)
				}
			}
		})
	}
}
