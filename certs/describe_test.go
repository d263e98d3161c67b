package certs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestHosts guards the readable form of the constraints shown by
// `conduit ca show`.
func TestHosts(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		want  []string
	}{
		{testHosts, []string{"api.openai.com", "*.example.com", "127.0.0.1", "::1"}},
		{[]string{"example.com", "api.example.com"}, []string{"api.example.com", "example.com and subdomains"}},
		{[]string{"10.0.0.1"}, []string{"10.0.0.1"}},
	} {
		a, _ := mustInit(t, tc.hosts...)
		if got := a.Hosts(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Hosts() for %q = %q, want %q", tc.hosts, got, tc.want)
		}
	}
}

// TestDescribe guards the `conduit ca show` summary: every line present
// with the right value, the fingerprint matching an independent SHA-256,
// expiry flagged, and write errors returned.
func TestDescribe(t *testing.T) {
	a, clock := mustInit(t, testHosts...)
	clock.set(t0.Add(10 * 24 * time.Hour))
	var b strings.Builder
	if err := a.Describe(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()

	sum := sha256.Sum256(a.Certificate().Raw)
	fp := strings.ToUpper(hex.EncodeToString(sum[:]))
	if got := strings.ReplaceAll(a.Fingerprint(), ":", ""); got != fp || len(a.Fingerprint()) != 32*3-1 {
		t.Errorf("Fingerprint = %s, want %s in colon form", a.Fingerprint(), fp)
	}
	for _, want := range []string{
		"Conduit local CA\n",
		line("Subject", a.Certificate().Subject.String()),
		line("SHA-256", a.Fingerprint()),
		line("Serial", a.Certificate().SerialNumber.Text(16)),
		line("Valid", "2026-01-02 02:04:05 UTC to 2035-12-31 03:04:05 UTC (3640 days left)"),
		line("Covers", "api.openai.com, *.example.com, 127.0.0.1, ::1"),
		line("Constraints", "critical") +
			line("  permitted DNS", "api.openai.com, .example.com") +
			line("  excluded DNS", ".api.openai.com") +
			line("  permitted IP", "127.0.0.1/32, ::1/128") +
			line("  excluded IP", "(none)"),
		line("Certificate", a.CertPath()),
		line("Key", a.KeyPath()),
		line("System store", "not trusted (not needed: `conduit ca env` points each tool at the CA)")[:60],
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Describe output lacks %q:\n%s", want, out)
		}
	}

	clock.set(a.Certificate().NotAfter)
	b.Reset()
	if err := a.Describe(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "EXPIRED: run `conduit ca init --force`") {
		t.Errorf("expired CA not flagged:\n%s", b.String())
	}

	ip, _ := mustInit(t, "10.0.0.1")
	b.Reset()
	if err := ip.Describe(&b); err != nil {
		t.Fatal(err)
	}
	if want := line("  excluded DNS", `"" (every name)`); !strings.Contains(b.String(), want) {
		t.Errorf("IP-only CA: output lacks %q:\n%s", want, b.String())
	}

	errWrite := errors.New("disk full")
	if err := a.Describe(failWriter{errWrite}); !errors.Is(err, errWrite) {
		t.Errorf("Describe to a failing writer = %v, want %v", err, errWrite)
	}
}

// line is one line of Describe's output.
func line(label, value string) string {
	return fmt.Sprintf("  %-18s%s\n", label+":", value)
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
