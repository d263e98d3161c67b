package main

// The command side of the configuration's security rules: --listen held to
// the same loopback rule as the file, the forward-mode password handed to
// intercept, the warning a remote listener logs, and files the config names
// placed at their key when they fail at use. The file's own rules are tested in package config.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/intercept"
)

const okProvider = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"

// TestSecurityListenFlagNeedsAllowRemote guards the same rule for
// `conduit proxy --listen`, which would otherwise bypass the file's check.
func TestSecurityListenFlagNeedsAllowRemote(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/conduit.toml"
	writeFile(t, path, okProvider+"[ledger]\npath = \""+dir+"/c.db\"\n[mitm]\nca_dir = \""+dir+"/ca\"\n")
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"-c", path, "proxy", "--listen", "0.0.0.0:0"}, strings.NewReader(""), &bytes.Buffer{}, &stderr, noEnv)
	if code != exitUsage || !strings.Contains(stderr.String(), "--listen 0.0.0.0:0 is not a loopback address") || !strings.Contains(stderr.String(), "allow_remote") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

// TestSecurityProxyAuth guards the credential handed to forward mode: the
// [server] user with the password's digest, none without a user, and the
// placed error when the password's variable is unset.
func TestSecurityProxyAuth(t *testing.T) {
	const pw = "correct horse battery staple"
	sum := sha256.Sum256([]byte(pw))
	env := func(k string) string {
		if k == "CONDUIT_PROXY_PASSWORD" {
			return pw
		}
		return ""
	}
	tests := []struct {
		name   string
		server string
		want   *intercept.ProxyAuth
		err    string
	}{
		{"none", "", nil, ""},
		{"env", "proxy_user = \"alice\"\nproxy_password_env = \"CONDUIT_PROXY_PASSWORD\"\n", &intercept.ProxyAuth{User: "alice", PasswordSHA256: sum}, ""},
		{"hash", "proxy_user = \"bob\"\nproxy_password_sha256 = \"" + hex.EncodeToString(sum[:]) + "\"\n", &intercept.ProxyAuth{User: "bob", PasswordSHA256: sum}, ""},
		{"env unset", "proxy_user = \"alice\"\nproxy_password_env = \"UNSET_VAR\"\n", nil, "conduit.toml:5: server.proxy_password_env: the environment variable UNSET_VAR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse(strings.NewReader(okProvider+"[server]\n"+tt.server), "conduit.toml", env)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := interceptProxyAuth(cfg.Server)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q…", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(auth, tt.want) {
				t.Errorf("interceptProxyAuth = %+v, %v; want %+v", auth, err, tt.want)
			}
		})
	}
}

// TestSecurityWarnRemote guards the startup warning of a listener beyond
// loopback: louder without a proxy password; silent on loopback.
func TestSecurityWarnRemote(t *testing.T) {
	tests := []struct {
		addr string
		auth bool
		want string
	}{
		{"127.0.0.1:8080", false, ""},
		{"0.0.0.0:8080", false, "with no proxy password: anyone who can reach this port can use Conduit as a proxy to any host"},
		{"0.0.0.0:8080", true, "forward mode asks for the proxy_user password"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		warnRemote(slog.New(slog.NewTextHandler(&buf, nil)), tt.addr, tt.auth)
		if tt.want == "" && buf.Len() != 0 || tt.want != "" && (!strings.Contains(buf.String(), tt.want) || !strings.Contains(buf.String(), "level=WARN")) {
			t.Errorf("%s auth %v: %q", tt.addr, tt.auth, buf.String())
		}
	}
}

// TestFaultConfigFilesCheckedAtUse guards the values only checked when the
// proxy uses them — files they name: the error still says file, line and
// key.
func TestFaultConfigFilesCheckedAtUse(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.pem"
	writeFile(t, bad, "not a certificate\n")
	tests := []struct {
		name, table string
		use         func(*config.Config) error
		want        string
	}{
		{"ca_file not PEM", "[upstream]\nca_file = \"" + bad + "\"\n", func(c *config.Config) error { _, err := upstreamOptions(c); return err }, "conduit.toml:4: [upstream] ca_file: no PEM certificate"},
		{"ca_file missing", "[upstream]\nca_file = \"" + bad + ".gone\"\n", func(c *config.Config) error { _, err := upstreamOptions(c); return err }, "conduit.toml:4: [upstream] ca_file: open"},
		{"ca_dir a file", "[mitm]\nca_dir = \"" + bad + "\"\n", func(c *config.Config) error { _, err := loadCA(c); return err }, "conduit.toml:4: [mitm] ca_dir: load the local CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse(strings.NewReader(okProvider+tt.table), "conduit.toml", noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.use(cfg); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want %q…", err, tt.want)
			}
		})
	}
}
