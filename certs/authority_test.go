package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the fixed creation time of test CAs.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testHosts is a host list with every kind of host.
var testHosts = []string{"api.openai.com:443", "*.example.com", "127.0.0.1", "[::1]:8443"}

// testClock is an injectable clock for an Authority.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// mustInit creates a CA for hosts in a fresh temporary directory, created
// at t0, with its leaf clock at t0.
func mustInit(tb testing.TB, hosts ...string) (*Authority, *testClock) {
	tb.Helper()
	a, err := Init(filepath.Join(tb.TempDir(), "conduit"), hosts, false, t0)
	if err != nil {
		tb.Fatalf("Init(%q): %v", hosts, err)
	}
	clock := &testClock{t: t0}
	a.now = clock.now
	return a, clock
}

// TestInitCAFields guards every field of a new CA certificate: the
// security of forward mode rests on them (CA-only, no intermediates,
// server-auth only, critical name constraints that permit the hosts and
// nothing else).
func TestInitCAFields(t *testing.T) {
	a, _ := mustInit(t, testHosts...)
	c := a.Certificate()

	if c.Version != 3 {
		t.Errorf("Version = %d, want 3", c.Version)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("SerialNumber = %v, want positive and at most 128 bits", c.SerialNumber)
	}
	if c.SerialNumber.BitLen() < 64 {
		// Probability 2^-64 for a uniform 128-bit serial: a failure here
		// means the serial is not random.
		t.Errorf("SerialNumber %v is suspiciously short", c.SerialNumber)
	}
	if got := c.Subject.Organization; !reflect.DeepEqual(got, []string{"Conduit local CA"}) {
		t.Errorf("Subject.Organization = %q", got)
	}
	if !strings.HasPrefix(c.Subject.CommonName, "Conduit local CA") {
		t.Errorf("Subject.CommonName = %q, want a Conduit local CA prefix", c.Subject.CommonName)
	}
	if c.Issuer.String() != c.Subject.String() {
		t.Errorf("Issuer %q != Subject %q: want self-signed", c.Issuer, c.Subject)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("PublicKey = %T, want ECDSA P-256", c.PublicKey)
	}
	if c.PublicKeyAlgorithm != x509.ECDSA || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("algorithms = %v / %v, want ECDSA / ECDSA-SHA256", c.PublicKeyAlgorithm, c.SignatureAlgorithm)
	}
	pubBytes, _ := pub.Bytes()
	wantSKID := sha256.Sum256(pubBytes)
	if !bytes.Equal(c.SubjectKeyId, wantSKID[:20]) {
		t.Errorf("SubjectKeyId = %x, want %x", c.SubjectKeyId, wantSKID[:20])
	}
	if want := t0.Add(-time.Hour); !c.NotBefore.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", c.NotBefore, want)
	}
	if want := t0.Add(10 * 365 * 24 * time.Hour); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", c.NotAfter, want)
	}
	if !c.BasicConstraintsValid || !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints = valid %v CA %v maxPathLen %d zero %v, want CA with path length 0",
			c.BasicConstraintsValid, c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign {
		t.Errorf("KeyUsage = %v, want CertSign only", c.KeyUsage)
	}
	if !reflect.DeepEqual(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ExtKeyUsage = %v, want ServerAuth only", c.ExtKeyUsage)
	}
	if len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses)+len(c.URIs) != 0 {
		t.Errorf("CA has SANs %v %v %v %v, want none", c.DNSNames, c.IPAddresses, c.EmailAddresses, c.URIs)
	}

	// Name constraints: present, critical, exactly the hosts.
	if !c.PermittedDNSDomainsCritical {
		t.Error("name constraints are not critical")
	}
	nameConstraintsOID := asn1.ObjectIdentifier{2, 5, 29, 30}
	var found bool
	for _, e := range c.Extensions {
		if e.Id.Equal(nameConstraintsOID) {
			found = true
			if !e.Critical {
				t.Error("name constraints extension not marked critical on the wire")
			}
		}
	}
	if !found {
		t.Error("no name constraints extension")
	}
	if want := []string{"api.openai.com", ".example.com"}; !reflect.DeepEqual(c.PermittedDNSDomains, want) {
		t.Errorf("PermittedDNSDomains = %q, want %q", c.PermittedDNSDomains, want)
	}
	if want := []string{".api.openai.com"}; !reflect.DeepEqual(c.ExcludedDNSDomains, want) {
		t.Errorf("ExcludedDNSDomains = %q, want %q", c.ExcludedDNSDomains, want)
	}
	if got, want := ipNets(c.PermittedIPRanges), []string{"127.0.0.1/32", "::1/128"}; !reflect.DeepEqual(got, want) {
		t.Errorf("PermittedIPRanges = %q, want %q", got, want)
	}
	if len(c.ExcludedIPRanges) != 0 {
		t.Errorf("ExcludedIPRanges = %q, want none", ipNets(c.ExcludedIPRanges))
	}
	if len(c.PermittedEmailAddresses)+len(c.ExcludedEmailAddresses)+len(c.PermittedURIDomains)+len(c.ExcludedURIDomains) != 0 {
		t.Error("unexpected e-mail or URI constraints")
	}

	// The key on disk is the certificate's.
	keyPEM, err := os.ReadFile(a.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(key.Public()) {
		t.Error("ca-key.pem does not match ca.pem")
	}
}

func ipNets(l []*net.IPNet) []string {
	var out []string
	for _, n := range l {
		out = append(out, n.String())
	}
	return out
}

// TestInitFilesAndModes guards the on-disk layout: a 0700 directory (also
// when it existed with a looser mode), ca.pem 0644, ca-key.pem 0600, no
// temporary files left behind.
func TestInitFilesAndModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows file modes do not express owner-only access")
	}
	for _, tc := range []struct {
		name    string
		prepare func(dir string) error
	}{
		{"created", func(string) error { return nil }},
		{"existing 0755", func(dir string) error { return os.Mkdir(dir, 0o755) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "conduit")
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.prepare(dir); err != nil {
				t.Fatal(err)
			}
			a, err := Init(dir, []string{"api.openai.com"}, false, t0)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				path string
				mode os.FileMode
			}{{dir, 0o700}, {a.CertPath(), 0o644}, {a.KeyPath(), 0o600}} {
				info, err := os.Stat(f.path)
				if err != nil {
					t.Fatal(err)
				}
				if got := info.Mode().Perm(); got != f.mode {
					t.Errorf("%s mode = %#o, want %#o", f.path, got, f.mode)
				}
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if want := []string{KeyFileName, CertFileName}; !reflect.DeepEqual(names, want) {
				t.Errorf("directory holds %q, want %q", names, want)
			}
			if a.CertPath() != filepath.Join(dir, "ca.pem") || a.KeyPath() != filepath.Join(dir, "ca-key.pem") || a.Dir() != dir {
				t.Errorf("paths = %s %s %s", a.Dir(), a.CertPath(), a.KeyPath())
			}
		})
	}
}

// TestInitRefusesOverwrite guards that an existing CA (or either of its
// files) is never replaced without force, and that force replaces it and
// removes the stale bundle.
func TestInitRefusesOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conduit")
	first, err := Init(dir, []string{"api.openai.com"}, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.writeBundle(first.BundlePath(), rootSource{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(first.CertPath())

	_, err = Init(dir, []string{"api.openai.com"}, false, t0)
	if !errors.Is(err, ErrCAExists) {
		t.Fatalf("second Init error = %v, want ErrCAExists", err)
	}
	if !strings.Contains(err.Error(), "--force") {
		t.Errorf("error %q does not mention --force", err)
	}
	if after, _ := os.ReadFile(first.CertPath()); !bytes.Equal(before, after) {
		t.Error("refused Init changed ca.pem")
	}

	second, err := Init(dir, []string{"api.anthropic.com"}, true, t0)
	if err != nil {
		t.Fatalf("Init with force: %v", err)
	}
	if second.Certificate().SerialNumber.Cmp(first.Certificate().SerialNumber) == 0 {
		t.Error("forced Init kept the old serial")
	}
	if _, err := os.Stat(first.BundlePath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale bundle still present: %v", err)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.Certificate().Raw, second.Certificate().Raw) {
		t.Error("Load after force returns a different CA than Init created")
	}

	// A key alone (a half-deleted CA) is protected as well.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, KeyFileName), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir2, []string{"api.openai.com"}, false, t0); !errors.Is(err, ErrCAExists) {
		t.Errorf("Init over a lone key: %v, want ErrCAExists", err)
	}
}

// TestInitErrors guards argument checking: nothing is written for a bad
// host list.
func TestInitErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
		want  string
	}{
		{"no hosts", nil, "no hosts"},
		{"empty host", []string{""}, "empty host"},
		{"bad and good", []string{"api.openai.com", "*.com", "a b"}, "wildcard"},
		{"bad port", []string{"api.openai.com:http"}, "invalid port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			_, err := Init(dir, tc.hosts, false, t0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Init(%q) error = %v, want it to mention %q", tc.hosts, err, tc.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed Init created %s", dir)
			}
		})
	}
	if _, err := Init("", []string{"api.openai.com"}, false, t0); err == nil {
		t.Error("Init with empty dir succeeded")
	}
}

// TestLoad guards the round trip and every reason Load refuses a CA.
func TestLoad(t *testing.T) {
	good, _ := mustInit(t, "api.openai.com")
	other, _ := mustInit(t, "api.openai.com")
	otherKey, _ := os.ReadFile(other.KeyPath())
	goodCert, _ := os.ReadFile(good.CertPath())
	goodKey, _ := os.ReadFile(good.KeyPath())

	// An unconstrained CA (as from another tool) and a non-CA certificate.
	unconstrained := selfSigned(t, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	notCA := selfSigned(t, &x509.Certificate{KeyUsage: x509.KeyUsageDigitalSignature})

	for _, tc := range []struct {
		name    string
		cert    []byte // nil: no ca.pem
		key     []byte // nil: no ca-key.pem
		keyMode os.FileMode
		wantIs  error
		want    string
	}{
		{name: "ok", cert: goodCert, key: goodKey, keyMode: 0o600},
		{name: "ok 0400", cert: goodCert, key: goodKey, keyMode: 0o400},
		{name: "no CA", wantIs: ErrNoCA, want: "conduit ca init"},
		{name: "no key", cert: goodCert, want: "missing"},
		{name: "group readable key", cert: goodCert, key: goodKey, keyMode: 0o640, wantIs: ErrInsecureKey, want: "chmod 600"},
		{name: "world readable key", cert: goodCert, key: goodKey, keyMode: 0o604, wantIs: ErrInsecureKey},
		{name: "mismatched key", cert: goodCert, key: otherKey, keyMode: 0o600, want: "does not match"},
		{name: "garbage cert", cert: []byte("hello"), key: goodKey, keyMode: 0o600, want: "no PEM CERTIFICATE"},
		{name: "garbage key", cert: goodCert, key: []byte("hello"), keyMode: 0o600, want: "no PEM PRIVATE KEY"},
		{name: "unconstrained CA", cert: unconstrained, key: goodKey, keyMode: 0o600, want: "no name constraints"},
		{name: "not a CA", cert: notCA, key: goodKey, keyMode: 0o600, want: "not a CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && tc.wantIs == ErrInsecureKey {
				t.Skip("no key mode check on Windows")
			}
			dir := t.TempDir()
			if tc.cert != nil {
				if err := os.WriteFile(filepath.Join(dir, CertFileName), tc.cert, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.key != nil {
				p := filepath.Join(dir, KeyFileName)
				if err := os.WriteFile(p, tc.key, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tc.keyMode); err != nil {
					t.Fatal(err)
				}
			}
			a, err := Load(dir)
			if tc.wantIs == nil && tc.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if !bytes.Equal(a.Certificate().Raw, good.Certificate().Raw) {
					t.Error("loaded a different certificate")
				}
				if _, err := a.Leaf("api.openai.com"); err != nil {
					t.Errorf("loaded CA cannot mint: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error = %v, want errors.Is %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// selfSigned returns the PEM of a self-signed certificate from tmpl.
func selfSigned(tb testing.TB, tmpl *x509.Certificate) []byte {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.Subject = pkix.Name{CommonName: "other"}
	tmpl.NotBefore, tmpl.NotAfter = t0, t0.Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestDefaultDir guards that the CA lives under the user config directory.
func TestDefaultDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG_CONFIG_HOME decides os.UserConfigDir on Linux only")
	}
	t.Setenv("XDG_CONFIG_HOME", "/tmp/cfg")
	got, err := DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != "/tmp/cfg/conduit" {
		t.Errorf("DefaultDir = %q, want /tmp/cfg/conduit", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "")
	if _, err := DefaultDir(); err == nil {
		t.Error("DefaultDir without HOME succeeded")
	}
}
