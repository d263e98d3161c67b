package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/intercept"
)

// loadConfig loads the config file the global options and environment
// name. When they name none and there is no conduit.toml in the working
// directory, but a proxy runs on a ledger in it (`make run` in the
// repository runs one on conduit.example.toml), the commands that read the
// ledger or talk to the proxy use that proxy's config, and say so: that is
// the proxy the user means, and a "no config" error would only send them
// looking for its -c. The proxy itself never does (see loadOwnConfig).
func (a *app) loadConfig() (*config.Config, error) {
	path := config.Path(a.configFlag, a.getenv)
	if path == config.DefaultFileName && a.configFlag == "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if alt, err := a.runningConfig(); alt != "" || err != nil {
				if err != nil {
					return nil, err
				}
				path = alt
			}
		}
	}
	return loadConfigFile(path, a.getenv)
}

// loadOwnConfig loads the config file the global options and environment
// name, and no other: the proxy's.
func (a *app) loadOwnConfig() (*config.Config, error) {
	return loadConfigFile(config.Path(a.configFlag, a.getenv), a.getenv)
}

func loadConfigFile(path string, getenv func(string) string) (*config.Config, error) {
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return nil, err
	}
	if err := checkMITMHosts(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// runningConfig returns the config of the one proxy running on a ledger in
// the working directory (and says so on stderr), "" when none runs, or an
// error naming them when several do.
func (a *app) runningConfig() (string, error) {
	running := runningProxiesIn(".")
	switch len(running) {
	case 0:
		return "", nil
	case 1:
		st := running[0]
		path := relToWD(st.Config)
		if a.noted["running-config"] {
			return path, nil
		}
		a.note("running-config")
		fmt.Fprintf(a.stderr, "conduit: no %s here: using %s, the config of the proxy running on %s (%s)\n",
			config.DefaultFileName, path, relToWD(st.Ledger), st.describe())
		return path, nil
	}
	var names []string
	for _, st := range running {
		names = append(names, fmt.Sprintf("-c %s (%s)", relToWD(st.Config), st.describe()))
	}
	return "", fmt.Errorf("no %s here, and %d proxies run on ledgers here: name the config, with %s",
		config.DefaultFileName, len(running), strings.Join(names, " or "))
}

// relToWD shows path relative to the working directory when it is inside it.
func relToWD(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}

// checkMITMHosts checks [mitm] hosts with forward mode's own grammar when
// the file is loaded, so that a bad pattern stops every command at its line
// rather than only the proxy, later and without one.
func checkMITMHosts(cfg *config.Config) error {
	for _, h := range cfg.MITM.Hosts {
		if err := intercept.ValidateHostPattern(h); err != nil {
			return cfg.KeyError(err.Error(), "mitm", "hosts")
		}
	}
	return nil
}

// interceptProxyAuth returns the credential forward mode asks for ([server]
// proxy_user and its password), nil when none is configured, or an error
// naming file, line and key when the password's environment variable is
// not set.
func interceptProxyAuth(s config.Server) (*intercept.ProxyAuth, error) {
	sum, err := s.PasswordDigest()
	if err != nil || sum == nil {
		return nil, err
	}
	return &intercept.ProxyAuth{User: s.ProxyUser, PasswordSHA256: *sum}, nil
}

// warnRemote logs, at start, what a listener beyond loopback exposes.
func warnRemote(logger *slog.Logger, addr string, auth bool) {
	if config.IsLoopbackListen(addr) {
		return
	}
	if auth {
		logger.Warn("listening on " + addr + ", reachable from other machines ([server] allow_remote): forward mode asks for the proxy_user password; " +
			"base-URL routes and /health answer anyone who can reach this port")
		return
	}
	logger.Warn("listening on " + addr + ", reachable from other machines ([server] allow_remote) with no proxy password: " +
		"anyone who can reach this port can use Conduit as a proxy to any host. Set proxy_user and proxy_password_env under [server], or listen on 127.0.0.1")
}
