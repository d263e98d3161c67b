package intercept

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Attribution says whom a call is for: its project, the session (one run
// of an agent) it belongs to, and tags to add. `conduit run` puts it where
// every client already lets a URL through unchanged, so no client code
// changes, and Conduit strips it before anything goes upstream:
//
//   - base-URL mode: a first path segment "@" + attributes, before the
//     provider key (which never starts with "@"):
//     http://127.0.0.1:8080/@project=web+session=20260105T143012-3fa9/openai/v1
//   - forward mode: the proxy user name, as "<user>+" + attributes, where
//     <user> is [server] proxy_user when one is set (its password is still
//     checked) and any name otherwise:
//     HTTPS_PROXY=http://conduit+project=web+session=20260105T143012-3fa9:x@127.0.0.1:8080
//
// Attributes are key=value pairs joined by "+": project and session at
// most once each, tag any number of times. Values are percent-encoded (all
// but A-Z a-z 0-9 - . _ ~ as %XX of their UTF-8). Clients decode a proxy
// URL's user name once before sending it, so there a value's "%" is itself
// written "%25"; Attribution.ProxyURLUser and url.UserPassword do that.
type Attribution struct {
	Project string
	Session string
	Tags    []string
}

// Limits on an attribution, so that a URL cannot carry an unbounded one
// into every record.
const (
	maxAttrValue = 200
	maxAttrTags  = 32
)

// IsZero reports whether a attributes nothing.
func (a Attribution) IsZero() bool { return a.Project == "" && a.Session == "" && len(a.Tags) == 0 }

// Encode returns the attributes as the grammar above writes them:
// "project=web+session=s1+tag=team%3Asearch".
func (a Attribution) Encode() string {
	var parts []string
	if a.Project != "" {
		parts = append(parts, "project="+attrEscape(a.Project))
	}
	if a.Session != "" {
		parts = append(parts, "session="+attrEscape(a.Session))
	}
	for _, t := range a.Tags {
		parts = append(parts, "tag="+attrEscape(t))
	}
	return strings.Join(parts, "+")
}

// PathPrefix is the base-URL mode prefix, "/@" + Encode(), or "" when a
// is zero.
func (a Attribution) PathPrefix() string {
	if a.IsZero() {
		return ""
	}
	return "/@" + a.Encode()
}

// ProxyUser is the forward-mode proxy user name carrying a: user (the
// configured proxy_user, or "conduit" when "" is given) + "+" + Encode().
// Put it in a URL with url.UserPassword, which escapes it once more.
func (a Attribution) ProxyUser(user string) string {
	if user == "" {
		user = "conduit"
	}
	if a.IsZero() {
		return user
	}
	return user + "+" + a.Encode()
}

// Check reports a value the grammar cannot carry: too long, too many
// tags, not UTF-8, or a control character.
func (a Attribution) Check() error {
	check := func(what, v string) error {
		switch {
		case len(v) > maxAttrValue:
			return fmt.Errorf("%s is longer than %d bytes", what, maxAttrValue)
		case !utf8.ValidString(v):
			return fmt.Errorf("%s is not UTF-8", what)
		case strings.IndexFunc(v, unicode.IsControl) >= 0:
			return fmt.Errorf("%s has a control character", what)
		}
		return nil
	}
	if len(a.Tags) > maxAttrTags {
		return fmt.Errorf("more than %d tags", maxAttrTags)
	}
	errs := []error{check("the project", a.Project), check("the session", a.Session)}
	for _, t := range a.Tags {
		errs = append(errs, check("a tag", t))
	}
	return errors.Join(errs...)
}

// ParseAttribution parses attributes as Encode writes them.
func ParseAttribution(s string) (Attribution, error) {
	var a Attribution
	if s == "" {
		return a, errors.New("no attributes (want project=…, session=… or tag=…, joined by +)")
	}
	for pair := range strings.SplitSeq(s, "+") {
		k, raw, ok := strings.Cut(pair, "=")
		if !ok || raw == "" {
			return Attribution{}, fmt.Errorf("%q is not key=value (want project=…, session=… or tag=…, joined by +)", pair)
		}
		v, err := attrUnescape(raw)
		if err != nil {
			return Attribution{}, fmt.Errorf("%s: %w", k, err)
		}
		switch k {
		case "project":
			if a.Project != "" {
				return Attribution{}, errors.New("project given twice")
			}
			a.Project = v
		case "session":
			if a.Session != "" {
				return Attribution{}, errors.New("session given twice")
			}
			a.Session = v
		case "tag":
			a.Tags = append(a.Tags, v)
		default:
			return Attribution{}, fmt.Errorf("unknown attribute %q (want project, session or tag)", k)
		}
	}
	return a, a.Check()
}

func attrUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func attrEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; attrUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func attrUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return "", fmt.Errorf("%q: a %% is not followed by two hex digits", s)
			}
			hi, lo := unhex(s[i+1]), unhex(s[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("%q: a %% is not followed by two hex digits", s)
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
		case attrUnreserved(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("%q: %q must be percent-encoded", s, c)
		}
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// proxyAttribution reads the attribution from a forward-mode request's
// proxy credential (see Attribution): the part of the Basic user name after
// user+"+" (user: the configured proxy_user), or after the first "+" when
// no proxy user is configured. No credential, or none with attributes, is
// no attribution.
func proxyAttribution(h http.Header, user string) (Attribution, error) {
	name, ok := basicUser(h)
	if !ok {
		return Attribution{}, nil
	}
	var attrs string
	if user != "" {
		rest, ok := strings.CutPrefix(name, user+"+")
		if !ok {
			return Attribution{}, nil
		}
		attrs = rest
	} else if _, rest, ok := strings.Cut(name, "+"); ok {
		attrs = rest
	} else {
		return Attribution{}, nil
	}
	return ParseAttribution(attrs)
}

// basicUser returns the user name of the first Basic Proxy-Authorization.
func basicUser(h http.Header) (string, bool) {
	for _, v := range h.Values("Proxy-Authorization") {
		scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
		if !ok || !strings.EqualFold(scheme, "Basic") {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			continue
		}
		if user, _, ok := strings.Cut(string(raw), ":"); ok {
			return user, true
		}
	}
	return "", false
}

// pathAttribution splits a base-URL path's attribution segment ("/@…",
// or "/%40…" from a client that escapes the @) from the rest of the
// escaped path. ok is false when there is none.
func pathAttribution(escaped string) (a Attribution, rest string, ok bool, err error) {
	s := strings.TrimPrefix(escaped, "/")
	var seg string
	switch {
	case strings.HasPrefix(s, "@"):
		seg = s[1:]
	case strings.HasPrefix(s, "%40"):
		seg = s[3:]
	default:
		return Attribution{}, escaped, false, nil
	}
	rest = ""
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, rest = seg[:i], seg[i:]
	}
	a, err = ParseAttribution(seg)
	return a, rest, true, err
}
