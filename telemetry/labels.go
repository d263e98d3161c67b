package telemetry

import (
	"net"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/valohai/conduit/ledger"
)

// Label values Conduit uses in place of the real one.
const (
	// LabelOther replaces a model or client once its label has reached its
	// limit of distinct values (Options.MaxModels, Options.MaxClients), or
	// when the value is too long to be a name.
	LabelOther = "other"
	// LabelUnknown is used when the record has no value (no model named, no
	// User-Agent).
	LabelUnknown = "unknown"
)

// maxLabelLen bounds one label value: longer ones are not names (a model id
// is at most a few dozen bytes) and are folded into LabelOther.
const maxLabelLen = 128

// limiter bounds the distinct values of one label: the first max distinct
// values keep their own series, every later one is folded into LabelOther.
// It is safe for concurrent use.
type limiter struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, seen: make(map[string]struct{}, min(max, 64))}
}

// fold returns v, cleaned, or LabelOther past the limit.
func (l *limiter) fold(v string) string {
	v = cleanLabel(v)
	if v == LabelUnknown || v == LabelOther {
		return v
	}
	l.mu.RLock()
	_, ok := l.seen[v]
	l.mu.RUnlock()
	if ok {
		return v
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[v]; ok {
		return v
	}
	if len(l.seen) >= l.max {
		return LabelOther
	}
	l.seen[v] = struct{}{}
	return v
}

// cleanLabel makes v a valid, bounded label value: LabelUnknown for "",
// LabelOther when too long, invalid UTF-8 replaced.
func cleanLabel(v string) string {
	switch {
	case v == "":
		return LabelUnknown
	case len(v) > maxLabelLen:
		return LabelOther
	case !utf8.ValidString(v):
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	return v
}

// ClientName reduces a User-Agent to the name of the program or SDK that
// sent it, lowercased and without version: "OpenAI/Python 1.40.0" →
// "openai-python", "claude-cli/1.0.3 (external, cli)" → "claude-cli",
// "curl/8.5.0" → "curl". The first product token decides; its "/"-separated
// parts are kept up to the first that starts with a digit (a version). ""
// gives LabelUnknown.
func ClientName(userAgent string) string {
	product, _, _ := strings.Cut(strings.TrimSpace(userAgent), " ")
	var b strings.Builder
	for part := range strings.SplitSeq(product, "/") {
		if part == "" || (part[0] >= '0' && part[0] <= '9') {
			break
		}
		if b.Len() > 0 {
			b.WriteByte('-')
		}
		for _, r := range strings.ToLower(part) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
				b.WriteRune(r)
			default:
				b.WriteByte('-')
			}
		}
		if b.Len() > 64 {
			return LabelOther
		}
	}
	if b.Len() == 0 {
		return LabelUnknown
	}
	return b.String()
}

// Operation returns the OpenTelemetry GenAI operation name
// (gen_ai.operation.name) for a record's endpoint: chat, text_completion,
// embeddings, generate_content; the endpoint's own name for the others
// (count_tokens), and "other" for calls that are not LLM calls.
func Operation(endpoint string) string {
	switch endpoint {
	case "chat_completions", "responses", "messages", "ollama_chat":
		return "chat"
	case "completions", "ollama_generate":
		return "text_completion"
	case "embeddings":
		return "embeddings"
	case "generate_content":
		return "generate_content"
	case "":
		return "other"
	}
	return endpoint
}

// genAIProviders maps API hosts to their OpenTelemetry gen_ai.provider.name.
var genAIProviders = map[string]string{
	"api.openai.com":                    "openai",
	"api.anthropic.com":                 "anthropic",
	"generativelanguage.googleapis.com": "gcp.gemini",
	"api.groq.com":                      "groq",
	"api.deepseek.com":                  "deepseek",
	"api.mistral.ai":                    "mistral_ai",
	"api.x.ai":                          "x_ai",
	"api.perplexity.ai":                 "perplexity",
	"api.cohere.com":                    "cohere",
	"api.cohere.ai":                     "cohere",
}

// ProviderName returns the OpenTelemetry gen_ai.provider.name of a record:
// the well-known name of its upstream host or platform (openai, anthropic,
// gcp.gemini, gcp.vertex_ai, azure.ai.openai, aws.bedrock, groq, …), else
// "ollama" for the Ollama API, else the record's provider key (openrouter,
// vllm, …) as the conventions allow for other systems.
func ProviderName(rec *ledger.Record) string {
	host := strings.ToLower(rec.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if name, ok := genAIProviders[host]; ok {
		return name
	}
	switch {
	case strings.HasSuffix(host, "aiplatform.googleapis.com"):
		return "gcp.vertex_ai"
	case strings.HasSuffix(host, ".openai.azure.com"):
		return "azure.ai.openai"
	case strings.HasSuffix(host, ".services.ai.azure.com"), strings.HasSuffix(host, ".models.ai.azure.com"):
		return "azure.ai.inference"
	case strings.HasPrefix(host, "bedrock-runtime.") && strings.HasSuffix(host, ".amazonaws.com"):
		return "aws.bedrock"
	case rec.API == "ollama":
		return "ollama"
	case rec.Provider != "":
		return cleanLabel(rec.Provider)
	}
	return rec.API
}

// secretWords mark header names that may carry a credential: such x-vh-*
// headers are never exported, whatever their value.
var secretWords = []string{"auth", "key", "token", "secret", "password", "passwd", "cookie", "credential", "signature"}

// exportableHeader reports whether an x-vh-* header may be exported as a
// span attribute.
func exportableHeader(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return false
		}
	}
	return true
}
