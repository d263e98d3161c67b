package main

import (
	"log/slog"

	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/intercept"
)

// loadConfig loads the config file the global options and environment name.
func (a *app) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(config.Path(a.configFlag, a.getenv), a.getenv)
	if err != nil {
		return nil, err
	}
	if err := checkMITMHosts(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
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
