package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLeafFields guards every field of a minted leaf.
func TestLeafFields(t *testing.T) {
	a, clock := mustInit(t, testHosts...)
	now := t0.Add(48 * time.Hour)
	clock.set(now)
	for _, tc := range []struct {
		host string
		dns  []string
		ip   string
		cn   string
	}{
		{host: "api.openai.com:443", dns: []string{"api.openai.com"}, cn: "api.openai.com"},
		{host: "A.B.Example.COM", dns: []string{"a.b.example.com"}, cn: "a.b.example.com"},
		{host: "127.0.0.1", ip: "127.0.0.1"},
		{host: "[::1]:443", ip: "::1"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			cert, err := a.Leaf(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			l := cert.Leaf
			if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[0], l.Raw) || !bytes.Equal(cert.Certificate[1], a.Certificate().Raw) {
				t.Error("chain is not [leaf, CA]")
			}
			if cert.PrivateKey != any(a.leafKey) {
				t.Error("leaf does not use the Authority's leaf key")
			}
			pub, ok := l.PublicKey.(*ecdsa.PublicKey)
			if !ok || !pub.Equal(&a.leafKey.PublicKey) || pub.Curve.Params().Name != "P-256" {
				t.Errorf("public key %T is not the ECDSA P-256 leaf key", l.PublicKey)
			}
			if l.SignatureAlgorithm != x509.ECDSAWithSHA256 {
				t.Errorf("SignatureAlgorithm = %v", l.SignatureAlgorithm)
			}
			if err := l.CheckSignatureFrom(a.Certificate()); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			if l.Version != 3 || l.SerialNumber.Sign() <= 0 || l.SerialNumber.BitLen() > 128 || l.SerialNumber.BitLen() < 64 {
				t.Errorf("Version %d, SerialNumber %v: want v3 and a random 128-bit serial", l.Version, l.SerialNumber)
			}
			if l.Issuer.String() != a.Certificate().Subject.String() {
				t.Errorf("Issuer = %q", l.Issuer)
			}
			if !bytes.Equal(l.AuthorityKeyId, a.Certificate().SubjectKeyId) {
				t.Errorf("AuthorityKeyId = %x, want the CA's SubjectKeyId %x", l.AuthorityKeyId, a.Certificate().SubjectKeyId)
			}
			if l.Subject.CommonName != tc.cn || !reflect.DeepEqual(l.Subject.Organization, []string{"Conduit local CA"}) {
				t.Errorf("Subject = %q", l.Subject)
			}
			if want := now.Add(-time.Hour); !l.NotBefore.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", l.NotBefore, want)
			}
			if want := now.Add(7 * 24 * time.Hour); !l.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", l.NotAfter, want)
			}
			if l.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage = %v, want DigitalSignature", l.KeyUsage)
			}
			if !reflect.DeepEqual(l.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("ExtKeyUsage = %v", l.ExtKeyUsage)
			}
			if !l.BasicConstraintsValid || l.IsCA {
				t.Errorf("BasicConstraints valid %v CA %v, want a non-CA", l.BasicConstraintsValid, l.IsCA)
			}
			if !reflect.DeepEqual(l.DNSNames, tc.dns) {
				t.Errorf("DNSNames = %q, want %q", l.DNSNames, tc.dns)
			}
			var ips []string
			for _, ip := range l.IPAddresses {
				ips = append(ips, ip.String())
			}
			if tc.ip == "" && len(ips) != 0 || tc.ip != "" && !reflect.DeepEqual(ips, []string{tc.ip}) {
				t.Errorf("IPAddresses = %q, want %q", ips, tc.ip)
			}
			if len(l.EmailAddresses)+len(l.URIs) != 0 {
				t.Error("unexpected e-mail or URI SANs")
			}
		})
	}
}

// TestLeafVerifies guards that a minted leaf verifies, for its host, against
// a pool holding only the CA: DNS names, names under a wildcard, IPv4, IPv6.
func TestLeafVerifies(t *testing.T) {
	a, _ := mustInit(t, testHosts...)
	for _, host := range []string{"api.openai.com", "a.example.com", "deep.a.example.com", "127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			cert, err := a.Leaf(host)
			if err != nil {
				t.Fatal(err)
			}
			chains, err := cert.Leaf.Verify(x509.VerifyOptions{
				DNSName:     host,
				Roots:       pool(a),
				CurrentTime: t0,
				KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if len(chains) != 1 || len(chains[0]) != 2 {
				t.Errorf("chains = %d, want one of leaf + CA", len(chains))
			}
		})
	}
}

// TestNameConstraintsBindTheKey guards the point of the constraints: a
// certificate for a non-permitted host, signed by hand with the CA key (as
// by someone who stole it), fails verification because of the name
// constraint, whatever the name type.
func TestNameConstraintsBindTheKey(t *testing.T) {
	a, _ := mustInit(t, testHosts...)
	for _, name := range []string{
		"evil.com", "api.anthropic.com", "openai.com", "x.api.openai.com", "example.com",
		"8.8.8.8", "127.0.0.2", "::2", "2001:db8::1",
	} {
		t.Run(name, func(t *testing.T) {
			forged := signFor(t, a, name)
			_, err := forged.Verify(x509.VerifyOptions{DNSName: name, Roots: pool(a), CurrentTime: t0})
			var cie x509.CertificateInvalidError
			if !errors.As(err, &cie) || cie.Reason != x509.CANotAuthorizedForThisName {
				t.Fatalf("Verify = %v, want CANotAuthorizedForThisName", err)
			}
		})
	}
	// With only IP hosts no DNS name at all is allowed, and vice versa.
	ipOnly, _ := mustInit(t, "10.0.0.1")
	dnsOnly, _ := mustInit(t, "api.openai.com")
	for _, tc := range []struct {
		a    *Authority
		name string
	}{{ipOnly, "localhost"}, {ipOnly, "10.0.0.2"}, {dnsOnly, "10.0.0.1"}, {dnsOnly, "::1"}} {
		forged := signFor(t, tc.a, tc.name)
		_, err := forged.Verify(x509.VerifyOptions{Roots: pool(tc.a), CurrentTime: t0})
		var cie x509.CertificateInvalidError
		if !errors.As(err, &cie) || cie.Reason != x509.CANotAuthorizedForThisName {
			t.Errorf("CA for %q, name %s: Verify = %v, want CANotAuthorizedForThisName", tc.a.Hosts(), tc.name, err)
		}
	}
}

// TestLeafRefuses guards that Leaf never signs for a host outside the
// constraints, nor for a wildcard or malformed host, and that an expired CA
// mints nothing.
func TestLeafRefuses(t *testing.T) {
	a, clock := mustInit(t, testHosts...)
	var mints atomic.Int32
	a.onMint = func(string) { mints.Add(1) }
	for _, tc := range []struct {
		host       string
		notCovered bool
		want       string
	}{
		{host: "evil.com", notCovered: true},
		{host: "x.api.openai.com", notCovered: true},
		{host: "example.com", notCovered: true},
		{host: "10.0.0.1", notCovered: true},
		{host: "*.example.com", want: "wildcard"},
		{host: "", want: "empty host"},
		{host: "a b", want: "invalid character"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			cert, err := a.Leaf(tc.host)
			if cert != nil || err == nil {
				t.Fatalf("Leaf(%q) = %v, %v; want refusal", tc.host, cert, err)
			}
			var nce *NotCoveredError
			if errors.As(err, &nce) != tc.notCovered {
				t.Errorf("Leaf(%q) error %v: NotCoveredError = %v, want %v", tc.host, err, !tc.notCovered, tc.notCovered)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
	if n := mints.Load(); n != 0 {
		t.Errorf("%d leaves minted for refused hosts", n)
	}

	clock.set(a.Certificate().NotAfter)
	if _, err := a.Leaf("api.openai.com"); !errors.Is(err, ErrCAExpired) {
		t.Errorf("Leaf with an expired CA: %v, want ErrCAExpired", err)
	}
	// Just before the CA expires, the leaf ends with the CA.
	clock.set(a.Certificate().NotAfter.Add(-48 * time.Hour))
	cert, err := a.Leaf("api.openai.com")
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Leaf.NotAfter.Equal(a.Certificate().NotAfter) {
		t.Errorf("leaf NotAfter %v outlives the CA's %v", cert.Leaf.NotAfter, a.Certificate().NotAfter)
	}
}

// TestLeafConcurrentMintOnce guards that concurrent first requests for one
// host mint exactly once and all get that leaf.
func TestLeafConcurrentMintOnce(t *testing.T) {
	a, _ := mustInit(t, testHosts...)
	const n = 16
	var mints atomic.Int32
	release := make(chan struct{})
	waiting := make(chan struct{}, n)
	a.onMint = func(string) {
		mints.Add(1)
		<-release // hold the first mint until every other caller has joined it
	}
	a.onWait = func(string) { waiting <- struct{}{} }

	results := make([]*tls.Certificate, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = a.Leaf("api.openai.com")
		}()
	}
	// Bounded, so that a regression (every caller minting, each blocked in
	// onMint) fails instead of hanging.
	timeout := time.After(10 * time.Second)
	for i := range n - 1 {
		select {
		case <-waiting:
		case <-timeout:
			close(release)
			wg.Wait()
			t.Fatalf("only %d of %d callers joined the first mint; %d mints", i, n-1, mints.Load())
		}
	}
	close(release)
	wg.Wait()

	if got := mints.Load(); got != 1 {
		t.Errorf("%d mints for %d concurrent first requests, want 1", got, n)
	}
	for i := range n {
		if errs[i] != nil || results[i] != results[0] {
			t.Errorf("caller %d got %p, %v; want the shared leaf %p", i, results[i], errs[i], results[0])
		}
	}
	// And the next call is a cache hit.
	if c, _ := a.Leaf("api.openai.com:443"); c != results[0] || mints.Load() != 1 {
		t.Error("leaf was not cached after the concurrent mint")
	}
}

// TestLeafCacheBound guards the LRU bound: the cache never holds more than
// its size, evicts the least recently used host, and keeps recently used
// ones.
func TestLeafCacheBound(t *testing.T) {
	a, _ := mustInit(t, "*.example.com")
	a.cacheSize = 3
	mints := map[string]int{}
	a.onMint = func(h string) { mints[h]++ }
	host := func(i int) string { return fmt.Sprintf("h%d.example.com", i) }

	for _, step := range []struct {
		host      int
		wantMints int // total mints of that host after the call
	}{
		{1, 1}, {2, 1}, {3, 1},
		{1, 1}, // hit: h1 becomes most recent; order h1 h3 h2
		{4, 1}, // evicts h2
		{2, 2}, // re-minted; evicts h3
		{1, 1}, // still cached
		{3, 2}, // re-minted
	} {
		if _, err := a.Leaf(host(step.host)); err != nil {
			t.Fatal(err)
		}
		if got := mints[host(step.host)]; got != step.wantMints {
			t.Errorf("after Leaf(%s): %d mints, want %d", host(step.host), got, step.wantMints)
		}
		if a.lru.Len() > 3 || len(a.cache) != a.lru.Len() {
			t.Fatalf("cache holds %d (map %d), bound 3", a.lru.Len(), len(a.cache))
		}
	}

	// The default bound applies to an Authority from Init.
	b, _ := mustInit(t, "*.example.com")
	for i := range LeafCacheSize + 10 {
		if _, err := b.Leaf(host(i)); err != nil {
			t.Fatal(err)
		}
	}
	if b.lru.Len() != LeafCacheSize || len(b.cache) != LeafCacheSize {
		t.Errorf("cache holds %d, want the bound %d", b.lru.Len(), LeafCacheSize)
	}
}

// TestLeafExpiryRemint guards re-verification before reuse: a cached leaf
// is reused while it has more than LeafRenewMargin left, and re-minted
// after.
func TestLeafExpiryRemint(t *testing.T) {
	a, clock := mustInit(t, testHosts...)
	var mints atomic.Int32
	a.onMint = func(string) { mints.Add(1) }

	first, err := a.Leaf("api.openai.com")
	if err != nil {
		t.Fatal(err)
	}
	renewAt := first.Leaf.NotAfter.Add(-LeafRenewMargin)
	for _, tc := range []struct {
		at        time.Time
		wantMints int32
		wantSame  bool
	}{
		{t0.Add(time.Hour), 1, true},
		{renewAt.Add(-time.Second), 1, true},
		{renewAt, 2, false},
	} {
		clock.set(tc.at)
		got, err := a.Leaf("api.openai.com")
		if err != nil {
			t.Fatal(err)
		}
		if mints.Load() != tc.wantMints || (got == first) != tc.wantSame {
			t.Errorf("at %v: %d mints, same leaf %v; want %d, %v", tc.at, mints.Load(), got == first, tc.wantMints, tc.wantSame)
		}
		if !got.Leaf.NotAfter.After(tc.at.Add(LeafRenewMargin)) {
			t.Errorf("at %v: got a leaf expiring at %v", tc.at, got.Leaf.NotAfter)
		}
	}

	// A clock set back before the cached leaf's NotBefore also re-mints.
	clock.set(t0)
	if got, err := a.Leaf("api.openai.com"); err != nil || !got.Leaf.NotBefore.Equal(t0.Add(-time.Hour)) || mints.Load() != 3 {
		t.Errorf("clock set back: %v, %d mints; want a fresh leaf", err, mints.Load())
	}
}

// TestTLSHandshake guards the real use: a TLS server whose GetCertificate
// calls Leaf completes a handshake with a client that trusts only the CA,
// and refuses a host outside the constraints.
func TestTLSHandshake(t *testing.T) {
	a, err := Init(t.TempDir(), testHosts, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		serverName string
		wantErr    bool
	}{
		{"api.openai.com", false},
		{"x.example.com", false},
		{"127.0.0.1", false}, // no SNI for an IP: the server falls back to its address
		{"evil.com", true},
	} {
		t.Run(tc.serverName, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			serverErr := make(chan error, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					serverErr <- err
					return
				}
				defer conn.Close()
				srv := tls.Server(conn, &tls.Config{
					GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
						host := hello.ServerName
						if host == "" {
							host = "127.0.0.1"
						}
						return a.Leaf(host)
					},
				})
				err = srv.HandshakeContext(context.Background())
				if err == nil {
					_, err = srv.Write([]byte("ok"))
				}
				serverErr <- err
			}()

			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			client := tls.Client(conn, &tls.Config{ServerName: tc.serverName, RootCAs: pool(a)})
			err = client.HandshakeContext(context.Background())
			if tc.wantErr {
				if err == nil {
					t.Fatal("handshake succeeded for a host outside the constraints")
				}
				if serr := <-serverErr; serr == nil || !strings.Contains(serr.Error(), "does not cover") {
					t.Errorf("server error = %v, want the NotCoveredError", serr)
				}
				return
			}
			if err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			buf := make([]byte, 2)
			if _, err := client.Read(buf); err != nil || string(buf) != "ok" {
				t.Errorf("read %q, %v", buf, err)
			}
			if err := <-serverErr; err != nil {
				t.Errorf("server: %v", err)
			}
			st := client.ConnectionState()
			if len(st.PeerCertificates) != 2 || !st.PeerCertificates[1].Equal(a.Certificate()) {
				t.Error("server did not send the chain [leaf, CA]")
			}
			if len(st.VerifiedChains) != 1 {
				t.Errorf("verified chains = %d", len(st.VerifiedChains))
			}
		})
	}
}

// BenchmarkLeafCold measures minting: every iteration is a new host.
func BenchmarkLeafCold(b *testing.B) {
	a, err := Init(b.TempDir(), []string{"*.example.com"}, false, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	hosts := make([]string, b.N)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.example.com", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := a.Leaf(hosts[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLeafCached measures a cache hit, serially and from parallel
// goroutines (the lock is shared by all hosts).
func BenchmarkLeafCached(b *testing.B) {
	a, err := Init(b.TempDir(), []string{"api.openai.com"}, false, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.Leaf("api.openai.com"); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Leaf("api.openai.com"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Leaf("api.openai.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
