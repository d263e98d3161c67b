package intercept

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
		la := listenAddr{host: normalizeHost(h), port: port}
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
// local interface address on the listen port.
func (s *selfAddrs) is(host, port string, r *http.Request) bool {
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
	loopback := host == "localhost" || (isIP && hip.IsLoopback())
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
		case a.ip.IsLoopback() && host == "localhost":
			return true
		}
	}
	return false
}
