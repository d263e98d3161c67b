package certs

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Fingerprint returns the SHA-256 fingerprint of the CA certificate as
// colon-separated upper-case hex, the form browsers and `openssl x509
// -fingerprint -sha256` print.
func (a *Authority) Fingerprint() string {
	sum := sha256.Sum256(a.cert.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// Hosts returns, in readable form, what the CA's name constraints let it
// sign for: "api.openai.com" (that name only), "*.example.com" (names under
// it), "example.com and subdomains" (a permitted name whose subtree is not
// excluded), "127.0.0.1", or a CIDR range. The slice is new on every call.
func (a *Authority) Hosts() []string {
	c := a.cert
	var out []string
	for _, p := range c.PermittedDNSDomains {
		switch {
		case strings.HasPrefix(p, "."):
			out = append(out, "*"+p)
		case slices.Contains(c.ExcludedDNSDomains, "."+p):
			out = append(out, p)
		default:
			out = append(out, p+" and subdomains")
		}
	}
	for _, n := range c.PermittedIPRanges {
		if ones, bits := n.Mask.Size(); ones == bits {
			out = append(out, n.IP.String())
		} else {
			out = append(out, n.String())
		}
	}
	return out
}

// Describe writes a human-readable summary of the CA for `conduit ca show`:
// subject, SHA-256 fingerprint, validity, the hosts it covers and its raw
// name constraints, its files, and whether the system trust store trusts it
// (with the command to change that). It returns the first write error.
func (a *Authority) Describe(w io.Writer) error {
	c := a.cert
	now := a.now()
	validity := fmt.Sprintf("%s to %s", c.NotBefore.UTC().Format(time.DateTime+" MST"), c.NotAfter.UTC().Format(time.DateTime+" MST"))
	switch left := c.NotAfter.Sub(now); {
	case left <= 0:
		validity += " (EXPIRED: run `conduit ca init --force`)"
	default:
		validity += fmt.Sprintf(" (%d days left)", int(left.Hours()/24))
	}
	critical := "critical"
	if !c.PermittedDNSDomainsCritical {
		critical = "NOT critical"
	}
	trust := "not trusted (not needed: `conduit ca env` points each tool at the CA)"
	if a.SystemTrusted() {
		trust = "trusted"
	} else if hint := InstallHint(runtime.GOOS, a.CertPath(), nil); hint != "" {
		trust += "; to trust it system-wide anyway: " + hint
	}

	lines := [][2]string{
		{"Subject", c.Subject.String()},
		{"SHA-256", a.Fingerprint()},
		{"Serial", c.SerialNumber.Text(16)},
		{"Valid", validity},
		{"Covers", orNone(strings.Join(a.Hosts(), ", "))},
		{"Constraints", critical},
		{"  permitted DNS", dnsList(c.PermittedDNSDomains)},
		{"  excluded DNS", dnsList(c.ExcludedDNSDomains)},
		{"  permitted IP", ipList(c.PermittedIPRanges)},
		{"  excluded IP", ipList(c.ExcludedIPRanges)},
		{"Certificate", a.CertPath()},
		{"Key", a.KeyPath()},
		{"System store", trust},
	}
	if _, err := fmt.Fprintln(w, "Conduit local CA"); err != nil {
		return fmt.Errorf("describe CA: %w", err)
	}
	for _, l := range lines {
		if _, err := fmt.Fprintf(w, "  %-18s%s\n", l[0]+":", l[1]); err != nil {
			return fmt.Errorf("describe CA: %w", err)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func dnsList(l []string) string {
	out := make([]string, len(l))
	for i, d := range l {
		if d == "" {
			d = `"" (every name)`
		}
		out[i] = d
	}
	return orNone(strings.Join(out, ", "))
}

func ipList(l []*net.IPNet) string {
	out := make([]string, len(l))
	for i, n := range l {
		out[i] = n.String()
	}
	return orNone(strings.Join(out, ", "))
}
