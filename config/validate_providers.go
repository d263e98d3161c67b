package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// providerKeyPattern keeps a provider key usable as one URL path segment.
var providerKeyPattern = regexp.MustCompile(`^[a-z0-9_-]+$`)

// knownAPIs are the wire formats [providers.<key>] api names.
var knownAPIs = []string{"openai", "anthropic", "gemini", "ollama", "bedrock"}

const reservedRouteNamesHint = "health and metrics are Conduit's own routes"

// providers checks the [providers.<key>] tables; keys (the file's keys, in
// order) gives them their file order, which the map loses.
func (v *validator) providers(raw map[string]fileProvider, keys []toml.Key) []Provider {
	var out []Provider
	for _, key := range providerKeys(keys) {
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
		prov := Provider{Key: key, Upstream: u, StreamUsage: StreamUsageInject}
		if p.API != nil {
			prov.API = string(*p.API)
			if !slices.Contains(knownAPIs, prov.API) {
				v.fail(append(path, "api"), "unknown api %q (use one of %s)", prov.API, strings.Join(knownAPIs, ", "))
			}
		}
		if p.StreamUsage != nil {
			prov.StreamUsage = string(*p.StreamUsage)
			if prov.StreamUsage != StreamUsageInject && prov.StreamUsage != StreamUsageOff {
				v.fail(append(path, "stream_usage"), `%q is not "inject" or "off"`, prov.StreamUsage)
			}
		}
		if p.Deployments != nil {
			prov.Deployments = make(map[string]string, len(*p.Deployments))
			for name, model := range *p.Deployments {
				if strings.TrimSpace(name) == "" || strings.TrimSpace(model) == "" {
					v.fail(append(path, "deployments"), "a deployment and its model must both be named, as { \"my-gpt\" = \"gpt-4o\" } (found %q = %q)", name, model)
					continue
				}
				prov.Deployments[name] = strings.TrimSpace(model)
			}
		}
		out = append(out, prov)
	}
	if len(out) == 0 && v.err == nil {
		v.err = &Error{File: v.file, Msg: "no providers configured: add at least one [providers.<key>] table with an upstream, e.g.\n\n" +
			"  [providers.openai]\n  upstream = \"https://api.openai.com\"\n"}
	}
	return out
}

// providerKeys returns the names of the [providers.<key>] tables in the
// order they first appear, whether as a [header], through a dotted key
// (providers.openai.upstream = …) or in an inline table.
func providerKeys(keys []toml.Key) []string { return tableNames(keys, "providers") }

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

// providersNotSelf refuses a provider whose upstream is Conduit's own
// listen address: every call to it would come back in, once per path
// segment.
func (v *validator) providersNotSelf(providers []Provider, listen string) {
	for _, p := range providers {
		if p.Upstream != nil && isListenAddr(p.Upstream, listen) {
			v.fail([]string{"providers", p.Key, "upstream"}, "%q is Conduit's own listen address %s: calls would loop through Conduit", p.Upstream.String(), listen)
		}
	}
}
