package intercept

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// router resolves base-URL calls: /<key>/<rest> goes to that provider's
// upstream as <upstream>/<rest>.
type router struct {
	providers map[string]*Provider
	keys      []string   // sorted, for errors
	self      *selfAddrs // a provider whose upstream is Conduit would make every call loop
}

func newRouter(providers []Provider, self *selfAddrs) (*router, error) {
	r := &router{providers: make(map[string]*Provider, len(providers)), self: self}
	for i := range providers {
		p := &providers[i]
		if p.Upstream == nil {
			return nil, fmt.Errorf("intercept: provider %q has no upstream", p.Key)
		}
		if _, dup := r.providers[p.Key]; dup {
			return nil, fmt.Errorf("intercept: provider %q configured twice", p.Key)
		}
		r.providers[p.Key] = p
		r.keys = append(r.keys, p.Key)
	}
	slices.Sort(r.keys)
	return r, nil
}

// route returns where an origin-form request goes, and whom it is for
// (the attribution segment before the provider key, which never reaches
// the upstream). When it can go nowhere
// (no such provider, a bad path, an upstream that is Conduit itself), route
// answers the client with the error and returns false.
func (rt *router) route(w http.ResponseWriter, r *http.Request) (target, bool) {
	attr, path, _, attrErr := pathAttribution(r.URL.EscapedPath())
	key, rest := splitProviderPath(path)
	p := rt.providers[key]
	if attrErr != nil {
		var api parsers.API
		if p != nil {
			api = p.API
		}
		writeError(w, api, http.StatusBadRequest, typeBadRequest,
			fmt.Sprintf("conduit: the attribution segment of the base URL is malformed: %v; it looks like http://%s/@project=<name>+session=<id>/<provider>/…", attrErr, r.Host), nil)
		return target{}, false
	}
	if p == nil {
		msg := fmt.Sprintf("conduit: no provider %q is configured; base URLs look like http://%s/<provider>/… with <provider> one of: %s",
			key, r.Host, strings.Join(rt.keys, ", "))
		if key == "" {
			msg = fmt.Sprintf("conduit: this is Conduit; base URLs look like http://%s/<provider>/… with <provider> one of: %s",
				r.Host, strings.Join(rt.keys, ", "))
		}
		writeError(w, "", http.StatusNotFound, typeUnknownProvider, msg, map[string]any{"known_providers": rt.keys})
		return target{}, false
	}
	if hasDotSegment(r.URL.Path) {
		writeError(w, p.API, http.StatusBadRequest, typeBadRequest, "conduit: the path may not contain . or .. segments", nil)
		return target{}, false
	}
	u, err := upstreamURL(p.Upstream, rest, r.URL.RawQuery)
	if err != nil {
		writeError(w, p.API, http.StatusBadRequest, typeBadRequest, "conduit: "+err.Error(), nil)
		return target{}, false
	}
	if host, port := splitAuthority(u.Host, defaultPort(u.Scheme)); rt.self.is(host, port, r) {
		writeError(w, p.API, http.StatusLoopDetected, typeLoop,
			fmt.Sprintf("conduit: provider %q has Conduit's own address %s as its upstream: the call would come back here, again and again", key, p.Upstream.Host), nil)
		return target{}, false
	}
	return target{provider: p, mode: ledger.ModeBaseURL, url: u, attr: attr}, true
}

// splitProviderPath splits "/key/rest…" into "key" and "/rest…".
func splitProviderPath(escaped string) (key, rest string) {
	s := strings.TrimPrefix(escaped, "/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// hasDotSegment reports a "." or ".." segment in a decoded path: the router
// forwards paths as sent, and must not let one climb out of the upstream's
// base path. A backslash counts as a separator too, as some servers take
// it for one.
func hasDotSegment(path string) bool {
	for seg := range strings.FieldsFuncSeq(path, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// upstreamURL appends the escaped rest of the path (as the client sent it)
// and the raw query to the provider's upstream.
func upstreamURL(base *url.URL, rest, rawQuery string) (*url.URL, error) {
	u := *base
	escaped := strings.TrimRight(base.EscapedPath(), "/") + rest
	if escaped == "" {
		escaped = "/"
	}
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("bad path escape: %w", err)
	}
	u.Path = decoded
	u.RawPath = ""
	if escaped != u.EscapedPath() {
		u.RawPath = escaped
	}
	u.RawQuery = rawQuery
	return &u, nil
}
