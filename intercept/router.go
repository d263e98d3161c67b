package intercept

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/valohai/conduit/ledger"
)

// router serves origin-form requests: /health, /metrics, and /<key>/<rest>
// forwarded to that provider's upstream as <upstream>/<rest>.
type router struct {
	providers map[string]*Provider
	keys      []string // sorted, for errors
	capture   *capture
	metrics   http.Handler // nil: /metrics is off
	// isSelf reports an address that is Conduit's own (the forwarder's
	// check): a provider whose upstream it is would make every call loop.
	isSelf func(host, port string, r *http.Request) bool
}

func newRouter(providers []Provider, c *capture) (*router, error) {
	r := &router{providers: make(map[string]*Provider, len(providers)), capture: c}
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

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "OK")
		return
	}
	if r.URL.Path == "/metrics" {
		if rt.metrics == nil {
			writeError(w, "", http.StatusNotFound, typeMetricsOff, "conduit: metrics are turned off in this Conduit's config", nil)
			return
		}
		rt.metrics.ServeHTTP(w, r)
		return
	}
	key, rest := splitProviderPath(r.URL.EscapedPath())
	p := rt.providers[key]
	if p == nil {
		msg := fmt.Sprintf("conduit: no provider %q is configured; base URLs look like http://%s/<provider>/… with <provider> one of: %s",
			key, r.Host, strings.Join(rt.keys, ", "))
		if key == "" {
			msg = fmt.Sprintf("conduit: this is Conduit; base URLs look like http://%s/<provider>/… with <provider> one of: %s",
				r.Host, strings.Join(rt.keys, ", "))
		}
		writeError(w, "", http.StatusNotFound, typeUnknownProvider, msg, map[string]any{"known_providers": rt.keys})
		return
	}
	if hasDotSegment(r.URL.Path) {
		writeError(w, p.API, http.StatusBadRequest, typeBadRequest, "conduit: the path may not contain . or .. segments", nil)
		return
	}
	u, err := upstreamURL(p.Upstream, rest, r.URL.RawQuery)
	if err != nil {
		writeError(w, p.API, http.StatusBadRequest, typeBadRequest, "conduit: "+err.Error(), nil)
		return
	}
	if host, port := splitAuthority(u.Host, defaultPort(u.Scheme)); rt.isSelf != nil && rt.isSelf(host, port, r) {
		writeError(w, p.API, http.StatusLoopDetected, typeLoop,
			fmt.Sprintf("conduit: provider %q has Conduit's own address %s as its upstream: the call would come back here, again and again", key, p.Upstream.Host), nil)
		return
	}
	resp := rt.capture.roundTrip(r, target{provider: p, mode: ledger.ModeBaseURL, url: u})
	writeResponse(w, resp)
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

// writeResponse sends resp to the client and closes its body. An upstream
// read error after the headers went out aborts the client's connection, so
// the client sees the same cut it would have seen without Conduit.
func writeResponse(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	if t, ok := resp.Body.(*tap); ok && t.call.streamsRequestBody {
		// The request body may still be streaming upstream when the
		// response starts (an early answer to an upload): without full
		// duplex, Go's HTTP/1 server would swallow the rest of it, and the
		// provider would get a silently truncated body. (Not for answers
		// Conduit gives before reading a body: there Go's server must
		// drain it so the client can read the answer.)
		http.NewResponseController(w).EnableFullDuplex()
	}
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	if resp.ContentLength < 0 {
		h.Del("Content-Length")
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	if resp.ContentLength < 0 {
		// A stream's headers go out as the provider sent them: its first
		// event may be long in coming. (A client already gone shows at the
		// first write.)
		_ = rc.Flush()
	}
	n, err := io.Copy(w, resp.Body)
	var cwe clientWriteError
	if err != nil && !errors.As(err, &cwe) {
		if n == 0 {
			// The provider's headers came, then a broken body: the client
			// sees the same, not a connection closed without a response.
			_ = rc.Flush()
		}
		panic(http.ErrAbortHandler)
	}
}
