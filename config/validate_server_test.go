package config

// The configuration side of the security rules: a listener beyond loopback
// only when [server] allow_remote says so, the forward-mode proxy password
// kept out of the file, and a provider that is Conduit itself refused.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

const okProvider = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"

// TestSecurityListenNeedsAllowRemote guards the loopback default: a listen
// address that other machines can reach is a config error (at the listen
// line) unless [server] allow_remote = true.
func TestSecurityListenNeedsAllowRemote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen string
		remote bool
	}{
		{"127.0.0.1:8080", false},
		{":8080", false}, // means 127.0.0.1:8080
		{"localhost:8080", false},
		{"[::1]:8080", false},
		{"127.0.0.2:8080", false},
		{"0.0.0.0:8080", true},
		{"[::]:8080", true},
		{"192.168.1.10:8080", true},
		{"myhost.local:8080", true}, // a name may resolve anywhere
		{"[::ffff:10.0.0.1]:8080", true},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			_, err := parse(t, "listen = \""+tt.listen+"\"\n"+okProvider)
			if !tt.remote {
				if err != nil {
					t.Fatalf("loopback listen refused: %v", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != 1 || ce.Key != "listen" || !strings.Contains(err.Error(), "allow_remote") {
				t.Fatalf("want an error at conduit.toml:1 listen naming allow_remote, got %v", err)
			}
			if _, err := parse(t, "listen = \""+tt.listen+"\"\n"+okProvider+"[server]\nallow_remote = true\n"); err != nil {
				t.Fatalf("with allow_remote: %v", err)
			}
		})
	}
}

// TestSecurityProxyPasswordConfig guards [server] proxy_user and its
// password: from an environment variable or as a SHA-256, never in the
// file; every mistake names file, line and key.
func TestSecurityProxyPasswordConfig(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	sum := sha256.Sum256([]byte(pw))
	hexSum := hex.EncodeToString(sum[:])
	env := func(k string) string {
		if k == "CONDUIT_PROXY_PASSWORD" {
			return pw
		}
		return ""
	}
	tests := []struct {
		name    string
		server  string
		want    string // error substring ("" for none), after "conduit.toml:<line>: <key>: "
		line    int
		key     string
		user    string
		needEnv bool // PasswordDigest fails: the variable is unset
	}{
		{name: "none", server: "allow_remote = true\n"},
		{name: "env", server: "proxy_user = \"alice\"\nproxy_password_env = \"CONDUIT_PROXY_PASSWORD\"\n", user: "alice"},
		{name: "hash", server: "proxy_user = \"alice\"\nproxy_password_sha256 = \"" + strings.ToUpper(hexSum) + "\"\n", user: "alice"},
		{name: "env unset", server: "proxy_user = \"alice\"\nproxy_password_env = \"UNSET_VAR\"\n", user: "alice", needEnv: true},
		{name: "plaintext refused", server: "proxy_user = \"alice\"\nproxy_password = \"" + pw + "\"\n", want: "is not kept in the config file", line: 6, key: "server.proxy_password"},
		{name: "user without password", server: "proxy_user = \"alice\"\n", want: "needs a password", line: 5, key: "server.proxy_user"},
		{name: "password without user", server: "proxy_password_env = \"CONDUIT_PROXY_PASSWORD\"\n", want: "needs proxy_user", line: 5, key: "server.proxy_password_env"},
		{name: "both", server: "proxy_user = \"a\"\nproxy_password_env = \"X\"\nproxy_password_sha256 = \"" + hexSum + "\"\n", want: "one way", line: 7, key: "server.proxy_password_sha256"},
		{name: "short hash", server: "proxy_user = \"a\"\nproxy_password_sha256 = \"abc\"\n", want: "not a SHA-256", line: 6, key: "server.proxy_password_sha256"},
		{name: "user with colon", server: "proxy_user = \"a:b\"\nproxy_password_env = \"X\"\n", want: "no colon", line: 5, key: "server.proxy_user"},
		{name: "bad env name", server: "proxy_user = \"a\"\nproxy_password_env = \"A=B\"\n", want: "not an environment variable name", line: 6, key: "server.proxy_password_env"},
		{name: "allow_remote not a bool", server: "allow_remote = \"yes\"\n", want: "expected true or false", line: 5, key: "server.allow_remote"},
		{name: "unknown key", server: "proxy_usr = \"a\"\n", want: `did you mean "proxy_user"`, line: 5, key: "server.proxy_usr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "listen = \"127.0.0.1:8080\"\n" + okProvider + "[server]\n" + tt.server
			cfg, err := Parse(strings.NewReader(src), "conduit.toml", env)
			if tt.want != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Line != tt.line || ce.Key != tt.key || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want conduit.toml:%d %s: …%s…", err, tt.line, tt.key, tt.want)
				}
				if strings.Contains(err.Error(), pw) {
					t.Errorf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			digest, err := cfg.Server.PasswordDigest()
			switch {
			case tt.needEnv:
				var ce *Error
				if !errors.As(err, &ce) || ce.Line != 6 || ce.Key != "server.proxy_password_env" || !strings.Contains(err.Error(), "UNSET_VAR") {
					t.Errorf("PasswordDigest with the variable unset: %v", err)
				}
			case tt.user == "":
				if digest != nil || err != nil {
					t.Errorf("PasswordDigest = %v, %v; want none", digest, err)
				}
			default:
				if err != nil || digest == nil || *digest != sum || cfg.Server.ProxyUser != tt.user {
					t.Errorf("PasswordDigest = %x, %v; user %q", digest, err, cfg.Server.ProxyUser)
				}
			}
		})
	}
}

// TestSecurityProviderIsConduit guards against a provider whose upstream is
// Conduit's own listen address (in any loopback spelling): a config error
// at its upstream line.
func TestSecurityProviderIsConduit(t *testing.T) {
	t.Parallel()
	for _, up := range []string{"http://127.0.0.1:9090", "http://localhost:9090/v1", "https://[::1]:9090"} {
		_, err := parse(t, "listen = \":9090\"\n[providers.self]\nupstream = \""+up+"\"\n")
		var ce *Error
		if !errors.As(err, &ce) || ce.Line != 3 || ce.Key != "providers.self.upstream" || !strings.Contains(err.Error(), "loop") {
			t.Errorf("%s: %v", up, err)
		}
	}
	if _, err := parse(t, "listen = \":9090\"\n[providers.other]\nupstream = \"http://127.0.0.1:9091\"\n"); err != nil {
		t.Errorf("another local port: %v", err)
	}
}
