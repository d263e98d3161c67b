package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestGuardKeys guards the keys that bound what the proxy serves and
// relays: [mitm] allow_private_tunnels and max_tunnels_per_client, [server]
// allowed_hosts and allowed_origins — their defaults, their values, and
// each mistake placed at file:line:key.
func TestGuardKeys(t *testing.T) {
	cfg, err := parse(t, okProvider)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MITM.AllowPrivateTunnels || cfg.MITM.MaxTunnelsPerClient != DefaultMaxTunnelsPerClient || cfg.Server.AllowedHosts != nil || cfg.Server.AllowedOrigins != nil {
		t.Errorf("defaults: %+v %+v", cfg.MITM, cfg.Server)
	}
	cfg, err = parse(t, okProvider+"[mitm]\nallow_private_tunnels = true\nmax_tunnels_per_client = 8\n"+
		"[server]\nallowed_hosts = [\"Conduit.Internal.\", \"10.0.0.5\", \"[::1]\"]\nallowed_origins = [\"https://App.Example.com\", \"http://localhost:3000/\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.MITM.AllowPrivateTunnels || cfg.MITM.MaxTunnelsPerClient != 8 {
		t.Errorf("mitm: %+v", cfg.MITM)
	}
	if want := []string{"conduit.internal", "10.0.0.5", "::1"}; !slices.Equal(cfg.Server.AllowedHosts, want) {
		t.Errorf("allowed_hosts %q, want %q", cfg.Server.AllowedHosts, want)
	}
	if want := []string{"https://app.example.com", "http://localhost:3000"}; !slices.Equal(cfg.Server.AllowedOrigins, want) {
		t.Errorf("allowed_origins %q, want %q", cfg.Server.AllowedOrigins, want)
	}

	for _, tt := range []struct {
		name, src, key, want string
		line                 int
	}{
		{"zero tunnels", "[mitm]\nmax_tunnels_per_client = 0\n", "mitm.max_tunnels_per_client", "at least 1", 4},
		{"tunnels not a number", "[mitm]\nmax_tunnels_per_client = \"many\"\n", "mitm.max_tunnels_per_client", "expected an integer", 4},
		{"host with a port", "[server]\nallowed_hosts = [\"conduit.internal:8080\"]\n", "server.allowed_hosts", "without a port", 4},
		{"host as a URL", "[server]\nallowed_hosts = [\"http://conduit.internal\"]\n", "server.allowed_hosts", "a host name or address", 4},
		{"empty host", "[server]\nallowed_hosts = [\"\"]\n", "server.allowed_hosts", "a host name or address", 4},
		{"origin without scheme", "[server]\nallowed_origins = [\"app.example.com\"]\n", "server.allowed_origins", "scheme://host[:port]", 4},
		{"origin with a path", "[server]\nallowed_origins = [\"https://app.example.com/x\"]\n", "server.allowed_origins", "scheme://host[:port]", 4},
		{"origin wildcard", "[server]\nallowed_origins = [\"*\"]\n", "server.allowed_origins", "scheme://host[:port]", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, okProvider+tt.src)
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tt.key || ce.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %s at line %d saying %q, got %v", tt.key, tt.line, tt.want, err)
			}
		})
	}
}
