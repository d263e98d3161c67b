package intercept

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
)

// TestForwardDecryptedTimeouts guards the decrypted connection's timeouts
// (its http.Server's, carried by the connection's deadlines): headers that do not arrive in time, and an
// idle kept-alive connection, are closed; a call that takes longer than
// the header timeout, and an idle wait longer than it, are not cut.
func TestForwardDecryptedTimeouts(t *testing.T) {
	t.Parallel()
	// Generous enough that a loaded machine sends each request's headers
	// in time: the header timeout runs from the handshake.
	const headerTimeout, idleTimeout = 750 * time.Millisecond, 3 * time.Second
	h := newFwdHarness(t, fwdConfig{server: func(s *Server) {
		s.mitm.readHeaderTimeout, s.mitm.idleTimeout = headerTimeout, idleTimeout
	}})
	closed := func(t *testing.T, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the connection was not closed")
		}
	}
	call := func(t *testing.T, tc net.Conn, br *bufio.Reader, header http.Header) {
		t.Helper()
		req, _ := http.NewRequest("POST", "https://"+hostOpenAI+"/v1/chat/completions", strings.NewReader(calls[0].body))
		req.Header.Set("Authorization", auth)
		for k, v := range header {
			req.Header[k] = v
		}
		if err := req.Write(tc); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if rec := h.record(t); rec.Outcome != ledger.OutcomeComplete {
			t.Fatalf("outcome %q (%s), want complete", rec.Outcome, rec.Error)
		}
	}
	t.Run("headers too slow", func(t *testing.T) {
		tc := h.mitmConn(t, hostOpenAI)
		io.WriteString(tc, "POST /v1/chat/completions HTTP/1.1\r\nHost: "+hostOpenAI+"\r\n")
		closed(t, tc)
	})
	t.Run("idle", func(t *testing.T) {
		tc := h.mitmConn(t, hostOpenAI)
		call(t, tc, bufio.NewReader(tc), nil)
		closed(t, tc)
	})
	t.Run("slow call, idle gaps", func(t *testing.T) {
		tc := h.mitmConn(t, hostOpenAI)
		br := bufio.NewReader(tc)
		call(t, tc, br, hdr(fakeprovider.HeaderFirstByteDelay, (2*headerTimeout).String()))
		// An idle gap longer than the header timeout, within the idle one
		// (a gap, not a wait for something).
		time.Sleep(headerTimeout + headerTimeout/2)
		call(t, tc, br, nil)
	})
}
