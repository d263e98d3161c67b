package intercept

import (
	"net/netip"
	"net/url"
	"slices"
	"testing"

	"github.com/valohai/conduit/parsers"
)

// TestValidateHostPattern guards the [mitm] hosts syntax: what is accepted,
// and that every mistake is refused rather than silently matching nothing.
func TestValidateHostPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"api.openai.com", true},
		{"API.OpenAI.com.", true},
		{"api.openai.com:443", true},
		{"*.openai.azure.com", true},
		{"127.0.0.1:11434", true},
		{"[::1]:8000", true},
		{"::1", true},
		{"my_host.internal", true},
		{"localhost:8000", true},
		{"", false},
		{"https://api.openai.com", false},
		{"api.openai.com/v1", false},
		{"*.com", false},
		{"api.*.com", false},
		{"host:0", false},
		{"host:99999", false},
		{"host:abc", false},
		{"[::1", false},
		{"-bad.com", false},
		{"a..b", false},
		{"user@host", false},
		{"fe80::1%eth0", false},
	}
	for _, tt := range tests {
		err := ValidateHostPattern(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateHostPattern(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

// TestHostPatternMatch guards which CONNECT targets a pattern intercepts.
func TestHostPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, authority string
		want               bool
	}{
		{"api.openai.com", "api.openai.com:443", true},
		{"api.openai.com", "API.OPENAI.COM.:8443", true}, // no port: any port
		{"api.openai.com:443", "api.openai.com:8443", false},
		{"api.openai.com", "evil-api.openai.com:443", false},
		{"api.openai.com", "api.openai.com.evil.com:443", false},
		{"*.openai.azure.com", "x.openai.azure.com:443", true},
		{"*.openai.azure.com", "a.b.openai.azure.com:443", true},
		{"*.openai.azure.com", "openai.azure.com:443", false},
		{"*.openai.azure.com", "xopenai.azure.com:443", false},
		{"127.0.0.1:11434", "127.0.0.1:11434", true},
		{"127.0.0.1:11434", "127.0.0.1:11435", false},
		{"::1", "[::1]:443", true},
		{"[::ffff:127.0.0.1]:80", "127.0.0.1:80", true},
	}
	for _, tt := range tests {
		p, err := parseHostPattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		host, port := splitAuthority(tt.authority, "443")
		if got := p.match(host, port); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.authority, got, tt.want)
		}
	}
}

// TestDefaultHosts guards the default intercept list: configured upstream
// hosts first (port only when not the scheme's default), then the
// well-known hosts, each once.
func TestDefaultHosts(t *testing.T) {
	t.Parallel()
	u := func(s string) *url.URL { return mustURL(t, s) }
	got := DefaultHosts([]Provider{
		{Key: "openai", Upstream: u("https://api.openai.com")},
		{Key: "azure", Upstream: u("https://my.openai.azure.com:443/openai")},
		{Key: "ollama", Upstream: u("http://127.0.0.1:11434")},
		{Key: "vllm", Upstream: u("http://GPU-Box:80")},
		{Key: "v6", Upstream: u("http://[::1]:8000")},
		{Key: "alt", Upstream: u("https://api.openai.com:8443")},
		{Key: "nil"},
	})
	head := []string{"api.openai.com", "my.openai.azure.com", "127.0.0.1:11434", "gpu-box", "[::1]:8000", "api.openai.com:8443"}
	if !slices.Equal(got[:len(head)], head) {
		t.Errorf("configured hosts %q, want %q", got[:len(head)], head)
	}
	rest := got[len(head):]
	if len(rest) != len(wellKnownHosts)-1 || slices.Contains(rest, "api.openai.com") || !slices.Contains(rest, "api.anthropic.com") {
		t.Errorf("well-known part %q", rest)
	}
	for _, h := range got {
		if err := ValidateHostPattern(h); err != nil {
			t.Errorf("default host %q is not a valid pattern: %v", h, err)
		}
	}
}

// TestWellKnownHostsCopy guards that callers cannot change the table.
func TestWellKnownHostsCopy(t *testing.T) {
	t.Parallel()
	w := WellKnownHosts()
	w[0].Key = "changed"
	if WellKnownHosts()[0].Key == "changed" {
		t.Fatal("WellKnownHosts returned the table itself")
	}
	for _, h := range w {
		if h.API == parsers.OpenAI && h.Host == "api.mistral.ai" && h.InjectStreamUsage {
			t.Error("Mistral rejects stream_options: it must not be injected")
		}
	}
}

// TestProviderFor guards which provider a forward call is recorded under.
func TestProviderFor(t *testing.T) {
	t.Parallel()
	u := func(s string) *url.URL { return mustURL(t, s) }
	f, err := newForwardHosts(&Forward{}, []Provider{
		{Key: "oai", Upstream: u("https://api.openai.com"), API: parsers.OpenAI},
		{Key: "oai2", Upstream: u("https://api.openai.com"), API: parsers.OpenAI},
		{Key: "local", Upstream: u("http://10.0.0.5:8000"), API: parsers.OpenAI},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, port string
		key        string
		api        parsers.API
		inject     bool
	}{
		{"api.openai.com", "443", "oai", parsers.OpenAI, false}, // configured wins over well-known
		{"api.anthropic.com", "443", "anthropic", parsers.Anthropic, false},
		{"api.deepseek.com", "443", "deepseek", parsers.OpenAI, true},
		{"10.0.0.5", "8000", "local", parsers.OpenAI, false},
		{"10.0.0.5", "9000", "10.0.0.5", parsers.OpenAI, false}, // port differs: not that provider
		{"gpu.internal", "11434", "gpu.internal", parsers.Ollama, false},
		{"x.aiplatform.googleapis.com", "443", "x.aiplatform.googleapis.com", parsers.OpenAI, false},
		{"us-aiplatform.googleapis.com", "443", "us-aiplatform.googleapis.com", parsers.Gemini, false},
		// The cloud platforms' built-in providers.
		{"bedrock-runtime.us-east-1.amazonaws.com", "443", "bedrock", parsers.Bedrock, false},
		{"bedrock-runtime-fips.us-west-2.amazonaws.com", "443", "bedrock", parsers.Bedrock, false},
		{"bedrock-runtime.xx-new-9.amazonaws.com", "443", "bedrock-runtime.xx-new-9.amazonaws.com", parsers.Bedrock, false}, // named in [mitm] hosts
		{"us-east5-aiplatform.googleapis.com", "443", "vertex", parsers.Gemini, false},
		{"aiplatform.googleapis.com", "443", "vertex", parsers.Gemini, false},
		{"acme.openai.azure.com", "443", "azure", parsers.OpenAI, true}, // where the api-version accepts it
		{"acme.cognitiveservices.azure.com", "443", "azure", parsers.OpenAI, true},
		{"acme.services.ai.azure.com", "443", "azure", parsers.OpenAI, true},
		{"openai.azure.com", "443", "openai.azure.com", parsers.OpenAI, false}, // the wildcard's base is not under it
	}
	for _, tt := range tests {
		p := f.providerFor(tt.host, tt.port)
		if p.Key != tt.key || p.API != tt.api || p.InjectStreamUsage != tt.inject {
			t.Errorf("providerFor(%s:%s) = %s/%s/%v, want %s/%s/%v", tt.host, tt.port, p.Key, p.API, p.InjectStreamUsage, tt.key, tt.api, tt.inject)
		}
	}
}

// TestPlatformHosts guards forward mode's default list for the cloud
// platforms: a host per Bedrock and Vertex AI region and Azure's
// per-customer patterns, each intercepted by default, recorded under its
// platform's built-in provider with the API its host implies, and nothing
// of those platforms' other hosts.
func TestPlatformHosts(t *testing.T) {
	f, err := newForwardHosts(&Forward{Hosts: DefaultHosts(nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		authority string
		want      bool
		key       string
	}{
		{"bedrock-runtime.us-east-1.amazonaws.com:443", true, "bedrock"},
		{"bedrock-runtime.eu-central-1.amazonaws.com:443", true, "bedrock"},
		{"bedrock-runtime-fips.us-gov-west-1.amazonaws.com:443", true, "bedrock"},
		{"us-east5-aiplatform.googleapis.com:443", true, "vertex"},
		{"europe-west1-aiplatform.googleapis.com:443", true, "vertex"},
		{"aiplatform.googleapis.com:443", true, "vertex"},
		{"my-resource.openai.azure.com:443", true, "azure"},
		{"my-resource.cognitiveservices.azure.com:443", true, "azure"},
		{"my-project.services.ai.azure.com:443", true, "azure"},
		// The platforms' other services stay blind tunnels.
		{"bedrock.us-east-1.amazonaws.com:443", false, ""}, // Bedrock's control plane
		{"s3.us-east-1.amazonaws.com:443", false, ""},
		{"storage.googleapis.com:443", false, ""},
		{"us-east5-aiplatform.googleapis.com.evil.example:443", false, ""},
		{"login.microsoftonline.com:443", false, ""},
	}
	for _, tt := range tests {
		host, port := splitAuthority(tt.authority, "443")
		if got := f.intercepted(host, port) >= 0; got != tt.want {
			t.Errorf("%s intercepted = %v, want %v", tt.authority, got, tt.want)
		}
		if !tt.want {
			continue
		}
		if p := f.providerFor(host, port); p.Key != tt.key || p.API != parsers.APIForHost(tt.authority) {
			t.Errorf("%s recorded as %s/%s, want %s/%s", tt.authority, p.Key, p.API, tt.key, parsers.APIForHost(tt.authority))
		}
	}
	// Every region's host is what the parsers take for its platform.
	for _, w := range WellKnownHosts() {
		switch w.Key {
		case "bedrock", "vertex":
			if got := parsers.APIForHost(w.Host); got != w.API {
				t.Errorf("%s: APIForHost = %s, table says %s", w.Host, got, w.API)
			}
		}
	}
}

// TestIsSelf guards self-loop detection for each kind of listen address.
func TestIsSelf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen     string
		host, port string
		want       bool
	}{
		{"127.0.0.1:8080", "127.0.0.1", "8080", true},
		{"127.0.0.1:8080", "localhost", "8080", true},
		{"127.0.0.1:8080", "127.0.0.1", "8081", false},
		{"127.0.0.1:8080", "10.1.2.3", "8080", false},
		{"127.0.0.1:8080", "api.openai.com", "8080", false},
		{"0.0.0.0:8080", "localhost", "8080", true},
		{"0.0.0.0:8080", "127.0.0.9", "8080", true},
		{"0.0.0.0:8080", "192.0.2.7", "8080", true}, // a local interface (injected below)
		{"0.0.0.0:8080", "192.0.2.8", "8080", false},
		{":8080", "localhost", "8080", true},
		{"[::1]:8080", "::1", "8080", true},
		{"[::1]:8080", "localhost", "8080", true},
		{"myhost:8080", "myhost", "8080", true},
		{"127.0.0.1:8080", "127.0.0.1", "08080", true},
		{"127.0.0.1:8080", "0.0.0.0", "8080", true},
		{"127.0.0.1:8080", "::", "8080", true},
		{"0.0.0.0:8080", "::", "08080", true},
		{"0.0.0.0:8080", "::ffff:192.0.2.7", "8080", true},
	}
	for _, tt := range tests {
		self, err := newSelfAddrs([]string{tt.listen})
		if err != nil {
			t.Fatal(err)
		}
		self.localIPs = func() map[netip.Addr]bool { return map[netip.Addr]bool{netip.MustParseAddr("192.0.2.7"): true} }
		if got := self.is(tt.host, tt.port, nil); got != tt.want {
			t.Errorf("listen %s: isSelf(%s, %s) = %v, want %v", tt.listen, tt.host, tt.port, got, tt.want)
		}
	}
}

// FuzzHostPattern guards the pattern parser on any input: no panic, and a
// pattern it accepts matches the host it names.
func FuzzHostPattern(f *testing.F) {
	for _, s := range []string{"api.openai.com", "*.openai.azure.com", "127.0.0.1:11434", "[::1]:8000", "::1", "A.B.", "x:0", "[", "*.", ":443"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseHostPattern(s)
		if err != nil {
			return
		}
		port := p.port
		if port == "" {
			port = "443"
		}
		host := p.name
		if p.wildcard {
			host = "sub." + p.name
		}
		if !p.match(host, port) {
			t.Errorf("%q (parsed %+v) does not match %s:%s", s, p, host, port)
		}
		if h, _ := splitAuthority(canonicalAuthority(host, port, "https"), "443"); h != host {
			t.Errorf("%q: authority round trip gives %q, want %q", s, h, host)
		}
	})
}
