package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/valohai/conduit/intercept"
)

// ServerConfig is the [server] table: who may reach the proxy.
type ServerConfig struct {
	// AllowRemote permits a listen address other than loopback. Without it
	// such an address is a config error: a forward proxy reachable from a
	// network is an open relay.
	AllowRemote bool
	// ProxyUser, when set, is the user name forward-mode clients must
	// authenticate as (Proxy-Authorization: Basic); "" asks for nothing.
	ProxyUser string
	// PasswordEnv is the environment variable the password was read from
	// ("" when proxy_password_sha256 gave its digest instead).
	PasswordEnv string
	// PasswordSHA256 is the SHA-256 of the password, from
	// proxy_password_sha256 or from PasswordEnv at load time. Nil while
	// PasswordEnv is unset: then ProxyAuth fails with passwordErr, so that
	// only the proxy — not `conduit report` in another shell — needs it.
	PasswordSHA256 *[32]byte
	passwordErr    error
}

// ProxyAuth returns the credential forward mode asks for, nil when none is
// configured, or an error (naming file, line and key) when the password's
// environment variable was not set.
func (s ServerConfig) ProxyAuth() (*intercept.ProxyAuth, error) {
	if s.ProxyUser == "" {
		return nil, nil
	}
	if s.PasswordSHA256 == nil {
		return nil, s.passwordErr
	}
	return &intercept.ProxyAuth{User: s.ProxyUser, PasswordSHA256: *s.PasswordSHA256}, nil
}

type fileServer struct {
	AllowRemote    *tBool   `toml:"allow_remote"`
	ProxyUser      *tString `toml:"proxy_user"`
	PasswordEnv    *tString `toml:"proxy_password_env"`
	PasswordSHA256 *tString `toml:"proxy_password_sha256"`
	// Password is refused, with advice: a proxy password belongs in the
	// environment or as a digest, never in a file that gets shared.
	Password *tString `toml:"proxy_password"`
}

// isLoopbackListen reports whether a listen address (host:port) binds only
// to this machine: a loopback IP or "localhost". A host name is taken as
// remote (it may resolve anywhere); so is an empty host or 0.0.0.0 / ::.
func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// remoteListenAdvice is what a config error or a startup warning about a
// listener beyond loopback says.
const remoteListenAdvice = "Conduit would be reachable from other machines, and its forward mode relays to any host. " +
	"Set allow_remote = true under [server] to mean it (and proxy_user with proxy_password_env to ask forward-mode clients for a password), " +
	`or listen on "127.0.0.1:<port>"`

func (v *validator) server(raw fileServer, listen string, getenv func(string) string) ServerConfig {
	var out ServerConfig
	if raw.AllowRemote != nil {
		out.AllowRemote = bool(*raw.AllowRemote)
	}
	if !out.AllowRemote && !isLoopbackListen(listen) {
		v.fail([]string{"listen"}, "%q is not a loopback address: %s", listen, remoteListenAdvice)
	}
	key := func(k string) []string { return []string{"server", k} }
	if raw.Password != nil {
		v.fail(key("proxy_password"), "a password is not kept in the config file: put it in an environment variable and name it with proxy_password_env, "+
			"or give its SHA-256 as proxy_password_sha256 (printf %%s 'the password' | sha256sum)")
	}
	if raw.ProxyUser != nil {
		out.ProxyUser = string(*raw.ProxyUser)
		if out.ProxyUser == "" || strings.ContainsAny(out.ProxyUser, ":\r\n") {
			v.fail(key("proxy_user"), "%q: a user name is not empty and has no colon or line break", out.ProxyUser)
		}
	}
	hasEnv, hasHash := raw.PasswordEnv != nil, raw.PasswordSHA256 != nil
	switch {
	case out.ProxyUser == "" && (hasEnv || hasHash):
		k := "proxy_password_env"
		if hasHash {
			k = "proxy_password_sha256"
		}
		v.fail(key(k), "a proxy password needs proxy_user, the user name clients send with it")
	case out.ProxyUser != "" && !hasEnv && !hasHash:
		v.fail(key("proxy_user"), "needs a password: proxy_password_env (the environment variable holding it) or proxy_password_sha256 (its SHA-256 in hex)")
	case hasEnv && hasHash:
		v.fail(key("proxy_password_sha256"), "give the password one way: proxy_password_env or proxy_password_sha256, not both")
	case hasHash:
		s := strings.ToLower(strings.TrimSpace(string(*raw.PasswordSHA256)))
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			v.fail(key("proxy_password_sha256"), "%q is not a SHA-256 in hex (64 characters; printf %%s 'the password' | sha256sum)", string(*raw.PasswordSHA256))
			break
		}
		var sum [32]byte
		copy(sum[:], b)
		out.PasswordSHA256 = &sum
	case hasEnv:
		out.PasswordEnv = string(*raw.PasswordEnv)
		if out.PasswordEnv == "" || strings.ContainsAny(out.PasswordEnv, "=\x00") {
			v.fail(key("proxy_password_env"), "%q is not an environment variable name", out.PasswordEnv)
			break
		}
		if pw := getenv(out.PasswordEnv); pw != "" {
			sum := sha256.Sum256([]byte(pw))
			out.PasswordSHA256 = &sum
		} else {
			out.passwordErr = &ConfigError{File: v.file, Line: v.loc.line(key("proxy_password_env")), Key: "server.proxy_password_env",
				Msg: fmt.Sprintf("the environment variable %s that holds the proxy password is not set", out.PasswordEnv)}
		}
	}
	return out
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

// warnRemote logs, at start, what a listener beyond loopback exposes.
func warnRemote(logger *slog.Logger, addr string, auth bool) {
	if isLoopbackListen(addr) {
		return
	}
	if auth {
		logger.Warn("listening on " + addr + ", reachable from other machines ([server] allow_remote): forward mode asks for the proxy_user password; " +
			"base-URL routes and /health answer anyone who can reach this port")
		return
	}
	logger.Warn("listening on " + addr + ", reachable from other machines ([server] allow_remote) with no proxy password: " +
		"anyone who can reach this port can use Conduit as a proxy to any host. Set proxy_user and proxy_password_env under [server], or listen on 127.0.0.1")
}

// pos places a key of the config file for an error found only when its
// value is used (a file it names cannot be read): "file:line", or the file
// alone when the key is not in it.
func (c *Config) pos(key ...string) string {
	if n := c.loc.line(key); n > 0 {
		return fmt.Sprintf("%s:%d", c.Path, n)
	}
	return c.Path
}
