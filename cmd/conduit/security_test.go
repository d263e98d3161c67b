package main

// The configuration side of the security suite (issue 9): a listener beyond
// loopback only when [server] allow_remote says so, the forward-mode proxy
// password kept out of the file, a provider that is Conduit itself refused,
// and every key's invalid value reported with file, line and key.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const okProvider = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"

// TestSecurityListenNeedsAllowRemote guards the loopback default: a listen
// address that other machines can reach is a config error (at the listen
// line) unless [server] allow_remote = true.
func TestSecurityListenNeedsAllowRemote(t *testing.T) {
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
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Line != 1 || ce.Key != "listen" || !strings.Contains(err.Error(), "allow_remote") {
				t.Fatalf("want an error at conduit.toml:1 listen naming allow_remote, got %v", err)
			}
			if _, err := parse(t, "listen = \""+tt.listen+"\"\n"+okProvider+"[server]\nallow_remote = true\n"); err != nil {
				t.Fatalf("with allow_remote: %v", err)
			}
		})
	}
}

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

// TestSecurityProxyPasswordConfig guards [server] proxy_user and its
// password: from an environment variable or as a SHA-256, never in the
// file; every mistake names file, line and key.
func TestSecurityProxyPasswordConfig(t *testing.T) {
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
		needEnv bool // ProxyAuth fails: the variable is unset
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
			cfg, err := ParseConfig(strings.NewReader(src), "conduit.toml", env)
			if tt.want != "" {
				var ce *ConfigError
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
			auth, err := cfg.Server.ProxyAuth()
			switch {
			case tt.needEnv:
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Line != 6 || ce.Key != "server.proxy_password_env" || !strings.Contains(err.Error(), "UNSET_VAR") {
					t.Errorf("ProxyAuth with the variable unset: %v", err)
				}
			case tt.user == "":
				if auth != nil || err != nil {
					t.Errorf("ProxyAuth = %v, %v; want none", auth, err)
				}
			default:
				if err != nil || auth == nil || auth.User != tt.user || auth.PasswordSHA256 != sum {
					t.Errorf("ProxyAuth = %+v, %v", auth, err)
				}
			}
		})
	}
}

// TestSecurityProviderIsConduit guards against a provider whose upstream is
// Conduit's own listen address (in any loopback spelling): a config error
// at its upstream line.
func TestSecurityProviderIsConduit(t *testing.T) {
	for _, up := range []string{"http://127.0.0.1:9090", "http://localhost:9090/v1", "https://[::1]:9090"} {
		_, err := parse(t, "listen = \":9090\"\n[providers.self]\nupstream = \""+up+"\"\n")
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Line != 3 || ce.Key != "providers.self.upstream" || !strings.Contains(err.Error(), "loop") {
			t.Errorf("%s: %v", up, err)
		}
	}
	if _, err := parse(t, "listen = \":9090\"\n[providers.other]\nupstream = \"http://127.0.0.1:9091\"\n"); err != nil {
		t.Errorf("another local port: %v", err)
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

// leaf is one settable key of the file format.
type leaf struct {
	path []string
	typ  reflect.Type
}

var unmarshalerType = reflect.TypeFor[toml.Unmarshaler]()

// configLeaves walks the file format (fileConfig's toml tags) to every
// key that takes a value, naming map levels "x".
func configLeaves(t reflect.Type, prefix []string) []leaf {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return []leaf{{path: prefix, typ: t}}
	}
	switch t.Kind() {
	case reflect.Map:
		return configLeaves(t.Elem(), append(append([]string{}, prefix...), "x"))
	case reflect.Struct:
		var out []leaf
		for f := range t.Fields() {
			name := strings.Split(f.Tag.Get("toml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			out = append(out, configLeaves(f.Type, append(append([]string{}, prefix...), name))...)
		}
		return out
	}
	return nil
}

// wrongValue is a TOML value of the wrong type for each leaf type.
var wrongValue = map[string]string{
	"tString":     "42",
	"tBool":       `"maybe"`,
	"tDuration":   "30",
	"tRate":       `"cheap"`,
	"tStringList": "42",
	"tStringMap":  "42",
	"tInt":        `"many"`,
}

// TestFaultEveryConfigKeyWrongType guards "every invalid config value: a
// message with file, line and key" for every key the format has — found by
// walking the format itself, so a key added later is covered too: a value
// of the wrong type names the file, the line it is on, and the key.
func TestFaultEveryConfigKeyWrongType(t *testing.T) {
	leaves := configLeaves(reflect.TypeFor[fileConfig](), nil)
	if len(leaves) < 20 {
		t.Fatalf("walked only %d keys: %v", len(leaves), leaves)
	}
	for _, l := range leaves {
		key := strings.Join(l.path, ".")
		t.Run(key, func(t *testing.T) {
			val, ok := wrongValue[l.typ.Name()]
			if !ok {
				t.Fatalf("no wrong value for type %s: add one to wrongValue", l.typ.Name())
			}
			var src strings.Builder
			line := 0
			if len(l.path) == 1 {
				src.WriteString(l.path[0] + " = " + val + "\n")
				line = 1
			}
			src.WriteString("# a comment\n")
			if l.path[0] == "providers" {
				fmt.Fprintf(&src, "[providers.x]\n")
				if l.path[len(l.path)-1] != "upstream" {
					src.WriteString("upstream = \"https://api.openai.com\"\n")
				}
			} else {
				src.WriteString(okProvider)
				if len(l.path) > 1 {
					fmt.Fprintf(&src, "[%s]\n", quotedKey(l.path[:len(l.path)-1]))
				}
			}
			if len(l.path) > 1 {
				src.WriteString(l.path[len(l.path)-1] + " = " + val + "\n")
				line = strings.Count(src.String(), "\n")
			}
			_, err := ParseConfig(strings.NewReader(src.String()), "conduit.toml", noEnv)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%s = %s: got %v, want a ConfigError\n%s", key, val, err, src.String())
			}
			if ce.File != "conduit.toml" || ce.Line != line || (ce.Key != key && !strings.Contains(err.Error(), key)) {
				t.Errorf("%s = %s: %q does not name conduit.toml:%d and the key\n%s", key, val, err, line, src.String())
			}
		})
	}
}

func quotedKey(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = fmt.Sprintf("%q", p)
	}
	return strings.Join(parts, ".")
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
		use         func(*Config) error
		want        string
	}{
		{"ca_file not PEM", "[upstream]\nca_file = \"" + bad + "\"\n", func(c *Config) error { _, err := upstreamOptions(c); return err }, "conduit.toml:4: [upstream] ca_file: no PEM certificate"},
		{"ca_file missing", "[upstream]\nca_file = \"" + bad + ".gone\"\n", func(c *Config) error { _, err := upstreamOptions(c); return err }, "conduit.toml:4: [upstream] ca_file: open"},
		{"ca_dir a file", "[mitm]\nca_dir = \"" + bad + "\"\n", func(c *Config) error { _, err := loadCA(c); return err }, "conduit.toml:4: [mitm] ca_dir: load the local CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, okProvider+tt.table)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.use(cfg); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want %q…", err, tt.want)
			}
		})
	}
}
