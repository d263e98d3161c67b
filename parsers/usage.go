package parsers

// Usage is one call's token usage, normalized across API formats.
//
// Every count follows one meaning whatever the provider (DESIGN.md, invariants):
// InputTokens counts all prompt tokens, cache reads and writes included;
// CachedInputTokens the cache reads among them; CacheWriteTokens the cache
// writes among them (split into 5-minute and 1-hour writes where the provider
// says); OutputTokens all generated tokens, reasoning included; and
// ReasoningTokens the reasoning share of OutputTokens.
//
// A zero Usage (Seen false) means no usage object was found: the counts are
// unknown, not zero.
type Usage struct {
	Seen bool

	InputTokens        int64
	CachedInputTokens  int64
	CacheWriteTokens   int64
	CacheWrite5mTokens int64
	CacheWrite1hTokens int64
	OutputTokens       int64
	ReasoningTokens    int64

	// ProviderCostUSD is the cost the provider itself reported (OpenRouter's
	// usage.cost), nil when it reported none.
	ProviderCostUSD *float64

	// Raw is the provider's own usage object as JSON, as last seen (for
	// Anthropic streams, the merged object; for Ollama, which has none, the
	// done object's *_count and *_duration members). Insignificant
	// whitespace is not kept. Nil when no usage was seen, or when what the
	// provider sent does not re-encode as valid JSON. It is a copy the
	// caller may keep.
	Raw []byte
}

// Result is what a Meter read from one response.
type Result struct {
	Usage

	// Model is the model the response names (the resolved snapshot), else the
	// request's model, else the model in the request path (Gemini).
	Model string
	// ResponseID is the provider's id for the response (chatcmpl-…, msg_…, resp_…).
	ResponseID string
	// Terminal reports that the response reached its proper end: a complete
	// JSON body, or a stream's terminal event ([DONE], message_stop,
	// response.completed/incomplete/failed, Ollama's done:true, Gemini's last
	// chunk with a finishReason).
	Terminal bool
	// Failed reports an error the provider signalled inside a successful
	// (2xx) response: an SSE error event, response.failed, an error object.
	Failed bool
	// ErrorType and ErrorMessage describe that error when Failed is set.
	ErrorType    string
	ErrorMessage string
}
