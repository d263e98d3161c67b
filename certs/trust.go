package certs

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// EnvVar is one environment variable that makes a runtime trust the CA.
type EnvVar struct {
	Name  string
	Value string
	// For says which tools read it, for comments in `conduit ca env`.
	For string
}

// TrustEnv returns the variables that make the usual runtimes trust a's CA,
// in a fixed order. Variables that *add* a CA to the runtime's own roots get
// ca.pem; variables that *replace* the trust store get bundlePath, which
// should hold the system roots plus the CA (see [Authority.WriteBundle]) so
// that those tools keep trusting every public host too. a must not be nil.
func TrustEnv(a *Authority, bundlePath string) []EnvVar {
	ca := a.CertPath()
	return []EnvVar{
		{Name: "NODE_EXTRA_CA_CERTS", Value: ca, For: "Node.js: Claude Code, the OpenAI and Anthropic JS SDKs (added to the built-in roots)"},
		{Name: "SSL_CERT_FILE", Value: bundlePath, For: "OpenSSL-based tools, Python ssl/httpx, Go, Codex CLI (replaces the system store)"},
		{Name: "REQUESTS_CA_BUNDLE", Value: bundlePath, For: "Python requests (replaces certifi)"},
		{Name: "CURL_CA_BUNDLE", Value: bundlePath, For: "curl (replaces its CA bundle)"},
		{Name: "CODEX_CA_CERTIFICATE", Value: ca, For: "Codex CLI, HTTPS and WebSocket"},
	}
}

// rootSource says where to read system roots: the first readable file of
// files (as Go's crypto/x509 does, the others are the same bundle on other
// distributions) and every file in dirs.
type rootSource struct {
	files, dirs []string
}

// systemRootFiles and systemRootDirs mirror the lists in Go's crypto/x509
// (root_linux.go, root_bsd.go, root_solaris.go, root_aix.go). Go asks the
// OS on macOS and Windows instead of reading files, and its pool cannot be
// exported; macOS also ships its roots as a PEM bundle at /etc/ssl/cert.pem,
// which is what its own OpenSSL (LibreSSL) and curl read. Windows has no
// such file.
func systemRootFiles(goos string) rootSource {
	switch goos {
	case "linux", "android":
		return rootSource{
			files: []string{
				"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
				"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
				"/etc/ssl/ca-bundle.pem",                            // openSUSE
				"/etc/pki/tls/cacert.pem",                           // OpenELEC
				"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
				"/etc/ssl/cert.pem",                                 // Alpine
			},
			dirs: []string{"/etc/ssl/certs", "/etc/pki/tls/certs"},
		}
	case "freebsd", "openbsd", "netbsd", "dragonfly":
		return rootSource{
			files: []string{
				"/usr/local/etc/ssl/cert.pem",            // FreeBSD
				"/etc/ssl/cert.pem",                      // OpenBSD
				"/usr/local/share/certs/ca-root-nss.crt", // DragonFly
				"/etc/openssl/certs/ca-certificates.crt", // NetBSD
			},
			dirs: []string{"/etc/ssl/certs", "/usr/local/share/certs", "/etc/openssl/certs"},
		}
	case "solaris", "illumos":
		return rootSource{
			files: []string{"/etc/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cacert.pem"},
			dirs:  []string{"/etc/certs/CA"},
		}
	case "aix":
		return rootSource{files: []string{"/var/ssl/certs/ca-bundle.crt"}, dirs: []string{"/var/ssl/certs"}}
	case "darwin", "ios":
		return rootSource{files: []string{"/etc/ssl/cert.pem"}}
	default:
		return rootSource{}
	}
}

// systemRoots returns where this machine's roots are: SSL_CERT_FILE and
// SSL_CERT_DIR (colon-separated) override the lists as they do for Go and
// OpenSSL, so a corporate bundle the user already relies on stays trusted —
// unless they point at the bundle being written, which would feed the
// previous bundle into the new one.
func systemRoots(goos string, getenv func(string) string, bundlePath string) rootSource {
	src := systemRootFiles(goos)
	if f := getenv("SSL_CERT_FILE"); f != "" && !samePath(f, bundlePath) {
		src.files = []string{f}
	}
	if d := getenv("SSL_CERT_DIR"); d != "" {
		src.dirs = strings.Split(d, ":")
	}
	return src
}

func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(ia, ib)
}

// collect returns the DER of every distinct CERTIFICATE block found in
// src, in file order. Unreadable files are skipped; the first error other
// than "does not exist" is returned along with whatever was found.
func (src rootSource) collect() ([][]byte, error) {
	var ders [][]byte
	seen := make(map[string]bool)
	var firstErr error
	note := func(err error) {
		if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
			firstErr = err
		}
	}
	add := func(data []byte) {
		for {
			var block *pem.Block
			block, data = pem.Decode(data)
			if block == nil {
				return
			}
			// Only plain CERTIFICATE blocks: OpenSSL's "TRUSTED CERTIFICATE"
			// carries trust settings that other readers do not understand.
			if block.Type != "CERTIFICATE" || len(block.Headers) != 0 || seen[string(block.Bytes)] {
				continue
			}
			seen[string(block.Bytes)] = true
			ders = append(ders, block.Bytes)
		}
	}
	for _, f := range src.files {
		data, err := os.ReadFile(f)
		if err == nil {
			add(data)
			break
		}
		note(err)
	}
	for _, d := range src.dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			note(err)
			continue
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			data, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				continue // a dangling link or a subdirectory behind a link
			}
			add(data)
		}
	}
	return ders, firstErr
}

// WriteBundle writes to path (mode 0644, atomically) a PEM bundle of this
// machine's trusted roots followed by the CA, for the variables that replace
// a tool's trust store (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE):
// pointing them at ca.pem alone would make those tools distrust every
// public host they reach through the blind tunnel. [Authority.BundlePath] is
// the usual path. The roots are read from the system bundle files Go's
// crypto/x509 uses, or from SSL_CERT_FILE / SSL_CERT_DIR when set.
//
// It returns how many system roots went in. Zero (on Windows, or where no
// bundle is found) means the file holds only the CA; the caller should say
// so. When no root was found because a bundle could not be read, WriteBundle
// writes nothing and returns that error.
func (a *Authority) WriteBundle(path string) (int, error) {
	return a.writeBundle(path, systemRoots(runtime.GOOS, os.Getenv, path))
}

func (a *Authority) writeBundle(path string, src rootSource) (int, error) {
	ders, err := src.collect()
	if len(ders) == 0 && err != nil {
		return 0, fmt.Errorf("write CA bundle %s: read system roots: %w", path, err)
	}
	var buf []byte
	n := 0
	for _, der := range ders {
		if string(der) == string(a.cert.Raw) {
			continue // already trusted system-wide; it goes last anyway
		}
		buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		n++
	}
	buf = append(buf, a.certPEM...)
	if err := writeFileAtomic(path, buf, 0o644); err != nil {
		return 0, fmt.Errorf("write CA bundle: %w", err)
	}
	return n, nil
}

// SystemTrusted reports whether the operating system's trust store (as Go
// sees it) already trusts the CA. Conduit does not need that — it points
// each tool at the CA through [TrustEnv] — but `conduit ca show` says so.
func (a *Authority) SystemTrusted() bool { return a.trustedBy(nil) }

// trustedBy reports whether roots (nil: the system's) trust the CA as a
// TLS server issuer.
func (a *Authority) trustedBy(roots *x509.CertPool) bool {
	_, err := a.cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: a.now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err == nil
}

// InstallHint returns the command that adds the certificate at certPath to
// the system trust store of goos, or "" where there is no single command.
// On Linux it picks the distribution by its anchors directory, as mkcert
// does (exists reports whether a path exists; nil means os.Stat).
func InstallHint(goos, certPath string, exists func(string) bool) string {
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	switch goos {
	case "darwin":
		return fmt.Sprintf("sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain %q", certPath)
	case "windows":
		return fmt.Sprintf("certutil -addstore -user Root %q", certPath)
	case "linux":
		for _, d := range []struct{ dir, file, cmd string }{
			{"/etc/pki/ca-trust/source/anchors", "conduit.pem", "update-ca-trust extract"},       // Fedora, RHEL
			{"/usr/local/share/ca-certificates", "conduit.crt", "update-ca-certificates"},        // Debian, Ubuntu
			{"/etc/ca-certificates/trust-source/anchors", "conduit.crt", "trust extract-compat"}, // Arch
			{"/usr/share/pki/trust/anchors", "conduit.pem", "update-ca-certificates"},            // openSUSE
		} {
			if exists(d.dir) {
				return fmt.Sprintf("sudo cp %q %s/%s && sudo %s", certPath, d.dir, d.file, d.cmd)
			}
		}
	}
	return ""
}
