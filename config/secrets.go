package config

import "strings"

// SecretKeys returns the keys of the file that hold a secret — the Valohai
// LLM API key, the proxy password's digest, OpenTelemetry headers (they
// carry collectors' API keys), the alert webhook URL, an upstream proxy URL
// with a password — as dotted paths in file order of this list, or nil.
// Only keys written in the file count: a secret from the environment is
// not the file's to protect.
func (c *Config) SecretKeys() []string {
	var out []string
	for _, k := range [][]string{
		{"valohai-llm", "api_key"},
		{"server", "proxy_password_sha256"},
		{"otel", "headers"},
		{"alerts", "webhook"},
	} {
		if keyLine(c.src, k) > 0 {
			out = append(out, strings.Join(k, "."))
		}
	}
	if p := c.Upstream.Proxy; p != nil && p.User != nil {
		if _, ok := p.User.Password(); ok {
			out = append(out, "upstream.proxy")
		}
	}
	return out
}
