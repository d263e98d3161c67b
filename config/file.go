package config

import (
	"fmt"
	"math"
	"time"
)

// The file's shape: one struct per table, tagged with the file's key names.
// Every leaf is a pointer to one of the t* types below: nil means the key is
// absent (so a default applies), and a value of the wrong type fails inside
// the toml decoder, which then reports it with its line and column.
// Keys and the wrong-type test walk these types, so a key added here is
// documented and tested by being declared.
type fileConfig struct {
	Listen     *tString                `toml:"listen"`
	Providers  map[string]fileProvider `toml:"providers"`
	ValohaiLLM fileValohai             `toml:"valohai-llm"`
	Pricing    map[string]filePricing  `toml:"pricing"`
	Ledger     fileLedger              `toml:"ledger"`
	Timeouts   fileTimeouts            `toml:"timeouts"`
	MITM       fileMITM                `toml:"mitm"`
	Upstream   fileUpstream            `toml:"upstream"`
	Metrics    fileMetrics             `toml:"metrics"`
	OTel       fileOTel                `toml:"otel"`
	Server     fileServer              `toml:"server"`
	Budgets    map[string]fileBudget   `toml:"budgets"`
	// BudgetSettings is a table of its own, not a key under [budgets]:
	// every key there is a budget's name.
	BudgetSettings fileBudgetSettings `toml:"budget_settings"`
	Alerts         fileAlerts         `toml:"alerts"`
}

type fileProvider struct {
	Upstream    *tString    `toml:"upstream"`
	API         *tString    `toml:"api"`
	StreamUsage *tString    `toml:"stream_usage"`
	Deployments *tStringMap `toml:"deployments"`
}

type fileValohai struct {
	APIKey *tString `toml:"api_key"`
	URL    *tString `toml:"url"`
}

type filePricing struct {
	Input        *tRate `toml:"input"`
	Output       *tRate `toml:"output"`
	CachedInput  *tRate `toml:"cached_input"`
	CacheWrite5m *tRate `toml:"cache_write_5m"`
	CacheWrite1h *tRate `toml:"cache_write_1h"`
}

type fileLedger struct {
	Path        *tString `toml:"path"`
	PricingFile *tString `toml:"pricing_file"`
	PricesURL   *tString `toml:"prices_url"`
	QueueBytes  *tInt    `toml:"queue_bytes"`
}

type fileTimeouts struct {
	Connect        *tDuration `toml:"connect"`
	ResponseHeader *tDuration `toml:"response_header"`
	Total          *tDuration `toml:"total"`
	Drain          *tDuration `toml:"drain"`
	WebSocketIdle  *tDuration `toml:"websocket_idle"`
	WebSocketTotal *tDuration `toml:"websocket_total"`
}

type fileMITM struct {
	CADir        *tString     `toml:"ca_dir"`
	Hosts        *tStringList `toml:"hosts"`
	TunnelOthers *tBool       `toml:"tunnel_others"`
	// AllowPrivateTunnels lets blind tunnels reach local addresses.
	AllowPrivateTunnels *tBool   `toml:"allow_private_tunnels"`
	MaxTunnels          *tInt    `toml:"max_tunnels_per_client"`
	WebSockets          *tString `toml:"websockets"`
}

type fileUpstream struct {
	Proxy  *tString `toml:"proxy"`
	CAFile *tString `toml:"ca_file"`
}

type fileMetrics struct {
	Enabled *tBool `toml:"enabled"`
}

type fileOTel struct {
	Endpoint       *tString    `toml:"endpoint"`
	Headers        *tStringMap `toml:"headers"`
	ServiceName    *tString    `toml:"service_name"`
	ExportInterval *tDuration  `toml:"export_interval"`
	QueueSize      *tInt       `toml:"queue_size"`
}

type fileServer struct {
	AllowRemote    *tBool       `toml:"allow_remote"`
	ProxyUser      *tString     `toml:"proxy_user"`
	PasswordEnv    *tString     `toml:"proxy_password_env"`
	PasswordSHA256 *tString     `toml:"proxy_password_sha256"`
	AllowedHosts   *tStringList `toml:"allowed_hosts"`
	AllowedOrigins *tStringList `toml:"allowed_origins"`
	// Password is refused, with advice: a proxy password belongs in the
	// environment or as a digest, never in a file that gets shared.
	Password *tString `toml:"proxy_password"`
}

type fileBudget struct {
	LimitUSD *tUSD       `toml:"limit_usd"`
	Period   *tString    `toml:"period"`
	WarnAt   *tFractions `toml:"warn_at"`
	Enforce  *tBool      `toml:"enforce"`
	Provider *tString    `toml:"provider"`
	Model    *tString    `toml:"model"`
	Tag      *tString    `toml:"tag"`
	Project  *tString    `toml:"project"`
	Client   *tString    `toml:"client"`
}

type fileBudgetSettings struct {
	Timezone *tString `toml:"timezone"`
}

type fileAlerts struct {
	Desktop *tBool   `toml:"desktop"`
	Webhook *tString `toml:"webhook"`
}

// The TOML leaf types. Each UnmarshalTOML says what it expected and what it
// found; the decoder adds the file position and the key.

type tString string

func (s *tString) UnmarshalTOML(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("expected a string, found %s", describeTOMLValue(v))
	}
	*s = tString(str)
	return nil
}

// tStringMap is a table of strings, e.g. { "x-api-key" = "…" }.
type tStringMap map[string]string

func (m *tStringMap) UnmarshalTOML(v any) error {
	table, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf(`expected a table of strings such as { "x-api-key" = "…" }, found %s`, describeTOMLValue(v))
	}
	out := make(tStringMap, len(table))
	for k, x := range table {
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("expected a string for %q, found %s", k, describeTOMLValue(x))
		}
		out[k] = s
	}
	*m = out
	return nil
}

type tInt int64

func (n *tInt) UnmarshalTOML(v any) error {
	x, ok := v.(int64)
	if !ok {
		return fmt.Errorf("expected an integer, found %s", describeTOMLValue(v))
	}
	*n = tInt(x)
	return nil
}

type tBool bool

func (b *tBool) UnmarshalTOML(v any) error {
	x, ok := v.(bool)
	if !ok {
		return fmt.Errorf("expected true or false, found %s", describeTOMLValue(v))
	}
	*b = tBool(x)
	return nil
}

type tStringList []string

func (l *tStringList) UnmarshalTOML(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return fmt.Errorf(`expected an array of strings such as ["api.openai.com"], found %s`, describeTOMLValue(v))
	}
	out := make(tStringList, 0, len(arr))
	for i, x := range arr {
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("expected an array of strings, found %s at position %d", describeTOMLValue(x), i+1)
		}
		out = append(out, s)
	}
	*l = out
	return nil
}

// tRate is a price in USD per million tokens.
type tRate float64

func (r *tRate) UnmarshalTOML(v any) error {
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		return fmt.Errorf("expected a number (USD per 1M tokens), found %s", describeTOMLValue(v))
	}
	if f < 0 || f != f {
		return fmt.Errorf("a price must be zero or more, found %v", v)
	}
	*r = tRate(f)
	return nil
}

// tUSD is an amount in US dollars, zero or more.
type tUSD float64

func (u *tUSD) UnmarshalTOML(v any) error {
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		return fmt.Errorf("expected a number (USD), found %s", describeTOMLValue(v))
	}
	if f < 0 || f != f || math.IsInf(f, 0) {
		return fmt.Errorf("an amount cannot be negative, found %v", v)
	}
	*u = tUSD(f)
	return nil
}

// tFractions is an array of fractions, each above 0 and at most 1.
type tFractions []float64

func (l *tFractions) UnmarshalTOML(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return fmt.Errorf("expected an array of fractions such as [0.5, 0.8], found %s", describeTOMLValue(v))
	}
	out := make(tFractions, 0, len(arr))
	for i, x := range arr {
		var f float64
		switch n := x.(type) {
		case int64:
			f = float64(n)
		case float64:
			f = n
		default:
			return fmt.Errorf("expected an array of fractions such as [0.5, 0.8], found %s at position %d", describeTOMLValue(x), i+1)
		}
		if !(f > 0 && f <= 1) {
			return fmt.Errorf("%v at position %d is not a fraction of the limit above 0 and at most 1 (0.8 is 80%%)", x, i+1)
		}
		out = append(out, f)
	}
	*l = out
	return nil
}

// tDuration is a Go duration string ("30s", "10m"), zero or more.
type tDuration time.Duration

func (d *tDuration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf(`expected a duration such as "30s" or "10m", found %s`, describeTOMLValue(v))
	}
	parsed, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf(`%q is not a duration (try "30s", "2m", "1h")`, s)
	}
	if parsed < 0 {
		return fmt.Errorf("%q: a duration cannot be negative", s)
	}
	*d = tDuration(parsed)
	return nil
}

func describeTOMLValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
