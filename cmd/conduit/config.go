package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/valohai/conduit/certs"
	"github.com/valohai/conduit/intercept"
)

// Config is a loaded, validated conduit.toml. A file written for the Rust
// Conduit (listen, [providers.*] upstream, [valohai-llm], [pricing.*]) loads
// unchanged; the other keys are this Conduit's own.
type Config struct {
	Path string // the file it was read from
	Dir  string // that file's directory: relative paths in it resolve here

	Listen     string     // host:port; ":9090" means 127.0.0.1:9090
	Providers  []Provider // in file order
	ValohaiLLM ValohaiLLM
	Pricing    map[string]PricingOverride // model-name prefix → rates
	Ledger     LedgerConfig
	Timeouts   Timeouts
	MITM       MITMConfig
	Upstream   UpstreamConfig
	Metrics    MetricsConfig
	OTel       OTelConfig
	Server     ServerConfig

	loc keyLocator // the file's source, to place errors found when a value is used
}

// Provider is one [providers.<key>] table.
type Provider struct {
	Key         string   // the route: http://listen/<key>/…
	Upstream    *url.URL // scheme://host[:port][/base], no trailing slash
	API         string   // openai | anthropic | gemini | ollama ("" in the file: detected from the host)
	StreamUsage string   // inject | off: add stream_options.include_usage to OpenAI streams
}

// ValohaiLLM is the [valohai-llm] table; VALOHAI_LLM_API_KEY and
// VALOHAI_LLM_URL override it when non-empty.
type ValohaiLLM struct {
	APIKey string
	URL    string
}

// Enabled reports whether records are sent to Valohai LLM.
func (v ValohaiLLM) Enabled() bool { return v.APIKey != "" }

// PricingOverride is a [pricing."<prefix>"] table: USD per million tokens.
// Nil rates are not set (the ledger derives them).
type PricingOverride struct {
	Input, Output, CachedInput, CacheWrite5m, CacheWrite1h *float64
}

// LedgerConfig is the [ledger] table.
type LedgerConfig struct {
	Path        string // absolute; default conduit.db beside the config file
	PricingFile string // absolute, or "" for none
}

// Timeouts is the [timeouts] table.
type Timeouts struct {
	Connect        time.Duration // dial + TLS handshake to the upstream
	ResponseHeader time.Duration // request sent → response headers
	Total          time.Duration // a whole call, body included
	Drain          time.Duration // reading on after the client left, for the final usage (0: not at all)
}

// MITMConfig is the [mitm] table: what forward (HTTPS_PROXY) mode decrypts.
type MITMConfig struct {
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
}

// UpstreamConfig is the [upstream] table: Conduit's own outbound
// connections.
type UpstreamConfig struct {
	Proxy   *url.URL // nil: connect directly
	NoProxy string   // NO_PROXY (or no_proxy) of Conduit's environment: destinations that bypass Proxy
	CAFile  string   // absolute, or "": a PEM file of extra roots for outbound TLS
}

// MetricsConfig is the [metrics] table.
type MetricsConfig struct {
	Enabled bool // serve Prometheus metrics at GET /metrics (default true)
}

// OTelConfig is the [otel] table: OpenTelemetry export over OTLP/HTTP.
type OTelConfig struct {
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

// otelEndpointEnvVars enable the export when [otel] has no endpoint.
var otelEndpointEnvVars = []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"}

// Config defaults.
const (
	defaultListen          = "127.0.0.1:8080"
	defaultValohaiURL      = "https://llm.valohai.com"
	defaultConnectTimeout  = 30 * time.Second
	defaultHeaderTimeout   = 30 * time.Second
	defaultTotalTimeout    = 10 * time.Minute
	defaultDrainTimeout    = 60 * time.Second
	defaultLedgerFileName  = "conduit.db"
	defaultConfigFileName  = "conduit.toml"
	configEnvVar           = "CONDUIT_CONFIG"
	valohaiAPIKeyEnvVar    = "VALOHAI_LLM_API_KEY"
	valohaiURLEnvVar       = "VALOHAI_LLM_URL"
	streamUsageInject      = "inject"
	streamUsageOff         = "off"
	configNotFoundAdvice   = "create one with 'conduit init', or point to one with --config or " + configEnvVar
	reservedRouteNamesHint = "health and metrics are Conduit's own routes"
)

// The file's shape. Leaf values use the t* types below so that a value of the
// wrong type is reported by the toml decoder with its line and column.
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

type fileMITM struct {
	CADir        *tString     `toml:"ca_dir"`
	Hosts        *tStringList `toml:"hosts"`
	TunnelOthers *tBool       `toml:"tunnel_others"`
}

type fileUpstream struct {
	Proxy  *tString `toml:"proxy"`
	CAFile *tString `toml:"ca_file"`
}

type fileProvider struct {
	Upstream    *tString `toml:"upstream"`
	API         *tString `toml:"api"`
	StreamUsage *tString `toml:"stream_usage"`
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
}

type fileTimeouts struct {
	Connect        *tDuration `toml:"connect"`
	ResponseHeader *tDuration `toml:"response_header"`
	Total          *tDuration `toml:"total"`
	Drain          *tDuration `toml:"drain"`
}

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

// ConfigError is a problem with a config file, located as precisely as it can
// be: file, line (0 when the problem is the file as a whole), column (0 when
// unknown) and the key it concerns.
type ConfigError struct {
	File string
	Line int
	Col  int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// configPath picks the config file: --config, else CONDUIT_CONFIG, else
// ./conduit.toml.
func configPath(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if env := getenv(configEnvVar); env != "" {
		return env
	}
	return defaultConfigFileName
}

// LoadConfig reads and validates the config file at path. A missing file is
// an error that says how to create one: Conduit never runs on silent defaults.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no config file at %s: %s", path, configNotFoundAdvice)
	}
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f, path, getenv)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseConfig parses and validates a config file's content; name is the file
// name used in errors and to resolve relative paths.
func ParseConfig(r io.Reader, name string, getenv func(string) string) (*Config, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", name, err)
	}
	var raw fileConfig
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ConfigError{File: name, Line: pe.Position.Line, Col: pe.Position.Col, Key: pe.LastKey, Msg: pe.Message}
		}
		return nil, &ConfigError{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
	}
	loc := keyLocator{src: string(src)}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return nil, unknownKeyError(name, loc, undecoded[0])
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, fmt.Errorf("resolve config path %s: %w", name, err)
	}
	cfg := &Config{Path: name, Dir: filepath.Dir(abs), loc: loc}
	v := validator{file: name, loc: loc}
	cfg.Listen = v.listen(raw.Listen)
	cfg.Providers = v.providers(raw.Providers, md.Keys())
	cfg.ValohaiLLM = v.valohai(raw.ValohaiLLM, getenv)
	cfg.Pricing = v.pricing(raw.Pricing)
	cfg.Ledger = v.ledger(raw.Ledger, cfg.Dir)
	cfg.Timeouts = v.timeouts(raw.Timeouts)
	cfg.MITM = v.mitm(raw.MITM, cfg.Dir)
	cfg.Upstream = v.upstream(raw.Upstream, cfg.Dir, cfg.Listen, getenv)
	cfg.Metrics = MetricsConfig{Enabled: raw.Metrics.Enabled == nil || bool(*raw.Metrics.Enabled)}
	cfg.OTel = v.otel(raw.OTel, getenv)
	cfg.Server = v.server(raw.Server, cfg.Listen, getenv)
	v.providersNotSelf(cfg.Providers, cfg.Listen)
	if v.err != nil {
		return nil, v.err
	}
	return cfg, nil
}

// validator turns the decoded file into a Config, keeping the first problem.
type validator struct {
	file string
	loc  keyLocator
	err  error
}

func (v *validator) fail(key []string, format string, args ...any) {
	if v.err != nil {
		return
	}
	v.err = &ConfigError{File: v.file, Line: v.loc.line(key), Key: strings.Join(key, "."), Msg: fmt.Sprintf(format, args...)}
}

func (v *validator) listen(s *tString) string {
	if s == nil {
		return defaultListen
	}
	addr := string(*s)
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		v.fail([]string{"listen"}, `%q is not a listen address (try "127.0.0.1:8080" or ":8080")`, string(*s))
	}
	return addr
}

var providerKeyPattern = regexp.MustCompile(`^[a-z0-9_-]+$`)

var knownAPIs = []string{"openai", "anthropic", "gemini", "ollama"}

func (v *validator) providers(raw map[string]fileProvider, keys []toml.Key) []Provider {
	var out []Provider
	for _, k := range keys {
		if len(k) != 2 || k[0] != "providers" {
			continue
		}
		key := k[1]
		p := raw[key]
		path := []string{"providers", key}
		switch {
		case !providerKeyPattern.MatchString(key):
			v.fail(path, "a provider key may use only a-z, 0-9, _ and - (it becomes the URL path /%s/…)", key)
		case key == "health" || key == "metrics":
			v.fail(path, "%q cannot be a provider key: %s", key, reservedRouteNamesHint)
		}
		if p.Upstream == nil {
			v.fail(path, `missing "upstream", e.g. upstream = "https://api.openai.com"`)
			continue
		}
		u := v.upstreamURL(append(path, "upstream"), string(*p.Upstream))
		prov := Provider{Key: key, Upstream: u, StreamUsage: streamUsageInject}
		if p.API != nil {
			prov.API = string(*p.API)
			if !slices.Contains(knownAPIs, prov.API) {
				v.fail(append(path, "api"), "unknown api %q (use one of %s)", prov.API, strings.Join(knownAPIs, ", "))
			}
		}
		if p.StreamUsage != nil {
			prov.StreamUsage = string(*p.StreamUsage)
			if prov.StreamUsage != streamUsageInject && prov.StreamUsage != streamUsageOff {
				v.fail(append(path, "stream_usage"), `%q is not "inject" or "off"`, prov.StreamUsage)
			}
		}
		out = append(out, prov)
	}
	if len(out) == 0 && v.err == nil {
		v.err = &ConfigError{File: v.file, Msg: "no providers configured: add at least one [providers.<key>] table with an upstream, e.g.\n\n" +
			"  [providers.openai]\n  upstream = \"https://api.openai.com\"\n"}
	}
	return out
}

func (v *validator) upstreamURL(key []string, s string) *url.URL {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail(key, "%q is not an absolute http(s) URL (e.g. \"https://api.openai.com\")", s)
		return nil
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		v.fail(key, "%q: an upstream is scheme://host[:port][/path], without credentials, query or fragment", s)
		return nil
	}
	return u
}

func (v *validator) valohai(raw fileValohai, getenv func(string) string) ValohaiLLM {
	out := ValohaiLLM{URL: defaultValohaiURL}
	if raw.APIKey != nil {
		out.APIKey = string(*raw.APIKey)
	}
	if raw.URL != nil {
		out.URL = string(*raw.URL)
	}
	if env := getenv(valohaiAPIKeyEnvVar); env != "" {
		out.APIKey = env
	}
	if env := getenv(valohaiURLEnvVar); env != "" {
		out.URL = env
	}
	out.URL = strings.TrimRight(out.URL, "/")
	if u, err := url.Parse(out.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail([]string{"valohai-llm", "url"}, "%q is not an absolute http(s) URL", out.URL)
	}
	return out
}

func (v *validator) pricing(raw map[string]filePricing) map[string]PricingOverride {
	out := make(map[string]PricingOverride, len(raw))
	for prefix, p := range raw {
		o := PricingOverride{
			Input: rate(p.Input), Output: rate(p.Output), CachedInput: rate(p.CachedInput),
			CacheWrite5m: rate(p.CacheWrite5m), CacheWrite1h: rate(p.CacheWrite1h),
		}
		if prefix == "" {
			v.fail([]string{"pricing", prefix}, "a pricing table needs a model-name prefix")
		}
		if o.Input == nil || o.Output == nil {
			v.fail([]string{"pricing", prefix}, "needs both input and output (USD per 1M tokens); cached_input, cache_write_5m and cache_write_1h are optional")
		}
		out[prefix] = o
	}
	return out
}

func rate(r *tRate) *float64 {
	if r == nil {
		return nil
	}
	f := float64(*r)
	return &f
}

// resolvePath expands a leading ~/ and makes p absolute against dir (the
// config file's directory).
func resolvePath(p, dir string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return p
}

func (v *validator) ledger(raw fileLedger, dir string) LedgerConfig {
	out := LedgerConfig{Path: filepath.Join(dir, defaultLedgerFileName)}
	resolve := func(p string) string { return resolvePath(p, dir) }
	if raw.Path != nil {
		if *raw.Path == "" {
			v.fail([]string{"ledger", "path"}, "must not be empty (leave it out for %s beside the config file)", defaultLedgerFileName)
		}
		out.Path = resolve(string(*raw.Path))
	}
	if raw.PricingFile != nil && *raw.PricingFile != "" {
		out.PricingFile = resolve(string(*raw.PricingFile))
	}
	return out
}

func (v *validator) timeouts(raw fileTimeouts) Timeouts {
	pick := func(name string, d *tDuration, def time.Duration) time.Duration {
		if d == nil {
			return def
		}
		if *d == 0 && name != "drain" {
			v.fail([]string{"timeouts", name}, "must be longer than zero")
		}
		return time.Duration(*d)
	}
	return Timeouts{
		Connect:        pick("connect", raw.Connect, defaultConnectTimeout),
		ResponseHeader: pick("response_header", raw.ResponseHeader, defaultHeaderTimeout),
		Total:          pick("total", raw.Total, defaultTotalTimeout),
		Drain:          pick("drain", raw.Drain, defaultDrainTimeout),
	}
}

func (v *validator) mitm(raw fileMITM, dir string) MITMConfig {
	out := MITMConfig{TunnelOthers: true}
	if raw.CADir != nil {
		if *raw.CADir == "" {
			v.fail([]string{"mitm", "ca_dir"}, "must not be empty (leave it out for the default, %s under your config directory)", certs.DefaultDirName)
		}
		out.CADir = resolvePath(string(*raw.CADir), dir)
	}
	if raw.Hosts != nil {
		out.Hosts = []string(*raw.Hosts)
		for _, h := range out.Hosts {
			if err := intercept.ValidateHostPattern(h); err != nil {
				v.fail([]string{"mitm", "hosts"}, "%v", err)
			}
		}
	}
	if raw.TunnelOthers != nil {
		out.TunnelOthers = bool(*raw.TunnelOthers)
	}
	return out
}

func (v *validator) upstream(raw fileUpstream, dir, listen string, getenv func(string) string) UpstreamConfig {
	out := UpstreamConfig{NoProxy: getenv("NO_PROXY")}
	if out.NoProxy == "" {
		out.NoProxy = getenv("no_proxy")
	}
	if raw.Proxy != nil {
		key := []string{"upstream", "proxy"}
		s := string(*raw.Proxy)
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail(key, "%q is not an http(s) proxy URL (e.g. \"http://proxy.example.com:3128\")", s)
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			v.fail(key, "%q: a proxy URL is scheme://[user:password@]host[:port], without path or query", s)
		case isListenAddr(u, listen):
			v.fail(key, "%q is Conduit's own listen address: its calls would loop through itself", s)
		default:
			out.Proxy = u
		}
	}
	if raw.CAFile != nil {
		if *raw.CAFile == "" {
			v.fail([]string{"upstream", "ca_file"}, "must not be empty (leave it out to trust the system roots only)")
		}
		out.CAFile = resolvePath(string(*raw.CAFile), dir)
	}
	return out
}

// maxOTelQueue bounds [otel] queue_size: a span is ~1-2 KiB.
const maxOTelQueue = 1 << 20

func (v *validator) otel(raw fileOTel, getenv func(string) string) OTelConfig {
	var out OTelConfig
	if raw.Endpoint != nil {
		key := []string{"otel", "endpoint"}
		s := string(*raw.Endpoint)
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail(key, "%q is not an http(s) URL (e.g. \"http://collector:4318\", the collector's OTLP/HTTP port)", s)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			v.fail(key, "%q: an endpoint is scheme://host[:port][/path], without credentials, query or fragment (put keys in [otel] headers)", s)
		}
		out.Endpoint = strings.TrimRight(s, "/")
	}
	if raw.Headers != nil {
		out.Headers = make(map[string]string, len(*raw.Headers))
		for name, value := range *raw.Headers {
			if !validHeaderName(name) {
				v.fail([]string{"otel", "headers", name}, "%q is not an HTTP header name", name)
			}
			if strings.ContainsAny(value, "\r\n") {
				v.fail([]string{"otel", "headers", name}, "a header value cannot contain a line break")
			}
			out.Headers[name] = value
		}
	}
	if raw.ServiceName != nil {
		if *raw.ServiceName == "" {
			v.fail([]string{"otel", "service_name"}, "must not be empty (leave it out for OTEL_SERVICE_NAME or \"conduit\")")
		}
		out.ServiceName = string(*raw.ServiceName)
	}
	if raw.ExportInterval != nil {
		if *raw.ExportInterval == 0 {
			v.fail([]string{"otel", "export_interval"}, "must be longer than zero")
		}
		out.ExportInterval = time.Duration(*raw.ExportInterval)
	}
	if raw.QueueSize != nil {
		if n := int64(*raw.QueueSize); n < 1 || n > maxOTelQueue {
			v.fail([]string{"otel", "queue_size"}, "must be between 1 and %d, found %d", maxOTelQueue, n)
		} else {
			out.QueueSize = int(n)
		}
	}
	out.Enabled = out.Endpoint != ""
	for _, name := range otelEndpointEnvVars {
		if getenv(name) != "" {
			out.Enabled = true
		}
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		out.Enabled = false
	}
	return out
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// isListenAddr reports whether the proxy URL u names the listen address
// (a loopback spelling of it included).
func isListenAddr(u *url.URL, listen string) bool {
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if port != lp {
		return false
	}
	loop := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified()))
	}
	h := strings.ToLower(u.Hostname())
	return h == strings.ToLower(lh) || (loop(h) && (lh == "" || loop(lh)))
}

func unknownKeyError(file string, loc keyLocator, key toml.Key) error {
	msg := "unknown key"
	parent, last := key[:len(key)-1], key[len(key)-1]
	if known := knownKeys(reflect.TypeFor[fileConfig](), parent); len(known) > 0 {
		if s := suggest(last, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += fmt.Sprintf(" (known keys here: %s)", strings.Join(known, ", "))
		}
	}
	return &ConfigError{File: file, Line: loc.line(key), Key: key.String(), Msg: msg}
}

// knownKeys lists the keys the file format accepts in the table at path,
// following the toml tags of fileConfig (map levels take any key).
func knownKeys(t reflect.Type, path []string) []string {
	for _, step := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, ok := fieldByTag(t, step)
			if !ok {
				return nil
			}
			t = f.Type
		default:
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for f := range t.Fields() {
		keys = append(keys, strings.Split(f.Tag.Get("toml"), ",")[0])
	}
	return keys
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if strings.Split(f.Tag.Get("toml"), ",")[0] == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// keyLocator finds the line that defines a key in TOML source. The toml
// package reports positions only for the errors it raises itself; Conduit's
// own checks (unknown keys, provider names) use this to say where to look.
type keyLocator struct{ src string }

// line returns the 1-based line of the first table header or key/value line
// whose full key path starts with key, or 0 if there is none.
func (l keyLocator) line(key []string) int {
	var table []string
	for i, raw := range strings.Split(l.src, "\n") {
		s := strings.TrimSpace(raw)
		if s == "" || s[0] == '#' {
			continue
		}
		var full []string
		if s[0] == '[' {
			inner := strings.Trim(strings.TrimSpace(stripComment(s)), "[]")
			table = splitDottedKey(inner)
			full = table
		} else if eq := strings.IndexByte(s, '='); eq > 0 {
			full = slices.Concat(table, splitDottedKey(s[:eq]))
		} else {
			continue
		}
		if len(full) >= len(key) && slices.Equal(full[:len(key)], key) {
			return i + 1
		}
	}
	return 0
}

func stripComment(s string) string {
	inQuote := byte(0)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote != 0 && c == inQuote:
			inQuote = 0
		case inQuote == 0 && (c == '"' || c == '\''):
			inQuote = c
		case inQuote == 0 && c == '#':
			return s[:i]
		}
	}
	return s
}

// splitDottedKey splits a TOML key such as `pricing."gpt-4.1".input` into its
// parts, unquoting quoted parts.
func splitDottedKey(s string) []string {
	var parts []string
	var cur strings.Builder
	inQuote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote != 0 && c == inQuote:
			inQuote = 0
		case inQuote != 0:
			if c == '\\' && inQuote == '"' && i+1 < len(s) {
				i++
				c = s[i]
			}
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			inQuote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}
