package npmcache

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCacheDir guards the install directory's key: pinned packages only,
// the name as a label, and a different directory for a different pin.
func TestCacheDir(t *testing.T) {
	a, err := cacheDir("claude-code", []string{"@anthropic-ai/claude-code@2.1.332"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a, filepath.Join("conduit-test", "npm", "claude-code-")) {
		t.Errorf("cacheDir = %s, want it under conduit-test/npm/claude-code-…", a)
	}
	b, err := cacheDir("claude-code", []string{"@anthropic-ai/claude-code@2.1.333"})
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two pins share the directory %s", a)
	}
	for _, bad := range [][]string{nil, {"@anthropic-ai/claude-code"}, {"openai"}} {
		if _, err := cacheDir("x", bad); err == nil {
			t.Errorf("cacheDir(%q) accepted an unpinned package list", bad)
		}
	}
}

// TestUnreachable guards which npm failures skip (no registry) and which
// fail (a registry that answers no).
func TestUnreachable(t *testing.T) {
	tests := []struct {
		out  string
		want bool
	}{
		{"npm error code ENOTFOUND\nnpm error errno ENOTFOUND", true},
		{"npm error code EAI_AGAIN", true},
		{"npm error network request to https://registry.example/x failed, reason: connect ECONNREFUSED", true},
		{"npm error code ETIMEDOUT", true},
		{"npm error code E404\nnpm error 404 Not Found - GET https://registry.example/nope", false},
		{"npm error code ETARGET\nnpm error notarget No matching version found", false},
	}
	for _, tt := range tests {
		if got := unreachable.MatchString(tt.out); got != tt.want {
			t.Errorf("unreachable(%q) = %v, want %v", tt.out, got, tt.want)
		}
	}
}
