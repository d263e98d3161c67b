//go:build unix

package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valohai/conduit/config"
)

// TestWarnSecretPerms guards the start-up warning about a config that
// holds a secret and that other users can read: it names the file, the
// secret keys and the exact chmod; a private file, or one without secrets,
// gets no warning.
func TestWarnSecretPerms(t *testing.T) {
	const provider = "[providers.openai]\nupstream = \"https://api.openai.com\"\n"
	for _, tt := range []struct {
		name, dir, src string
		mode           os.FileMode
		want           []string // "" entries: no warning
	}{
		{"api key, world-readable", "conf", provider + "[valohai-llm]\napi_key = \"vk-secret\"\n", 0o644, []string{"valohai-llm.api_key", "mode 0644", "`chmod 600 "}},
		{"digest, group-readable", "conf", provider + "[server]\nproxy_user = \"a\"\nproxy_password_sha256 = \"" + strings.Repeat("0", 64) + "\"\n", 0o640, []string{"server.proxy_password_sha256", "`chmod 600 "}},
		{"path with a space", "my conf", provider + "[valohai-llm]\napi_key = \"vk-secret\"\n", 0o604, []string{"`chmod 600 '"}},
		{"private", "conf", provider + "[valohai-llm]\napi_key = \"vk-secret\"\n", 0o600, nil},
		{"no secret", "conf", provider, 0o644, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tt.dir)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "conduit.toml")
			writeFile(t, path, tt.src)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			warnSecretPerms(slog.New(slog.NewTextHandler(&logs, nil)), cfg)
			out := logs.String()
			if tt.want == nil {
				if out != "" {
					t.Errorf("unexpected warning: %s", out)
				}
				return
			}
			if !strings.Contains(out, "WARN") || !strings.Contains(out, path) || strings.Contains(out, "vk-secret") {
				t.Errorf("warning should name %s (and never the secret): %s", path, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("warning lacks %q: %s", w, out)
				}
			}
		})
	}
}
