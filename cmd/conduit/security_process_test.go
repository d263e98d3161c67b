//go:build unix

package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/valohai/conduit/examples/fakeprovider"
)

// Credentials the secrets test sends: distinct, long, easy to search for.
const (
	secBearer = "sk-proj-PROCBEARER0123456789abcdefXYZ"
	secXAPI   = "sk-ant-PROCXAPIKEY0123456789XYZ"
	secGoog   = "AIzaPROCGOOGKEY0123456789XYZ"
	secAzure  = "PROCAZUREKEY0123456789XYZ"
	secQuery  = "PROCQUERYKEY0123456789XYZ"
	secProxy  = "PROCPROXYPASSWORD0123456789XYZ"
)

var procSecrets = []string{secBearer, secXAPI, secGoog, secAzure, secQuery, secProxy}

// quoteBack is a provider that, for requests marked X-Test-Echo, refuses
// with 401 and quotes every credential it was sent (some providers quote
// the key they refused); other requests go to the fake.
type quoteBack struct{ fake http.Handler }

func (q quoteBack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Test-Echo") == "" {
		q.fake.ServeHTTP(w, r)
		return
	}
	io.Copy(io.Discard, r.Body)
	msg := fmt.Sprintf("Incorrect API key provided: %s %s %s %s %s %s", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"),
		r.Header.Get("X-Goog-Api-Key"), r.Header.Get("Api-Key"), r.URL.Query().Get("key"), r.Header.Get("Proxy-Authorization"))
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": "authentication_error", "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(b)
}

// TestSecurityNoSecretsAtRest guards "no secrets at rest" end to end:
// calls carrying Authorization, x-api-key, x-goog-api-key, api-key and
// ?key= — answered, refused by a provider quoting them back, cut — through
// base-URL and forward mode (with a proxy password, itself a secret), with
// the proxy logging at -vv. Then the ledger file, its WAL and shared-memory
// file (while running and after the stop), the whole log, and every export
// and report format are searched: no credential appears in any.
func TestSecurityNoSecretsAtRest(t *testing.T) {
	t.Parallel()
	fake := fakeprovider.New(fakeprovider.Options{})
	t.Cleanup(fake.Close)
	w := newWorld(t, worldOptions{handler: quoteBack{fake}, extraCfg: "[server]\nproxy_user = \"tester\"\nproxy_password_env = \"CONDUIT_TEST_PROXY_PASSWORD\"\n"})
	c := startConduitEnv(t, []string{"CONDUIT_TEST_PROXY_PASSWORD=" + secProxy}, w, "-vv")
	base, forward := w.clients(c.addr, 4)
	forward.Transport.(*http.Transport).Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: c.addr, User: url.UserPassword("tester", secProxy)})

	header := http.Header{
		"Authorization": {"Bearer " + secBearer}, "X-Api-Key": {secXAPI}, "X-Goog-Api-Key": {secGoog},
		"Api-Key": {secAzure}, "Content-Type": {"application/json"},
	}
	type call struct {
		client *http.Client
		url    string
		body   string
		extra  http.Header
	}
	q := "?key=" + secQuery
	var made []call
	for _, mode := range []struct {
		client *http.Client
		prefix string
	}{{base, "http://" + c.addr + "/openai"}, {forward, "https://" + w.provider}} {
		for _, extra := range []http.Header{nil, {"X-Test-Echo": {"1"}}, {fakeprovider.HeaderAbortAfter: {"1"}}} {
			made = append(made,
				call{mode.client, mode.prefix + "/v1/chat/completions" + q, loadKinds[0].body, extra},
				call{mode.client, mode.prefix + "/v1/responses" + q, `{"model":"o4-mini","input":"hi"}`, extra})
		}
	}
	made = append(made, call{base, "http://" + c.addr + "/anthropic/v1/messages" + q, loadKinds[1].body, nil},
		call{base, "http://" + c.addr + "/anthropic/v1/messages" + q, loadKinds[1].body, http.Header{"X-Test-Echo": {"1"}}})
	for _, m := range made {
		req, _ := http.NewRequest("POST", m.url, strings.NewReader(m.body))
		req.Header = header.Clone()
		for k, v := range m.extra {
			req.Header[k] = v
		}
		resp, err := m.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", m.url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A forward-mode client with a wrong password: refused, and logged at
	// debug level — which -vv shows — without the credential.
	wrong := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: c.addr, User: url.UserPassword("tester", "WRONG"+secProxy)})}}
	if _, err := wrong.Get("https://" + w.provider + "/v1/models"); err == nil || !strings.Contains(err.Error(), "Proxy Authentication Required") {
		t.Errorf("a wrong proxy password: %v", err)
	}
	waitRows(t, w.db, len(made))

	search := func(what string, data []byte) {
		t.Helper()
		for _, s := range procSecrets {
			if bytes.Contains(data, []byte(s)) {
				i := bytes.Index(data, []byte(s))
				t.Errorf("%s holds the secret %q: …%q…", what, s, data[max(0, i-80):min(len(data), i+len(s)+40)])
			}
		}
	}
	files := func(when string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(w.db + suffix)
			if err != nil {
				if suffix == "" {
					t.Fatal(err)
				}
				continue // no WAL after a clean stop
			}
			search(fmt.Sprintf("the ledger file conduit.db%s (%s, %d bytes)", suffix, when, len(b)), b)
		}
	}
	files("while running")
	if err := c.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("conduit: %v", err)
	}
	files("after the stop")
	logs := c.out.String()
	if !strings.Contains(logs, `level=DEBUG msg="forward mode: refused a request without the proxy credential"`) {
		t.Errorf("the log is not at -vv:\n%s", logs)
	}
	search("the -vv log", []byte(logs))

	bin, _ := binaries(t)
	outputs := 0
	for _, args := range [][]string{
		{"export", "--format", "jsonl"}, {"export", "--format", "csv"},
		{"report", "--format", "table"}, {"report", "--format", "json"}, {"report", "--format", "csv"},
		{"report", "--by", "provider"}, {"report", "--by", "day"}, {"report", "--by", "tag", "--format", "json"},
		{"report", "--by", "client", "--format", "csv"},
	} {
		cmd := exec.Command(bin, append([]string{"-c", w.cfg, "-vv"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("conduit %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if len(out) == 0 {
			t.Errorf("conduit %s wrote nothing", strings.Join(args, " "))
		}
		outputs++
		search("conduit "+strings.Join(args, " "), out)
	}
	t.Logf("%d calls; searched the ledger, WAL and shm files twice, %d KiB of -vv log and %d export/report outputs for %d secrets",
		len(made), len(logs)>>10, outputs, len(procSecrets))
	// The quoted-back error is kept — scrubbed — so the record still says why.
	if rows := ledgerRows(t, w.db); !strings.Contains(fmt.Sprint(rows), "Incorrect API key provided: REDACTED") {
		t.Errorf("the providers' refusals lost their message")
	}
}

// TestSecurityCAAtRest guards the forward-mode CA that `conduit ca init`
// leaves on disk for the proxy: the key is 0600 in a 0700 directory, and
// the CA is name-constrained to exactly the intercepted host (here an IP
// address): a certificate for any other name would not verify.
func TestSecurityCAAtRest(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{handler: http.NotFoundHandler()})
	dir := filepath.Join(w.dir, "ca")
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "ca-key.pem"): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", path, got, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(w.provider)
	if len(ca.PermittedDNSDomains)+len(ca.PermittedIPRanges) == 0 {
		t.Fatal("the CA has no name constraints")
	}
	if len(ca.PermittedIPRanges) != 1 || ca.PermittedIPRanges[0].String() != host+"/32" {
		t.Errorf("permitted IP ranges %v, want only %s/32", ca.PermittedIPRanges, host)
	}
	for _, d := range ca.PermittedDNSDomains {
		t.Errorf("permitted DNS domain %q: only the intercepted IP was asked for", d)
	}
}
