package ledger

import (
	"encoding/json"
	"time"
)

// Outcomes of a call, as stored in Record.Outcome.
const (
	OutcomeComplete        = "complete"         // ended properly, usage read (if the endpoint has any)
	OutcomeIncomplete      = "incomplete"       // the stream ended before its terminal event
	OutcomeClientCancelled = "client_cancelled" // the client went away before the end
	OutcomeUpstreamError   = "upstream_error"   // no answer, an error status, or an error event
	OutcomeNoUsage         = "no_usage"         // ended properly but carried no usage
)

// Modes a call can come in by, as stored in Record.Mode.
const (
	ModeBaseURL = "base_url"
	ModeForward = "forward"
)

// Cost sources, as stored in Record.CostSource.
const (
	CostFromTable    = "table"    // the embedded price table
	CostFromOverride = "override" // a [pricing."<prefix>"] table in conduit.toml
	CostFromFile     = "file"     // [ledger] pricing_file
	CostFromProvider = "provider" // the provider reported the cost itself
)

// Record is one proxied call: what the ledger stores, exports and syncs.
// It never holds credentials (DESIGN.md, "No secrets at rest").
type Record struct {
	ID         string    // UUIDv7, also the Valohai transit_id
	StartedAt  time.Time // UTC
	FinishedAt time.Time // UTC

	Provider string // the [providers.<key>] key, or a built-in name in forward mode
	API      string // openai | anthropic | gemini | ollama
	Endpoint string // chat_completions, responses, messages, … ("" when not an LLM endpoint)
	Mode     string // ModeBaseURL or ModeForward
	Method   string
	Host     string // upstream host
	Path     string // upstream path and query, secrets removed
	Model    string // the model that answered (the requested one when the response names none)
	Stream   bool
	Status   int    // HTTP status returned to the client (0: none)
	Outcome  string // one of the Outcome* constants
	Error    string // a short description when Outcome is upstream_error (no secrets)

	// HasUsage is false when no usage was read: the token counts are then
	// unknown (NULL in the ledger), not zero.
	HasUsage           bool
	InputTokens        int64
	CachedInputTokens  int64
	CacheWriteTokens   int64
	CacheWrite5mTokens int64
	CacheWrite1hTokens int64
	OutputTokens       int64
	ReasoningTokens    int64

	ProviderCostUSD *float64 // the provider's own figure, if it reported one
	CostUSD         *float64 // nil: unpriced
	CostSource      string   // one of the CostFrom* constants; "" when unpriced

	TTFB     time.Duration // request sent → first response byte
	Duration time.Duration // request received → response finished
	// UpstreamTime is request sent upstream → upstream response finished
	// (0: never sent), so Duration − UpstreamTime is the time Conduit
	// itself added. Telemetry only: not stored in the ledger.
	UpstreamTime time.Duration
	// RequestModel is the model the request asked for ("" if it named
	// none). Telemetry only: not stored in the ledger.
	RequestModel string

	RequestID  string // upstream x-request-id / request-id header
	ResponseID string // id in the response body
	Client     string // User-Agent

	VHHeaders map[string]string // x-vh-* request headers, names lowercased
	Tags      []string          // from the x-conduit-tag request header
	UsageRaw  json.RawMessage   // the provider's usage object

	SyncedAt *time.Time // when Valohai LLM accepted it; nil: not yet
}
