package examples

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/internal/testbin"
)

// apiHosts are the real hosts the stack's fake answers for: the API hosts
// of the providers `conduit init` writes, and a cloud platform's region.
var apiHosts = []string{"api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com",
	"bedrock-runtime.us-east-1.amazonaws.com", "us-east5-aiplatform.googleapis.com"}

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// conduitBin is cmd/conduit, built once for the package's tests.
func conduitBin(t *testing.T) string { return testbin.Path(t, testbin.Conduit) }

// stack is what a user of the examples runs, on loopback: `conduit proxy`
// with the providers' real upstream hosts (as `conduit init` writes them)
// and a CA from `conduit ca init`. Conduit's own outbound connections go
// through [upstream] proxy to a CONNECT proxy of the test's that sends every
// API host to the fake provider, whose certificate chains to a test root
// given as [upstream] ca_file. So base-URL and forward-mode examples run
// unchanged, with their real URLs, and nothing leaves the machine.
type stack struct {
	bin      string
	dir      string
	config   string
	addr     string // host:port of the proxy
	caPath   string // Conduit's CA certificate
	ledger   string
	proxy    *exec.Cmd
	waitErr  chan error
	logPath  string
	stopOnce sync.Once
	fake     *fakeprovider.Server
}

// stackOptions change what startStackWith runs.
type stackOptions struct {
	fake fakeprovider.Options // KeepRequests 0: the stack keeps none
	mitm string               // more [mitm] keys, one a line
}

// Every stack has its own directory, ledger and loopback ports the kernel
// picks, and its commands get their own HOME: that is what lets the
// package's tests call t.Parallel, so one test's wait on a client (node,
// Claude Code, Codex) overlaps another's.
func startStack(t *testing.T) *stack { return startStackWith(t, stackOptions{}) }

func startStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s := &stack{bin: conduitBin(t), dir: t.TempDir()}
	s.config = filepath.Join(s.dir, "conduit.toml")
	s.ledger = filepath.Join(s.dir, "conduit.db")
	s.logPath = filepath.Join(s.dir, "proxy.log")

	rootPath := filepath.Join(s.dir, "test-root.pem")
	cert := testCertificate(t, rootPath)
	if o.fake.KeepRequests == 0 {
		o.fake.KeepRequests = -1
	}
	fake := fakeprovider.New(o.fake)
	s.fake = fake
	fakeSrv := httptest.NewUnstartedServer(fake)
	fakeSrv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	fakeSrv.StartTLS()
	t.Cleanup(fakeSrv.Close)
	t.Cleanup(fake.Close)
	upstream := httptest.NewServer(connectTo(fakeSrv.Listener.Addr().String()))
	t.Cleanup(upstream.Close)

	cfg := fmt.Sprintf(`listen = "127.0.0.1:0"
[providers.openai]
upstream = "https://api.openai.com"
[providers.anthropic]
upstream = "https://api.anthropic.com"
[providers.gemini]
upstream = "https://generativelanguage.googleapis.com"
[ledger]
path = "conduit.db"
[mitm]
ca_dir = "ca"
%s
[upstream]
proxy = %q
ca_file = "test-root.pem"
`, o.mitm, upstream.URL)
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.command(t, "ca", "init").CombinedOutput(); err != nil {
		t.Fatalf("conduit ca init: %v\n%s", err, out)
	}
	s.caPath = filepath.Join(s.dir, "ca", "ca.pem")

	s.start(t)
	// The config keeps listen = "127.0.0.1:0": `conduit run` finds the
	// port the proxy got in the state file it leaves beside its ledger.
	return s
}

// start runs `conduit proxy` on s.config, its log in s.logPath, and waits
// for the address it listens on; the test's cleanup stops it.
func (s *stack) start(t *testing.T) {
	t.Helper()
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	s.proxy = s.command(t, "proxy")
	s.proxy.Stdout = logFile
	s.proxy.Stderr = pw
	if err := s.proxy.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if m := proxyAddrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(logFile, pr)
	}()
	s.waitErr = make(chan error, 1)
	go func() {
		err := s.proxy.Wait()
		pw.Close()
		<-scanned
		logFile.Close()
		s.waitErr <- err
	}()
	t.Cleanup(func() { s.stop(t) })
	select {
	case s.addr = <-found:
	case err := <-s.waitErr:
		s.waitErr <- err
		t.Fatalf("conduit proxy exited at start: %v\n%s", err, s.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("conduit proxy did not start in 30 s\n%s", s.log())
	}
}

// proxyAddrRE finds the address in the proxy's startup log line.
var proxyAddrRE = regexp.MustCompile(`proxy running at http://([^\s"]+)`)

// command is `conduit -c config args…` in a minimal environment: nothing
// of the developer's (keys, base URLs, proxies, OTEL_*, VALOHAI_LLM_*)
// leaks into the test.
func (s *stack) command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"-c", s.config}, args...)...)
	cmd.Env = baseEnv(t)
	return cmd
}

// baseEnv is a minimal environment for the commands a test runs.
func baseEnv(t *testing.T) []string {
	t.Helper()
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LC_ALL=C"}
}

func (s *stack) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// stop stops the proxy gracefully, so that every record is in the ledger.
func (s *stack) stop(t *testing.T) {
	t.Helper()
	s.stopOnce.Do(func() {
		if err := s.proxy.Process.Signal(os.Interrupt); err != nil {
			t.Errorf("interrupt conduit proxy: %v", err)
		}
		select {
		case err := <-s.waitErr:
			if err != nil {
				t.Errorf("conduit proxy: %v\n%s", err, s.log())
			}
		case <-time.After(40 * time.Second):
			s.proxy.Process.Kill()
			t.Errorf("conduit proxy did not stop in 40 s\n%s", s.log())
		}
	})
}

// connectTo is an HTTP proxy that tunnels CONNECTs to the API hosts to
// addr (the fake), and refuses anything else.
func connectTo(addr string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		known := false
		for _, h := range apiHosts {
			known = known || host == h
		}
		if r.Method != http.MethodConnect || !known {
			http.Error(w, "the test's upstream proxy only tunnels to the API hosts", http.StatusForbidden)
			return
		}
		upstream, err := net.Dial("tcp", addr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		client, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n")
		done := make(chan struct{}, 2)
		go func() { io.Copy(upstream, buf); upstream.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
		go func() { io.Copy(client, upstream); done <- struct{}{} }()
		<-done
		<-done
		client.Close()
		upstream.Close()
	})
}

// testCertificate makes a root and a leaf for the API hosts signed by it,
// and writes the root as PEM to rootPath. The root stands for the public
// CAs the real hosts' certificates chain to.
func testCertificate(t *testing.T, rootPath string) tls.Certificate {
	t.Helper()
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "examples test root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "fake provider"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: apiHosts, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leafDER, rootDER}, PrivateKey: leafKey}
}

// runExample runs name with args in dir and env, bounded in time, and
// fails the test with its output if it fails.
func runExample(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
