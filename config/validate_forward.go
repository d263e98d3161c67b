package config

import (
	"net/url"

	"github.com/valohai/conduit/certs"
)

// mitm checks the [mitm] table. The host patterns' grammar belongs to
// forward mode, which matches them: cmd/conduit checks them with it and
// places a mistake with Config.KeyError, so that this package stays free of
// the proxy.
func (v *validator) mitm(raw fileMITM, dir string) MITM {
	out := MITM{TunnelOthers: true, MaxTunnelsPerClient: DefaultMaxTunnelsPerClient}
	if raw.CADir != nil {
		if *raw.CADir == "" {
			v.fail([]string{"mitm", "ca_dir"}, "must not be empty (leave it out for the default, %s under your config directory)", certs.DefaultDirName)
		}
		out.CADir = resolvePath(string(*raw.CADir), dir)
	}
	if raw.Hosts != nil {
		out.Hosts = []string(*raw.Hosts)
	}
	if raw.TunnelOthers != nil {
		out.TunnelOthers = bool(*raw.TunnelOthers)
	}
	if raw.AllowPrivateTunnels != nil {
		out.AllowPrivateTunnels = bool(*raw.AllowPrivateTunnels)
	}
	if raw.MaxTunnels != nil {
		if n := int64(*raw.MaxTunnels); n < 1 || n > 1<<20 {
			v.fail([]string{"mitm", "max_tunnels_per_client"}, "%d: must be at least 1 (and at most %d); leave it out for %d", n, 1<<20, DefaultMaxTunnelsPerClient)
		} else {
			out.MaxTunnelsPerClient = int(n)
		}
	}
	if raw.WebSockets != nil {
		switch s := string(*raw.WebSockets); s {
		case "meter":
		case "refuse":
			out.RefuseWebSockets = true
		default:
			v.fail([]string{"mitm", "websockets"}, "%q is not \"meter\" (relay and record WebSocket connections) or \"refuse\" (answer 426, so clients fall back to HTTPS)", s)
		}
	}
	return out
}

// upstream checks the [upstream] table: Conduit's own way out.
func (v *validator) upstream(raw fileUpstream, dir, listen string, getenv func(string) string) Upstream {
	out := Upstream{NoProxy: getenv("NO_PROXY")}
	if out.NoProxy == "" {
		out.NoProxy = getenv("no_proxy")
	}
	if raw.Proxy != nil {
		key := []string{"upstream", "proxy"}
		s := string(*raw.Proxy)
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail(key, "%q is not an http(s) proxy URL (e.g. \"http://proxy.example.com:3128\")", s)
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			v.fail(key, "%q: a proxy URL is scheme://[user:password@]host[:port], without path or query", s)
		case isListenAddr(u, listen):
			v.fail(key, "%q is Conduit's own listen address: its calls would loop through itself", s)
		default:
			out.Proxy = u
		}
	}
	if raw.CAFile != nil {
		if *raw.CAFile == "" {
			v.fail([]string{"upstream", "ca_file"}, "must not be empty (leave it out to trust the system roots only)")
		}
		out.CAFile = resolvePath(string(*raw.CAFile), dir)
	}
	return out
}
