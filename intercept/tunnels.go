package intercept

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// DefaultMaxTunnelsPerClient bounds the tunnels (blind and decrypted) one
// client address holds open at once when Options.MaxTunnelsPerClient is
// not set.
const DefaultMaxTunnelsPerClient = 256

// Conduit's own error types for refused tunnels.
const (
	typeTooManyTunnels = "conduit_too_many_tunnels"
	typeFDReserve      = "conduit_out_of_file_descriptors"
	typeTunnelRefused  = "conduit_tunnel_refused"
)

// tunnelGate admits new tunnels: at most perClient open at once per client
// IP, and none once the process's open files come within reserve of its
// limit — so that a flood of tunnels (or one client nesting them) cannot
// take the descriptors /health, new calls and the ledger need.
type tunnelGate struct {
	perClient int
	// fdLimit is the open-file limit; 0: unknown, descriptors are not
	// checked.
	fdLimit int
	reserve int
	openFDs func() int // the descriptors open now; -1: cannot tell

	mu       sync.Mutex
	byClient map[string]int
	// Counting open descriptors costs about half a microsecond each, too
	// much for every CONNECT of a flood: the count is taken at most every
	// fdRecount, and tunnels admitted since add two each (the client's
	// socket and the upstream's). Near the limit it is taken again, at
	// most every fdRecountNear, so that closed tunnels are seen.
	fdCount int
	fdAt    time.Time // when fdCount was taken; zero: never
	fdSince int       // tunnels admitted since
}

const (
	fdRecount     = 100 * time.Millisecond
	fdRecountNear = 5 * time.Millisecond
)

func newTunnelGate(perClient int) *tunnelGate {
	if perClient <= 0 {
		perClient = DefaultMaxTunnelsPerClient
	}
	limit := fileLimit()
	return &tunnelGate{
		perClient: perClient,
		fdLimit:   limit,
		reserve:   fdReserve(limit),
		openFDs:   countOpenFDs,
		byClient:  make(map[string]int),
	}
}

// fdReserve is how many descriptors stay free for everything but new
// tunnels: 256 (about 120 concurrent base-URL calls at two descriptors
// each, /health and the ledger's files), and at most a quarter of a small
// limit.
func fdReserve(limit int) int {
	return min(256, limit/4)
}

// enter admits one tunnel for r's client, or returns the status and
// message that refuse it. release, called once the tunnel has ended, gives
// the place back.
func (g *tunnelGate) enter(r *http.Request) (release func(), status int, typ, msg string) {
	client := clientIP(r)
	g.mu.Lock()
	defer g.mu.Unlock()
	if n, full := g.fdsFull(); full {
		return nil, http.StatusServiceUnavailable, typeFDReserve,
			fmt.Sprintf("conduit: refusing a new tunnel: about %d of %d file descriptors are open, and the last %d are kept for calls and /health", n, g.fdLimit, g.reserve)
	}
	if g.byClient[client] >= g.perClient {
		return nil, http.StatusTooManyRequests, typeTooManyTunnels,
			fmt.Sprintf("conduit: refusing a new tunnel: %s already holds %d, the most one client may ([mitm] max_tunnels_per_client)", client, g.perClient)
	}
	g.byClient[client]++
	g.fdSince++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.byClient[client]--; g.byClient[client] <= 0 {
				delete(g.byClient, client)
			}
		})
	}, 0, "", ""
}

// fdsFull reports the open descriptors as last estimated, and whether
// they are within the reserve of the limit. g.mu is held.
func (g *tunnelGate) fdsFull() (int, bool) {
	if g.fdLimit <= 0 {
		return 0, false
	}
	threshold := g.fdLimit - g.reserve
	n := g.fdCount + 2*g.fdSince
	age := time.Since(g.fdAt)
	if g.fdAt.IsZero() || age > fdRecount || (n >= threshold && age > fdRecountNear) {
		if c := g.openFDs(); c >= 0 {
			g.fdCount, g.fdAt, g.fdSince, n = c, time.Now(), 0, c
		}
	}
	return n, n >= threshold
}

func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return normalizeHost(host)
	}
	return r.RemoteAddr
}

// countOpenFDs counts the process's open descriptors where the system
// lists them (/proc/self/fd on Linux, /dev/fd on the BSDs and macOS); -1
// elsewhere. Reading the list opens one more, which the count leaves out.
func countOpenFDs() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err == nil {
			return len(names) - 1
		}
	}
	return -1
}

// tunnelSlotKey carries a blind tunnel's upstream connection, dialled by
// Server.tunnelBlind, to the relay's dial.
type tunnelSlotKey struct{}

type tunnelSlot struct {
	conn  net.Conn
	taken bool
}

// predialed is the relay's ConnectDialWithReq: the connection tunnelBlind
// opened and checked for this CONNECT.
func predialed(req *http.Request, _, addr string) (net.Conn, error) {
	slot, _ := req.Context().Value(tunnelSlotKey{}).(*tunnelSlot)
	if slot == nil || slot.taken {
		return nil, fmt.Errorf("no tunnel was opened to %s", addr)
	}
	slot.taken = true
	return slot.conn, nil
}

// tunnelBlind relays a CONNECT to host:port untouched: it dials with d first, so
// that a refused or unreachable destination gets a clear answer, then hands
// the connection to the relay. release runs when the tunnel closes.
func (s *Server) tunnelBlind(w http.ResponseWriter, r *http.Request, d *tunnelDialer, host, port string, release func()) {
	addr := net.JoinHostPort(host, canonicalPort(port))
	conn, err := d.dialTunnel(r, "tcp", addr)
	if err != nil {
		release()
		switch {
		case writeRelayRefusal(w, "CONNECT "+r.Host, err):
		case errors.Is(err, context.Canceled):
		default:
			s.logger.Debug("forward mode: cannot open a tunnel", "host", r.Host, "err", err)
			refuse(w, http.StatusBadGateway, err.Error())
		}
		return
	}
	slot := &tunnelSlot{conn: closeHook(conn, release)}
	s.relay.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tunnelSlotKey{}, slot)))
	if !slot.taken {
		slot.conn.Close()
	}
}

// closeHook returns conn with fn run once when it is closed, keeping its
// half-close methods (the relay ends each direction on its own when it
// can).
func closeHook(conn net.Conn, fn func()) net.Conn {
	hc := &hookedConn{Conn: conn, fn: fn}
	if h, ok := conn.(halfCloser); ok {
		return &halfHookedConn{hookedConn: hc, h: h}
	}
	return hc
}

type halfCloser interface {
	CloseWrite() error
	CloseRead() error
}

type hookedConn struct {
	net.Conn
	once sync.Once
	fn   func()
}

func (c *hookedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.fn)
	return err
}

type halfHookedConn struct {
	*hookedConn
	h halfCloser
}

func (c *halfHookedConn) CloseWrite() error { return c.h.CloseWrite() }
func (c *halfHookedConn) CloseRead() error  { return c.h.CloseRead() }
