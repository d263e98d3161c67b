//go:build unix

package main

// The process-level part of the fault-injection suite: the real
// conduit binary, built once per test binary, serving real calls on
// loopback — base-URL and forward mode — while it is killed (SIGKILL),
// stopped (SIGTERM), loaded with 1,000 concurrent streams, starved of its
// ledger (locked by this process, read-only, disk full), and searched for
// the credentials it carried.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/internal/testbin"
	"github.com/valohai/conduit/ledger"
)

// TestMain removes the binaries built for the process tests.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// binaries returns the paths of conduit and the fake provider, built once
// per test binary.
func binaries(t *testing.T) (conduit, fake string) {
	t.Helper()
	return testbin.Path(t, testbin.Conduit), testbin.Path(t, testbin.FakeProvider)
}

// syncLog collects a process's output; tests wait on it for a line.
type syncLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	cond *sync.Cond
	eof  bool
}

func newSyncLog() *syncLog {
	l := &syncLog{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.cond.Broadcast()
	return len(p), nil
}

func (l *syncLog) close() {
	l.mu.Lock()
	l.eof = true
	l.cond.Broadcast()
	l.mu.Unlock()
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// wait returns the first match of re in the output, failing the test if
// none arrives within d or before the process's output ends.
func (l *syncLog) wait(t *testing.T, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	timer := time.AfterFunc(d, func() { l.mu.Lock(); l.cond.Broadcast(); l.mu.Unlock() })
	defer timer.Stop()
	start := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if m := re.FindStringSubmatch(l.buf.String()); m != nil {
			return m
		}
		if l.eof || time.Since(start) >= d {
			t.Fatalf("no %q in the output within %s:\n%s", re, d, l.buf.String())
		}
		l.cond.Wait()
	}
}

// proc is a running child process.
type proc struct {
	cmd  *exec.Cmd
	out  *syncLog // stdout and stderr
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// startProc starts bin with args, and env added to this process's
// environment (proxy variables cleared).
func startProc(t *testing.T, env []string, bin string, args ...string) *proc {
	t.Helper()
	return startProcIn(t, "", env, bin, args...)
}

// startProcIn is startProc with the working directory dir ("" for this
// process's). It sets the child's directory, never this process's, which
// the tests running in parallel share.
func startProcIn(t *testing.T, dir string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: newSyncLog(), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(append(os.Environ(), "HTTPS_PROXY=", "HTTP_PROXY=", "https_proxy=", "http_proxy="), env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() { io.Copy(p.out, pr); p.out.close(); close(copied) }()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		<-copied
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill() // by its pid: only what this test started
			<-p.done
		}
	})
	return p
}

// stop sends sig and waits (at most 60 s) for the process to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60 s after %v:\n%s", sig, p.out.String())
		return nil
	}
}

var (
	proxyRunning = regexp.MustCompile(`proxy running at http://(127\.0\.0\.1:\d+)`)
	fakeRunning  = regexp.MustCompile(`listening on https://(127\.0\.0\.1:\d+)`)
)

// conduitProc is the conduit binary serving a config.
type conduitProc struct {
	*proc
	addr string
}

func startConduit(t *testing.T, w *world, extra ...string) *conduitProc {
	t.Helper()
	return startConduitEnv(t, nil, w, extra...)
}

// startConduitEnv starts `conduit -c w.cfg [extra] proxy` with env added
// to its environment, and waits until it serves calls.
func startConduitEnv(t *testing.T, env []string, w *world, extra ...string) *conduitProc {
	t.Helper()
	bin, _ := binaries(t)
	p := startProc(t, env, bin, append([]string{"-c", w.cfg}, append(extra, "proxy")...)...)
	if w.noStateFile {
		return &conduitProc{proc: p, addr: p.out.wait(t, proxyRunning, 30*time.Second)[1]}
	}
	return &conduitProc{proc: p, addr: waitServing(t, p, w.db)}
}

// waitServing waits until the proxy p names itself in the state file
// beside its ledger, which it writes once it serves calls, and returns the
// address there.
func waitServing(t *testing.T, p *proc, ledger string) string {
	t.Helper()
	path := stateFilePath(ledger)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if st, err := readProxyState(path); err == nil && st.PID == p.cmd.Process.Pid {
			return st.Addr
		}
		select {
		case <-tick.C:
		case <-p.done:
			t.Fatalf("conduit exited before it served (%v):\n%s", p.err, p.out.String())
		case <-deadline:
			t.Fatalf("no state file %s naming pid %d within 30 s:\n%s", path, p.cmd.Process.Pid, p.out.String())
		}
	}
}

// rssBytes reads a process's resident set size from /proc (0 where there
// is none).
func rssBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// testTLS is a certificate for 127.0.0.1, self-signed, written as PEM to
// a file that [upstream] ca_file can name.
func testTLS(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fault test provider"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "provider.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// world is a provider on loopback HTTPS and a config for Conduit in front
// of it: base-URL routes openai and anthropic, and forward mode
// intercepting the provider's address, with a local CA made for it.
type world struct {
	dir      string
	cfg      string
	db       string
	provider string // host:port
	caPool   *x509.CertPool
	// noStateFile: the ledger's directory cannot be written, so no state
	// file says where the proxy listens; its start-up line does.
	noStateFile bool
}

type worldOptions struct {
	handler     http.Handler // nil: the fakeprovider binary
	dbPath      string       // "": beside the config
	noStateFile bool         // see world.noStateFile
	extraCfg    string
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	var certPath string
	if o.handler != nil {
		cert, p := testTLS(t, w.dir)
		srv := httptest.NewUnstartedServer(o.handler)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		w.provider, certPath = srv.Listener.Addr().String(), p
	} else {
		_, fakeBin := binaries(t)
		certPath = filepath.Join(w.dir, "provider.pem")
		fp := startProc(t, nil, fakeBin, "-tls-cert", certPath)
		w.provider = fp.out.wait(t, fakeRunning, 30*time.Second)[1]
		t.Cleanup(func() { fp.stop(t, syscall.SIGTERM) })
	}
	w.db, w.noStateFile = o.dbPath, o.noStateFile
	if w.db == "" {
		w.db = filepath.Join(w.dir, "conduit.db")
	}
	w.cfg = filepath.Join(w.dir, "conduit.toml")
	writeFile(t, w.cfg, fmt.Sprintf(`listen = "127.0.0.1:0"
[providers.openai]
upstream = "https://%[1]s"
api = "openai"
[providers.anthropic]
upstream = "https://%[1]s"
api = "anthropic"
[ledger]
path = %[2]q
[mitm]
ca_dir = %[3]q
hosts = ["%[1]s"]
[upstream]
ca_file = %[4]q
%[5]s`, w.provider, w.db, filepath.Join(w.dir, "ca"), certPath, o.extraCfg))
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-c", w.cfg, "ca", "init"}, strings.NewReader(""), io.Discard, &stderr, noEnv); code != 0 {
		t.Fatalf("ca init: %s", stderr.String())
	}
	caPEM, err := os.ReadFile(filepath.Join(w.dir, "ca", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	w.caPool = x509.NewCertPool()
	w.caPool.AppendCertsFromPEM(caPEM)
	return w
}

// clients returns a base-URL client and a forward-mode (HTTPS_PROXY)
// client for the Conduit at addr, sized for n concurrent calls.
func (w *world) clients(addr string, n int) (base, forward *http.Client) {
	base = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}}
	proxyURL := &url.URL{Scheme: "http", Host: addr}
	forward = &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyURL(proxyURL),
		TLSClientConfig:     &tls.Config{RootCAs: w.caPool},
		MaxIdleConnsPerHost: n,
		DisableCompression:  true,
	}}
	return base, forward
}

// rows reads every call in the ledger (read-only, as `conduit export`
// would while a proxy runs).
func ledgerRows(t *testing.T, path string) []ledger.Row {
	t.Helper()
	db, err := ledger.OpenReadOnly(path)
	if err != nil {
		t.Fatalf("open the ledger: %v", err)
	}
	defer db.Close()
	var out []ledger.Row
	cur := ledger.Cursor{}
	for {
		page, err := db.Page(context.Background(), ledger.Filter{}, cur, ledger.MaxPageSize)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Rows...)
		if !page.More {
			return out
		}
		cur = page.Next
	}
}

// waitRows polls the ledger (as another process reading it would) until
// it holds at least n calls, and returns them.
func waitRows(t *testing.T, path string, n int) []ledger.Row {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		// A ledger the proxy is still creating (its schema version not
		// yet written) is not an error here: it has no rows yet.
		var ve *ledger.VersionError
		if db, err := ledger.OpenReadOnly(path); err == nil {
			db.Close()
			if rows := ledgerRows(t, path); len(rows) >= n {
				return rows
			}
		} else if !errors.Is(err, ledger.ErrNoLedger) && !(errors.As(err, &ve) && ve.Have < ve.Want) {
			t.Fatalf("open the ledger: %v", err)
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the ledger did not reach %d calls within 30 s", n)
		}
	}
}

// tagsOf maps each tag in rows to how many rows carry it.
func tagsOf(rows []ledger.Row) map[string]int {
	m := make(map[string]int, len(rows))
	for _, r := range rows {
		for _, tag := range r.Tags {
			m[tag]++
		}
	}
	return m
}

// load makes tagged calls through Conduit until stopped.
type load struct {
	base, forward *http.Client
	addr          string
	provider      string

	mu       sync.Mutex
	sent     map[string]bool // tag → the client got the whole response
	inFlight int
	next     int
}

// kind is one sort of call the load makes.
type kind struct {
	name    string
	forward bool
	path    string
	body    string
	stream  bool
}

var loadKinds = []kind{
	{name: "base-url openai stream", path: "/openai/v1/chat/completions", stream: true,
		body: `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"count"}]}`},
	{name: "base-url anthropic stream", path: "/anthropic/v1/messages", stream: true,
		body: `{"model":"claude-sonnet-4-5","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"count"}]}`},
	{name: "base-url openai", path: "/openai/v1/chat/completions",
		body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`},
	{name: "forward openai stream", forward: true, path: "/v1/chat/completions", stream: true,
		body: `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"count"}]}`},
}

// call makes one call of kind k with extra headers and records whether
// the client got the whole response.
func (l *load) call(ctx context.Context, k kind, extra http.Header) {
	l.mu.Lock()
	l.next++
	tag := fmt.Sprintf("load-%d", l.next)
	l.sent[tag] = false
	l.inFlight++
	l.mu.Unlock()
	ok := l.do(ctx, k, tag, extra)
	l.mu.Lock()
	l.sent[tag] = ok
	l.inFlight--
	l.mu.Unlock()
}

func (l *load) do(ctx context.Context, k kind, tag string, extra http.Header) bool {
	client, u := l.base, "http://"+l.addr+k.path
	if k.forward {
		client, u = l.forward, "https://"+l.provider+k.path
	}
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(k.body))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer sk-load-test")
	req.Header.Set("X-Api-Key", "sk-load-test")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Conduit-Tag", tag)
	for name, vs := range extra {
		req.Header[name] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return false
	}
	if k.stream {
		return bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) || bytes.Contains(body, []byte("message_stop"))
	}
	return true
}

// snapshot returns how many calls were sent, how many completed, and how
// many are in flight.
func (l *load) snapshot() (sent, ok, inFlight int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.sent {
		if v {
			ok++
		}
	}
	return len(l.sent), ok, l.inFlight
}

// run starts workers goroutines each making calls (cycling through
// loadKinds) until stop is closed; the returned channel closes when all
// have returned.
func (l *load) run(workers int, stop <-chan struct{}, extra http.Header) <-chan struct{} {
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for n := i; ; n += workers {
				select {
				case <-stop:
					return
				default:
				}
				l.call(context.Background(), loadKinds[n%len(loadKinds)], extra)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

func newLoad(w *world, addr string, n int) *load {
	base, forward := w.clients(addr, n)
	return &load{base: base, forward: forward, addr: addr, provider: w.provider, sent: map[string]bool{}}
}

// waitCompleted blocks until at least n calls completed.
func (l *load) waitCompleted(t *testing.T, n int) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		if _, ok, _ := l.snapshot(); ok >= n {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			sent, ok, fl := l.snapshot()
			t.Fatalf("only %d of %d calls completed (%d in flight) within 60 s", ok, sent, fl)
		}
	}
}

// checkNothingLost compares the ledger with the calls made: every call
// the client saw complete is stored exactly once; nothing is stored twice
// or that was never sent. It returns the stored count.
func checkNothingLost(t *testing.T, l *load, rows []ledger.Row) int {
	t.Helper()
	tags := tagsOf(rows)
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := 0
	for tag, ok := range l.sent {
		if ok && tags[tag] == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("call %s completed for the client but is not in the ledger", tag)
			}
		}
	}
	for tag, n := range tags {
		if !strings.HasPrefix(tag, "load-") {
			continue
		}
		if n > 1 {
			t.Errorf("call %s stored %d times", tag, n)
		}
		if _, ok := l.sent[tag]; !ok {
			t.Errorf("call %s stored but never sent", tag)
		}
	}
	if lost > 0 {
		t.Errorf("%d completed calls lost", lost)
	}
	return len(tags)
}

// holdStream is a provider route (X-Test-Hold) whose Anthropic stream
// sends message_start, then waits for release before finishing.
type holdStream struct {
	fake    http.Handler
	started chan struct{}
	release chan struct{}
}

func (h *holdStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Test-Hold") == "" {
		h.fake.ServeHTTP(w, r)
		return
	}
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_h\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n")
	http.NewResponseController(w).Flush()
	h.started <- struct{}{}
	select {
	case <-h.release:
	case <-r.Context().Done():
		return
	}
	io.WriteString(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n"+
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
}

// waitStopping waits until the proxy at addr has begun its graceful stop:
// its listener is closed, so a new connection is refused.
func waitStopping(t *testing.T, addr string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		conn.Close()
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s still accepts connections 30 s after SIGTERM", addr)
		}
	}
}

// abandonHeldStream is a client that reads the start of a held stream
// and leaves. It leaves with a reset (SO_LINGER 0), on a connection of its
// own: once close returns, Conduit's side of the connection is reset, so
// Conduit's next write to it fails (if its reader has not seen the reset
// first) and the call is the client's cancel whatever the timing. After a
// plain FIN a write can still succeed into the socket's buffer, and whether
// Conduit saw the client go before the stream ended would be a race. (An
// http.Client closes a connection from another goroutine, after Close
// returns: no order to rely on either.)
func abandonHeldStream(t *testing.T, addr string, hold *holdStream) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	body := loadKinds[1].body
	fmt.Fprintf(conn, "POST /anthropic/v1/messages HTTP/1.1\r\nHost: %s\r\nX-Api-Key: sk-load-test\r\nX-Test-Hold: 1\r\n"+
		"X-Conduit-Tag: abandoned\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	<-hold.started
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "event: message_start") {
		t.Fatalf("held stream began %q, %v", line, err)
	}
}

// TestProcessSIGTERMUnderLoad guards a graceful stop under load, through
// both modes: streams in flight finish for their clients, a stream whose
// client left just before the stop is still read to its end, and every
// call is in the ledger afterwards — none lost, none twice.
func TestProcessSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	fake := fakeprovider.New(fakeprovider.Options{Delay: 2 * time.Millisecond, Events: 12})
	t.Cleanup(fake.Close)
	hold := &holdStream{fake: fake, started: make(chan struct{}, 1), release: make(chan struct{})}
	w := newWorld(t, worldOptions{handler: hold})
	c := startConduit(t, w)
	l := newLoad(w, c.addr, 16)
	stop := make(chan struct{})
	done := l.run(16, stop, nil)
	l.waitCompleted(t, 300)

	abandonHeldStream(t, c.addr, hold)
	l.base.CloseIdleConnections()
	_, _, inFlight := l.snapshot()
	t.Logf("SIGTERM with %d calls in flight", inFlight)
	stopErr := make(chan error, 1)
	go func() { stopErr <- c.stop(t, syscall.SIGTERM) }()
	waitStopping(t, c.addr)
	close(stop)
	close(hold.release) // the held stream ends while Conduit is stopping
	if err := <-stopErr; err != nil {
		t.Fatalf("conduit exited with %v:\n%s", err, c.out.String())
	}
	<-done
	rows := ledgerRows(t, w.db)
	stored := checkNothingLost(t, l, rows)
	sent, ok, _ := l.snapshot()
	t.Logf("sent %d calls, %d completed for their clients, %d stored", sent, ok, stored)
	if tags := tagsOf(rows); tags["abandoned"] != 1 {
		t.Errorf("the stream abandoned just before the stop was stored %d times", tags["abandoned"])
	}
	for _, r := range rows {
		if slices.Contains(r.Tags, "abandoned") && (r.OutputTokens != 5 || r.Outcome != ledger.OutcomeClientCancelled) {
			t.Errorf("the stream abandoned before the stop, read to its end during it: %+v", r.Record)
		}
	}
	if strings.Contains(c.out.String(), "not written") || strings.Contains(c.out.String(), "dropping call records") {
		t.Errorf("records dropped at exit:\n%s", c.out.String())
	}
}

// TestProcessSIGKILLUnderLoad guards a crash under load: after SIGKILL the
// ledger opens cleanly, passes SQLite's integrity check, and holds every
// call that had been committed (seen by a reader) before the kill; only the
// batch not yet written is lost, and the next start serves on.
func TestProcessSIGKILLUnderLoad(t *testing.T) {
	t.Parallel()
	fake := fakeprovider.New(fakeprovider.Options{Delay: time.Millisecond, Events: 8})
	t.Cleanup(fake.Close)
	w := newWorld(t, worldOptions{handler: fake})
	c := startConduit(t, w)
	l := newLoad(w, c.addr, 16)
	stop := make(chan struct{})
	done := l.run(16, stop, nil)
	l.waitCompleted(t, 200)
	committed := waitRows(t, w.db, 200)
	if err := c.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("conduit survived SIGKILL")
	}
	close(stop)
	<-done

	db, err := ledger.Open(w.db, ledger.Options{})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+w.db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	raw.Close()
	rows := ledgerRows(t, w.db)
	have := map[string]bool{}
	for _, r := range rows {
		have[r.ID] = true
	}
	for _, r := range committed {
		if !have[r.ID] {
			t.Errorf("call %s was committed before the kill and is gone", r.ID)
		}
	}
	tags := tagsOf(rows)
	sent, ok, _ := l.snapshot()
	lost := 0
	l.mu.Lock()
	for tag, done := range l.sent {
		if done && tags[tag] == 0 {
			lost++
		}
	}
	l.mu.Unlock()
	for tag, n := range tags {
		if n > 1 {
			t.Errorf("call %s stored %d times", tag, n)
		}
	}
	t.Logf("sent %d, completed %d, committed before the kill %d, stored %d, lost (the unwritten batch) %d", sent, ok, len(committed), len(rows), lost)

	// The next start opens the same ledger and records again.
	c2 := startConduit(t, w)
	base, _ := w.clients(c2.addr, 1)
	l2 := &load{base: base, addr: c2.addr, sent: map[string]bool{}, next: 1 << 30}
	l2.call(context.Background(), loadKinds[2], nil)
	if err := c2.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if n := len(ledgerRows(t, w.db)); n != len(rows)+1 {
		t.Errorf("after a restart and one call: %d rows, want %d", n, len(rows)+1)
	}
}
