package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/config"
)

// TestConfigMITMHosts guards [mitm] hosts checked with forward mode's host
// grammar when any command loads the config: a bad pattern names file, line
// and key.
func TestConfigMITMHosts(t *testing.T) {
	tests := []struct {
		name  string
		hosts string
		want  string // "" for none; else the error's start, then a substring
		msg   string
	}{
		{"good", `["api.openai.com", "*.openai.azure.com", "127.0.0.1:11434", "[::1]:8000"]`, "", ""},
		{"none", `[]`, "", ""},
		{"with scheme", `["https://api.openai.com"]`, "conduit.toml:4: mitm.hosts:", "without scheme or path"},
		{"wildcard too wide", `["*.com"]`, "conduit.toml:4: mitm.hosts:", "at least two labels"},
		{"bad port", "[\n  \"a.example.com\",\n  \"api.openai.com:0\",\n]", "conduit.toml:4: mitm.hosts:", "bad port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "conduit.toml")
			writeFile(t, path, okProvider+"[mitm]\nhosts = "+tt.hosts+"\n")
			a := &app{configFlag: path, getenv: noEnv}
			_, err := a.loadConfig()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), filepath.Dir(path)+"/"+tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want %s…%s", err, tt.want, tt.msg)
			}
		})
	}
}

// TestInterceptTimeouts guards the one place where [timeouts] meets
// intercept: drain = "0s" (NoDrain) must reach intercept as a drain of zero
// (none), and every drain as set, never as nil (intercept's default).
func TestInterceptTimeouts(t *testing.T) {
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	tests := []struct {
		name  string
		table string
		drain time.Duration // what intercept is given; zero: no drain
	}{
		{"default", "", time.Minute},
		{"no drain", "[timeouts]\ndrain = \"0s\"\n", 0},
		{"drain set", "[timeouts]\ndrain = \"5s\"\nconnect = \"2s\"\nresponse_header = \"3s\"\ntotal = \"4s\"\n", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse(strings.NewReader(ok+tt.table), "conduit.toml", noEnv)
			if err != nil {
				t.Fatal(err)
			}
			got := interceptTimeouts(cfg.Timeouts)
			if got.Drain == nil {
				t.Fatalf("drain not set, want %v", tt.drain)
			}
			if *got.Drain != tt.drain {
				t.Errorf("drain = %v, want %v", *got.Drain, tt.drain)
			}
			if got.Connect != cfg.Timeouts.Connect || got.ResponseHeader != cfg.Timeouts.ResponseHeader || got.Total != cfg.Timeouts.Total {
				t.Errorf("timeouts = %+v, from %+v", got, cfg.Timeouts)
			}
		})
	}
}
