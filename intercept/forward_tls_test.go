package intercept

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestForwardResumesTLSSessions guards the decrypted connections' one TLS
// configuration: a client that keeps sessions resumes on its next
// connection to the host, which costs no certificate.
func TestForwardResumesTLSSessions(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	client := h.client(h.roots())
	tr := client.Transport.(*http.Transport)
	tr.DisableKeepAlives = true // a new CONNECT and handshake per call
	tr.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	for i, wantResumed := range []bool{false, true, true} {
		req, _ := http.NewRequest("POST", "https://"+hostOpenAI+"/v1/chat/completions", strings.NewReader(calls[0].body))
		req.Header.Set("Authorization", auth)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("call %d: status %d", i, resp.StatusCode)
		}
		if resp.TLS.DidResume != wantResumed {
			t.Errorf("call %d: resumed %v, want %v", i, resp.TLS.DidResume, wantResumed)
		}
		h.record(t)
	}
	if n := h.proxy.mitm.served.Load(); n != 3 {
		t.Errorf("%d decrypted connections, want 3", n)
	}
	if n := h.mintsFor(hostOpenAI); n != 1 {
		t.Errorf("%d certificates asked for, want 1 (the resumed handshakes need none)", n)
	}
}

// TestForwardCertificateNamesConnectHost guards whose certificate a
// decrypted connection shows: the CONNECT's host, whatever the client's
// SNI says.
func TestForwardCertificateNamesConnectHost(t *testing.T) {
	t.Parallel()
	h := newFwdHarness(t, fwdConfig{})
	for _, connect := range []string{hostOpenAI, hostAnthropic} {
		conn, err := net.Dial("tcp", h.proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "CONNECT "+connect+":443 HTTP/1.1\r\nHost: "+connect+":443\r\n\r\n")
		// The reply is read byte by byte: nothing past it may be taken
		// from the TLS stream.
		var reply []byte
		for !strings.HasSuffix(string(reply), "\r\n\r\n") {
			b := make([]byte, 1)
			if _, err := conn.Read(b); err != nil {
				t.Fatalf("CONNECT %s: %v", connect, err)
			}
			reply = append(reply, b[0])
		}
		if !strings.HasPrefix(string(reply), "HTTP/1.1 200") {
			t.Fatalf("CONNECT %s: %q", connect, reply)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: hostGemini, InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatalf("CONNECT %s: %v", connect, err)
		}
		names := tc.ConnectionState().PeerCertificates[0].DNSNames
		if !slices.Contains(names, connect) || slices.Contains(names, hostGemini) {
			t.Errorf("CONNECT %s with SNI %s: certificate for %v", connect, hostGemini, names)
		}
	}
}
