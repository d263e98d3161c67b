// Package parsers holds the per-API-format usage meters: given a provider's
// API format, the request path and the response bytes as they stream past,
// a Meter produces one normalized Usage reading: usage semantics are
// normalized once, here.
//
// Why one package: every provider reports usage differently (OpenAI Chat
// Completions and Responses, Anthropic Messages, Gemini, Ollama, Amazon
// Bedrock, the Realtime and Live WebSocket APIs), and the rest of Conduit
// should see a single meaning for "input", "cached", "output" and
// "reasoning" tokens. The format is decided from the provider's api
// setting, the upstream host and the request path, never by guessing at
// the body.
//
// Layout: each API format is one small type in its own file (openai.go,
// responses.go, anthropic.go, gemini.go, ollama.go, bedrock.go,
// realtime.go, live.go) behind the format interface (format.go), which
// also maps endpoint kinds to formats. A format says which events carry
// usage, which member holds it, and how its own counts mean what Usage
// means. The Meter (meter.go) reads one HTTP response: it cuts the body
// into documents (framing.go: SSE, a JSON body or streamed array, NDJSON;
// AWS event-stream messages through the eventstream package) and keeps
// what every format shares: model, response id, errors, the end of the
// response and the Result. The MessageMeter (messages.go) reads one
// WebSocket connection, message by message, and gives one result per
// response on it; responses_ws.go, realtime.go and live.go say, per API,
// which messages ask for, open and end a response. Classify and
// ClassifyWebSocket (this file) name the endpoint.
//
// The package does no I/O. Meters are fed by the proxy's body tap or
// WebSocket relay; they never retain the caller's bytes, never fail, never
// panic, and keep memory bounded whatever the body size.
package parsers

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// API is a provider's wire format, as set by a provider's `api = "…"` key.
type API string

// The API formats Conduit understands.
const (
	OpenAI    API = "openai"    // OpenAI and every OpenAI-compatible server (Groq, OpenRouter, DeepSeek, …)
	Anthropic API = "anthropic" // Anthropic Messages
	Gemini    API = "gemini"    // Google Gemini and Vertex AI
	Ollama    API = "ollama"    // Ollama's native API
	Bedrock   API = "bedrock"   // Amazon Bedrock runtime (InvokeModel, Converse and their streams)
)

// ParseAPI reads an API name as written in the config (case and surrounding
// space ignored). An empty or unknown name is an error naming the choices.
func ParseAPI(s string) (API, error) {
	switch a := API(strings.ToLower(strings.TrimSpace(s))); a {
	case OpenAI, Anthropic, Gemini, Ollama, Bedrock:
		return a, nil
	}
	return "", fmt.Errorf("unknown api %q: want one of openai, anthropic, gemini, ollama, bedrock", s)
}

// ollamaPort is Ollama's default port; a host on it is taken for Ollama.
const ollamaPort = "11434"

// APIForHost picks the API format from an upstream host (with or without a
// port): api.anthropic.com is Anthropic; generativelanguage.googleapis.com,
// aiplatform.googleapis.com and *-aiplatform.googleapis.com are Gemini
// (Vertex AI also serves Anthropic models there: Classify tells them apart
// by path); bedrock-runtime.<region>.amazonaws.com (and its FIPS and China
// hosts) is Bedrock; any host on port 11434 (localhost:11434) is Ollama;
// everything else speaks the OpenAI format (Azure OpenAI's
// *.openai.azure.com, *.cognitiveservices.azure.com and
// *.services.ai.azure.com, Groq, OpenRouter, Together, DeepSeek, …).
func APIForHost(host string) API {
	h, port := strings.ToLower(strings.TrimSpace(host)), ""
	if hh, p, err := net.SplitHostPort(h); err == nil {
		h, port = hh, p
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	switch {
	case h == "api.anthropic.com":
		return Anthropic
	case h == "generativelanguage.googleapis.com", h == "aiplatform.googleapis.com",
		strings.HasSuffix(h, "-aiplatform.googleapis.com"):
		return Gemini
	case isBedrockHost(h):
		return Bedrock
	case strings.HasSuffix(h, ".openai.azure.com"), strings.HasSuffix(h, ".cognitiveservices.azure.com"),
		strings.HasSuffix(h, ".services.ai.azure.com"):
		return OpenAI
	case port == ollamaPort:
		return Ollama
	}
	return OpenAI
}

// isBedrockHost reports whether h is a Bedrock runtime endpoint:
// bedrock-runtime[-fips].<region>.amazonaws.com[.cn]
// (https://docs.aws.amazon.com/general/latest/gr/bedrock.html).
func isBedrockHost(h string) bool {
	rest, ok := strings.CutPrefix(h, "bedrock-runtime.")
	if !ok {
		rest, ok = strings.CutPrefix(h, "bedrock-runtime-fips.")
	}
	if !ok {
		return false
	}
	region, domain, _ := strings.Cut(rest, ".")
	return region != "" && (domain == "amazonaws.com" || domain == "amazonaws.com.cn")
}

// Kind is the kind of endpoint a request goes to. The zero value is Other.
type Kind int

// The endpoint kinds. Other (the zero value) is anything Conduit does not
// meter.
const (
	Other           Kind = iota
	ChatCompletions      // OpenAI /v1/chat/completions
	Completions          // OpenAI legacy /v1/completions
	Responses            // OpenAI /v1/responses
	Embeddings           // OpenAI /v1/embeddings, Ollama /api/embed
	Messages             // Anthropic /v1/messages (also on Vertex: publishers/anthropic …:rawPredict)
	GenerateContent      // Gemini …:generateContent, …:streamGenerateContent
	OllamaChat           // Ollama /api/chat
	OllamaGenerate       // Ollama /api/generate
	CountTokens          // token counters: /v1/messages/count_tokens, /v1/responses/input_tokens, :countTokens
	Invoke               // Bedrock InvokeModel and InvokeModelWithResponseStream: /model/{id}/invoke…
	Converse             // Bedrock Converse and ConverseStream: /model/{id}/converse…
	Realtime             // OpenAI Realtime, over WebSocket: /v1/realtime
	Live                 // Gemini Live, over WebSocket: …BidiGenerateContent
)

var kindNames = [...]string{
	Other:           "",
	ChatCompletions: "chat_completions",
	Completions:     "completions",
	Responses:       "responses",
	Embeddings:      "embeddings",
	Messages:        "messages",
	GenerateContent: "generate_content",
	OllamaChat:      "ollama_chat",
	OllamaGenerate:  "ollama_generate",
	CountTokens:     "count_tokens",
	Invoke:          "bedrock_invoke",
	Converse:        "bedrock_converse",
	Realtime:        "realtime",
	Live:            "live",
}

// String returns the kind's snake_case name as stored in the ledger
// ("chat_completions", "messages", …), and "" for Other or an unknown value.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return ""
	}
	return kindNames[k]
}

// Endpoint is what Classify (or ClassifyWebSocket) learned from a request's
// provider and path. The zero value is an unmetered Other endpoint.
type Endpoint struct {
	API  API
	Kind Kind
	// Model is the model named in the path or query (Gemini's
	// models/{model}:…, Vertex's …/models/{model}@{date}:…, a Bedrock model
	// id unescaped, Realtime's ?model=), else an Azure deployment name;
	// "" when the request names none.
	Model string
	// Deployment is the Azure OpenAI deployment the path (or Realtime's
	// ?deployment=) names, for mapping to a model; "" elsewhere.
	Deployment string
	// Stream reports that the path itself asks for streaming (Gemini's
	// :streamGenerateContent, Vertex's :streamRawPredict, Bedrock's
	// invoke-with-response-stream and converse-stream).
	Stream bool
	// WebSocket reports an endpoint reached by a WebSocket upgrade
	// (ClassifyWebSocket): one connection, many responses, metered by a
	// MessageMeter.
	WebSocket bool
}

// Metered reports whether the endpoint consumes tokens and reports usage:
// false for CountTokens and Other.
func (e Endpoint) Metered() bool {
	return e.Kind != Other && e.Kind != CountTokens
}

// Classify finds the endpoint kind from the provider's API format, the
// request method and the upstream path (without query; one is cut off if
// present). It never looks at the body. Prefixes are tolerated (/v1/,
// /openai/v1/, OpenRouter's /api/v1/, /v1beta/, Azure's
// /openai/deployments/{d}/…, Vertex's /v1/projects/…/models/{m}:…), as are
// trailing slashes; so are Bedrock runtime paths, /model/{modelId}/invoke,
// /invoke-with-response-stream, /converse, /converse-stream and
// /count-tokens (the model id, URL-unescaped, in Endpoint.Model). Only POST
// requests are metered kinds: any other method
// is Other (GET /v1/chat/completions lists stored completions, for
// example). The path decides the kind whatever the API (an Ollama server
// also serves /v1/chat/completions; Gemini serves /v1beta/openai/…); the API
// is carried along.
func Classify(api API, method, path string) Endpoint {
	e := Endpoint{API: api}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimRight(path, "/")
	if !strings.EqualFold(method, "POST") {
		return e
	}
	if i := strings.Index(path, "/model/"); i >= 0 {
		if k, model, stream, ok := bedrockPath(path[i+len("/model/"):]); ok {
			e.Kind, e.Model, e.Stream = k, model, stream
			return e
		}
	}
	// Google style: …/models/{model}:{action}.
	if colon := strings.LastIndexByte(path, ':'); colon > strings.LastIndexByte(path, '/') {
		resource, action := path[:colon], path[colon+1:]
		model := resource[strings.LastIndexByte(resource, '/')+1:]
		switch action {
		case "generateContent":
			e.Kind, e.Model = GenerateContent, model
		case "streamGenerateContent":
			e.Kind, e.Model, e.Stream = GenerateContent, model, true
		case "countTokens":
			e.Kind, e.Model = CountTokens, model
		case "rawPredict", "streamRawPredict":
			switch {
			case !strings.Contains(resource, "/publishers/anthropic/"):
			case model == "count-tokens":
				// Vertex's Anthropic token counter
				// (https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/count-tokens).
				e.Kind, e.Model = CountTokens, ""
			default:
				e.Kind, e.Model, e.Stream = Messages, model, action == "streamRawPredict"
			}
		}
		return e
	}
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		e.Kind = ChatCompletions
	case strings.HasSuffix(path, "/completions"):
		e.Kind = Completions
	case strings.HasSuffix(path, "/responses/input_tokens"):
		e.Kind = CountTokens
	case strings.HasSuffix(path, "/responses"):
		e.Kind = Responses
	case strings.HasSuffix(path, "/api/embed"), strings.HasSuffix(path, "/api/embeddings"):
		e.Kind = Embeddings
	case strings.HasSuffix(path, "/embeddings"):
		e.Kind = Embeddings
	case strings.HasSuffix(path, "/v1/messages/count_tokens"), path == "/messages/count_tokens":
		e.Kind = CountTokens
	case strings.HasSuffix(path, "/v1/messages"), path == "/messages":
		// Only Anthropic's own path: /v1/threads/{id}/messages (OpenAI
		// Assistants) is not a model call.
		e.Kind = Messages
	case strings.HasSuffix(path, "/api/chat"):
		e.Kind = OllamaChat
	case strings.HasSuffix(path, "/api/generate"):
		e.Kind = OllamaGenerate
	}
	if e.Kind != Other {
		e.Deployment = azureDeployment(path)
		e.Model = e.Deployment
	}
	return e
}

// bedrockPath reads what follows /model/ in a Bedrock runtime path:
// {modelId}/{operation}, the model id possibly an ARN (which holds
// slashes) and possibly still URL-escaped (us.anthropic.…-v1%3A0).
func bedrockPath(rest string) (k Kind, model string, stream, ok bool) {
	slash := strings.LastIndexByte(rest, '/')
	if slash <= 0 {
		return Other, "", false, false
	}
	switch rest[slash+1:] {
	case "invoke":
		k = Invoke
	case "invoke-with-response-stream":
		k, stream = Invoke, true
	case "converse":
		k = Converse
	case "converse-stream":
		k, stream = Converse, true
	case "count-tokens":
		k = CountTokens
	default:
		return Other, "", false, false
	}
	model = rest[:slash]
	if m, err := url.PathUnescape(model); err == nil {
		model = m
	}
	return k, model, stream, true
}

// ClassifyWebSocket finds the endpoint a WebSocket upgrade (a GET with
// Upgrade: websocket) goes to, from the provider's API format, the path and
// the raw query: Responses over WebSocket (…/responses, also Azure's
// /openai/v1/responses), OpenAI Realtime (…/realtime, also Azure's
// /openai/realtime, with the model from ?model= or the deployment from
// ?deployment=) and Gemini Live (…BidiGenerateContent on the Gemini API and
// Vertex AI). Anything else is Other. The Endpoint has WebSocket set.
func ClassifyWebSocket(api API, path, rawQuery string) Endpoint {
	e := Endpoint{API: api, WebSocket: true}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		if rawQuery == "" && path[i] == '?' {
			rawQuery = path[i+1:]
		}
		path = path[:i]
	}
	path = strings.TrimRight(path, "/")
	last := path[strings.LastIndexByte(path, '/')+1:]
	switch {
	case strings.HasSuffix(path, "/responses"):
		e.Kind = Responses
	case strings.HasSuffix(path, "/realtime"):
		e.Kind = Realtime
		q, _ := url.ParseQuery(rawQuery)
		e.Model, e.Deployment = q.Get("model"), q.Get("deployment")
		if e.Model == "" {
			e.Model = e.Deployment
		}
	case isBidiMethod(last, "BidiGenerateContent"), isBidiMethod(last, "BidiGenerateContentConstrained"):
		e.Kind = Live
	}
	return e
}

// isBidiMethod reports whether a path's last segment names the Live
// method: the Gemini API's google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent,
// or Vertex AI's …LlmBidiService/BidiGenerateContent.
func isBidiMethod(last, method string) bool {
	return last == method || strings.HasSuffix(last, "."+method)
}

// azureDeployment returns the {d} of Azure's /openai/deployments/{d}/…, or "".
func azureDeployment(path string) string {
	const marker = "/deployments/"
	i := strings.Index(path, marker)
	if i < 0 {
		return ""
	}
	d := path[i+len(marker):]
	if j := strings.IndexByte(d, '/'); j >= 0 {
		d = d[:j]
	}
	return d
}
