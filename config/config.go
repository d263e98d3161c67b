package config

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is a loaded, validated conduit.toml. Parse sets every field; a
// Config built another way (in tests) has no source, and Pos then names the
// file alone.
type Config struct {
	Path string // the file it was read from
	Dir  string // that file's directory: relative paths in it resolve here

	Listen     string     // host:port; ":9090" means 127.0.0.1:9090
	Providers  []Provider // in file order
	ValohaiLLM ValohaiLLM
	Pricing    map[string]PricingOverride // model-name prefix → rates
	Ledger     Ledger
	Timeouts   Timeouts
	MITM       MITM
	Upstream   Upstream
	Metrics    Metrics
	OTel       OTel
	Server     Server
	Budgets    []Budget // in file order
	// BudgetSettings holds what all budgets share: their time zone.
	BudgetSettings BudgetSettings
	Alerts         Alerts

	src []byte // the file's content, to place errors found when a value is used
}

// Pos places a key of the config file for an error found only when its value
// is used (a file it names cannot be read): "file:line", or the file alone
// when the key is not in it.
func (c *Config) Pos(key ...string) string {
	if n := keyLine(c.src, key); n > 0 {
		return c.Path + ":" + strconv.Itoa(n)
	}
	return c.Path
}

// KeyError returns an *Error for a problem with the value of key that a
// check outside Parse found (cmd/conduit checks [mitm] hosts with forward
// mode's own grammar), placed as Parse's own errors are.
func (c *Config) KeyError(msg string, key ...string) *Error {
	return &Error{File: c.Path, Line: keyLine(c.src, key), Key: strings.Join(key, "."), Msg: msg}
}

// Provider is one [providers.<key>] table.
type Provider struct {
	Key         string   // the route: http://listen/<key>/…
	Upstream    *url.URL // scheme://host[:port][/base], no trailing slash; never nil
	API         string   // openai | anthropic | gemini | ollama | bedrock ("" in the file: detected from the host)
	StreamUsage string   // StreamUsageInject or StreamUsageOff
	// Deployments maps an Azure OpenAI deployment name (the {d} of
	// /openai/deployments/{d}/…) to the model it serves, for pricing calls
	// whose response names no model. Nil when the file sets none.
	Deployments map[string]string
}

// The values of [providers.<key>] stream_usage.
const (
	// StreamUsageInject adds stream_options.include_usage to OpenAI-format
	// streams that lack it (the default).
	StreamUsageInject = "inject"
	// StreamUsageOff leaves requests untouched, for servers that reject the
	// field.
	StreamUsageOff = "off"
)

// ValohaiLLM is the [valohai-llm] table; VALOHAI_LLM_API_KEY and
// VALOHAI_LLM_URL override it when non-empty.
type ValohaiLLM struct {
	APIKey string // "": records are not sent
	URL    string // no trailing slash
}

// Enabled reports whether records are sent to Valohai LLM.
func (v ValohaiLLM) Enabled() bool { return v.APIKey != "" }

// PricingOverride is a [pricing."<prefix>"] table: USD per million tokens.
// Parse guarantees Input and Output; a nil optional rate is not set (the
// ledger derives it).
type PricingOverride struct {
	Input, Output, CachedInput, CacheWrite5m, CacheWrite1h *float64
}

// Ledger is the [ledger] table.
type Ledger struct {
	Path        string // absolute; default conduit.db beside the config file
	PricingFile string // absolute, or "" for none
	// PricesURL is where `conduit prices update` downloads from; "" for
	// the built-in default.
	PricesURL string
	// QueueBytes bounds the memory of the records waiting to be written;
	// 0: ledger.DefaultQueueBytes.
	QueueBytes int64
}

// Timeouts is the [timeouts] table. Parse sets every field: Connect,
// ResponseHeader and Total are longer than zero, and so is Drain unless
// NoDrain.
type Timeouts struct {
	Connect        time.Duration // dial + TLS handshake to the upstream
	ResponseHeader time.Duration // request sent → response headers
	Total          time.Duration // a whole call, body included
	// Drain is how long a stream the client left is read on, for its final
	// usage.
	Drain time.Duration
	// NoDrain is drain = "0s": a stream the client left is closed at once,
	// and its final usage may be lost. Drain is then 0.
	NoDrain bool
	// WebSocketIdle closes a relayed WebSocket connection once nothing has
	// passed either way for this long (longer than zero).
	WebSocketIdle time.Duration
	// WebSocketTotal closes a relayed WebSocket connection this long after
	// it opened; 0 (websocket_total = "0s", the default): never.
	WebSocketTotal time.Duration
}

// MITM is the [mitm] table: what forward (HTTPS_PROXY) mode decrypts.
type MITM struct {
	// CADir holds the local CA; "" means the default directory
	// (certs.DefaultDir). Absolute otherwise.
	CADir string
	// Hosts are the intercepted host patterns; nil means the default list
	// (every provider's upstream host plus the well-known API hosts), an
	// empty list means none.
	Hosts []string
	// TunnelOthers relays CONNECTs to other hosts blind (default true);
	// false refuses them with 403.
	TunnelOthers bool
	// AllowPrivateTunnels lets blind tunnels and relayed plain requests
	// reach loopback, private, link-local and unspecified addresses
	// (default false: they are refused with 403).
	AllowPrivateTunnels bool
	// MaxTunnelsPerClient bounds the tunnels one client IP holds open at
	// once; DefaultMaxTunnelsPerClient when the file says nothing.
	MaxTunnelsPerClient int
	// RefuseWebSockets is websockets = "refuse": WebSocket upgrades to
	// intercepted hosts are answered 426 instead of relayed and metered
	// (websockets = "meter", the default).
	RefuseWebSockets bool
}

// DefaultMaxTunnelsPerClient is [mitm] max_tunnels_per_client when the
// file does not set it: far above what a coding agent opens, far below a
// file-descriptor limit.
const DefaultMaxTunnelsPerClient = 256

// Upstream is the [upstream] table: Conduit's own outbound connections.
type Upstream struct {
	Proxy   *url.URL // nil: connect directly
	NoProxy string   // NO_PROXY (or no_proxy) of Conduit's environment: destinations that bypass Proxy
	CAFile  string   // absolute, or "": a PEM file of extra roots for outbound TLS
}

// Metrics is the [metrics] table.
type Metrics struct {
	Enabled bool // serve Prometheus metrics at GET /metrics (default true)
}

// OTel is the [otel] table: OpenTelemetry export over OTLP/HTTP.
type OTel struct {
	// Enabled is true when endpoint is set in the file or an
	// OTEL_EXPORTER_OTLP_ENDPOINT, _TRACES_ENDPOINT or _METRICS_ENDPOINT
	// variable is, unless OTEL_SDK_DISABLED=true.
	Enabled        bool
	Endpoint       string            // the collector's base URL; "": from the environment
	Headers        map[string]string // nil: OTEL_EXPORTER_OTLP_HEADERS
	ServiceName    string            // "": OTEL_SERVICE_NAME, else "conduit"
	ExportInterval time.Duration     // metrics; 0: OTEL_METRIC_EXPORT_INTERVAL, else 60 s
	QueueSize      int               // calls waiting to become spans; 0: the default
}

// Server is the [server] table: who may reach the proxy.
type Server struct {
	// AllowRemote permits a listen address other than loopback. Without it
	// such an address is a config error: a forward proxy reachable from a
	// network is an open relay.
	AllowRemote bool
	// ProxyUser, when set, is the user name forward-mode clients must
	// authenticate as (Proxy-Authorization: Basic); "" asks for nothing.
	ProxyUser string
	// PasswordEnv is the environment variable the password was read from
	// ("" when proxy_password_sha256 gave its digest instead).
	PasswordEnv string
	// PasswordSHA256 is the SHA-256 of the password, from
	// proxy_password_sha256 or from PasswordEnv at load time. Nil while
	// PasswordEnv is unset: then PasswordDigest fails, so that only the
	// proxy — not `conduit report` in another shell — needs the variable.
	PasswordSHA256 *[32]byte
	passwordErr    error
	// AllowedHosts are Host names (or addresses), lower case without a
	// trailing dot, that base-URL requests may carry besides Conduit's
	// own (localhost, loopback, the listen host, local interfaces). Nil:
	// none.
	AllowedHosts []string
	// AllowedOrigins are the browser origins ("https://app.example.com",
	// lower case, no trailing slash) whose pages may call Conduit and get
	// CORS answers. Nil: none — every cross-site browser request is
	// refused.
	AllowedOrigins []string
}

// PasswordDigest returns the SHA-256 of the password forward-mode clients
// must give: nil and no error when ProxyUser is "", and an error (naming
// file, line and key) when the environment variable that holds the password
// was not set.
func (s Server) PasswordDigest() (*[32]byte, error) {
	if s.ProxyUser == "" {
		return nil, nil
	}
	if s.PasswordSHA256 == nil {
		return nil, s.passwordErr
	}
	return s.PasswordSHA256, nil
}

// Budget is one [budgets.<name>] table: a spending limit per calendar
// period over the calls its scope patterns select. Parse guarantees a
// name of letters, digits, _ and -, a LimitUSD above zero, a known Period,
// WarnAt ascending without repeats in (0, 1], and well-formed patterns.
type Budget struct {
	Name     string
	LimitUSD float64
	Period   string    // "day", "week" or "month"
	WarnAt   []float64 // fractions of the limit that warn; default [0.5, 0.8]
	Enforce  bool      // refuse new calls in scope once the spend reaches the limit
	// The scope: path.Match-style patterns ("" matches anything), all of
	// which must match a call; Tag matches when any of its tags does.
	Provider, Model, Tag, Project, Client string
}

// The values of [budgets.<name>] period.
var BudgetPeriods = []string{"day", "week", "month"}

// DefaultWarnAt are the warning fractions of a budget without warn_at.
var DefaultWarnAt = []float64{0.5, 0.8}

// BudgetSettings is the [budget_settings] table.
type BudgetSettings struct {
	// Timezone is the IANA name the calendar periods are in; "": the
	// system's local time zone.
	Timezone string
	// Location is Timezone loaded; time.Local when Timezone is "". Never
	// nil after Parse.
	Location *time.Location
}

// Alerts is the [alerts] table: where budget warnings go besides the
// proxy's log.
type Alerts struct {
	Desktop bool // desktop notifications (notify-send, osascript)
	// Webhook is an http(s) URL that receives a JSON POST per alert; "":
	// none. A secret: show it with RedactedWebhook.
	Webhook string
}

// RedactedWebhook is the webhook URL as logs may show it: scheme and host.
func (a Alerts) RedactedWebhook() string { return redactURL(a.Webhook) }
