package intercept

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/valohai/conduit/parsers"
)

// Conduit's own error types for requests refused as coming from a browser
// page or under a foreign Host.
const (
	typeHostRefused      = "conduit_host_refused"
	typeCrossSiteRefused = "conduit_cross_site_refused"
)

// preflightMaxAge is how long a browser may cache an allowed preflight.
const preflightMaxAge = "600"

// originGuard decides whether an origin-form request comes from a client
// Conduit serves. Two things it refuses: a Host that is not a name Conduit
// answers to — a web page whose name was rebound to 127.0.0.1 sends its
// own name — and a browser page of another site, which any page can make
// send a simple POST to 127.0.0.1 without a preflight. SDKs and agents
// send Conduit's own address as Host and no Origin or Sec-Fetch-Site, so
// they are never refused.
type originGuard struct {
	self    *selfAddrs
	names   map[string]bool // host names and addresses allowed besides local ones
	origins map[string]bool // scheme://host[:port], lower case
	// remote: the listener reaches beyond loopback, so this machine's
	// host name is one clients may use.
	remote bool
}

func newOriginGuard(self *selfAddrs, hosts, origins []string) *originGuard {
	g := &originGuard{self: self, names: map[string]bool{"localhost": true}, origins: map[string]bool{}}
	for _, h := range hosts {
		g.names[normalizeHost(h)] = true
	}
	for _, o := range origins {
		g.origins[strings.TrimSuffix(strings.ToLower(o), "/")] = true
	}
	for _, a := range self.listen {
		g.names[a.host] = true
		if !a.ip.IsValid() || !a.ip.IsLoopback() {
			g.remote = true
		}
	}
	if g.remote {
		if name, err := os.Hostname(); err == nil {
			g.names[normalizeHost(name)] = true
		}
	}
	return g
}

// allowsHost reports whether host (a Host header, port optional) names
// Conduit: localhost, a loopback or local interface address, the address
// the request came in on, a listen host, or an allowed name.
func (g *originGuard) allowsHost(host string, r *http.Request) bool {
	if host == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	name, _ := splitAuthority(host, "")
	if g.names[name] {
		return true
	}
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	if ip.IsLoopback() || g.self.localIPs()[ip] {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}

// check refuses r, answering the client, unless it may be served; it
// answers an allowed CORS preflight itself. It returns whether r goes on.
func (g *originGuard) check(w http.ResponseWriter, r *http.Request, api parsers.API) bool {
	if !g.allowsHost(r.Host, r) {
		writeError(w, api, http.StatusForbidden, typeHostRefused, fmt.Sprintf(
			"conduit: refusing a request for Host %q: Conduit answers to localhost, its own addresses and [server] allowed_hosts only (a browser page whose name was pointed at this machine sends its own name)", r.Host), nil)
		return false
	}
	origin := strings.ToLower(r.Header.Get("Origin"))
	site := strings.ToLower(r.Header.Get("Sec-Fetch-Site"))
	allowed := origin != "" && g.origins[origin]
	preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
	switch {
	case allowed && preflight:
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		h.Set("Access-Control-Allow-Methods", r.Header.Get("Access-Control-Request-Method"))
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			h.Set("Access-Control-Allow-Headers", rh)
		}
		h.Set("Access-Control-Max-Age", preflightMaxAge)
		h.Add("Vary", "Origin")
		w.WriteHeader(http.StatusNoContent)
		return false
	case allowed:
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Add("Vary", "Origin")
		return true
	case origin != "":
		writeError(w, api, http.StatusForbidden, typeCrossSiteRefused, fmt.Sprintf(
			"conduit: refusing a browser request from the page at %s: only [server] allowed_origins may call Conduit from a browser", r.Header.Get("Origin")), nil)
		return false
	case site == "cross-site" || site == "same-site":
		writeError(w, api, http.StatusForbidden, typeCrossSiteRefused, fmt.Sprintf(
			"conduit: refusing a %s browser request (Sec-Fetch-Site): only [server] allowed_origins may call Conduit from a browser", site), nil)
		return false
	}
	return true
}

// apiFor is the API of the provider an origin-form path names, "" when it
// names none: the shape of an error answered before routing.
func (rt *router) apiFor(r *http.Request) parsers.API {
	_, path, _, _ := pathAttribution(r.URL.EscapedPath())
	key, _ := splitProviderPath(path)
	if p := rt.providers[key]; p != nil {
		return p.API
	}
	return ""
}
