package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// RemoteListenAdvice is what a config error or a startup warning about a
// listener beyond loopback says.
const RemoteListenAdvice = "Conduit would be reachable from other machines, and its forward mode relays to any host. " +
	"Set allow_remote = true under [server] to mean it (and proxy_user with proxy_password_env to ask forward-mode clients for a password), " +
	`or listen on "127.0.0.1:<port>"`

// IsLoopbackListen reports whether a listen address (host:port) binds only
// to this machine: a loopback IP or "localhost". A host name is taken as
// remote (it may resolve anywhere); so is an empty host or 0.0.0.0 / ::.
func IsLoopbackListen(addr string) bool {
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

// server checks the [server] table, and listen against it: a listener
// beyond loopback only when allow_remote says so, and the proxy password
// never in the file.
func (v *validator) server(raw fileServer, listen string, getenv func(string) string) Server {
	var out Server
	if raw.AllowRemote != nil {
		out.AllowRemote = bool(*raw.AllowRemote)
	}
	if !out.AllowRemote && !IsLoopbackListen(listen) {
		v.fail([]string{"listen"}, "%q is not a loopback address: %s", listen, RemoteListenAdvice)
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
			out.passwordErr = v.errorAt(key("proxy_password_env"),
				fmt.Sprintf("the environment variable %s that holds the proxy password is not set", out.PasswordEnv))
		}
	}
	out.AllowedHosts = v.allowedHosts(raw.AllowedHosts)
	out.AllowedOrigins = v.allowedOrigins(raw.AllowedOrigins)
	return out
}

// allowedHosts checks [server] allowed_hosts: host names or addresses,
// without scheme or port (the Host check ignores the port).
func (v *validator) allowedHosts(raw *tStringList) []string {
	if raw == nil {
		return nil
	}
	key := []string{"server", "allowed_hosts"}
	out := make([]string, 0, len(*raw))
	for _, h := range *raw {
		host := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			out = append(out, ip.Unmap().String())
			continue
		}
		if host == "" || strings.ContainsAny(host, "/@ \t*") {
			v.fail(key, "%q is not a host name or address (e.g. \"conduit.internal\" or \"10.0.0.5\")", h)
			return nil
		}
		if _, _, err := net.SplitHostPort(host); err == nil {
			v.fail(key, "%q: a host name without a port (the Host check ignores ports)", h)
			return nil
		}
		if strings.ContainsAny(host, "/:@ \t*") {
			v.fail(key, "%q is not a host name or address (e.g. \"conduit.internal\" or \"10.0.0.5\")", h)
			return nil
		}
		out = append(out, host)
	}
	return out
}

// allowedOrigins checks [server] allowed_origins: browser origins, exactly
// scheme://host[:port] as browsers send them in Origin.
func (v *validator) allowedOrigins(raw *tStringList) []string {
	if raw == nil {
		return nil
	}
	out := make([]string, 0, len(*raw))
	for _, o := range *raw {
		s := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(o)), "/")
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(u.Host, "*") {
			v.fail([]string{"server", "allowed_origins"}, "%q is not an origin: scheme://host[:port] as a browser sends it (e.g. \"https://app.example.com\"), without path or wildcard", o)
			return nil
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out
}
