package certs

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestTrustEnv guards the variable set `conduit ca env` prints: adders get
// ca.pem, replacers get the bundle.
func TestTrustEnv(t *testing.T) {
	a, _ := mustInit(t, "api.openai.com")
	env := TrustEnv(a, "/b/bundle.pem")
	var got [][2]string
	for _, e := range env {
		got = append(got, [2]string{e.Name, e.Value})
		if e.For == "" {
			t.Errorf("%s has no For", e.Name)
		}
	}
	want := [][2]string{
		{"NODE_EXTRA_CA_CERTS", a.CertPath()},
		{"SSL_CERT_FILE", "/b/bundle.pem"},
		{"REQUESTS_CA_BUNDLE", "/b/bundle.pem"},
		{"CURL_CA_BUNDLE", "/b/bundle.pem"},
		{"CODEX_CA_CERTIFICATE", a.CertPath()},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TrustEnv = %q, want %q", got, want)
	}
}

// fakeRoots makes n distinct self-signed CA certificates, PEM-encoded.
func fakeRoots(tb testing.TB, n int) [][]byte {
	var out [][]byte
	for range n {
		out = append(out, selfSigned(tb, &x509.Certificate{IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}))
	}
	return out
}

// readBundle returns the DER of every block in a bundle file.
func readBundle(tb testing.TB, path string) [][]byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			tb.Errorf("bundle holds a %s block", b.Type)
		}
		out = append(out, b.Bytes)
	}
	return out
}

func pemDER(tb testing.TB, p []byte) []byte {
	b, _ := pem.Decode(p)
	if b == nil {
		tb.Fatal("no PEM")
	}
	return b.Bytes
}

// TestWriteBundle guards the combined bundle: system roots from the first
// bundle file and every file of the directories, de-duplicated, non-
// certificate blocks dropped, the CA last, mode 0644.
func TestWriteBundle(t *testing.T) {
	a, _ := mustInit(t, "api.openai.com")
	roots := fakeRoots(t, 3)
	sys := t.TempDir()
	write := func(name string, parts ...[]byte) string {
		p := filepath.Join(sys, name)
		if err := os.WriteFile(p, []byte(strings.Join(bytesToStrings(parts), "# a comment line\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	trusted := []byte("-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n")
	bundle := write("bundle.crt", roots[0], roots[1], trusted, a.certPEM)
	second := write("second.crt", roots[2]) // not read: only the first bundle file counts
	certDir := filepath.Join(sys, "certs")
	if err := os.Mkdir(certDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "dup.pem"), roots[1], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "readme.txt"), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(certDir, "missing"), filepath.Join(certDir, "dangling.pem")); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		src   rootSource
		wantN int
		want  [][]byte // PEM of the expected system roots, in order
	}{
		{"file and dir", rootSource{files: []string{filepath.Join(sys, "nope"), bundle, second}, dirs: []string{certDir, filepath.Join(sys, "nodir")}},
			2, [][]byte{roots[0], roots[1]}},
		{"dir adds", rootSource{files: []string{second}, dirs: []string{certDir}},
			2, [][]byte{roots[2], roots[1]}},
		{"nothing found", rootSource{files: []string{filepath.Join(sys, "nope")}}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "ca-bundle.pem")
			n, err := a.writeBundle(out, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantN {
				t.Errorf("n = %d, want %d", n, tc.wantN)
			}
			var want [][]byte
			for _, p := range tc.want {
				want = append(want, pemDER(t, p))
			}
			want = append(want, a.Certificate().Raw)
			if got := readBundle(t, out); !reflect.DeepEqual(got, want) {
				t.Errorf("bundle holds %d certificates, want %d (system roots, then the CA once)", len(got), len(want))
			}
			if runtime.GOOS != "windows" {
				if info, _ := os.Stat(out); info.Mode().Perm() != 0o644 {
					t.Errorf("bundle mode %#o, want 0644", info.Mode().Perm())
				}
			}
		})
	}

	// An unreadable bundle with nothing else found is an error, and
	// nothing is written.
	out := filepath.Join(t.TempDir(), "ca-bundle.pem")
	if _, err := a.writeBundle(out, rootSource{files: []string{certDir}}); err == nil {
		t.Error("writeBundle with an unreadable bundle file succeeded")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("failed writeBundle left a file")
	}
}

func bytesToStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// TestWriteBundleTrust guards what the bundle is for: it verifies both a
// leaf from the CA and a certificate from a system root.
func TestWriteBundleTrust(t *testing.T) {
	a, _ := mustInit(t, testHosts...)
	other, _ := mustInit(t, "public.example.org")
	sys := filepath.Join(t.TempDir(), "sys.pem")
	if err := os.WriteFile(sys, other.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	out := a.BundlePath()
	if _, err := a.writeBundle(out, rootSource{files: []string{sys}}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		t.Fatal("bundle does not parse")
	}
	for _, tc := range []struct {
		a    *Authority
		host string
	}{{a, "api.openai.com"}, {other, "public.example.org"}} {
		leaf, err := tc.a.Leaf(tc.host)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: tc.host, Roots: p, CurrentTime: t0}); err != nil {
			t.Errorf("%s does not verify against the bundle: %v", tc.host, err)
		}
	}
}

// TestWriteBundleSystem runs WriteBundle against this machine's real roots.
func TestWriteBundleSystem(t *testing.T) {
	a, _ := mustInit(t, "api.openai.com")
	t.Setenv("SSL_CERT_FILE", "")
	t.Setenv("SSL_CERT_DIR", "")
	n, err := a.WriteBundle(a.BundlePath())
	if err != nil {
		t.Fatal(err)
	}
	got := readBundle(t, a.BundlePath())
	if len(got) != n+1 || string(got[n]) != string(a.Certificate().Raw) {
		t.Errorf("bundle holds %d certificates for n = %d; want n system roots then the CA", len(got), n)
	}
	if n == 0 {
		t.Skipf("no system roots on %s: only the CA-only path was exercised", runtime.GOOS)
	}
}

// TestSystemRoots guards SSL_CERT_FILE / SSL_CERT_DIR handling, including
// that the bundle being written is never its own source.
func TestSystemRoots(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	def := systemRootFiles("linux")
	if len(def.files) == 0 || def.files[0] != "/etc/ssl/certs/ca-certificates.crt" || len(def.dirs) == 0 {
		t.Fatalf("linux defaults = %+v", def)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want rootSource
	}{
		{"defaults", nil, def},
		{"SSL_CERT_FILE", map[string]string{"SSL_CERT_FILE": "/corp/roots.pem"}, rootSource{files: []string{"/corp/roots.pem"}, dirs: def.dirs}},
		{"SSL_CERT_FILE is the bundle", map[string]string{"SSL_CERT_FILE": "/ca/./ca-bundle.pem"}, def},
		{"SSL_CERT_DIR", map[string]string{"SSL_CERT_DIR": "/a:/b"}, rootSource{files: def.files, dirs: []string{"/a", "/b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := systemRoots("linux", env(tc.env), "/ca/ca-bundle.pem")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("systemRoots = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := systemRootFiles("windows"); len(got.files)+len(got.dirs) != 0 {
		t.Errorf("windows roots = %+v, want none", got)
	}
	if got := systemRootFiles("darwin"); !reflect.DeepEqual(got.files, []string{"/etc/ssl/cert.pem"}) {
		t.Errorf("darwin roots = %+v", got)
	}
}

// TestTrust guards the system-trust check and the install hints.
func TestTrust(t *testing.T) {
	a, _ := mustInit(t, "api.openai.com")
	if !a.trustedBy(pool(a)) {
		t.Error("a pool holding the CA does not trust it")
	}
	if a.trustedBy(x509.NewCertPool()) {
		t.Error("an empty pool trusts the CA")
	}
	if a.SystemTrusted() {
		t.Error("a CA made a moment ago is trusted by the system store")
	}

	has := func(dirs ...string) func(string) bool {
		return func(p string) bool {
			for _, d := range dirs {
				if p == d {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		goos   string
		exists func(string) bool
		want   string
	}{
		{"darwin", has(), `sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain "/ca/ca.pem"`},
		{"windows", has(), `certutil -addstore -user Root "/ca/ca.pem"`},
		{"linux", has("/usr/local/share/ca-certificates"), `sudo cp "/ca/ca.pem" /usr/local/share/ca-certificates/conduit.crt && sudo update-ca-certificates`},
		{"linux", has("/etc/pki/ca-trust/source/anchors", "/usr/local/share/ca-certificates"), `sudo cp "/ca/ca.pem" /etc/pki/ca-trust/source/anchors/conduit.pem && sudo update-ca-trust extract`},
		{"linux", has(), ""},
		{"plan9", has(), ""},
	} {
		if got := InstallHint(tc.goos, "/ca/ca.pem", tc.exists); got != tc.want {
			t.Errorf("InstallHint(%s) = %q, want %q", tc.goos, got, tc.want)
		}
	}
}
