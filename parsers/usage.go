package parsers

// Usage is one call's token usage, normalized across API formats.
//
// Every count follows one meaning whatever the provider:
// InputTokens counts all prompt tokens, cache reads and writes included;
// CachedInputTokens the cache reads among them; CacheWriteTokens the cache
// writes among them (split into 5-minute and 1-hour writes where the provider
// says); OutputTokens all generated tokens, reasoning included; and
// ReasoningTokens the reasoning share of OutputTokens. The audio and image
// counts are the shares of input and output in those modalities, where the
// provider splits them (they are priced apart).
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

	AudioInputTokens  int64 // within InputTokens
	AudioOutputTokens int64 // within OutputTokens
	ImageInputTokens  int64 // within InputTokens
	ImageOutputTokens int64 // within OutputTokens

	// Iterations are the steps a call ran on the provider's side, each
	// billed at its own model's rates (Anthropic's usage.iterations: the
	// message itself, server-side compaction, advisor steps, a fallback
	// model's answer). When the provider lists them, the counts above are
	// their sums. Nil when it lists none.
	Iterations []Iteration

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

// Iteration is one step of a call, with its counts meaning what Usage's do.
type Iteration struct {
	// Type is the provider's name for the step ("message", "compaction",
	// "advisor_message", "fallback_message").
	Type string
	// Model is the model the step ran on: the one the step names, else the
	// call's (Result.Model).
	Model string

	InputTokens        int64
	CachedInputTokens  int64
	CacheWriteTokens   int64
	CacheWrite5mTokens int64
	CacheWrite1hTokens int64
	OutputTokens       int64
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
	// Invalid, when set, says why the usage cannot be trusted: a count no
	// real call can have (negative, fractional, past 10^10, not a number,
	// 1e400), usage not valid JSON, or usage nested too deep to read. The
	// counts must then not be priced; Raw keeps what the provider sent
	// (when it is JSON). "" when the usage is fine or absent.
	Invalid string
}
