//go:build unix

package intercept

import (
	"errors"
	"net"
	"syscall"
)

// connAlive reports whether c, an idle TCP connection, still looks open:
// nothing to read (no FIN, no unsolicited bytes such as a TLS alert), without
// waiting. A connection it cannot look into counts as closed.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && alive
}
