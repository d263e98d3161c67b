package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/parsers"
)

// The two ways a tool's calls reach Conduit (conduit env --mode, conduit
// run --mode).
const (
	modeBaseURL = "base-url"
	modeProxy   = "proxy"
)

func parseClientMode(cmd, s string) (string, error) {
	switch s {
	case modeBaseURL, modeProxy:
		return s, nil
	case "baseurl", "base_url", "base":
		return modeBaseURL, nil
	case "forward", "https_proxy":
		return modeProxy, nil
	}
	return "", usageErrorf("%s: --mode must be %s or %s, not %q", cmd, modeProxy, modeBaseURL, s)
}

// clientVar is one environment variable for a client tool, or a comment
// line (Name empty) that only `conduit env` prints.
type clientVar struct {
	Name, Value string
	Comment     string // why it is there, printed above it
}

// clientEnvResult is what a client needs: the variables, and warnings for
// the user (printed on stderr, never into the shell snippet).
type clientEnvResult struct {
	Vars     []clientVar
	Warnings []string
	BaseURL  string // http://<listen>, as the client reaches it
	// NodePreload is the path of the Node.js preload NODE_OPTIONS loads;
	// "" when it is not set (base-URL mode, no CA).
	NodePreload string
}

// clientAddr is the listen address as a local client dials it: an
// unspecified host becomes loopback.
func clientAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if err == nil && ip.Is6() {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

// clientEnv builds the variables that send a tool's calls to the proxy at
// addr (host:port, as a client dials it), attributed as attr says (nothing
// when it is zero). In proxy mode it loads the CA and (re)writes the
// combined trust bundle and the Node.js preload beside it, so that both
// always hold what this binary expects.
func clientEnv(cfg *config.Config, addr, mode string, getenv func(string) string, attr intercept.Attribution) (clientEnvResult, error) {
	res := clientEnvResult{BaseURL: "http://" + addr}
	if mode == modeBaseURL {
		return res, baseURLEnv(cfg, &res, attr)
	}
	return res, proxyEnv(cfg, getenv, &res, attr)
}

// proxyAddr returns the address clients reach the proxy at, and how it was
// found: --listen (listenFlag) when given, else the address of the proxy
// running on the config's ledger (its state file), else the config's
// listen. A port 0 is never returned: it means "a free port, chosen when
// the proxy starts", which no client can dial.
func proxyAddr(cfg *config.Config, listenFlag string) (addr string, from string, err error) {
	switch st := runningProxy(cfg.Ledger.Path); {
	case listenFlag != "":
		addr, from = clientAddr(normalizeListen(listenFlag)), "--listen"
	case st != nil:
		addr, from = clientAddr(st.Addr), fmt.Sprintf("the proxy running on %s (%s)", cfg.Ledger.Path, st.describe())
	default:
		addr, from = clientAddr(cfg.Listen), cfg.Pos("listen")
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return "", "", usageErrorf("%q is not a host:port address (%s)", addr, from)
	} else if port == "0" {
		if listenFlag != "" {
			return "", "", usageErrorf("--listen %s: port 0 is not an address a client can reach: give the port the proxy listens on", listenFlag)
		}
		return "", "", fmt.Errorf("%s: listen = %q picks a free port when the proxy starts, and no proxy is running on the ledger %s: "+
			"start 'conduit -c %s proxy' first, or pass --listen with the port it listens on", cfg.Pos("listen"), cfg.Listen, cfg.Ledger.Path, cfg.Path)
	}
	return addr, from, nil
}

// normalizeListen reads a --listen value as the config's listen key does:
// ":8080" means 127.0.0.1:8080.
func normalizeListen(s string) string {
	if strings.HasPrefix(s, ":") {
		return "127.0.0.1" + s
	}
	return s
}

// proxyURL is the proxy address a forward-mode client is given: with the
// attribution in its user name (after [server] proxy_user, whose password
// comes from proxy_password_env when it is set here), or plain when attr is
// zero.
func proxyURL(cfg *config.Config, getenv func(string) string, res *clientEnvResult, attr intercept.Attribution) string {
	if attr.IsZero() {
		return res.BaseURL
	}
	u, _ := url.Parse(res.BaseURL)
	password := ""
	if s := cfg.Server; s.ProxyUser != "" {
		if s.PasswordEnv != "" {
			password = getenv(s.PasswordEnv)
		}
		if password == "" {
			how := "set " + s.PasswordEnv + " in this environment"
			if s.PasswordEnv == "" {
				how = "proxy_password_sha256 cannot give it back; set proxy_password_env instead"
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("the proxy asks forward-mode clients for %s's password, which Conduit cannot put in HTTPS_PROXY here: %s", s.ProxyUser, how))
		}
	}
	name := attr.ProxyUser(cfg.Server.ProxyUser)
	if password == "" {
		u.User = url.User(name)
	} else {
		u.User = url.UserPassword(name, password)
	}
	return u.String()
}

func proxyEnv(cfg *config.Config, getenv func(string) string, res *clientEnvResult, attr intercept.Attribution) error {
	add := func(name, value, comment string) {
		res.Vars = append(res.Vars, clientVar{Name: name, Value: value, Comment: comment})
	}
	proxy := proxyURL(cfg, getenv, res, attr)
	// Both spellings: curl reads only the lower-case http_proxy, Python
	// prefers the lower-case ones, and a user's own lower-case value must
	// not win over Conduit's.
	comment := "HTTPS calls go through Conduit: LLM hosts are recorded, the rest is tunnelled untouched"
	if !attr.IsZero() {
		comment += "; the user name attributes them (" + describeAttribution(attr) + "), and goes no further"
	}
	add("HTTPS_PROXY", proxy, comment)
	add("https_proxy", proxy, "")
	add("HTTP_PROXY", proxy, "plain http:// calls too (a model server on another machine); loopback stays direct")
	add("http_proxy", proxy, "")
	noProxy := mergeNoProxy(getenv("NO_PROXY"), getenv("no_proxy"))
	add("NO_PROXY", noProxy, "Conduit itself and local servers are reached directly (your own NO_PROXY entries are kept)")
	add("no_proxy", noProxy, "")
	add("NODE_USE_ENV_PROXY", "1", "Node.js (22.21+, 24.5+): make fetch honour the proxy variables")

	ca, err := loadCA(cfg)
	if err != nil {
		return err
	}
	if ca == nil {
		dir, _ := mitmCADir(cfg)
		res.Warnings = append(res.Warnings, fmt.Sprintf("no local CA in %s yet: calls go through Conduit but are tunnelled, not recorded; run 'conduit ca init' (then restart the proxy)", dir))
		return nil
	}
	// Only with a CA: without one nothing is recorded whichever way Node
	// goes, and nothing is written into a CA directory that does not exist.
	preload, err := writeNodePreload(ca.Dir())
	if err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%v: Node.js before 22.21 (and 24.0 to 24.4) will call providers directly, unrecorded", err))
	} else {
		res.NodePreload = preload
		add("NODE_OPTIONS", nodeOptions(getenv("NODE_OPTIONS"), preload), "Node.js that ignores NODE_USE_ENV_PROXY: Conduit's preload makes its fetch honour the proxy variables (your own NODE_OPTIONS are kept)")
	}
	vars, warnings := caTrustVars(ca)
	res.Warnings = append(res.Warnings, warnings...)
	for _, v := range vars {
		add(v.Name, v.Value, v.For)
	}
	return nil
}

// mergeNoProxy returns the user's NO_PROXY entries (either spelling) with
// localhost and 127.0.0.1 added, each once.
func mergeNoProxy(values ...string) string {
	var out []string
	for _, v := range append(values, "localhost,127.0.0.1") {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return strings.Join(out, ",")
}

// sdkBaseURL is the base URL to give an SDK for the provider p, through
// the Conduit at base (http://host:port): the route /<key>, plus what the
// SDK of p's format expects to find there. OpenAI-style SDKs want the API
// version in the base URL: /v1, unless the upstream's own path ends in a
// version already (https://example.com/v1), and Gemini's OpenAI-compatible
// endpoint its /v1beta/openai. The Anthropic, Gemini and Ollama SDKs add
// their paths themselves. This is the one home of that rule: `conduit env`
// prints it, and the proxy logs it at start.
func sdkBaseURL(base string, p *intercept.Provider) string {
	route := base + "/" + p.Key
	if p.API != parsers.OpenAI {
		return route
	}
	switch {
	case apiVersionPath.MatchString(p.Upstream.Path):
		return route
	case strings.EqualFold(p.Upstream.Hostname(), "generativelanguage.googleapis.com") && p.Upstream.Path == "":
		return route + "/v1beta/openai"
	}
	return route + "/v1"
}

// apiVersionPath matches an upstream path that ends in an API version: /v1,
// /v1beta, /v1beta/openai, /api/v2.
var apiVersionPath = regexp.MustCompile(`/v[0-9]+[a-z0-9]*(/openai)?$`)

// sdkHint names what reads a provider's base URL, by format.
func sdkHint(api parsers.API) string {
	switch api {
	case parsers.OpenAI:
		return "OPENAI_BASE_URL for OpenAI SDKs"
	case parsers.Anthropic:
		return "ANTHROPIC_BASE_URL for Anthropic SDKs, which add /v1"
	case parsers.Gemini:
		return "GOOGLE_GEMINI_BASE_URL for Google Gen AI SDKs"
	case parsers.Ollama:
		return "OLLAMA_HOST for the ollama Python and JS clients"
	}
	return ""
}

// baseURLEnv sets the SDKs' base-URL variables: OPENAI_BASE_URL for an
// OpenAI-format provider (the one for api.openai.com, else the one named
// openai, else the first), ANTHROPIC_BASE_URL and GOOGLE_GEMINI_BASE_URL
// likewise, and a comment line for every other provider.
func baseURLEnv(cfg *config.Config, res *clientEnvResult, attr intercept.Attribution) error {
	providers, err := interceptProviders(cfg.Providers)
	if err != nil {
		return err
	}
	type sdkVar struct {
		api   parsers.API
		name  string
		host  string // preferred upstream host
		key   string // preferred key
		sdk   string
		chose *intercept.Provider
	}
	vars := []*sdkVar{
		{api: parsers.OpenAI, name: "OPENAI_BASE_URL", host: "api.openai.com", key: "openai", sdk: "OpenAI SDKs (Python, JS, Go), Codex CLI, LiteLLM"},
		{api: parsers.Anthropic, name: "ANTHROPIC_BASE_URL", host: "api.anthropic.com", key: "anthropic", sdk: "Anthropic SDKs, Claude Code"},
		{api: parsers.Gemini, name: "GOOGLE_GEMINI_BASE_URL", host: "generativelanguage.googleapis.com", key: "gemini", sdk: "Google Gen AI SDKs (@google/genai, google-genai), Gemini CLI"},
	}
	score := func(v *sdkVar, p *intercept.Provider) int {
		switch {
		case strings.EqualFold(p.Upstream.Hostname(), v.host):
			return 2
		case p.Key == v.key:
			return 1
		}
		return 0
	}
	for i := range providers {
		p := &providers[i]
		for _, v := range vars {
			if p.API == v.api && (v.chose == nil || score(v, p) > score(v, v.chose)) {
				v.chose = p
			}
		}
	}
	// The attribution segment goes before the provider key; Conduit
	// strips it.
	root := res.BaseURL + attr.PathPrefix()
	if !attr.IsZero() {
		res.Vars = append(res.Vars, clientVar{Comment: "calls are attributed to " + describeAttribution(attr) + " by the /@… segment of each base URL"})
	}
	for _, v := range vars {
		if v.chose != nil {
			res.Vars = append(res.Vars, clientVar{Name: v.name, Value: sdkBaseURL(root, v.chose),
				Comment: fmt.Sprintf("%s → %s (%s)", v.chose.Key, v.chose.Upstream, v.sdk)})
		}
	}
	for i := range providers {
		p := &providers[i]
		if slices.ContainsFunc(vars, func(v *sdkVar) bool { return v.chose == p }) {
			continue
		}
		var note string
		switch p.API {
		case parsers.OpenAI:
			note = fmt.Sprintf("%s → %s: OpenAI-compatible base URL %s", p.Key, p.Upstream, sdkBaseURL(root, p))
		case parsers.Ollama:
			note = fmt.Sprintf("%s → %s: Ollama base URL %s (%s)", p.Key, p.Upstream, sdkBaseURL(root, p), sdkHint(p.API))
		default:
			note = fmt.Sprintf("%s → %s: base URL %s", p.Key, p.Upstream, sdkBaseURL(root, p))
		}
		res.Vars = append(res.Vars, clientVar{Comment: note})
	}
	return nil
}

// describeAttribution is an attribution in words: "project web, session
// 20260105T143012-3fa9, tags a, b".
func describeAttribution(a intercept.Attribution) string {
	var parts []string
	if a.Project != "" {
		parts = append(parts, "project "+a.Project)
	}
	if a.Session != "" {
		parts = append(parts, "session "+a.Session)
	}
	if len(a.Tags) > 0 {
		parts = append(parts, "tags "+strings.Join(a.Tags, ", "))
	}
	return strings.Join(parts, ", ")
}
