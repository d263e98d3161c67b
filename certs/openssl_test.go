package certs

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOpenSSLAgrees checks the CA and its leaves with OpenSSL, the verifier
// behind Node (Claude Code), Python and curl: minted leaves verify in
// strict mode for TLS servers, and hand-signed certificates for names
// outside the constraints fail on the name constraints, as with Go.
func TestOpenSSLAgrees(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed: cross-check not run")
	}
	a, _ := mustInit(t, testHosts...)
	dir := t.TempDir()
	writePEM := func(name string, c *x509.Certificate) string {
		p := filepath.Join(dir, name+".pem")
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	verify := func(host, certPath string) (string, error) {
		args := []string{"verify", "-x509_strict", "-purpose", "sslserver",
			"-no-CAfile", "-no-CApath", "-CAfile", a.CertPath(),
			"-attime", strconv.FormatInt(t0.Unix(), 10)}
		if net.ParseIP(host) != nil {
			args = append(args, "-verify_ip", host)
		} else {
			args = append(args, "-verify_hostname", host)
		}
		out, err := exec.Command(bin, append(args, certPath)...).CombinedOutput()
		return string(out), err
	}

	for _, host := range []string{"api.openai.com", "a.example.com", "127.0.0.1", "::1"} {
		leaf, err := a.Leaf(host)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := verify(host, writePEM("leaf", leaf.Leaf)); err != nil || !strings.Contains(out, ": OK") {
			t.Errorf("openssl rejects the leaf for %s: %v\n%s", host, err, out)
		}
	}
	for _, host := range []string{"evil.com", "x.api.openai.com", "example.com", "8.8.8.8", "::2"} {
		out, err := verify(host, writePEM("forged", signFor(t, a, host)))
		if err == nil || !strings.Contains(out, "subtree violation") {
			t.Errorf("openssl on a forged certificate for %s: %v, want a subtree violation\n%s", host, err, out)
		}
	}
}
