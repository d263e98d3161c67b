package main

import (
	"fmt"
	"net"
	"net/netip"
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

// clientEnv builds the variables that send a tool's calls through
// Conduit. In proxy mode it loads the CA and (re)writes the combined trust
// bundle beside it, so the bundle always holds the current system roots.
func clientEnv(cfg *config.Config, mode string, getenv func(string) string) (clientEnvResult, error) {
	res := clientEnvResult{BaseURL: "http://" + clientAddr(cfg.Listen)}
	if mode == modeBaseURL {
		return res, baseURLEnv(cfg, &res)
	}
	return res, proxyEnv(cfg, getenv, &res)
}

func proxyEnv(cfg *config.Config, getenv func(string) string, res *clientEnvResult) error {
	add := func(name, value, comment string) {
		res.Vars = append(res.Vars, clientVar{Name: name, Value: value, Comment: comment})
	}
	// Both spellings: curl reads only the lower-case http_proxy, Python
	// prefers the lower-case ones, and a user's own lower-case value must
	// not win over Conduit's.
	add("HTTPS_PROXY", res.BaseURL, "HTTPS calls go through Conduit: LLM hosts are recorded, the rest is tunnelled untouched")
	add("https_proxy", res.BaseURL, "")
	add("HTTP_PROXY", res.BaseURL, "plain http:// calls too (a model server on another machine); loopback stays direct")
	add("http_proxy", res.BaseURL, "")
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

// baseURLEnv sets the SDKs' base-URL variables: OPENAI_BASE_URL for an
// OpenAI-format provider (the one for api.openai.com, else the one named
// openai, else the first), ANTHROPIC_BASE_URL and GOOGLE_GEMINI_BASE_URL
// likewise, and a comment line for every other provider.
func baseURLEnv(cfg *config.Config, res *clientEnvResult) error {
	providers, err := interceptProviders(cfg.Providers)
	if err != nil {
		return err
	}
	type sdkVar struct {
		api   parsers.API
		name  string
		host  string // preferred upstream host
		key   string // preferred key
		path  string // appended to /<key>
		sdk   string
		chose *intercept.Provider
	}
	vars := []*sdkVar{
		{api: parsers.OpenAI, name: "OPENAI_BASE_URL", host: "api.openai.com", key: "openai", path: "/v1", sdk: "OpenAI SDKs (Python, JS, Go), Codex CLI, LiteLLM"},
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
	for _, v := range vars {
		if v.chose != nil {
			res.Vars = append(res.Vars, clientVar{Name: v.name, Value: res.BaseURL + "/" + v.chose.Key + v.path,
				Comment: fmt.Sprintf("%s → %s (%s)", v.chose.Key, v.chose.Upstream, v.sdk)})
		}
	}
	for i := range providers {
		p := &providers[i]
		if slices.ContainsFunc(vars, func(v *sdkVar) bool { return v.chose == p }) {
			continue
		}
		base := res.BaseURL + "/" + p.Key
		var note string
		switch p.API {
		case parsers.OpenAI:
			note = fmt.Sprintf("%s → %s: OpenAI-compatible base URL %s/v1", p.Key, p.Upstream, base)
		case parsers.Ollama:
			note = fmt.Sprintf("%s → %s: Ollama base URL %s (OLLAMA_HOST for the ollama Python and JS clients)", p.Key, p.Upstream, base)
		default:
			note = fmt.Sprintf("%s → %s: base URL %s", p.Key, p.Upstream, base)
		}
		res.Vars = append(res.Vars, clientVar{Comment: note})
	}
	return nil
}
