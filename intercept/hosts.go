package intercept

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/valohai/conduit/parsers"
)

// WellKnownHost is an LLM API host that forward mode intercepts by default
// and records under a built-in provider when no [providers.*] entry names
// it.
type WellKnownHost struct {
	// Host is the API host name, "api.openai.com", or a wildcard pattern
	// for a platform whose every customer has a host of their own,
	// "*.openai.azure.com" (see ValidateHostPattern).
	Host string
	Key  string      // the provider key its records carry, e.g. "openai"
	API  parsers.API // its wire format
	// InjectStreamUsage: Conduit adds stream_options.include_usage to chat
	// streams that did not ask for usage. Only where the host accepts it and
	// would otherwise send no usage: Mistral rejects the field with a 422,
	// and Groq, OpenRouter, Fireworks, Cerebras and Perplexity report
	// streaming usage without being asked.
	InjectStreamUsage bool
}

var wellKnownHosts = []WellKnownHost{
	{Host: "api.openai.com", Key: "openai", API: parsers.OpenAI, InjectStreamUsage: true},
	{Host: "api.anthropic.com", Key: "anthropic", API: parsers.Anthropic},
	{Host: "generativelanguage.googleapis.com", Key: "gemini", API: parsers.Gemini},
	{Host: "api.groq.com", Key: "groq", API: parsers.OpenAI},
	{Host: "openrouter.ai", Key: "openrouter", API: parsers.OpenAI},
	{Host: "api.deepseek.com", Key: "deepseek", API: parsers.OpenAI, InjectStreamUsage: true},
	{Host: "api.mistral.ai", Key: "mistral", API: parsers.OpenAI},
	{Host: "api.together.xyz", Key: "together", API: parsers.OpenAI, InjectStreamUsage: true},
	{Host: "api.fireworks.ai", Key: "fireworks", API: parsers.OpenAI},
	{Host: "api.x.ai", Key: "xai", API: parsers.OpenAI, InjectStreamUsage: true},
	{Host: "api.cerebras.ai", Key: "cerebras", API: parsers.OpenAI},
	{Host: "api.perplexity.ai", Key: "perplexity", API: parsers.OpenAI},
	// Azure OpenAI and Azure AI Foundry: one host per customer resource.
	// Calls there that are no model call (deployments and files
	// management, the other Azure AI services) are forwarded untouched
	// and recorded as other traffic, not calls. Stream usage is asked for
	// only where the api-version accepts it (acceptsStreamOptions).
	{Host: "*.openai.azure.com", Key: "azure", API: parsers.OpenAI, InjectStreamUsage: true},
	{Host: "*.cognitiveservices.azure.com", Key: "azure", API: parsers.OpenAI, InjectStreamUsage: true},
	{Host: "*.services.ai.azure.com", Key: "azure", API: parsers.OpenAI, InjectStreamUsage: true},
}

// isAzureHost reports an Azure OpenAI or Azure AI Foundry host (h in
// lower case, without port): one the azure patterns of wellKnownHosts
// match.
func isAzureHost(h string) bool {
	for _, w := range wellKnownHosts {
		if w.Key == "azure" && strings.HasPrefix(w.Host, "*.") && strings.HasSuffix(h, w.Host[1:]) {
			return true
		}
	}
	return false
}

// azureStreamOptionsSince is the first Azure OpenAI api-version that
// accepts stream_options: older ones answer 400 "Unrecognized request
// argument supplied: stream_options" (it came with 2024-09-01-preview and
// is in the 2024-10-21 GA spec).
const azureStreamOptionsSince = "2024-09-01"

// acceptsStreamOptions reports whether the upstream at u accepts the
// stream_options member Conduit may add: every host but Azure's, and on
// Azure the /openai/v1/ API and api-versions from azureStreamOptionsSince
// on ("preview" and "latest" included).
func acceptsStreamOptions(u *url.URL) bool {
	if !isAzureHost(normalizeHost(u.Hostname())) {
		return true
	}
	v := u.Query().Get("api-version")
	switch {
	case v == "":
		return strings.Contains(u.Path, "/openai/v1/")
	case v == "preview", v == "latest":
		return true
	case len(v) >= len(azureStreamOptionsSince):
		return v[:len(azureStreamOptionsSince)] >= azureStreamOptionsSince
	}
	return false
}

// The cloud platforms' API hosts are one per region. Forward mode
// intercepts them by default, one name per region, not through a pattern:
// the local CA is name-constrained to the hosts it intercepts, and an X.509
// name constraint can only permit a whole subtree — "bedrock-runtime.*" or
// "*-aiplatform" would have to become all of amazonaws.com or
// googleapis.com. A region missing here is added by naming its host in
// [mitm] hosts (its API is still recognised from the host name).
var (
	// bedrockRegions have a Bedrock runtime endpoint,
	// bedrock-runtime.<region>.amazonaws.com
	// (https://docs.aws.amazon.com/general/latest/gr/bedrock.html).
	bedrockRegions = []string{
		"us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-east-1", "us-gov-west-1",
		"ca-central-1", "ca-west-1", "mx-central-1", "sa-east-1",
		"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
		"ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
		"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
		"af-south-1", "il-central-1", "me-central-1", "me-south-1",
	}
	// bedrockFIPSRegions also have bedrock-runtime-fips.<region>.amazonaws.com.
	bedrockFIPSRegions = []string{"us-east-1", "us-east-2", "us-west-2", "ca-central-1", "us-gov-east-1", "us-gov-west-1"}
	// vertexRegions serve Vertex AI at <region>-aiplatform.googleapis.com
	// (https://cloud.google.com/vertex-ai/docs/general/locations); the
	// global endpoint is aiplatform.googleapis.com.
	vertexRegions = []string{
		"us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4",
		"northamerica-northeast1", "northamerica-northeast2", "southamerica-east1", "southamerica-west1",
		"europe-central2", "europe-north1", "europe-southwest1", "europe-west1", "europe-west2", "europe-west3",
		"europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10", "europe-west12",
		"asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3", "asia-south1", "asia-south2",
		"asia-southeast1", "asia-southeast2", "australia-southeast1", "australia-southeast2",
		"me-central1", "me-central2", "me-west1", "africa-south1",
	}
)

func init() {
	for _, r := range bedrockRegions {
		wellKnownHosts = append(wellKnownHosts, WellKnownHost{Host: "bedrock-runtime." + r + ".amazonaws.com", Key: "bedrock", API: parsers.Bedrock})
	}
	for _, r := range bedrockFIPSRegions {
		wellKnownHosts = append(wellKnownHosts, WellKnownHost{Host: "bedrock-runtime-fips." + r + ".amazonaws.com", Key: "bedrock", API: parsers.Bedrock})
	}
	// Vertex AI serves Gemini and partner models (Claude) on the same
	// hosts: the path tells them apart.
	wellKnownHosts = append(wellKnownHosts, WellKnownHost{Host: "aiplatform.googleapis.com", Key: "vertex", API: parsers.Gemini})
	for _, r := range vertexRegions {
		wellKnownHosts = append(wellKnownHosts, WellKnownHost{Host: r + "-aiplatform.googleapis.com", Key: "vertex", API: parsers.Gemini})
	}
}

// WellKnownHosts returns the LLM API hosts Conduit knows without
// configuration, in a fixed order. The slice is new on every call.
func WellKnownHosts() []WellKnownHost {
	return slices.Clone(wellKnownHosts)
}

// DefaultHosts returns the host patterns forward mode intercepts when the
// configuration names none ([mitm] hosts): the host of every provider's
// upstream (with its port when it is not the scheme's default, as
// "127.0.0.1:11434"), then every well-known API host, without duplicates.
// Providers whose Upstream is nil are skipped. The slice is new.
func DefaultHosts(providers []Provider) []string {
	var out []string
	add := func(h string) {
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	for _, p := range providers {
		if p.Upstream != nil {
			add(UpstreamHostPattern(p.Upstream))
		}
	}
	for _, w := range wellKnownHosts {
		add(w.Host)
	}
	return out
}

// UpstreamHostPattern returns the host pattern that matches calls to u:
// its host name in lower case, with ":port" only when the port is not the
// default for u's scheme. It returns "" for a URL without a host.
func UpstreamHostPattern(u *url.URL) string {
	host := normalizeHost(u.Hostname())
	if host == "" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && port != defaultPort(u.Scheme) {
		return host + ":" + port
	}
	return host
}

func defaultPort(scheme string) string {
	if strings.EqualFold(scheme, "https") {
		return "443"
	}
	return "80"
}

// hostPattern is one parsed intercepted-host pattern.
type hostPattern struct {
	raw      string
	wildcard bool   // "*.example.com": every name strictly under name
	name     string // lower case, no trailing dot; an IP in canonical form
	port     string // "": any port
}

// ValidateHostPattern reports whether s is a valid intercepted-host pattern:
// "api.openai.com" (that name, any port), "api.openai.com:443" (that port
// only), "*.openai.azure.com" (every name under it, not the name itself),
// "127.0.0.1:11434" or "[::1]:8000". The error says what is wrong.
func ValidateHostPattern(s string) error {
	_, err := parseHostPattern(s)
	return err
}

func parseHostPattern(s string) (hostPattern, error) {
	p := hostPattern{raw: s}
	t := strings.TrimSpace(s)
	if t == "" {
		return p, errors.New("empty host")
	}
	if strings.Contains(t, "://") || strings.ContainsAny(t, "/?#@ ") {
		return p, fmt.Errorf("%q is not a host: give host or host:port, without scheme or path", s)
	}
	host := t
	if h, port, err := net.SplitHostPort(t); err == nil {
		n, perr := strconv.Atoi(port)
		if perr != nil || n < 1 || n > 65535 {
			return p, fmt.Errorf("%q: bad port %q", s, port)
		}
		host, p.port = h, strconv.Itoa(n)
	} else if strings.HasPrefix(t, "[") || strings.Count(t, ":") == 1 {
		return p, fmt.Errorf("%q: %v", s, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return p, fmt.Errorf("%q: an IPv6 zone cannot be intercepted", s)
		}
		p.name = ip.Unmap().String()
		return p, nil
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		if !strings.Contains(rest, ".") {
			return p, fmt.Errorf("%q: a wildcard needs a base of at least two labels (*.example.com)", s)
		}
		p.wildcard, host = true, rest
	}
	for label := range strings.SplitSeq(host, ".") {
		if !validLabel(label) {
			return p, fmt.Errorf("%q is not a valid host name (labels of a-z, 0-9 and -, no leading or trailing -)", s)
		}
	}
	p.name = host
	return p, nil
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// match reports whether the normalized host and port (as splitAuthority
// returns them) fall under the pattern.
func (p hostPattern) match(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	if p.wildcard {
		return strings.HasSuffix(host, "."+p.name)
	}
	return host == p.name
}

// normalizeHost lower-cases a host name, drops a trailing dot and IPv6
// brackets, and writes an IP address in canonical form.
func normalizeHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return h
}

// splitAuthority splits "host[:port]" into a normalized host and a port,
// defPort when there is none.
func splitAuthority(authority, defPort string) (host, port string) {
	if h, p, err := net.SplitHostPort(authority); err == nil {
		return normalizeHost(h), p
	}
	return normalizeHost(authority), defPort
}

// canonicalAuthority is host[:port] for a URL: the port only when it is not
// the scheme's default.
func canonicalAuthority(host, port, scheme string) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || port == defaultPort(scheme) {
		return host
	}
	return host + ":" + port
}
