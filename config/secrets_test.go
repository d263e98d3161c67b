package config

import (
	"slices"
	"testing"
)

// TestSecretKeys guards which keys make a config file secret: the ones
// written in it that hold a credential, and no others.
func TestSecretKeys(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"none", okProvider + "[mitm]\ntunnel_others = false\n", nil},
		{"api key", okProvider + "[valohai-llm]\napi_key = \"vk-1\"\n", []string{"valohai-llm.api_key"}},
		{"password digest", okProvider + "[server]\nproxy_user = \"a\"\nproxy_password_sha256 = \"" + zeros64 + "\"\n", []string{"server.proxy_password_sha256"}},
		{"otel headers, webhook", okProvider + "[otel]\nendpoint = \"http://c:4318\"\nheaders = { \"x-api-key\" = \"k\" }\n[alerts]\nwebhook = \"https://hooks.example/x\"\n", []string{"otel.headers", "alerts.webhook"}},
		{"proxy password", okProvider + "[upstream]\nproxy = \"http://u:pw@proxy:3128\"\n", []string{"upstream.proxy"}},
		{"proxy user only", okProvider + "[upstream]\nproxy = \"http://u@proxy:3128\"\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.SecretKeys(); !slices.Equal(got, tt.want) {
				t.Errorf("SecretKeys() = %q, want %q", got, tt.want)
			}
		})
	}
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"
