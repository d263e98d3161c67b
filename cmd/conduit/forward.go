package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/valohai/conduit/certs"
	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/intercept"
)

// mitmCADir returns the CA directory: [mitm] ca_dir, else the default under
// the user's config directory.
func mitmCADir(cfg *config.Config) (string, error) {
	if cfg.MITM.CADir != "" {
		return cfg.MITM.CADir, nil
	}
	dir, err := certs.DefaultDir()
	if err != nil {
		return "", fmt.Errorf("find the CA directory (set [mitm] ca_dir): %w", err)
	}
	return dir, nil
}

// mitmHosts returns the hosts forward mode intercepts: [mitm] hosts, else
// every provider's upstream host plus the well-known API hosts. The second
// result lists those of the default hosts that are only ever called over
// plain http (a local model server): they need no certificate.
func mitmHosts(cfg *config.Config, providers []intercept.Provider) (hosts, plainOnly []string) {
	if cfg.MITM.Hosts != nil {
		return cfg.MITM.Hosts, nil
	}
	hosts = intercept.DefaultHosts(providers)
	var tls []string
	for _, w := range intercept.WellKnownHosts() {
		tls = append(tls, w.Host)
	}
	for _, p := range providers {
		if p.Upstream.Scheme == "https" {
			tls = append(tls, intercept.UpstreamHostPattern(p.Upstream))
		}
	}
	for _, p := range providers {
		if h := intercept.UpstreamHostPattern(p.Upstream); p.Upstream.Scheme == "http" && !slices.Contains(tls, h) && !slices.Contains(plainOnly, h) {
			plainOnly = append(plainOnly, h)
		}
	}
	return hosts, plainOnly
}

// mitmCAHosts returns the hosts the CA must cover for forward mode to
// decrypt every intercepted host: mitmHosts without the plain-http-only
// ones. `conduit ca init` makes its CA for these; the proxy checks the CA
// against them.
func mitmCAHosts(cfg *config.Config, providers []intercept.Provider) []string {
	hosts, plainOnly := mitmHosts(cfg, providers)
	var out []string
	for _, h := range hosts {
		if !slices.Contains(plainOnly, h) {
			out = append(out, h)
		}
	}
	return out
}

// loadCA loads the local CA. No CA yet is not an error: it returns nil, and
// forward mode tunnels everything. Conduit never creates a CA on its own.
func loadCA(cfg *config.Config) (*certs.Authority, error) {
	dir, err := mitmCADir(cfg)
	if err != nil {
		return nil, err
	}
	ca, err := certs.Load(dir)
	if errors.Is(err, certs.ErrNoCA) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: [mitm] ca_dir: load the local CA: %w", cfg.Pos("mitm", "ca_dir"), err)
	}
	return ca, nil
}

// forwardOptions builds forward mode's options for the proxy listening on
// listenAddr: the CA (nil when there is none yet), the intercepted hosts,
// and a warning for hosts the CA's name constraints do not cover (those
// are tunnelled, not decrypted).
func forwardOptions(logger *slog.Logger, cfg *config.Config, providers []intercept.Provider, listenAddr string) (*intercept.Forward, error) {
	ca, err := loadCA(cfg)
	if err != nil {
		return nil, err
	}
	hosts, _ := mitmHosts(cfg, providers)
	fw := &intercept.Forward{Hosts: hosts, TunnelOthers: cfg.MITM.TunnelOthers, AllowPrivateTunnels: cfg.MITM.AllowPrivateTunnels, RefuseWebSockets: cfg.MITM.RefuseWebSockets, ListenAddrs: []string{listenAddr}}
	if ca == nil {
		return fw, nil // intercept logs how to create one
	}
	fw.CA = ca
	var nce *certs.NotCoveredError
	switch err := ca.Covers(mitmCAHosts(cfg, providers)); {
	case errors.As(err, &nce):
		logger.Warn("forward mode: the local CA does not cover these hosts, so HTTPS calls to them are tunnelled, not recorded; "+
			"run 'conduit ca init --force' for a CA that covers the current host list (then point your tools at the new one)",
			"hosts", hostSummary(nce.Hosts), "ca", ca.CertPath())
	case err != nil:
		logger.Warn("forward mode: cannot check the CA against the host list", "err", err)
	}
	logger.Info("forward mode: intercepting LLM hosts", "hosts", len(hosts), "ca", ca.CertPath(), "tunnel_others", cfg.MITM.TunnelOthers)
	return fw, nil
}

// hostSummary lists hosts for a log line, the first few by name: a CA
// made before the default list grew (a host per cloud region) misses
// dozens.
func hostSummary(hosts []string) string {
	const shown = 6
	if len(hosts) <= shown {
		return strings.Join(hosts, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(hosts[:shown], ", "), len(hosts)-shown)
}

// upstreamOptions builds the options for Conduit's own outbound
// connections: [upstream] proxy (with NO_PROXY) and ca_file's extra roots on
// top of the system's.
func upstreamOptions(cfg *config.Config) (intercept.Upstream, error) {
	up := intercept.Upstream{Proxy: cfg.Upstream.Proxy, NoProxy: cfg.Upstream.NoProxy}
	if cfg.Upstream.CAFile == "" {
		return up, nil
	}
	pem, err := os.ReadFile(cfg.Upstream.CAFile)
	if err != nil {
		return up, fmt.Errorf("%s: [upstream] ca_file: %w", cfg.Pos("upstream", "ca_file"), err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return up, fmt.Errorf("%s: [upstream] ca_file: no PEM certificate in %s", cfg.Pos("upstream", "ca_file"), cfg.Upstream.CAFile)
	}
	up.RootCAs = pool
	return up, nil
}
