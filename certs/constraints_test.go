package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseHost guards the host syntax shared by Init, Covers and Leaf.
func TestParseHost(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string   // canonical spelling; "" when an error is expected
		kind hostKind // when want != ""
		err  string   // substring of the error
	}{
		{in: "api.openai.com", want: "api.openai.com", kind: hostDNS},
		{in: "API.OpenAI.com.", want: "api.openai.com", kind: hostDNS},
		{in: " api.openai.com:443 ", want: "api.openai.com", kind: hostDNS},
		{in: "localhost", want: "localhost", kind: hostDNS},
		{in: "my_host.internal", want: "my_host.internal", kind: hostDNS},
		{in: "*.example.com", want: "*.example.com", kind: hostWildcard},
		{in: "*.Example.com:8443", want: "*.example.com", kind: hostWildcard},
		{in: "127.0.0.1", want: "127.0.0.1", kind: hostIP},
		{in: "127.0.0.1:8080", want: "127.0.0.1", kind: hostIP},
		{in: "::1", want: "::1", kind: hostIP},
		{in: "[::1]", want: "::1", kind: hostIP},
		{in: "[2001:db8::1]:443", want: "2001:db8::1", kind: hostIP},
		{in: "::ffff:10.0.0.1", want: "10.0.0.1", kind: hostIP},
		{in: "", err: "empty host"},
		{in: "  ", err: "empty host"},
		{in: "*", err: "invalid character"},
		{in: "*.com", err: "two labels"},
		{in: "*.*.example.com", err: "invalid character"},
		{in: "a.*.example.com", err: "invalid character"},
		{in: "foo*.example.com", err: "invalid character"},
		{in: "a..b", err: "empty or over-long label"},
		{in: strings.Repeat("a", 64) + ".com", err: "over-long label"},
		{in: strings.Repeat("a.", 127) + "com", err: "length"},
		{in: "1.2.3", err: "all-numeric"},
		{in: "ex ample.com", err: "invalid character"},
		{in: "bücher.de", err: "xn--"},
		{in: "fe80::1%eth0", err: "zone"},
		{in: "api.openai.com:0", err: "invalid port"},
		{in: "api.openai.com:99999", err: "invalid port"},
		{in: "[::1", err: "missing ']'"},
		{in: "a:b:c", err: "invalid character"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseHost(tc.in)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseHost(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseHost(%q): %v", tc.in, err)
			}
			if got.String() != tc.want || got.kind != tc.kind {
				t.Errorf("parseHost(%q) = %q kind %d, want %q kind %d", tc.in, got, got.kind, tc.want, tc.kind)
			}
		})
	}
}

// TestBuildConstraints guards the mapping from hosts to name constraints:
// plain names exact, wildcards as subtrees, redundant entries dropped,
// IPs as single addresses, and unused name types excluded entirely.
func TestBuildConstraints(t *testing.T) {
	allIPs := []string{"0.0.0.0/0", "::/0"}
	for _, tc := range []struct {
		name             string
		hosts            []string
		permDNS, exclDNS []string
		permIP, exclIP   []string
	}{
		{"plain is exact", []string{"api.openai.com"},
			[]string{"api.openai.com"}, []string{".api.openai.com"}, nil, allIPs},
		{"wildcard", []string{"*.example.com"},
			[]string{".example.com"}, nil, nil, allIPs},
		{"wildcard plus apex", []string{"example.com", "*.example.com"},
			[]string{"example.com", ".example.com"}, nil, nil, allIPs},
		{"names under a wildcard dropped", []string{"*.example.com", "api.example.com", "*.a.example.com"},
			[]string{".example.com"}, nil, nil, allIPs},
		{"parent keeps subtree for child", []string{"example.com", "api.example.com"},
			[]string{"api.example.com", "example.com"}, []string{".api.example.com"}, nil, allIPs},
		{"parent keeps subtree for wildcard below", []string{"example.com", "*.api.example.com"},
			[]string{"example.com", ".api.example.com"}, nil, nil, allIPs},
		{"similar suffix is not a parent", []string{"example.com", "myexample.com"},
			[]string{"example.com", "myexample.com"}, []string{".example.com", ".myexample.com"}, nil, allIPs},
		{"IPs only", []string{"10.0.0.1", "::1"},
			nil, []string{""}, []string{"10.0.0.1/32", "::1/128"}, nil},
		{"duplicates", []string{"api.openai.com", "API.OPENAI.COM:443", "api.openai.com."},
			[]string{"api.openai.com"}, []string{".api.openai.com"}, nil, allIPs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := parseHosts(tc.hosts)
			if err != nil {
				t.Fatal(err)
			}
			nc := buildConstraints(specs)
			check := func(what string, got, want []string) {
				t.Helper()
				if len(got) == 0 && len(want) == 0 {
					return
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			check("permitted DNS", nc.permittedDNS, tc.permDNS)
			check("excluded DNS", nc.excludedDNS, tc.exclDNS)
			check("permitted IP", ipNets(nc.permittedIP), tc.permIP)
			check("excluded IP", ipNets(nc.excludedIP), tc.exclIP)
		})
	}
}

// TestCovers guards the coverage check the proxy runs at startup: every
// host outside the constraints is named, with the fix.
func TestCovers(t *testing.T) {
	a, _ := mustInit(t, testHosts...)
	covered := []string{
		"api.openai.com", "api.openai.com:443", "API.OPENAI.COM.",
		"a.example.com", "a.b.example.com", "*.example.com", "*.b.example.com",
		"127.0.0.1", "[::1]:1", "::ffff:127.0.0.1",
	}
	if err := a.Covers(covered); err != nil {
		t.Errorf("Covers(%q) = %v, want nil", covered, err)
	}
	if err := a.Covers(nil); err != nil {
		t.Errorf("Covers(nil) = %v", err)
	}
	for _, tc := range []struct {
		name  string
		hosts []string
		want  []string
	}{
		{"apex of a wildcard", []string{"example.com"}, []string{"example.com"}},
		{"subdomain of a plain name", []string{"api.openai.com", "x.api.openai.com"}, []string{"x.api.openai.com"}},
		{"wildcard under a plain name", []string{"*.api.openai.com"}, []string{"*.api.openai.com"}},
		{"wider wildcard", []string{"*.openai.com", "openai.com"}, []string{"*.openai.com", "openai.com"}},
		{"other hosts", []string{"api.anthropic.com", "127.0.0.2", "::2", "10.0.0.1:80", "a.example.com"},
			[]string{"api.anthropic.com", "127.0.0.2", "::2", "10.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Covers(tc.hosts)
			var nce *NotCoveredError
			if !errors.As(err, &nce) {
				t.Fatalf("Covers(%q) = %v, want *NotCoveredError", tc.hosts, err)
			}
			if !reflect.DeepEqual(nce.Hosts, tc.want) || nce.Dir != a.Dir() {
				t.Errorf("NotCoveredError = %q in %s, want %q in %s", nce.Hosts, nce.Dir, tc.want, a.Dir())
			}
			msg := err.Error()
			for _, want := range append([]string{"conduit ca init --force", a.Dir()}, tc.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
	err := a.Covers([]string{"api.openai.com", "*.com", "a b"})
	var nce *NotCoveredError
	if err == nil || errors.As(err, &nce) || !strings.Contains(err.Error(), "*.com") || !strings.Contains(err.Error(), "a b") {
		t.Errorf("Covers(invalid) = %v, want a syntax error naming both bad hosts", err)
	}

	// A CA whose plain name keeps its subtree (because a child is listed)
	// still does not cover a wildcard reaching into an excluded part.
	b, _ := mustInit(t, "example.com", "api.example.com")
	if err := b.Covers([]string{"www.example.com", "x.y.example.com"}); err != nil {
		t.Errorf("Covers under a permitted parent: %v", err)
	}
	if err := b.Covers([]string{"*.example.com"}); err == nil {
		t.Error("Covers(*.example.com) = nil although .api.example.com is excluded")
	}
}

// TestPermitsAgreesWithGo guards that the pre-mint check reads the name
// constraints exactly as a real verifier does: for every name, permits is
// true if and only if Go's crypto/x509 accepts a certificate for that name
// signed by the CA.
func TestPermitsAgreesWithGo(t *testing.T) {
	names := []string{
		"api.openai.com", "x.api.openai.com", "openai.com", "xapi.openai.com",
		"example.com", "a.example.com", "a.b.example.com", "notexample.com",
		"api.example.com", "x.api.example.com", "www.example.com",
		"evil.com", "localhost", "127.0.0.1", "127.0.0.2", "::1", "::2", "10.0.0.1", "8.8.8.8",
	}
	for _, hosts := range [][]string{
		testHosts,
		{"api.openai.com"},
		{"example.com", "api.example.com"},
		{"example.com", "*.example.com"},
		{"*.example.com", "api.example.com"},
		{"10.0.0.1"},
		{"localhost", "127.0.0.1", "::1"},
	} {
		a, _ := mustInit(t, hosts...)
		for _, n := range names {
			spec, err := parseHost(n)
			if err != nil {
				t.Fatal(err)
			}
			leaf := signFor(t, a, n)
			_, verr := leaf.Verify(x509.VerifyOptions{Roots: pool(a), CurrentTime: t0})
			if got, want := a.permits(spec), verr == nil; got != want {
				t.Errorf("CA for %q, name %s: permits = %v, Go verifier accepts = %v (%v)", hosts, n, got, want, verr)
			}
		}
	}
}

// pool returns a pool holding only a's CA.
func pool(a *Authority) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Certificate())
	return p
}

// signFor builds by hand, bypassing Leaf and its checks, a server
// certificate for name signed with a's CA key: what an attacker holding the
// key could make.
func signFor(tb testing.TB, a *Authority, name string) *x509.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{Organization: []string{"attacker"}},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Certificate(), &key.PublicKey, a.key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// FuzzParseHost guards the host parser against any input: no panic, and a
// parsed host's canonical spelling parses back to the same host (so a
// cache key, a constraint and a Covers answer agree).
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"api.openai.com:443", "*.example.com", "[::1]:8443", "::ffff:10.0.0.1", "A.B.", "a..b", "*.*.x", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHost(s)
		if err != nil {
			return
		}
		again, err := parseHost(h.String())
		if err != nil || again != h {
			t.Fatalf("parseHost(%q) = %q, which parses to %q, %v", s, h, again, err)
		}
	})
}
