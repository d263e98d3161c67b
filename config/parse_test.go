package config

import (
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit"
)

func noEnv(string) string { return "" }

func parse(t *testing.T, src string) (*Config, error) {
	t.Helper()
	return Parse(strings.NewReader(src), "conduit.toml", noEnv)
}

// TestParseRustFile guards compatibility: a config written for the
// Rust Conduit, with every key it knows, loads unchanged.
func TestParseRustFile(t *testing.T) {
	t.Parallel()
	cfg, err := parse(t, `
listen = ":9090"

[providers.openai]
upstream = "https://api.openai.com/"

[providers.anthropic]
upstream = "https://api.anthropic.com"

[valohai-llm]
api_key = "MY_KEY_123"
url = "http://localhost:1234/"

[pricing."jev-"]
input = 0.042
output = 0.0
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9090" {
		t.Errorf("listen = %q, want 127.0.0.1:9090", cfg.Listen)
	}
	if len(cfg.Providers) != 2 || cfg.Providers[0].Key != "openai" || cfg.Providers[1].Key != "anthropic" {
		t.Fatalf("providers = %+v, want openai then anthropic (file order)", cfg.Providers)
	}
	if got := cfg.Providers[0].Upstream.String(); got != "https://api.openai.com" {
		t.Errorf("upstream = %q, want the trailing slash trimmed", got)
	}
	if cfg.Providers[0].StreamUsage != "inject" {
		t.Errorf("stream_usage default = %q, want inject", cfg.Providers[0].StreamUsage)
	}
	if cfg.ValohaiLLM.APIKey != "MY_KEY_123" || cfg.ValohaiLLM.URL != "http://localhost:1234" || !cfg.ValohaiLLM.Enabled() {
		t.Errorf("valohai-llm = %+v", cfg.ValohaiLLM)
	}
	p := cfg.Pricing["jev-"]
	if p.Input == nil || *p.Input != 0.042 || p.Output == nil || *p.Output != 0 || p.CachedInput != nil {
		t.Errorf("pricing = %+v", p)
	}
	if cfg.Timeouts != (Timeouts{Connect: 30 * time.Second, ResponseHeader: 30 * time.Second, Total: 10 * time.Minute, Drain: time.Minute, WebSocketIdle: 10 * time.Minute}) {
		t.Errorf("timeouts = %+v, want the defaults", cfg.Timeouts)
	}
}

// TestParseProviderForms guards every TOML spelling of a provider table:
// a [header], dotted keys and an inline table all make a provider, in the
// order they first appear.
func TestParseProviderForms(t *testing.T) {
	t.Parallel()
	cfg, err := parse(t, `providers.dotted.upstream = "https://d.example"
providers.inline = { upstream = "https://i.example", api = "anthropic" }

[providers.header]
upstream = "https://h.example"
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range cfg.Providers {
		got = append(got, p.Key+"="+p.Upstream.Host+"/"+p.API)
	}
	if want := []string{"dotted=d.example/", "inline=i.example/anthropic", "header=h.example/"}; !slices.Equal(got, want) {
		t.Errorf("providers = %v, want %v", got, want)
	}
}

// TestParseProviderPlatforms guards the keys for cloud platforms: api =
// "bedrock" is a known format, and an Azure provider's deployments map
// deployment names to models.
func TestParseProviderPlatforms(t *testing.T) {
	cfg, err := parse(t, `[providers.bedrock]
upstream = "https://bedrock-runtime.us-east-1.amazonaws.com"
api = "bedrock"

[providers.azure]
upstream = "https://acme.openai.azure.com"
deployments = { "my-gpt" = "gpt-4o", "mini" = " gpt-4o-mini " }
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Providers[0]; got.Key != "bedrock" || got.API != "bedrock" || got.Deployments != nil {
		t.Errorf("bedrock provider = %+v", got)
	}
	want := map[string]string{"my-gpt": "gpt-4o", "mini": "gpt-4o-mini"}
	if got := cfg.Providers[1].Deployments; !maps.Equal(got, want) {
		t.Errorf("azure deployments = %v, want %v", got, want)
	}
}

// TestParseDefaults guards the documented defaults.
func TestParseDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(strings.NewReader("[providers.x]\nupstream = \"http://127.0.0.1:1\"\n"), filepath.Join("some", "dir", "c.toml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("listen = %q", cfg.Listen)
	}
	if cfg.ValohaiLLM.URL != "https://llm.valohai.com" || cfg.ValohaiLLM.Enabled() {
		t.Errorf("valohai-llm = %+v", cfg.ValohaiLLM)
	}
	abs, _ := filepath.Abs(filepath.Join("some", "dir", "conduit.db"))
	if cfg.Ledger.Path != abs {
		t.Errorf("ledger path = %q, want %q (beside the config file)", cfg.Ledger.Path, abs)
	}
}

// TestParseLedgerQueueBytes guards [ledger] queue_bytes: read as given, 0
// (the writer's default) when left out.
func TestParseLedgerQueueBytes(t *testing.T) {
	const base = "[providers.x]\nupstream = \"http://127.0.0.1:1\"\n"
	for _, tt := range []struct {
		toml string
		want int64
	}{{base, 0}, {base + "[ledger]\nqueue_bytes = 2097152\n", 2 << 20}} {
		cfg, err := Parse(strings.NewReader(tt.toml), "c.toml", noEnv)
		if err != nil || cfg.Ledger.QueueBytes != tt.want {
			t.Errorf("%q: queue bytes %d, %v; want %d", tt.toml, cfg.Ledger.QueueBytes, err, tt.want)
		}
	}
}

// TestParseEnvOverrides guards VALOHAI_LLM_* overriding the file when non-empty.
func TestParseEnvOverrides(t *testing.T) {
	t.Parallel()
	env := map[string]string{"VALOHAI_LLM_API_KEY": "from-env", "VALOHAI_LLM_URL": "https://example.test/"}
	cfg, err := Parse(strings.NewReader(`
[providers.x]
upstream = "http://127.0.0.1:1"
[valohai-llm]
api_key = "from-file"
`), "c.toml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ValohaiLLM.APIKey != "from-env" || cfg.ValohaiLLM.URL != "https://example.test" {
		t.Errorf("valohai-llm = %+v", cfg.ValohaiLLM)
	}
}

// TestParseErrors guards that every config mistake names the file, the
// line (and column where the parser knows it) and the key.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error, in order
	}{
		{"syntax", "listen = [[[invalid\n", []string{"conduit.toml:1:", "listen"}},
		{"syntax later line", ok + "\nlisten = \"x\n", []string{"conduit.toml:4:"}},
		{"unknown top-level key", "listn = \"127.0.0.1:1\"\n" + ok, []string{"conduit.toml:1: listn: unknown key", `did you mean "listen"`}},
		{"unknown provider key", "[providers.openai]\nupstream = \"https://api.openai.com\"\nupstrem = \"x\"\n", []string{"conduit.toml:3: providers.openai.upstrem: unknown key", `did you mean "upstream"`}},
		{"unknown table", ok + "[ledgr]\npath = \"x.db\"\n", []string{"conduit.toml:3: ledgr: unknown key", `did you mean "ledger"`}},
		{"unknown pricing key", ok + "[pricing.\"gpt-\"]\ninput = 1\noutptu = 2\n", []string{"conduit.toml:5: pricing.gpt-.outptu: unknown key", `did you mean "output"`}},
		{"bad provider key", "[providers.OpenAI]\nupstream = \"https://api.openai.com\"\n", []string{"conduit.toml:1: providers.OpenAI:", "a-z, 0-9"}},
		{"reserved provider key", "[providers.health]\nupstream = \"https://api.openai.com\"\n", []string{"conduit.toml:1: providers.health:", "health and metrics"}},
		{"metrics provider key", "[providers.metrics]\nupstream = \"https://api.openai.com\"\n", []string{"conduit.toml:1: providers.metrics:"}},
		{"relative upstream", "[providers.x]\nupstream = \"api.openai.com\"\n", []string{"conduit.toml:2: providers.x.upstream:", "absolute http(s) URL"}},
		{"ftp upstream", "[providers.x]\nupstream = \"ftp://api.openai.com\"\n", []string{"conduit.toml:2: providers.x.upstream:", "absolute http(s) URL"}},
		{"upstream with query", "[providers.x]\nupstream = \"https://h/?key=1\"\n", []string{"conduit.toml:2: providers.x.upstream:", "without credentials, query"}},
		{"upstream wrong type", "[providers.x]\nupstream = 42\n", []string{"conduit.toml:2:", "providers.x.upstream", "expected a string, found the integer 42"}},
		{"missing upstream", "[providers.x]\napi = \"openai\"\n", []string{"conduit.toml:1: providers.x:", `missing "upstream"`}},
		{"unknown api", "[providers.x]\nupstream = \"https://h\"\napi = \"cohere\"\n", []string{"conduit.toml:3: providers.x.api:", `unknown api "cohere"`}},
		{"bad stream_usage", "[providers.x]\nupstream = \"https://h\"\nstream_usage = \"yes\"\n", []string{"conduit.toml:3: providers.x.stream_usage:"}},
		{"deployment without model", "[providers.x]\nupstream = \"https://h\"\ndeployments = { \"my-gpt\" = \"\" }\n", []string{"conduit.toml:3: providers.x.deployments:", "must both be named"}},
		{"deployments not a table", "[providers.x]\nupstream = \"https://h\"\ndeployments = [\"gpt-4o\"]\n", []string{"conduit.toml:3:", "providers.x.deployments", "expected a table of strings"}},
		{"no providers", "listen = \":1\"\n", []string{"conduit.toml: no providers configured"}},
		{"bad listen", "listen = \"localhost\"\n" + ok, []string{"conduit.toml:1: listen:", "not a listen address"}},
		{"listen wrong type", "listen = 8080\n" + ok, []string{"conduit.toml:1:", "listen", "expected a string"}},
		{"negative price", ok + "[pricing.\"m\"]\ninput = -1\noutput = 1\n", []string{"conduit.toml:4:", "pricing.m.input", "zero or more"}},
		{"price as string", ok + "[pricing.\"m\"]\ninput = \"1\"\noutput = 1\n", []string{"conduit.toml:4:", "pricing.m.input", "expected a number"}},
		{"empty pricing table", ok + "[pricing.\"m\"]\n", []string{"conduit.toml:3: pricing.m:", "needs both input and output"}},
		{"pricing without output", ok + "[pricing.\"m\"]\ninput = 1\n", []string{"conduit.toml:3: pricing.m:", "needs both input and output"}},
		{"bad duration", ok + "[timeouts]\nconnect = \"soon\"\n", []string{"conduit.toml:4:", "timeouts.connect", "not a duration"}},
		{"zero timeout", ok + "[timeouts]\ntotal = \"0s\"\n", []string{"conduit.toml:4: timeouts.total: must be longer than zero"}},
		{"bad valohai url", ok + "[valohai-llm]\nurl = \"llm.valohai.com\"\n", []string{"conduit.toml:4: valohai-llm.url:"}},
		{"empty ledger path", ok + "[ledger]\npath = \"\"\n", []string{"conduit.toml:4: ledger.path: must not be empty"}},
		{"ledger queue_bytes too small", ok + "[ledger]\nqueue_bytes = 1000\n", []string{"conduit.toml:4: ledger.queue_bytes: must be between 1048576 (1 MiB)"}},
		{"ledger queue_bytes as string", ok + "[ledger]\nqueue_bytes = \"64MiB\"\n", []string{"conduit.toml:4:", "ledger.queue_bytes", "expected an integer"}},
		{"bad prices url", ok + "[ledger]\nprices_url = \"raw.githubusercontent.com/x\"\n", []string{"conduit.toml:4: ledger.prices_url:", "not an absolute http(s) URL"}},
		{"mitm hosts not an array", ok + "[mitm]\nhosts = \"api.openai.com\"\n", []string{"conduit.toml:4:", "mitm.hosts", "expected an array of strings"}},
		{"mitm hosts with a number", ok + "[mitm]\nhosts = [\"a.com\", 7]\n", []string{"conduit.toml:4:", "mitm.hosts", "the integer 7 at position 2"}},
		{"tunnel_others as string", ok + "[mitm]\ntunnel_others = \"no\"\n", []string{"conduit.toml:4:", "mitm.tunnel_others", "expected true or false"}},
		{"empty ca_dir", ok + "[mitm]\nca_dir = \"\"\n", []string{"conduit.toml:4: mitm.ca_dir: must not be empty"}},
		{"unknown mitm key", ok + "[mitm]\nhost = []\n", []string{"conduit.toml:4: mitm.host: unknown key", `did you mean "hosts"`}},
		{"proxy without scheme", ok + "[upstream]\nproxy = \"corp:3128\"\n", []string{"conduit.toml:4: upstream.proxy:", "not an http(s) proxy URL"}},
		{"socks proxy", ok + "[upstream]\nproxy = \"socks5://corp:1080\"\n", []string{"conduit.toml:4: upstream.proxy:", "not an http(s) proxy URL"}},
		{"proxy with path", ok + "[upstream]\nproxy = \"http://corp:3128/x\"\n", []string{"conduit.toml:4: upstream.proxy:", "without path or query"}},
		{"proxy is conduit", "listen = \":9090\"\n" + ok + "[upstream]\nproxy = \"http://localhost:9090\"\n", []string{"conduit.toml:5: upstream.proxy:", "would loop"}},
		{"proxy wrong type", ok + "[upstream]\nproxy = true\n", []string{"conduit.toml:4:", "upstream.proxy", "expected a string"}},
		{"empty ca_file", ok + "[upstream]\nca_file = \"\"\n", []string{"conduit.toml:4: upstream.ca_file: must not be empty"}},
		{"metrics enabled as string", ok + "[metrics]\nenabled = \"no\"\n", []string{"conduit.toml:4:", "metrics.enabled", "expected true or false"}},
		{"unknown metrics key", ok + "[metrics]\nenable = false\n", []string{"conduit.toml:4: metrics.enable: unknown key", `did you mean "enabled"`}},
		{"otel endpoint without scheme", ok + "[otel]\nendpoint = \"collector:4318\"\n", []string{"conduit.toml:4: otel.endpoint:", "not an http(s) URL"}},
		{"otel endpoint with credentials", ok + "[otel]\nendpoint = \"https://u:pw@collector\"\n", []string{"conduit.toml:4: otel.endpoint:", "without credentials", "headers"}},
		{"otel endpoint wrong type", ok + "[otel]\nendpoint = 4318\n", []string{"conduit.toml:4:", "otel.endpoint", "expected a string"}},
		{"otel headers not a table", ok + "[otel]\nheaders = \"x-key: v\"\n", []string{"conduit.toml:4:", "otel.headers", "expected a table of strings"}},
		{"otel header not a string", ok + "[otel]\nheaders = { x-key = 1 }\n", []string{"conduit.toml:4:", "otel.headers", `expected a string for "x-key"`}},
		{"otel bad header name", ok + "[otel.headers]\n\"x key\" = \"v\"\n", []string{"conduit.toml:4: otel.headers.x key:", "not an HTTP header name"}},
		{"otel bad header name inline", ok + "[otel]\nheaders = { \"x key\" = \"v\" }\n", []string{"conduit.toml:4: otel.headers.x key:", "not an HTTP header name"}},
		{"key after a multi-line string that looks like a table", ok + "[valohai-llm]\napi_key = \"\"\"\n[mitm]\nca_dir = \"\"\n\"\"\"\n[mitm]\nca_dir = \"\"\n", []string{"conduit.toml:9: mitm.ca_dir: must not be empty"}},
		{"provider key in a dotted key", "providers.OpenAI.upstream = \"https://api.openai.com\"\n", []string{"conduit.toml:1: providers.OpenAI:", "a-z, 0-9"}},
		{"bad provider key in an inline table", "providers = { ok = { upstream = \"https://h\" }, Bad = { upstream = \"https://h\" } }\n", []string{"conduit.toml:1: providers.Bad:", "a-z, 0-9"}},
		{"unknown key in an inline table", "providers = { x = { upstream = \"https://h\", upstrem = 1 } }\n", []string{"conduit.toml:1: providers.x.upstrem: unknown key", `did you mean "upstream"`}},
		{"otel empty service_name", ok + "[otel]\nservice_name = \"\"\n", []string{"conduit.toml:4: otel.service_name: must not be empty"}},
		{"otel zero export_interval", ok + "[otel]\nexport_interval = \"0s\"\n", []string{"conduit.toml:4: otel.export_interval: must be longer than zero"}},
		{"otel queue_size zero", ok + "[otel]\nqueue_size = 0\n", []string{"conduit.toml:4: otel.queue_size: must be between 1 and"}},
		{"otel queue_size as string", ok + "[otel]\nqueue_size = \"big\"\n", []string{"conduit.toml:4:", "otel.queue_size", "expected an integer"}},
		{"unknown otel key", ok + "[otel]\nendpont = \"http://c:4318\"\n", []string{"conduit.toml:4: otel.endpont: unknown key", `did you mean "endpoint"`}},
		{"budget without limit", ok + "[budgets.daily]\nperiod = \"day\"\n", []string{"conduit.toml:3: budgets.daily:", `missing "limit_usd"`}},
		{"budget without period", ok + "[budgets.daily]\nlimit_usd = 1\n", []string{"conduit.toml:3: budgets.daily:", `missing "period"`}},
		{"unknown period", ok + "[budgets.daily]\nlimit_usd = 1\nperiod = \"hour\"\n", []string{"conduit.toml:5: budgets.daily.period:", `unknown period "hour"`, `"day", "week" or "month"`}},
		{"negative limit", ok + "[budgets.daily]\nlimit_usd = -5\nperiod = \"day\"\n", []string{"conduit.toml:4:", "budgets.daily.limit_usd", "cannot be negative"}},
		{"zero limit", ok + "[budgets.daily]\nlimit_usd = 0\nperiod = \"day\"\n", []string{"conduit.toml:4: budgets.daily.limit_usd: must be more than zero"}},
		{"limit as string", ok + "[budgets.daily]\nlimit_usd = \"10\"\nperiod = \"day\"\n", []string{"conduit.toml:4:", "budgets.daily.limit_usd", "expected a number (USD)"}},
		{"fraction above 1", ok + "[budgets.daily]\nlimit_usd = 1\nperiod = \"day\"\nwarn_at = [0.5, 80]\n", []string{"conduit.toml:6:", "budgets.daily.warn_at", "80 at position 2 is not a fraction"}},
		{"fraction below 0", ok + "[budgets.daily]\nlimit_usd = 1\nperiod = \"day\"\nwarn_at = [-0.1]\n", []string{"conduit.toml:6:", "budgets.daily.warn_at", "not a fraction"}},
		{"fraction zero", ok + "[budgets.daily]\nlimit_usd = 1\nperiod = \"day\"\nwarn_at = [0]\n", []string{"conduit.toml:6:", "budgets.daily.warn_at", "not a fraction"}},
		{"bad glob", ok + "[budgets.daily]\nlimit_usd = 1\nperiod = \"day\"\nmodel = \"gpt-[4\"\n", []string{"conduit.toml:6: budgets.daily.model:", `"gpt-[4" is not a valid pattern`}},
		{"empty scope", ok + "[budgets.daily]\nlimit_usd = 1\nperiod = \"day\"\nproject = \"\"\n", []string{"conduit.toml:6: budgets.daily.project: must not be empty"}},
		{"unknown budget key", ok + "[budgets.daily]\nlimit_usd = 1\nperiod = \"day\"\nlimit = 2\n", []string{"conduit.toml:6: budgets.daily.limit: unknown key"}},
		{"budget key typo", ok + "[budgets.daily]\nlimit_usd = 1\nperiod = \"day\"\nenforced = true\n", []string{"conduit.toml:6: budgets.daily.enforced: unknown key", `did you mean "enforce"`}},
		{"bad budget name", ok + "[budgets.\"my budget\"]\nlimit_usd = 1\nperiod = \"day\"\n", []string{"conduit.toml:3: budgets.my budget:", "A-Z, a-z, 0-9, _ and -"}},
		{"timezone under budgets", ok + "[budgets]\ntimezone = \"UTC\"\n", []string{"conduit.toml:4: budgets.timezone: expected a table here, found a string", "[budget_settings]"}},
		{"value for a provider table", "[providers]\nopenai = \"https://api.openai.com\"\n", []string{"conduit.toml:2: providers.openai: expected a table here, found a string"}},
		{"unknown time zone", ok + "[budget_settings]\ntimezone = \"Mars/Olympus\"\n", []string{"conduit.toml:4: budget_settings.timezone:", `unknown time zone "Mars/Olympus"`}},
		{"webhook not a URL", ok + "[alerts]\nwebhook = \"hooks.example.com/s3cr3t\"\n", []string{"conduit.toml:4: alerts.webhook:", "not an absolute http(s) URL"}},
		{"desktop as string", ok + "[alerts]\ndesktop = \"yes\"\n", []string{"conduit.toml:4:", "alerts.desktop", "expected true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// TestParseBudgets guards the budget tables: file order, defaults
// (warn_at 0.5 and 0.8, not enforced, every call in scope, the local time
// zone), warn_at sorted without repeats, and every scope key.
func TestParseBudgets(t *testing.T) {
	t.Parallel()
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	cfg, err := parse(t, ok+`
[budgets.monthly]
limit_usd = 200
period = "month"
warn_at = [0.9, 0.5, 0.9]
enforce = true

[budgets.opus-day]
limit_usd = 10.5
period = "day"
provider = "anthropic"
model = "claude-opus-*"
tag = "team:search"
project = "web"
client = "claude-cli/*"

[budget_settings]
timezone = "Europe/Helsinki"

[alerts]
desktop = true
webhook = "https://hooks.example.com/services/s3cr3t"
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Budget{
		{Name: "monthly", LimitUSD: 200, Period: "month", WarnAt: []float64{0.5, 0.9}, Enforce: true},
		{Name: "opus-day", LimitUSD: 10.5, Period: "day", WarnAt: []float64{0.5, 0.8},
			Provider: "anthropic", Model: "claude-opus-*", Tag: "team:search", Project: "web", Client: "claude-cli/*"},
	}
	if !reflect.DeepEqual(cfg.Budgets, want) {
		t.Errorf("budgets\n %+v\nwant\n %+v", cfg.Budgets, want)
	}
	if cfg.BudgetSettings.Timezone != "Europe/Helsinki" || cfg.BudgetSettings.Location.String() != "Europe/Helsinki" {
		t.Errorf("budget_settings %+v", cfg.BudgetSettings)
	}
	if !cfg.Alerts.Desktop || cfg.Alerts.Webhook != "https://hooks.example.com/services/s3cr3t" || cfg.Alerts.RedactedWebhook() != "https://hooks.example.com/…" {
		t.Errorf("alerts %+v (%s)", cfg.Alerts, cfg.Alerts.RedactedWebhook())
	}
	if got := cfg.Pos("budgets", "opus-day", "limit_usd"); got != "conduit.toml:11" {
		t.Errorf("position %s", got)
	}

	cfg, err = parse(t, ok)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Budgets != nil || cfg.BudgetSettings.Location != time.Local || cfg.Alerts != (Alerts{}) {
		t.Errorf("defaults: %+v %+v %+v", cfg.Budgets, cfg.BudgetSettings, cfg.Alerts)
	}
	// The webhook is a secret: an error about it does not repeat it.
	_, err = parse(t, ok+"[alerts]\nwebhook = \"ftp://hooks.example.com/s3cr3t\"\n")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("webhook error %v", err)
	}
}

// TestParseDrain guards the meaning of [timeouts] drain: absent is the
// default, "0s" is an explicit "do not drain" (NoDrain), never a zero that a
// consumer could take for "the default".
func TestParseDrain(t *testing.T) {
	t.Parallel()
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	tests := []struct {
		name    string
		table   string
		drain   time.Duration
		noDrain bool
	}{
		{"absent", "", time.Minute, false},
		{"zero", "[timeouts]\ndrain = \"0s\"\n", 0, true},
		{"set", "[timeouts]\ndrain = \"5s\"\n", 5 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, ok+tt.table)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Timeouts.Drain != tt.drain || cfg.Timeouts.NoDrain != tt.noDrain {
				t.Errorf("drain = %v, no drain %v; want %v, %v", cfg.Timeouts.Drain, cfg.Timeouts.NoDrain, tt.drain, tt.noDrain)
			}
		})
	}
}

// TestParseWebSockets guards [mitm] websockets and the WebSocket
// timeouts: their defaults, their values, and each mistake placed at its
// key.
func TestParseWebSockets(t *testing.T) {
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	tests := []struct {
		name        string
		table       string
		refuse      bool
		idle, total time.Duration
		err         string
	}{
		{"defaults", "", false, 10 * time.Minute, 0, ""},
		{"meter", "[mitm]\nwebsockets = \"meter\"\n", false, 10 * time.Minute, 0, ""},
		{"refuse", "[mitm]\nwebsockets = \"refuse\"\n", true, 10 * time.Minute, 0, ""},
		{"timeouts", "[timeouts]\nwebsocket_idle = \"30s\"\nwebsocket_total = \"2h\"\n", false, 30 * time.Second, 2 * time.Hour, ""},
		{"no total", "[timeouts]\nwebsocket_total = \"0s\"\n", false, 10 * time.Minute, 0, ""},
		{"bad mode", "[mitm]\nwebsockets = \"block\"\n", false, 0, 0, `conduit.toml:4: mitm.websockets: "block" is not "meter"`},
		{"zero idle", "[timeouts]\nwebsocket_idle = \"0s\"\n", false, 0, 0, "conduit.toml:4: timeouts.websocket_idle: must be longer than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, ok+tt.table)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q…", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MITM.RefuseWebSockets != tt.refuse || cfg.Timeouts.WebSocketIdle != tt.idle || cfg.Timeouts.WebSocketTotal != tt.total {
				t.Errorf("refuse %v idle %v total %v; want %v %v %v", cfg.MITM.RefuseWebSockets, cfg.Timeouts.WebSocketIdle, cfg.Timeouts.WebSocketTotal, tt.refuse, tt.idle, tt.total)
			}
		})
	}
}

// TestConfigPositions guards the places given for errors found after
// Parse: Pos for a file a key names, KeyError for a check made elsewhere,
// and the file alone for a Config that Parse did not make.
func TestConfigPositions(t *testing.T) {
	t.Parallel()
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	cfg, err := parse(t, ok+"[mitm]\nhosts = [\n  \"a.example.com\",\n]\n[upstream]\nca_file = \"x.pem\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Pos("upstream", "ca_file"); got != "conduit.toml:8" {
		t.Errorf("Pos = %q, want conduit.toml:8", got)
	}
	if got := cfg.Pos("ledger", "path"); got != "conduit.toml" {
		t.Errorf("Pos of an absent key = %q, want the file alone", got)
	}
	if got := cfg.KeyError("bad host", "mitm", "hosts").Error(); got != "conduit.toml:4: mitm.hosts: bad host" {
		t.Errorf("KeyError = %q", got)
	}
	if got := (&Config{Path: "c.toml"}).Pos("upstream", "ca_file"); got != "c.toml" {
		t.Errorf("Pos without a source = %q", got)
	}
}

// TestParseForwardTables guards [mitm] and [upstream]: defaults,
// values, relative paths resolved beside the config, NO_PROXY from the
// environment.
func TestParseForwardTables(t *testing.T) {
	t.Parallel()
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	cfg, err := Parse(strings.NewReader(ok), filepath.Join("d", "c.toml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MITM.CADir != "" || cfg.MITM.Hosts != nil || !cfg.MITM.TunnelOthers || cfg.Upstream.Proxy != nil || cfg.Upstream.CAFile != "" {
		t.Errorf("defaults: %+v %+v", cfg.MITM, cfg.Upstream)
	}
	env := map[string]string{"no_proxy": "internal.example"}
	cfg, err = Parse(strings.NewReader(ok+`
[mitm]
ca_dir = "ca"
hosts = ["api.openai.com", "*.openai.azure.com", "127.0.0.1:11434"]
tunnel_others = false

[upstream]
proxy = "http://alice:pw@corp.example:3128"
ca_file = "corp.pem"
`), filepath.Join("d", "c.toml"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("d")
	if cfg.MITM.CADir != filepath.Join(abs, "ca") || cfg.Upstream.CAFile != filepath.Join(abs, "corp.pem") {
		t.Errorf("paths %q %q, want them beside the config", cfg.MITM.CADir, cfg.Upstream.CAFile)
	}
	if strings.Join(cfg.MITM.Hosts, ",") != "api.openai.com,*.openai.azure.com,127.0.0.1:11434" || cfg.MITM.TunnelOthers {
		t.Errorf("mitm %+v", cfg.MITM)
	}
	if cfg.Upstream.Proxy.String() != "http://alice:pw@corp.example:3128" || cfg.Upstream.NoProxy != "internal.example" {
		t.Errorf("upstream %+v", cfg.Upstream)
	}
	cfg, err = Parse(strings.NewReader(ok+"[mitm]\nhosts = []\n"), "c.toml", noEnv)
	if err != nil || cfg.MITM.Hosts == nil || len(cfg.MITM.Hosts) != 0 {
		t.Errorf("hosts = [] must mean none, not the default: %#v %v", cfg.MITM.Hosts, err)
	}
}

// TestParseTelemetry guards [metrics] and [otel]: metrics on by
// default, OpenTelemetry on only with an endpoint in the file or the
// standard environment variables, and off with OTEL_SDK_DISABLED=true.
func TestParseTelemetry(t *testing.T) {
	t.Parallel()
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	const full = ok + `
[metrics]
enabled = false

[otel]
endpoint = "https://collector.example:4318/"
headers = { "x-honeycomb-team" = "k1" }
service_name = "conduit-alice"
export_interval = "15s"
queue_size = 100
`
	tests := []struct {
		name    string
		src     string
		env     map[string]string
		metrics bool
		want    OTel
	}{
		{"defaults", ok, nil, true, OTel{}},
		{"everything set", full, nil, false, OTel{Enabled: true, Endpoint: "https://collector.example:4318",
			Headers: map[string]string{"x-honeycomb-team": "k1"}, ServiceName: "conduit-alice", ExportInterval: 15 * time.Second, QueueSize: 100}},
		{"endpoint from the environment", ok, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, OTel{Enabled: true}},
		{"traces endpoint from the environment", ok, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true, OTel{Enabled: true}},
		{"other OTEL variables alone", ok, map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_HEADERS": "a=b"}, true, OTel{}},
		{"SDK disabled", full, map[string]string{"OTEL_SDK_DISABLED": "TRUE"}, false, OTel{Endpoint: "https://collector.example:4318",
			Headers: map[string]string{"x-honeycomb-team": "k1"}, ServiceName: "conduit-alice", ExportInterval: 15 * time.Second, QueueSize: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(strings.NewReader(tt.src), "c.toml", func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Metrics.Enabled != tt.metrics {
				t.Errorf("metrics enabled = %v, want %v", cfg.Metrics.Enabled, tt.metrics)
			}
			if !reflect.DeepEqual(cfg.OTel, tt.want) {
				t.Errorf("otel = %+v\nwant   %+v", cfg.OTel, tt.want)
			}
		})
	}
}

// TestLoadMissing guards the advice given when no config exists.
func TestLoadMissing(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "conduit.toml"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "conduit init") {
		t.Fatalf("err = %v, want advice to run conduit init", err)
	}
}

// TestExampleConfigLoads guards the shipped example: it must always parse.
func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(strings.NewReader(string(conduit.ExampleConfig)), "conduit.example.toml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) < 2 {
		t.Errorf("example has %d providers", len(cfg.Providers))
	}
}

// TestConfigPathPrecedence guards --config over CONDUIT_CONFIG over ./conduit.toml.
func TestConfigPathPrecedence(t *testing.T) {
	t.Parallel()
	env := func(k string) string {
		if k == "CONDUIT_CONFIG" {
			return "/env.toml"
		}
		return ""
	}
	if got := Path("/flag.toml", env); got != "/flag.toml" {
		t.Errorf("flag: %q", got)
	}
	if got := Path("", env); got != "/env.toml" {
		t.Errorf("env: %q", got)
	}
	if got := Path("", noEnv); got != "conduit.toml" {
		t.Errorf("default: %q", got)
	}
}
