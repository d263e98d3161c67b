// Package certs is Conduit's local certificate authority: it creates and
// loads a CA unique to one install, and mints short-lived leaf certificates
// on demand for the LLM hosts that forward (HTTPS_PROXY) mode intercepts.
//
// Why a package of its own: the CA key is the one secret Conduit holds, so
// everything that touches it lives here, behind a small API, and can be
// reviewed in one place. The CA is limited by critical X.509 name
// constraints to the intercepted hosts, so even a leaked key cannot sign a
// certificate that a client would accept for any other host. Leaves are
// minted only for hosts inside those constraints, cached in a bounded LRU,
// and a burst of concurrent first requests for one host mints once.
//
// The package knows nothing of HTTP: the proxy asks [Authority.Leaf] for a
// certificate and does the TLS itself. It never uses goproxy's built-in CA,
// whose private key is public.
package certs

import (
	"container/list"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// DefaultDirName is the directory under [os.UserConfigDir] that holds the CA
// unless the configuration names another (`[mitm] ca_dir`).
const DefaultDirName = "conduit"

// File names inside a CA directory.
const (
	// CertFileName is the CA certificate (PEM, mode 0644): the file clients
	// are told to trust.
	CertFileName = "ca.pem"
	// KeyFileName is the CA private key (PKCS #8 PEM, mode 0600).
	KeyFileName = "ca-key.pem"
	// BundleFileName is the combined bundle (system roots + the CA) that
	// [Authority.WriteBundle] writes for SSL_CERT_FILE-style variables.
	BundleFileName = "ca-bundle.pem"
)

// Validity periods.
const (
	// CAValidity is how long a new CA is valid. Ten years: the CA is trusted
	// by the user's tools through environment variables, and replacing it
	// means updating every one of them, so it should outlive the install.
	// Its reach is limited by name constraints, not by a short lifetime.
	CAValidity = 10 * 365 * 24 * time.Hour

	// LeafValidity is how long a minted leaf is valid. Leaves live only in
	// memory and are re-minted on demand, so a short life costs nothing and
	// bounds the use of any leaf that escapes.
	LeafValidity = 7 * 24 * time.Hour

	// Backdate is subtracted from NotBefore of the CA and of every leaf so
	// that a client whose clock runs a little behind ours still accepts them.
	Backdate = time.Hour

	// LeafRenewMargin: a cached leaf with less than this much validity left
	// is re-minted instead of reused, so that a client whose clock runs
	// ahead of ours never sees an expired certificate.
	LeafRenewMargin = 24 * time.Hour

	// LeafCacheSize bounds the in-memory leaf cache (least recently used
	// entries are evicted first). Intercepted hosts are a short list, so
	// this is generous; the bound only matters under abuse.
	LeafCacheSize = 1024
)

var (
	// ErrNoCA is returned (wrapped) by [Load] when the directory holds no CA
	// certificate.
	ErrNoCA = errors.New("no local CA: run `conduit ca init` to create one")

	// ErrCAExists is returned (wrapped) by [Init] when a CA already exists
	// and force is false.
	ErrCAExists = errors.New("a local CA already exists: use --force to replace it (tools that trust the old CA must then be pointed at the new one)")

	// ErrInsecureKey is returned (wrapped) by [Load] when the CA key file is
	// accessible to its group or to other users.
	ErrInsecureKey = errors.New("CA key file is readable by other users")

	// ErrCAExpired is returned (wrapped) by [Authority.Leaf] once the CA
	// itself has expired.
	ErrCAExpired = errors.New("local CA has expired: run `conduit ca init --force` to create a new one")
)

// Authority is a loaded local CA. It is safe for concurrent use. The zero
// value is not usable: get one from [Init] or [Load].
type Authority struct {
	dir  string
	cert *x509.Certificate
	key  crypto.Signer
	// certPEM is ca.pem's content, appended to the bundle.
	certPEM []byte

	// leafKey is shared by every leaf of this Authority: minting then costs
	// one signature instead of a key generation plus a signature, and a leaf
	// key only ever lives in this process's memory, exactly like the CA key
	// it is signed with.
	leafKey *ecdsa.PrivateKey

	// now is the clock for leaf minting and cache freshness (tests inject
	// one).
	now func() time.Time
	// onMint, when set (tests only), is called once per minted leaf, before
	// the leaf is cached or handed to anyone.
	onMint func(host string)
	// onWait, when set (tests only), is called when a Leaf call joins a
	// mint already in progress for its host.
	onWait func(host string)

	mu        sync.Mutex
	cacheSize int
	lru       *list.List               // of *leafEntry, most recently used first
	cache     map[string]*list.Element // host → element of lru
	inflight  map[string]*flight       // host → mint in progress
}

// DefaultDir returns the default CA directory, [DefaultDirName] under
// [os.UserConfigDir]. It does not create it.
func DefaultDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory for the CA: %w", err)
	}
	return filepath.Join(base, DefaultDirName), nil
}

// Init creates a new CA in dir (created with mode 0700 if missing, and
// tightened to 0700 if it exists) whose name constraints permit exactly the
// given hosts (see [Authority.Covers] for the host syntax), and writes
// ca.pem (0644) and ca-key.pem (0600). now is the creation time (NotBefore
// is now minus [Backdate]).
//
// Without force, Init refuses to replace an existing CA (either file
// present) and returns an error wrapping [ErrCAExists]. With force it
// replaces both files and removes a stale bundle. Each file is written to a
// temporary file and renamed into place, the key first, so an interrupted
// Init never leaves a half-written file.
func Init(dir string, hosts []string, force bool, now time.Time) (*Authority, error) {
	if dir == "" {
		return nil, errors.New("init CA: empty directory")
	}
	specs, err := parseHosts(hosts)
	if err != nil {
		return nil, fmt.Errorf("init CA in %s: %w", dir, err)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("init CA in %s: no hosts to intercept: a CA that permits no name is useless", dir)
	}
	nc := buildConstraints(specs)

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init CA: create %s: %w", dir, err)
	}
	// The key file is 0600, but a directory others can write would let them
	// swap ca.pem or ca-key.pem under us, and one they can list leaks more
	// than it needs to; MkdirAll leaves an existing directory's mode alone.
	if runtime.GOOS != "windows" {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("init CA: restrict %s to its owner: %w", dir, err)
		}
	}
	certPath, keyPath := filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName)
	if !force {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("init CA in %s: %w", dir, ErrCAExists)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("init CA: check %s: %w", p, err)
			}
		}
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("init CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	skid, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      caSubject(),
		// Identifies the key in the AuthorityKeyId of every leaf, so that
		// verifiers can pick the right issuer after a `ca init --force`.
		SubjectKeyId: skid,
		NotBefore:    now.Add(-Backdate),
		NotAfter:     now.Add(CAValidity),

		// A CA that signs only end-entity certificates: MaxPathLenZero
		// forbids intermediates, which would otherwise be a way around the
		// per-leaf checks in Leaf (the name constraints still bind them).
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
		// Unusual for a root, deliberate here: verifiers that enforce EKU
		// nesting (Go, Windows, NSS) then accept this CA's certificates for
		// TLS servers only, never for client auth, code or e-mail signing.
		// That also covers the name types the constraints leave alone
		// (e-mail, URI): they do not identify a TLS server.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},

		// Critical, so that a verifier that cannot process them rejects the
		// certificates instead of ignoring the limit (RFC 5280 4.2.1.10).
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         nc.permittedDNS,
		ExcludedDNSDomains:          nc.excludedDNS,
		PermittedIPRanges:           nc.permittedIP,
		ExcludedIPRanges:            nc.excludedIP,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("init CA: sign certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("init CA: encode key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	// A bundle left from the previous CA would make SSL_CERT_FILE users
	// trust a CA that no longer signs anything; it is rewritten on demand.
	if err := os.Remove(filepath.Join(dir, BundleFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("init CA: remove stale bundle: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("init CA: parse new certificate: %w", err)
	}
	return newAuthority(dir, cert, key, certPEM)
}

// Load reads the CA in dir. It returns an error wrapping [ErrNoCA] when
// there is no ca.pem, wrapping [ErrInsecureKey] when ca-key.pem is
// accessible to group or others (not checked on Windows, whose file modes
// say nothing about other users), and an error when the key does not match
// the certificate or the certificate is not a name-constrained CA (Conduit
// never mints with a CA that could sign for any host).
func Load(dir string) (*Authority, error) {
	certPath, keyPath := filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load CA from %s: %w", dir, ErrNoCA)
	}
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %s: %w", certPath, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate: run `conduit ca init --force`", certPath)
	}
	if !hasNameConstraints(cert) {
		return nil, fmt.Errorf("load CA: %s has no name constraints (not made by `conduit ca init`?): run `conduit ca init --force`", certPath)
	}

	info, err := os.Stat(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load CA: key %s is missing: run `conduit ca init --force`", keyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load CA: %s has mode %#o (run `chmod 600 %s`): %w", keyPath, info.Mode().Perm(), keyPath, ErrInsecureKey)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %s: %w", keyPath, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("load CA: %s does not match %s: run `conduit ca init --force`", keyPath, certPath)
	}
	return newAuthority(dir, cert, key, certPEM)
}

func newAuthority(dir string, cert *x509.Certificate, key crypto.Signer, certPEM []byte) (*Authority, error) {
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate leaf key: %w", err)
	}
	return &Authority{
		dir:       dir,
		cert:      cert,
		key:       key,
		certPEM:   certPEM,
		leafKey:   leafKey,
		now:       time.Now,
		cacheSize: LeafCacheSize,
		lru:       list.New(),
		cache:     make(map[string]*list.Element),
		inflight:  make(map[string]*flight),
	}, nil
}

// Dir returns the directory the CA was loaded from or created in.
func (a *Authority) Dir() string { return a.dir }

// CertPath returns the path of the CA certificate (ca.pem), the file to
// give to NODE_EXTRA_CA_CERTS and similar variables.
func (a *Authority) CertPath() string { return filepath.Join(a.dir, CertFileName) }

// KeyPath returns the path of the CA private key (ca-key.pem).
func (a *Authority) KeyPath() string { return filepath.Join(a.dir, KeyFileName) }

// BundlePath returns the default path for [Authority.WriteBundle]:
// [BundleFileName] beside the CA.
func (a *Authority) BundlePath() string { return filepath.Join(a.dir, BundleFileName) }

// Certificate returns the parsed CA certificate. It is shared and valid for
// the Authority's lifetime: callers must not modify it.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// caSubject names the CA after the user and machine it belongs to, as
// mkcert does, so that one install's CA is recognisable in trust-store UIs.
func caSubject() pkix.Name {
	owner := ""
	if u, err := user.Current(); err == nil {
		owner = u.Username + "@"
	}
	if h, err := os.Hostname(); err == nil {
		owner += h
	}
	name := pkix.Name{
		Organization: []string{"Conduit local CA"},
		CommonName:   "Conduit local CA",
	}
	if owner != "" {
		name.OrganizationalUnit = []string{owner}
		name.CommonName += " " + owner
	}
	return name
}

// randomSerial returns a random positive serial number of up to 128 bits:
// unpredictable serials are what CAs use against chosen-prefix collisions,
// and 128 bits makes two certificates with one serial practically
// impossible even across many `ca init --force`.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 { // RFC 5280: serials are positive
			return n, nil
		}
	}
}

// subjectKeyID derives the key identifier as RFC 7093 section 2 method 1
// does: the leftmost 160 bits of the SHA-256 of the subjectPublicKey bits.
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	// For an EC key the subjectPublicKey BIT STRING is the uncompressed
	// point, which is what PublicKey.Bytes returns.
	b, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:20], nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", k)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// writeFileAtomic writes data to a temporary file beside path with the given
// mode and renames it over path, so readers see the old file or the new one,
// never a part.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; set the final mode before any data
	// is in it.
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return nil
}
