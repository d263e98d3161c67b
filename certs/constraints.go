package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Host syntax, for [Init], [Authority.Covers] and [Authority.Leaf]:
//
//   - "api.openai.com" or "api.openai.com:443": that name only (a port is
//     ignored: certificates do not name ports);
//   - "*.example.com": every name under example.com, at any depth, but not
//     example.com itself (X.509's ".example.com" constraint; list
//     "example.com" too to include it). The base must have at least two
//     labels: "*.com" would reach a whole top-level domain;
//   - "127.0.0.1", "::1", "[::1]:8443": that address only.
//
// Names are compared case-insensitively and a trailing dot is ignored.
// Non-ASCII names must be given in their xn-- (punycode) form.

type hostKind int

const (
	hostDNS      hostKind = iota // one DNS name
	hostWildcard                 // every name strictly under name
	hostIP                       // one address
)

// hostSpec is a parsed, normalised host.
type hostSpec struct {
	kind hostKind
	name string // lower case, no trailing dot; for hostWildcard the base without "*."
	ip   netip.Addr
}

// String returns the canonical spelling: "api.openai.com", "*.example.com",
// "127.0.0.1", "::1".
func (h hostSpec) String() string {
	switch h.kind {
	case hostWildcard:
		return "*." + h.name
	case hostIP:
		return h.ip.String()
	default:
		return h.name
	}
}

// parseHost parses one host in the syntax above.
func parseHost(raw string) (hostSpec, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return hostSpec{}, errors.New("empty host")
	}
	s, err := stripPort(s)
	if err != nil {
		return hostSpec{}, fmt.Errorf("host %q: %w", raw, err)
	}
	if addr, err := netip.ParseAddr(s); err == nil {
		if addr.Zone() != "" {
			return hostSpec{}, fmt.Errorf("host %q: an IPv6 zone cannot appear in a certificate", raw)
		}
		// An IPv4-mapped IPv6 address is the IPv4 host to every TLS client.
		return hostSpec{kind: hostIP, ip: addr.Unmap()}, nil
	}
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	kind := hostDNS
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		kind, s = hostWildcard, rest
		if !strings.Contains(s, ".") {
			return hostSpec{}, fmt.Errorf("host %q: a wildcard needs a base of at least two labels (*.example.com)", raw)
		}
	}
	if err := checkDNSName(s); err != nil {
		return hostSpec{}, fmt.Errorf("host %q: %w", raw, err)
	}
	return hostSpec{kind: kind, name: s}, nil
}

// stripPort removes a ":port" suffix and the brackets of "[v6]".
func stripPort(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, "["):
		if strings.HasSuffix(s, "]") {
			return s[1 : len(s)-1], nil
		}
		h, port, err := net.SplitHostPort(s)
		if err != nil {
			return "", err
		}
		return h, checkPort(port)
	case strings.Count(s, ":") == 1:
		h, port, err := net.SplitHostPort(s)
		if err != nil {
			return "", err
		}
		return h, checkPort(port)
	default: // a name, or an unbracketed IPv6 address
		return s, nil
	}
}

func checkPort(p string) error {
	if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("invalid port %q", p)
	}
	return nil
}

// checkDNSName accepts lower-case LDH names (plus '_', which some internal
// hosts use), 1–63 bytes per label, at most 253 in all, not ending in an
// all-numeric label (which would read as a malformed IP address).
func checkDNSName(s string) error {
	if len(s) == 0 || len(s) > 253 {
		return fmt.Errorf("invalid DNS name length %d", len(s))
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 {
			return errors.New("invalid DNS name: empty or over-long label")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				if c >= 0x80 {
					return errors.New("invalid DNS name: give international names in their xn-- form")
				}
				return fmt.Errorf("invalid character %q in DNS name", c)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return errors.New("invalid DNS name: all-numeric last label")
	}
	return nil
}

// parseHosts parses and de-duplicates hosts, keeping the first spelling.
// It reports every invalid host, not only the first.
func parseHosts(hosts []string) ([]hostSpec, error) {
	var specs []hostSpec
	var errs []error
	seen := make(map[hostSpec]bool)
	for _, h := range hosts {
		spec, err := parseHost(h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !seen[spec] {
			seen[spec] = true
			specs = append(specs, spec)
		}
	}
	return specs, errors.Join(errs...)
}

// constraintSet is the content of the CA's name constraints extension.
type constraintSet struct {
	permittedDNS, excludedDNS []string
	permittedIP, excludedIP   []*net.IPNet
}

// buildConstraints turns the hosts into name constraints that permit those
// hosts and, as closely as X.509 can say it, nothing else:
//
//   - "*.example.com" becomes the permitted subtree ".example.com" (leading
//     dot: subdomains only, as Go, OpenSSL, NSS and webpki all read it);
//   - "api.openai.com" becomes the permitted "api.openai.com", which RFC
//     5280 reads as the name *and all its subdomains*; to make it the name
//     alone, ".api.openai.com" is also excluded — unless another host lies
//     under it (listing both example.com and api.example.com), where an
//     exclusion would shut that host out too and the subtree stays
//     permitted;
//   - names under a wildcard that is listed too add nothing and are dropped;
//   - an IP becomes a /32 or /128 permitted range;
//   - a name type with no host at all is excluded entirely: a zero-length
//     DNS name or 0.0.0.0/0 and ::/0, as the CA/Browser Forum requires of
//     technically constrained CAs. Without that, RFC 5280 leaves a type with
//     no permitted subtree unconstrained, and a leaked key could sign for
//     any IP address.
//
// E-mail and URI names are left unconstrained on purpose: TLS clients match
// the server only against DNS and IP names, the CA's extended key usage
// limits it to TLS servers, and some verifiers (older GnuTLS) reject
// constraint types they do not implement.
func buildConstraints(specs []hostSpec) constraintSet {
	var wild, plain []string
	var nc constraintSet
	for _, s := range specs {
		switch s.kind {
		case hostWildcard:
			wild = append(wild, s.name)
		case hostDNS:
			plain = append(plain, s.name)
		case hostIP:
			bits := s.ip.BitLen()
			nc.permittedIP = append(nc.permittedIP, &net.IPNet{
				IP:   net.IP(s.ip.AsSlice()),
				Mask: net.CIDRMask(bits, bits),
			})
		}
	}
	// Drop wildcards inside other wildcards and names inside wildcards.
	wild = slices.DeleteFunc(wild, func(w string) bool {
		return slices.ContainsFunc(wild, func(o string) bool { return isStrictSubdomain(w, o) })
	})
	plain = slices.DeleteFunc(plain, func(p string) bool {
		return slices.ContainsFunc(wild, func(w string) bool { return isStrictSubdomain(p, w) })
	})
	slices.Sort(wild)
	slices.Sort(plain)

	nc.permittedDNS = append(nc.permittedDNS, plain...)
	for _, w := range wild {
		nc.permittedDNS = append(nc.permittedDNS, "."+w)
	}
	for _, p := range plain {
		// Is some other host in p's subdomains? Then they must stay permitted.
		needed := slices.ContainsFunc(plain, func(o string) bool { return isStrictSubdomain(o, p) }) ||
			slices.ContainsFunc(wild, func(w string) bool { return w == p || isStrictSubdomain(w, p) })
		if !needed {
			nc.excludedDNS = append(nc.excludedDNS, "."+p)
		}
	}
	if len(nc.permittedDNS) == 0 {
		nc.excludedDNS = []string{""}
	}
	if len(nc.permittedIP) == 0 {
		nc.excludedIP = []*net.IPNet{
			{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		}
	}
	return nc
}

// isStrictSubdomain reports whether name is under parent ("a.b.c" under
// "b.c"), not equal to it.
func isStrictSubdomain(name, parent string) bool {
	return len(name) > len(parent) && strings.HasSuffix(name, "."+parent)
}

// matchDNS reports whether name falls in the subtree of an RFC 5280 dNSName
// constraint, as Go's crypto/x509 reads it: "" matches every name;
// ".example.com" matches names strictly under example.com; "example.com"
// matches it and every name under it. name and constraint are lower case.
func matchDNS(name, constraint string) bool {
	switch {
	case constraint == "":
		return true
	case strings.HasPrefix(constraint, "."):
		return len(name) > len(constraint) && strings.HasSuffix(name, constraint)
	default:
		return name == constraint || isStrictSubdomain(name, constraint)
	}
}

// coversSubtree reports whether every name strictly under base matches the
// constraint.
func coversSubtree(base, constraint string) bool {
	c := strings.ToLower(constraint)
	return c == "."+base || matchDNS(base, c)
}

// meetsSubtree reports whether some name strictly under base matches the
// constraint.
func meetsSubtree(base, constraint string) bool {
	c := strings.ToLower(constraint)
	if coversSubtree(base, c) {
		return true
	}
	return isStrictSubdomain(strings.TrimPrefix(c, "."), base)
}

// permits reports whether the CA's name constraints allow the host. For a
// wildcard it means every name the wildcard stands for.
func (a *Authority) permits(h hostSpec) bool {
	c := a.cert
	switch h.kind {
	case hostIP:
		ip := net.IP(h.ip.AsSlice())
		for _, n := range c.ExcludedIPRanges {
			if n.Contains(ip) {
				return false
			}
		}
		if len(c.PermittedIPRanges) == 0 {
			return true // RFC 5280: no permitted subtree, type unconstrained
		}
		return slices.ContainsFunc(c.PermittedIPRanges, func(n *net.IPNet) bool { return n.Contains(ip) })
	case hostWildcard:
		for _, e := range c.ExcludedDNSDomains {
			if meetsSubtree(h.name, e) {
				return false
			}
		}
		if len(c.PermittedDNSDomains) == 0 {
			return true
		}
		return slices.ContainsFunc(c.PermittedDNSDomains, func(p string) bool { return coversSubtree(h.name, p) })
	default:
		for _, e := range c.ExcludedDNSDomains {
			if matchDNS(h.name, strings.ToLower(e)) {
				return false
			}
		}
		if len(c.PermittedDNSDomains) == 0 {
			return true
		}
		return slices.ContainsFunc(c.PermittedDNSDomains, func(p string) bool { return matchDNS(h.name, strings.ToLower(p)) })
	}
}

// hasNameConstraints reports whether the certificate constrains both DNS
// names and IP addresses (every CA made by Init does).
func hasNameConstraints(c *x509.Certificate) bool {
	dns := len(c.PermittedDNSDomains) > 0 || len(c.ExcludedDNSDomains) > 0
	ip := len(c.PermittedIPRanges) > 0 || len(c.ExcludedIPRanges) > 0
	return c.PermittedDNSDomainsCritical && dns && ip
}

// NotCoveredError reports hosts that the CA's name constraints do not
// permit. [Authority.Covers] and [Authority.Leaf] return it; match it with
// errors.As.
type NotCoveredError struct {
	Dir   string   // the CA directory
	Hosts []string // the hosts outside the constraints, canonical spelling
}

func (e *NotCoveredError) Error() string {
	return fmt.Sprintf("the local CA in %s does not cover %s: run `conduit ca init --force` to recreate it for the configured hosts (then point your tools at the new CA again, e.g. with `conduit ca env`)",
		e.Dir, strings.Join(e.Hosts, ", "))
}

// Covers checks that the CA's name constraints permit every host (syntax
// at the top of this file), so the proxy can refuse to start, or warn,
// when the configured host list has outgrown the CA. It returns nil when
// all are covered, a *[NotCoveredError] naming every host that is not, or
// an error naming every host that is not valid syntax.
func (a *Authority) Covers(hosts []string) error {
	specs, err := parseHosts(hosts)
	if err != nil {
		return fmt.Errorf("check CA coverage: %w", err)
	}
	var out []string
	for _, s := range specs {
		if !a.permits(s) {
			out = append(out, s.String())
		}
	}
	if len(out) > 0 {
		return &NotCoveredError{Dir: a.dir, Hosts: out}
	}
	return nil
}
