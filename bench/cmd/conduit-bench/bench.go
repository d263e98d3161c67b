//go:build linux

package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
)

// bench is one run: the temporary directory, the subprocesses and what is
// known about the machine.
type bench struct {
	cfg    *config
	log    io.Writer // progress
	dir    string
	root   string // module root
	start  time.Time
	load0  string // load average when the run started
	goVer  string
	cpu    string
	closed bool

	conduitBin string
	fake       *proc  // plain HTTP fake provider
	fakeTLS    *proc  // HTTPS fake provider
	fakeCert   string // its certificate
	fakeTLSCA  *x509.CertPool
	fid        *fidelityFake // in-process fake for the fidelity rows
	baseline   *proc
	bareMITM   *proc // goproxy's MITM recording nothing: forward mode's baseline
	bareMITMCA *x509.CertPool
	conduit    *proc
	conduitCfg string
	conduitCA  *x509.CertPool
	mitm       *proc // nil when mitmdump is not installed
	mitmCA     *x509.CertPool
	mitmWhy    string // why mitm is nil
	mitmVer    string // "mitmdump 8.1.1"
	notes      []string
	self       string   // this program, for its serve-* roles
	routes     []string // key=URL of each fake, as Conduit's providers

	// conduitCalls counts successful calls made through Conduit, to check
	// its ledger recorded each one.
	conduitCalls atomic.Int64
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// needs reports whether any selected section uses one of the given ones.
func (b *bench) needs(sections ...string) bool {
	for _, s := range sections {
		if b.cfg.only[s] {
			return true
		}
	}
	return false
}

func newBench(ctx context.Context, cfg *config, stderr io.Writer) (_ *bench, err error) {
	b := &bench{cfg: cfg, log: stderr, start: time.Now(), load0: loadAverage(), cpu: cpuModel()}
	if b.root, err = moduleRoot(ctx, cfg.goCmd); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, cfg.goCmd, "version").Output(); err == nil {
		b.goVer = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if b.dir, err = os.MkdirTemp("", "conduit-bench-"); err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	b.progress("machine: %d CPUs, %s, %s; load average %s", runtime.NumCPU(), b.cpu, b.goVer, b.load0)
	if !b.needs("latency", "throughput", "fidelity", "forward", "memory") {
		return b, nil
	}
	b.progress("building conduit and the fake provider into %s", b.dir)
	if cfg.conduit != "" {
		b.conduitBin = cfg.conduit
	} else if b.conduitBin, err = goBuild(ctx, cfg.goCmd, b.root, b.dir, "conduit", "./cmd/conduit"); err != nil {
		return nil, err
	}
	fakeBin, err := goBuild(ctx, cfg.goCmd, b.root, b.dir, "fakeprovider", "./examples/fakeprovider/cmd/fakeprovider")
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	b.self = self

	routes := []string{}
	if b.needs("latency", "throughput", "memory") || cfg.profile != "" {
		if b.fake, err = start(ctx, b.dir, "fake", listeningOn, fakeBin, "-listen", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		routes = append(routes, "plain=http://"+b.fake.addr)
	}
	if b.needs("fidelity") {
		if b.fid, err = startFidelityFake(); err != nil {
			return nil, err
		}
		routes = append(routes, "fid=http://"+b.fid.addr)
	}
	if b.needs("forward") {
		b.fakeCert = filepath.Join(b.dir, "fake-tls.pem")
		if b.fakeTLS, err = start(ctx, b.dir, "fake-tls", listeningOn, fakeBin, "-listen", "127.0.0.1:0", "-tls-cert", b.fakeCert); err != nil {
			return nil, err
		}
		routes = append(routes, "tls=https://"+b.fakeTLS.addr)
		if b.fakeTLSCA, err = loadPool(b.fakeCert); err != nil {
			return nil, err
		}
	}
	b.routes = routes
	if cfg.profile != "" {
		return b, nil // runProfiles starts its own Conduit
	}
	if b.needs("latency", "throughput", "fidelity") {
		args := []string{"serve-baseline"}
		for _, r := range routes {
			args = append(args, "-route", r)
		}
		if b.fakeCert != "" {
			args = append(args, "-ca-file", b.fakeCert)
		}
		if b.baseline, err = start(ctx, b.dir, "baseline", listeningOn, self, args...); err != nil {
			return nil, err
		}
	}
	if err := b.startConduit(ctx, routes); err != nil {
		return nil, err
	}
	if b.needs("forward") {
		caOut := filepath.Join(b.dir, "bare-mitm-ca.pem")
		if b.bareMITM, err = start(ctx, b.dir, "bare-mitm", listeningOn, self, "serve-bare-mitm", "-ca-file", b.fakeCert, "-ca-out", caOut); err != nil {
			return nil, err
		}
		if b.bareMITMCA, err = loadPool(caOut); err != nil {
			return nil, err
		}
		if err := b.startMitmdump(ctx); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// startConduit writes Conduit's config and CA (configureConduit) and
// starts `conduit proxy`.
func (b *bench) startConduit(ctx context.Context, routes []string) error {
	if err := b.configureConduit(ctx, routes); err != nil {
		return err
	}
	var err error
	b.conduit, err = start(ctx, b.dir, "conduit", conduitRunning, b.conduitBin, "-c", b.conduitCfg, "proxy")
	return err
}

// conduitCADir is where configureConduit keeps the forward-mode CA.
func (b *bench) conduitCADir() string { return filepath.Join(b.dir, "ca") }

// configureConduit writes Conduit's config (one provider per route, the
// ledger and the forward-mode CA in the temporary directory) and creates
// the CA when forward mode is measured.
func (b *bench) configureConduit(ctx context.Context, routes []string) error {
	var cfg strings.Builder
	cfg.WriteString("listen = \"127.0.0.1:0\"\n")
	for _, r := range routes {
		key, u, _ := strings.Cut(r, "=")
		fmt.Fprintf(&cfg, "\n[providers.%s]\nupstream = %q\napi = \"openai\"\n", key, u)
	}
	fmt.Fprintf(&cfg, "\n[ledger]\npath = %q\n", filepath.Join(b.dir, "conduit.db"))
	caDir := b.conduitCADir()
	if b.fakeTLS != nil {
		fmt.Fprintf(&cfg, "\n[mitm]\nca_dir = %q\nhosts = [%q]\n", caDir, b.fakeTLS.addr)
		fmt.Fprintf(&cfg, "\n[upstream]\nca_file = %q\n", b.fakeCert)
	}
	b.conduitCfg = filepath.Join(b.dir, "conduit.toml")
	if err := os.WriteFile(b.conduitCfg, []byte(cfg.String()), 0o644); err != nil {
		return fmt.Errorf("write conduit config: %w", err)
	}
	if b.fakeTLS != nil {
		out, err := exec.CommandContext(ctx, b.conduitBin, "-c", b.conduitCfg, "ca", "init").CombinedOutput()
		if err != nil {
			return fmt.Errorf("conduit ca init: %w\n%s", err, out)
		}
		if b.conduitCA, err = loadPool(filepath.Join(caDir, "ca.pem")); err != nil {
			return err
		}
	}
	return nil
}

// startMitmdump starts mitmdump as an HTTPS proxy trusting the TLS fake,
// with its CA in the temporary directory; when it is not installed,
// mitmWhy says so.
func (b *bench) startMitmdump(ctx context.Context) error {
	bin, err := exec.LookPath("mitmdump")
	if err != nil {
		b.mitmWhy = "mitmdump not installed (apt-get install -y mitmproxy)"
		b.progress("%s: the mitmproxy rows are skipped", b.mitmWhy)
		return nil
	}
	b.mitmVer = "mitmdump"
	if out, err := exec.CommandContext(ctx, bin, "--version").Output(); err == nil {
		if v, ok := match(mitmVersionRE, out); ok {
			b.mitmVer += " " + v
		}
	}
	addr, err := freePort()
	if err != nil {
		return err
	}
	confdir := filepath.Join(b.dir, "mitmproxy")
	host, port, _ := strings.Cut(addr, ":")
	caPath := filepath.Join(confdir, "mitmproxy-ca-cert.pem")
	b.mitm, err = start(ctx, b.dir, "mitmdump", portOpen(addr, caPath), bin,
		"--quiet", "--listen-host", host, "--listen-port", port,
		"--set", "confdir="+confdir,
		"--set", "ssl_verify_upstream_trusted_ca="+b.fakeCert,
		"--set", "flow_detail=0",
	)
	if err != nil {
		return err
	}
	b.mitmCA, err = loadPool(caPath)
	return err
}

var mitmVersionRE = regexp.MustCompile(`Mitmproxy: (\S+)`)

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA %s: no certificate", path)
	}
	return pool, nil
}

// stopServers stops every subprocess and the in-process fake, so that the
// go test benchmarks run on a quiet machine. Idempotent.
func (b *bench) stopServers() {
	for _, p := range []*proc{b.mitm, b.bareMITM, b.conduit, b.baseline, b.fakeTLS, b.fake} {
		if p != nil {
			p.stop()
		}
	}
	if b.fid != nil {
		b.fid.close()
		b.fid = nil
	}
}

func (b *bench) close() {
	if b.closed {
		return
	}
	b.closed = true
	b.stopServers()
	if b.cfg.keep {
		b.progress("kept %s", b.dir)
		return
	}
	os.RemoveAll(b.dir)
}

// ledgerCheck stops nothing: it asks `conduit report` how many calls the
// ledger holds (Conduit must have been stopped, so that every record is
// written) and compares with the calls made through Conduit.
func (b *bench) ledgerCheck(ctx context.Context) string {
	if b.conduit == nil {
		return ""
	}
	out, err := exec.CommandContext(ctx, b.conduitBin, "-c", b.conduitCfg, "report", "--by", "provider", "--format", "json").Output()
	if err != nil {
		return fmt.Sprintf("ledger check failed: conduit report: %v", err)
	}
	var rep struct {
		Total struct {
			Calls int64 `json:"calls"`
		} `json:"total"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Sprintf("ledger check failed: conduit report output: %v", err)
	}
	return fmt.Sprintf("Conduit's ledger holds %d calls; %d were made through Conduit without error.",
		rep.Total.Calls, b.conduitCalls.Load())
}

// measure runs the selected sections in order and returns every row of
// the table (unselected sections give skipped rows).
func (b *bench) measure(ctx context.Context) ([]loadgen.Row, error) {
	var rows []loadgen.Row
	type section struct {
		name string
		run  func(context.Context) ([]loadgen.Row, error)
		skip []loadgen.Row // when not selected
	}
	notSelected := "not selected (-only)"
	secs := []section{
		{"latency", b.latency, []loadgen.Row{
			loadgen.SkipRow(rowLatencyP50, targetLatency, notSelected),
			loadgen.SkipRow(rowLatencyP99, targetLatency, notSelected)}},
		{"throughput", b.throughput, []loadgen.Row{loadgen.SkipRow(rowThroughput, targetThroughput, notSelected)}},
		{"fidelity", b.fidelity, []loadgen.Row{
			loadgen.SkipRow(rowFidelityP99, targetFidelityP99, notSelected),
			loadgen.SkipRow(rowFirstByte, targetFirstByte, notSelected)}},
		{"forward", b.forward, []loadgen.Row{
			loadgen.SkipRow(rowBareMitmRate, targetBareMitmRate, notSelected),
			loadgen.SkipRow(rowBareMitmP50, targetBareMitmLatency, notSelected),
			loadgen.SkipRow(rowBareMitmP99, targetBareMitmLatency, notSelected),
			loadgen.SkipRow(rowMitmRate, targetMitmRate, notSelected),
			loadgen.SkipRow(rowMitmP50, targetMitmP50, notSelected),
			loadgen.SkipRow(rowForwardBase, targetForwardBase, notSelected)}},
		{"memory", b.memory, []loadgen.Row{loadgen.SkipRow(rowMemory, targetMemory, notSelected)}},
		{"scanner", b.scannerMeters, []loadgen.Row{
			loadgen.SkipRow(rowScanner, targetScanner, notSelected),
			loadgen.SkipRow(rowMeters, targetScanner, notSelected)}},
		{"ledger", b.ledgerRows, []loadgen.Row{
			loadgen.SkipRow(rowLedgerRate, targetLedgerRate, notSelected),
			loadgen.SkipRow(rowReport, targetReport, notSelected)}},
	}
	for _, s := range secs {
		if s.name == "scanner" {
			// The go test benchmarks come after every proxy load, on a
			// machine without the proxies.
			b.stopServers()
			if note := b.ledgerCheck(ctx); note != "" {
				b.progress("%s", note)
				b.notes = append(b.notes, note)
			}
		}
		if !b.cfg.only[s.name] {
			rows = append(rows, s.skip...)
			continue
		}
		b.progress("section %s", s.name)
		got, err := s.run(ctx)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			b.progress("section %s failed: %v", s.name, err)
			for _, r := range s.skip {
				rows = append(rows, loadgen.Row{What: r.What, Target: r.Target, Measured: "error: " + firstLine(err.Error()), Verdict: loadgen.Missed})
			}
			continue
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// report prints the machine, the command and the table (and writes them
// to -markdown).
func (b *bench) report(stdout io.Writer, rows []loadgen.Row) error {
	var out strings.Builder
	fmt.Fprintf(&out, "date:     %s\n", b.start.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&out, "machine:  %d CPUs (nproc), %s, %s\n", runtime.NumCPU(), b.cpu, b.goVer)
	fmt.Fprintf(&out, "load:     %s at the start, %s at the end (1, 5, 15 min)\n", b.load0, loadAverage())
	fmt.Fprintf(&out, "command:  %s\n", commandLine(b.cfg.args))
	fmt.Fprintf(&out, "method:   %d interleaved rounds of %v per target, medians over rounds; took %v\n\n",
		b.cfg.rounds, b.cfg.block, time.Since(b.start).Round(time.Second))
	if err := loadgen.WriteTable(&out, rows); err != nil {
		return err
	}
	for _, n := range b.notes {
		fmt.Fprintf(&out, "\n%s\n", n)
	}
	if _, err := io.WriteString(stdout, "\n"+out.String()); err != nil {
		return fmt.Errorf("print results: %w", err)
	}
	if b.cfg.markdown != "" {
		if err := os.WriteFile(b.cfg.markdown, []byte(out.String()), 0o644); err != nil {
			return fmt.Errorf("write -markdown: %w", err)
		}
	}
	return nil
}

func commandLine(args []string) string {
	s := "go run ./bench/cmd/conduit-bench"
	if len(args) > 0 {
		s += " " + strings.Join(args, " ")
	}
	return s
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
