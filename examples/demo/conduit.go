package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
)

// demo is a running demo: the fakes and a conduit proxy in dir.
type demo struct {
	bin    string // the conduit binary
	dir    string
	config string // dir/conduit.toml
	env    []string
	fakes  *fakes
	target target

	proxy     *exec.Cmd
	proxyLog  *os.File
	proxyDone chan error // receives proxy.Wait's result once
	stopOnce  sync.Once
	stopErr   error
}

// Limits on waiting for things the demo starts.
const (
	readyTimeout = 30 * time.Second // proxy up and healthy
	stopTimeout  = 40 * time.Second // proxy finishing calls and flushing the ledger (its own grace is 30 s)
)

// childEnv is the demo's environment for the conduit processes, minus what
// could send the demo's calls anywhere: the Valohai LLM key (the sync would
// upload them), OpenTelemetry endpoints, the config the user normally uses,
// and proxy variables (Conduit's own calls go to loopback fakes).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		switch {
		case strings.HasPrefix(upper, "VALOHAI_LLM_"), strings.HasPrefix(upper, "OTEL_"),
			upper == "CONDUIT_CONFIG", upper == "HTTPS_PROXY", upper == "HTTP_PROXY", upper == "ALL_PROXY", upper == "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// setUp builds conduit if needed, starts the fakes, writes the config,
// creates the CA and starts the proxy. On error everything it started is
// stopped.
func setUp(ctx context.Context, o options, dir string, stdout io.Writer) (d *demo, err error) {
	d = &demo{bin: o.conduit, dir: dir, config: filepath.Join(dir, "conduit.toml"), env: childEnv()}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	if d.bin == "" {
		fmt.Fprintln(stdout, "building conduit…")
		if d.bin, err = buildConduit(ctx, dir); err != nil {
			return d, err
		}
	}
	if d.fakes, err = startFakes(filepath.Join(dir, "fake-root.pem")); err != nil {
		return d, err
	}
	if err := os.WriteFile(d.config, []byte(demoConfig(d.fakes)), 0o644); err != nil {
		return d, fmt.Errorf("write %s: %w", d.config, err)
	}
	fmt.Fprintf(stdout, "fake providers: %s\n", fakeList(d.fakes))

	// The CA is made for this demo only (in dir/ca, as [mitm] ca_dir says)
	// and covers each provider's upstream host and the well-known API hosts.
	// A kept directory (-dir) has one from the last run: use it again.
	if err := d.demoCA(ctx, stdout); err != nil {
		return d, err
	}
	var caPath strings.Builder
	if err := d.conduitCmd(ctx, &caPath, nil, "ca", "path"); err != nil {
		return d, err
	}

	addr, err := d.startProxy(ctx)
	if err != nil {
		return d, err
	}
	d.target = target{proxy: addr, fakes: d.fakes.urls, caPath: strings.TrimSpace(caPath.String()), paced: !o.fast}
	fmt.Fprintf(stdout, "conduit proxy:  %s (config %s, log %s)\n", addr, d.config, d.proxyLog.Name())
	return d, nil
}

// demoCA creates the demo's CA, or keeps the one a kept directory has from
// an earlier run when it covers the hosts the demo calls (else it makes a
// new one: `ca init --force`).
func (d *demo) demoCA(ctx context.Context, stdout io.Writer) error {
	var show strings.Builder
	if err := d.conduitCmd(ctx, &show, nil, "ca", "show"); err != nil {
		return d.conduitCmd(ctx, io.Discard, nil, "ca", "init")
	}
	if strings.Contains(show.String(), "does NOT cover") {
		fmt.Fprintln(stdout, "the CA in", filepath.Join(d.dir, "ca"), "does not cover the demo's hosts: making a new one")
		return d.conduitCmd(ctx, io.Discard, nil, "ca", "init", "--force")
	}
	fmt.Fprintln(stdout, "using the CA from the last run in", filepath.Join(d.dir, "ca"))
	return nil
}

// buildConduit builds ./cmd/conduit into dir with the go command on PATH,
// from the module the demo runs in.
func buildConduit(ctx context.Context, dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build conduit: no go command on PATH (or pass -conduit PATH): %w", err)
	}
	bin := filepath.Join(dir, "conduit")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "github.com/valohai/conduit/cmd/conduit")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build conduit (run the demo from the Conduit repository): %w\n%s", err, out)
	}
	return bin, nil
}

// demoConfig is the demo's conduit.toml: the providers' real upstreams (as
// `conduit init` writes them) plus a local Ollama, the CA and the ledger
// beside the config, and Conduit's own outbound connections sent through
// the fakes' CONNECT proxy, trusting the fakes' root — [upstream] proxy and
// ca_file, as on a corporate network.
func demoConfig(f *fakes) string {
	var b strings.Builder
	b.WriteString("# Written by the Conduit demo (examples/demo).\nlisten = \"127.0.0.1:0\"  # a free port\n")
	for _, key := range fakeAPIs {
		fmt.Fprintf(&b, "\n[providers.%s]\nupstream = %q\n", key, f.urls[key])
		if key == "ollama" {
			b.WriteString("api = \"ollama\"\n")
		}
	}
	fmt.Fprintf(&b, `
[ledger]
path = "conduit.db"

[mitm]
ca_dir = "ca"

# The fake provider stands in for the real hosts: this proxy sends them to it.
[upstream]
proxy = %q
ca_file = "fake-root.pem"
`, f.proxyURL)
	return b.String()
}

func fakeList(f *fakes) string {
	hosts := make([]string, 0, len(cloudHosts))
	for _, key := range fakeAPIs {
		if h, ok := cloudHosts[key]; ok {
			hosts = append(hosts, h)
		}
	}
	return fmt.Sprintf("%s at %s (Conduit reaches them through %s); ollama %s",
		strings.Join(hosts, ", "), f.cloudURL, f.proxyURL, f.urls["ollama"])
}

// conduitCmd runs `conduit -c config args…` to completion. stderr nil
// means the command's stderr is returned in its error only.
func (d *demo) conduitCmd(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, d.bin, append([]string{"-c", d.config}, args...)...)
	cmd.Env = d.env
	cmd.Stdout = stdout
	var errBuf strings.Builder
	cmd.Stderr = &errBuf
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, &errBuf)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("conduit %s: %w\n%s", strings.Join(args, " "), err, errBuf.String())
	}
	return nil
}

// proxyAddrRE finds the address in the proxy's startup log line.
var proxyAddrRE = regexp.MustCompile(`proxy running at (http://[^\s"]+)`)

// startProxy starts `conduit proxy`, logging to dir/proxy.log (never to
// the terminal the dashboard will own), and returns its address once
// /health answers.
func (d *demo) startProxy(ctx context.Context) (string, error) {
	logFile, err := os.Create(filepath.Join(d.dir, "proxy.log"))
	if err != nil {
		return "", fmt.Errorf("create the proxy log: %w", err)
	}
	d.proxyLog = logFile
	pr, pw := io.Pipe()
	cmd := exec.Command(d.bin, "-c", d.config, "proxy")
	cmd.Env = d.env
	cmd.Stdout = logFile
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start conduit proxy: %w", err)
	}
	d.proxy = cmd
	d.proxyDone = make(chan error, 1)
	found := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-scanned // every line is in the log before anyone reads it
		d.proxyDone <- err
	}()
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if m := proxyAddrRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(logFile, pr) // a line past the scanner's limit: keep draining
	}()

	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	var addr string
	select {
	case addr = <-found:
	case err := <-d.proxyDone:
		d.proxyDone <- err // for stop
		return "", fmt.Errorf("conduit proxy exited at start (%v); its log:\n%s", err, readFile(logFile.Name()))
	case <-deadline.C:
		return "", fmt.Errorf("conduit proxy did not start within %s; its log:\n%s", readyTimeout, readFile(logFile.Name()))
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if err := waitHealthy(ctx, addr, deadline.C); err != nil {
		return "", fmt.Errorf("%w; its log:\n%s", err, readFile(logFile.Name()))
	}
	return addr, nil
}

// waitHealthy polls addr/health until it answers 200.
func waitHealthy(ctx context.Context, addr string, deadline <-chan time.Time) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("conduit proxy at %s is not healthy (last: %v)", addr, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// sent counts the calls made by each way in.
type sent struct{ baseURL, forward int }

func (s sent) total() int { return s.baseURL + s.forward }

// sendAll sends calls one after another.
func (d *demo) sendAll(ctx context.Context, calls []call) (sent, error) {
	direct, proxied, err := d.target.clients()
	if err != nil {
		return sent{}, err
	}
	var s sent
	for _, c := range calls {
		if err := d.target.send(ctx, direct, proxied, c); err != nil {
			return s, err
		}
		if c.forward {
			s.forward++
		} else {
			s.baseURL++
		}
	}
	return s, nil
}

// trickleEvery is how often a call arrives while the dashboard is open.
const trickleEvery = 3 * time.Second

// dashboard runs `conduit dashboard` on the terminal until the user quits
// it, sending one more call of the mix every trickleEvery meanwhile so the
// dashboard has something to follow.
func (d *demo) dashboard(ctx context.Context, extra []string, stdin io.Reader, stdout, stderr io.Writer) error {
	tctx, stopTrickle := context.WithCancel(ctx)
	trickled := make(chan error, 1)
	go func() { trickled <- d.trickle(tctx) }()

	cmd := exec.CommandContext(ctx, d.bin, append([]string{"-c", d.config, "dashboard"}, extra...)...)
	cmd.Env = d.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Cancel = func() error { return interrupt(cmd.Process) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	stopTrickle()
	if tErr := <-trickled; tErr != nil && !errors.Is(tErr, context.Canceled) {
		fmt.Fprintln(stderr, "demo: background calls:", tErr)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("conduit dashboard: %w", err)
	}
	return nil
}

// trickle sends the mix again, one call every trickleEvery, until ctx ends.
func (d *demo) trickle(ctx context.Context) error {
	direct, proxied, err := d.target.clients()
	if err != nil {
		return err
	}
	tick := time.NewTicker(trickleEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := d.target.send(ctx, direct, proxied, mix[i%len(mix)]); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// stop stops the proxy (gracefully: it finishes calls in flight and
// flushes every record) and the fakes. It is idempotent.
func (d *demo) stop() error {
	d.stopOnce.Do(func() {
		if d.proxy != nil {
			if err := interrupt(d.proxy.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
				d.stopErr = fmt.Errorf("stop conduit proxy: %w", err)
			}
			t := time.NewTimer(stopTimeout)
			select {
			case err := <-d.proxyDone:
				if err != nil && d.stopErr == nil {
					d.stopErr = fmt.Errorf("conduit proxy: %w; its log:\n%s", err, readFile(d.proxyLog.Name()))
				}
			case <-t.C:
				d.proxy.Process.Kill()
				<-d.proxyDone
				d.stopErr = fmt.Errorf("conduit proxy did not stop within %s: killed", stopTimeout)
			}
			t.Stop()
		}
		if d.fakes != nil {
			d.fakes.Close()
		}
		if d.proxyLog != nil {
			d.proxyLog.Close()
		}
	})
	return d.stopErr
}

// interrupt asks p to stop as Ctrl-C would; Windows has no such signal
// for another process, so there it is killed.
func interrupt(p *os.Process) error {
	if runtime.GOOS == "windows" {
		return p.Kill()
	}
	return p.Signal(os.Interrupt)
}
