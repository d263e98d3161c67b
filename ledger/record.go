package ledger

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Outcomes of a call, as stored in Record.Outcome.
const (
	OutcomeComplete        = "complete"         // ended properly, usage read (if the endpoint has any)
	OutcomeIncomplete      = "incomplete"       // the stream ended before its terminal event
	OutcomeClientCancelled = "client_cancelled" // the client went away before the end
	OutcomeUpstreamError   = "upstream_error"   // no answer, an error status, or an error event
	OutcomeNoUsage         = "no_usage"         // ended properly but carried no usage
	// OutcomeInvalidUsage: the provider sent usage no real call can have
	// (a negative, fractional or absurd count). The raw usage is kept;
	// HasUsage is false, so the token columns are NULL and the call is
	// unpriced.
	OutcomeInvalidUsage = "invalid_usage"
	// OutcomeBudgetRefused: a budget refused the call; it was never sent
	// upstream.
	OutcomeBudgetRefused = "budget_refused"
)

// TagBudgetOverride is the tag of a call sent with the request header
// x-conduit-budget: override, which lets it through a budget that would
// refuse it.
const TagBudgetOverride = "conduit:budget-override"

// Kinds of record, as stored in Record.Kind. Only calls count: reports,
// totals, timelines, the dashboard and the sync read KindCall records
// unless a Filter asks for the others too (Filter.IncludeOther).
const (
	// KindCall is a metered LLM API call, failed ones included (a 4xx or
	// 5xx on a metered path is still a call).
	KindCall = "call"
	// KindOther is any other request to an intercepted host: telemetry,
	// /v1/models, HEAD /, file uploads.
	KindOther = "other"
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
// It never holds credentials: no key is ever at rest.
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

	RequestID  string // upstream x-request-id / request-id header
	ResponseID string // id in the response body
	Client     string // User-Agent

	VHHeaders map[string]string // x-vh-* request headers, names lowercased
	Tags      []string          // from the x-conduit-tag request header
	UsageRaw  json.RawMessage   // the provider's usage object

	SyncedAt *time.Time // when Valohai LLM accepted it; nil: not yet

	// Kind is KindCall or KindOther; "" is stored (and so read back) as
	// KindCall.
	Kind string
	// Project and Session attribute the call to a project and to one run
	// of an agent in it ("": none).
	Project string
	Session string
	// ConnectionID names the WebSocket connection the response came on,
	// shared by every response of that connection ("": plain HTTP).
	ConnectionID string
	// PriceVersion is the version of the price data that priced the call
	// ("" when unpriced, or priced by an override or by the provider).
	PriceVersion string
	// CostNote says why the call is unpriced, or which part of it could
	// not be priced ("" when fully priced).
	CostNote string
	// Detail holds the usage splits pricing needs beyond the main counts;
	// nil: none.
	Detail *UsageDetail
	// Truncated names the fields cut at their caps (Sanitize), by their
	// export names ("path", "usage", "error", …); nil: none.
	Truncated []string
}

// VHHeaderPrefix starts the names of the request headers Valohai LLM links
// records by (x-vh-project, x-vh-run-id, …).
const VHHeaderPrefix = "x-vh-"

// IsVHHeader reports whether a header name, in any case, is an x-vh-*
// header: the prefix and at least one more character. Only these are
// recorded, stored and sent to Valohai LLM.
func IsVHHeader(name string) bool {
	return len(name) > len(VHHeaderPrefix) && strings.EqualFold(name[:len(VHHeaderPrefix)], VHHeaderPrefix)
}

// Unpriced reports whether r carried usage but has no cost (a cost that is
// not a finite number is none): its tokens count, its cost is unknown,
// never $0. unpricedSQL says the same of a stored call.
func (r *Record) Unpriced() bool {
	return r.HasUsage && (r.CostUSD == nil || math.IsNaN(*r.CostUSD) || math.IsInf(*r.CostUSD, 0))
}

// unpricedSQL is Record.Unpriced of a stored call: insert stores a missing
// or non-finite cost as NULL.
const unpricedSQL = "has_usage = 1 AND cost_usd IS NULL"

// UsageDetail holds the token splits pricing needs beyond the main counts.
type UsageDetail struct {
	AudioInputTokens  int64 `json:"audio_input_tokens,omitempty"`  // ⊆ InputTokens
	AudioOutputTokens int64 `json:"audio_output_tokens,omitempty"` // ⊆ OutputTokens
	ImageInputTokens  int64 `json:"image_input_tokens,omitempty"`  // ⊆ InputTokens
	ImageOutputTokens int64 `json:"image_output_tokens,omitempty"` // ⊆ OutputTokens
	// Iterations are the billed server-side steps of one call (Anthropic
	// usage.iterations); the Record's counts are their sum.
	Iterations []Iteration `json:"iterations,omitempty"`
}

// Iteration is one billed server-side step of a call, with its own counts
// in the Record's normalized sense (InputTokens includes cache reads and
// writes).
type Iteration struct {
	Type               string `json:"type"`            // compaction | message | advisor_message | …
	Model              string `json:"model,omitempty"` // "": the call's model
	InputTokens        int64  `json:"input_tokens,omitempty"`
	CachedInputTokens  int64  `json:"cached_input_tokens,omitempty"`
	CacheWriteTokens   int64  `json:"cache_write_tokens,omitempty"`
	CacheWrite5mTokens int64  `json:"cache_write_5m_tokens,omitempty"`
	CacheWrite1hTokens int64  `json:"cache_write_1h_tokens,omitempty"`
	OutputTokens       int64  `json:"output_tokens,omitempty"`
}
