package intercept

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
)

// selfAddrs knows Conduit's own addresses, so that nothing is forwarded or
// tunnelled back into Conduit: such a call would come back, again and
// again, until a limit ends it.
type selfAddrs struct {
	listen   []listenAddr
	localIPs func() map[netip.Addr]bool // the interfaces' addresses, read once on first use
}

type listenAddr struct {
	host string     // normalized
	ip   netip.Addr // invalid when host is a name
	port string
}

// newSelfAddrs parses the listen addresses (host:port; an empty host is
// every interface).
func newSelfAddrs(listen []string) (*selfAddrs, error) {
	s := &selfAddrs{localIPs: sync.OnceValue(interfaceIPs)}
	for _, a := range listen {
		h, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("intercept: listen address %q: %w", a, err)
		}
		la := listenAddr{host: normalizeHost(h), port: canonicalPort(port)}
		if la.host == "" {
			la.host = "0.0.0.0"
		}
		la.ip, _ = netip.ParseAddr(la.host)
		s.listen = append(s.listen, la)
	}
	return s, nil
}

func interfaceIPs() map[netip.Addr]bool {
	m := make(map[netip.Addr]bool)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return m
	}
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil {
			m[pfx.Addr().Unmap()] = true
		}
	}
	return m
}

// is reports whether host:port (as splitAuthority returns them) is one of
// Conduit's own addresses: a listen address, the address r arrived on (r
// may be nil), or — for a listener on all interfaces — localhost or any
// local interface address on the listen port. The port is compared as a
// number ("08080" is 8080), and an unspecified host (0.0.0.0, ::), which a
// connection takes to this machine, counts as local. Names are compared as
// spelled; what they resolve to is judged when dialled (isAddr).
func (s *selfAddrs) is(host, port string, r *http.Request) bool {
	port = canonicalPort(port)
	addrs := s.listen
	if r != nil {
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(la.String()); err == nil {
				ip := ap.Addr().Unmap()
				addrs = append(addrs[:len(addrs):len(addrs)], listenAddr{host: ip.String(), ip: ip, port: fmt.Sprint(ap.Port())})
			}
		}
	}
	hip, err := netip.ParseAddr(host)
	isIP := err == nil
	if isIP {
		hip = hip.Unmap()
	}
	loopback := host == "localhost" || (isIP && (hip.IsLoopback() || hip.IsUnspecified()))
	for _, a := range addrs {
		if a.port != port {
			continue
		}
		switch {
		case host == a.host:
			return true
		case !a.ip.IsValid():
		case a.ip.IsUnspecified() && (loopback || (isIP && s.localIPs()[hip])):
			return true
		case a.ip.IsLoopback() && (host == "localhost" || (isIP && hip.IsUnspecified())):
			return true
		}
	}
	return false
}

// isAddr reports whether a connection to ap would reach Conduit's own
// listener: ap is a listen address, or is on a listen port and is an
// unspecified address (the kernel takes it to this machine), or — for a
// listener on all interfaces — any loopback or local interface address.
// It judges resolved addresses, at dial time.
func (s *selfAddrs) isAddr(ap netip.AddrPort) bool {
	ip, port := ap.Addr().Unmap(), fmt.Sprint(ap.Port())
	for _, a := range s.listen {
		if a.port != port {
			continue
		}
		switch {
		case ip.IsUnspecified():
			return true
		case !a.ip.IsValid():
			// A listen host name ("localhost"): whatever it resolves to
			// locally.
			if ip.IsLoopback() || s.localIPs()[ip] {
				return true
			}
		case a.ip == ip:
			return true
		case a.ip.IsUnspecified() && (ip.IsLoopback() || s.localIPs()[ip]):
			return true
		}
	}
	return false
}

// canonicalPort is a decimal port without leading zeros, as a dialer reads
// it; anything else is returned unchanged.
func canonicalPort(port string) string {
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		return strconv.FormatUint(n, 10)
	}
	return port
}
