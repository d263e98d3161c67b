package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// defaultListen is the address when the file names none: loopback only.
const defaultListen = "127.0.0.1:8080"

// validator turns the decoded file into a Config, one method per table
// (validate_<table>.go), keeping the first problem.
type validator struct {
	file string
	src  []byte
	err  error
}

// fail records a problem with the key at path, placed at the key's line.
func (v *validator) fail(key []string, format string, args ...any) {
	if v.err != nil {
		return
	}
	v.err = v.errorAt(key, fmt.Sprintf(format, args...))
}

func (v *validator) errorAt(key []string, msg string) *Error {
	return &Error{File: v.file, Line: keyLine(v.src, key), Key: strings.Join(key, "."), Msg: msg}
}

func (v *validator) listen(s *tString) string {
	if s == nil {
		return defaultListen
	}
	addr := string(*s)
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		v.fail([]string{"listen"}, `%q is not a listen address (try "127.0.0.1:8080" or ":8080")`, string(*s))
	}
	return addr
}

// resolvePath expands a leading ~/ and makes p absolute against dir (the
// config file's directory).
func resolvePath(p, dir string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return p
}

// isListenAddr reports whether the URL u names the listen address (a
// loopback spelling of it included): a provider or proxy there would send
// Conduit's calls back into Conduit.
func isListenAddr(u *url.URL, listen string) bool {
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if port != lp {
		return false
	}
	loop := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified()))
	}
	h := strings.ToLower(u.Hostname())
	return h == strings.ToLower(lh) || (loop(h) && (lh == "" || loop(lh)))
}
