package certs

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"time"
)

// leafEntry is one cached leaf.
type leafEntry struct {
	host string
	cert *tls.Certificate
}

// flight is a mint in progress; concurrent callers for the same host wait
// on done and share its result.
type flight struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// Leaf returns a TLS server certificate for host ("api.openai.com",
// "api.openai.com:443", "127.0.0.1", "[::1]:443"; the port is ignored),
// signed by the CA, with the CA certificate as the second element of its
// chain so that clients receive the whole chain.
//
// Leaf refuses, with a *[NotCoveredError], any host outside the CA's name
// constraints: it never signs for a host that is not intercepted. It
// refuses wildcards (a leaf names one concrete host), and returns an error
// wrapping [ErrCAExpired] once the CA has expired.
//
// Leaves are cached (at most [LeafCacheSize], least recently used evicted
// first) and reused while they have more than [LeafRenewMargin] of validity
// left; concurrent first calls for one host mint once and share the result.
// The returned certificate is shared with other callers and the cache: do
// not modify it. It stays valid until its Leaf.NotAfter (at most
// [LeafValidity] after minting); a caller that keeps it longer than a
// handshake should call Leaf again instead.
func (a *Authority) Leaf(host string) (*tls.Certificate, error) {
	spec, err := parseHost(host)
	if err != nil {
		return nil, fmt.Errorf("leaf certificate: %w", err)
	}
	if spec.kind == hostWildcard {
		return nil, fmt.Errorf("leaf certificate for %q: a leaf names one concrete host, not a wildcard", host)
	}
	name := spec.String()
	if !a.permits(spec) {
		return nil, &NotCoveredError{Dir: a.dir, Hosts: []string{name}}
	}

	now := a.now()
	a.mu.Lock()
	if el, ok := a.cache[name]; ok {
		e := el.Value.(*leafEntry)
		if fresh(e.cert.Leaf, name, now) {
			a.lru.MoveToFront(el)
			a.mu.Unlock()
			return e.cert, nil
		}
		a.lru.Remove(el)
		delete(a.cache, name)
	}
	if f, ok := a.inflight[name]; ok {
		a.mu.Unlock()
		if a.onWait != nil {
			a.onWait(name)
		}
		<-f.done
		return f.cert, f.err
	}
	f := &flight{done: make(chan struct{})}
	a.inflight[name] = f
	a.mu.Unlock()

	f.cert, f.err = a.mint(spec, now)

	a.mu.Lock()
	delete(a.inflight, name)
	if f.err == nil {
		a.store(name, f.cert)
	}
	a.mu.Unlock()
	close(f.done)
	return f.cert, f.err
}

// fresh re-verifies a cached leaf before reuse: it must name host and be
// valid from now until at least LeafRenewMargin from now. The signature
// is not re-checked: the leaf never left this process's memory.
func fresh(leaf *x509.Certificate, host string, now time.Time) bool {
	return !now.Before(leaf.NotBefore) &&
		now.Add(LeafRenewMargin).Before(leaf.NotAfter) &&
		leaf.VerifyHostname(host) == nil
}

// store adds a leaf to the cache, evicting the least recently used entries
// beyond the bound. a.mu must be held.
func (a *Authority) store(name string, cert *tls.Certificate) {
	a.cache[name] = a.lru.PushFront(&leafEntry{host: name, cert: cert})
	for a.lru.Len() > a.cacheSize {
		old := a.lru.Back()
		a.lru.Remove(old)
		delete(a.cache, old.Value.(*leafEntry).host)
	}
}

// mint signs a new leaf for one concrete, permitted host.
func (a *Authority) mint(h hostSpec, now time.Time) (*tls.Certificate, error) {
	if !now.Before(a.cert.NotAfter) {
		return nil, fmt.Errorf("leaf certificate for %s: CA expired on %s: %w", h, a.cert.NotAfter.Format(time.DateOnly), ErrCAExpired)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("leaf certificate for %s: %w", h, err)
	}
	notBefore, notAfter := now.Add(-Backdate), now.Add(LeafValidity)
	// Never claim validity outside the CA's: some verifiers reject that.
	if notBefore.Before(a.cert.NotBefore) {
		notBefore = a.cert.NotBefore
	}
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"Conduit local CA"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		// DigitalSignature only: with an ECDSA key the TLS handshake signs;
		// KeyEncipherment is for RSA key transport, which ECDSA cannot do.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	if h.kind == hostIP {
		tmpl.IPAddresses = []net.IP{net.IP(h.ip.AsSlice())}
		// No CommonName: OpenSSL checks a CN that looks like a host name
		// against the DNS constraints when a certificate has no DNS SAN,
		// and "127.0.0.1" would fail them.
	} else {
		tmpl.DNSNames = []string{h.name}
		// Clients match the SAN; the CN is only there for humans reading
		// the certificate (openssl s_client, browser dialogs).
		tmpl.Subject.CommonName = h.name
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &a.leafKey.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("leaf certificate for %s: sign: %w", h, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("leaf certificate for %s: parse: %w", h, err)
	}
	if a.onMint != nil {
		a.onMint(h.String())
	}
	return &tls.Certificate{
		Certificate: [][]byte{der, a.cert.Raw},
		PrivateKey:  a.leafKey,
		Leaf:        leaf,
	}, nil
}
