package intercept

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Conduit's own error type for a relayed destination it refuses.
const typePrivateRefused = "conduit_private_destination_refused"

// dialFunc opens an outbound connection.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// destRefused is the error of a dial whose destination Conduit does not
// connect to: itself (loop), or a local address a relay may not reach.
type destRefused struct {
	addr netip.AddrPort
	loop bool // Conduit's own listener; else a private address
}

func (e *destRefused) Error() string {
	if e.loop {
		return fmt.Sprintf("%s is Conduit itself: the connection would loop back into Conduit", e.addr)
	}
	return fmt.Sprintf("%s is a loopback, private or link-local address, which Conduit does not relay to unless [mitm] allow_private_tunnels = true", e.addr)
}

// destPolicy decides which addresses an outbound connection may reach. It
// judges the address the socket connects to, after name resolution, so a
// name that resolves (or is rebound) to a refused address is refused too.
type destPolicy struct {
	self    *selfAddrs
	private bool // refuse private addresses too (relayed traffic)
}

func (p destPolicy) check(ap netip.AddrPort) error {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if p.self.isAddr(ap) {
		return &destRefused{addr: ap, loop: true}
	}
	if p.private && isPrivateAddr(ap.Addr()) {
		return &destRefused{addr: ap}
	}
	return nil
}

// guardDial wraps dial so that every connection it opens passes policy.
// Conduit's own dialer checks the address just before connecting (no packet
// reaches a refused address); a dialer given in Upstream.DialContext
// connects by its own rules, so its connection is checked once open, before
// a byte is sent on it. exempt (may be nil) names addresses dialled
// without the check: the configured upstream proxy, which the user chose.
func guardDial(connect time.Duration, custom dialFunc, policy destPolicy, exempt func(addr string) bool) dialFunc {
	if custom == nil {
		d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
		guarded := *d
		guarded.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, err)
			}
			return policy.check(ap)
		}
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			if exempt != nil && exempt(addr) {
				return d.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, connect)
		defer cancel()
		conn, err := custom(ctx, network, addr)
		if err != nil || (exempt != nil && exempt(addr)) {
			return conn, err
		}
		ap, perr := netip.ParseAddrPort(conn.RemoteAddr().String())
		if perr != nil {
			conn.Close()
			return nil, fmt.Errorf("dial %s: connected to %s: %w", addr, conn.RemoteAddr(), perr)
		}
		if err := policy.check(ap); err != nil {
			conn.Close()
			return nil, &net.OpError{Op: "dial", Net: network, Addr: conn.RemoteAddr(), Err: err}
		}
		return conn, nil
	}
}

// refusedDest returns the destRefused in err's chain, or nil.
func refusedDest(err error) *destRefused {
	var dr *destRefused
	if errors.As(err, &dr) {
		return dr
	}
	return nil
}

// isLoop reports whether err refused a dial to Conduit itself.
func isLoop(err error) bool {
	dr := refusedDest(err)
	return dr != nil && dr.loop
}

// privatePrefixes are the destinations a relay does not reach unless
// allowed: besides what netip classifies as loopback, private (RFC 1918,
// fc00::/7), link-local and unspecified, the "this network" block (0/8:
// Linux connects 0.x.y.z to the local host) and CGNAT space, which is
// private to the carrier network Conduit's host may sit in.
var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// isPrivateAddr reports whether ip is an address a blind relay does not
// reach by default: every address of this machine or its local networks.
func isPrivateAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range privatePrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
