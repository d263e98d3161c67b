package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// TestProjectOf guards how conduit run names a project: the directory
// holding .git (a directory, or a worktree's file) around the working
// directory, else the working directory's own name.
func TestProjectOf(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "my-repo")
	deep := filepath.Join(repo, "src", "pkg")
	worktree := filepath.Join(root, "wt", "feature-x")
	plain := filepath.Join(root, "scratch")
	for _, d := range []string{filepath.Join(repo, ".git"), deep, worktree, plain} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(worktree, ".git"), "gitdir: ../../my-repo/.git/worktrees/feature-x\n")
	for dir, want := range map[string]string{repo: "my-repo", deep: "my-repo", worktree: "feature-x", plain: "scratch"} {
		if got := projectOf(dir); got != want {
			t.Errorf("%s: %q, want %q", dir, got, want)
		}
	}
}

// TestClientAttribution guards conduit run's attribution: --project wins
// over the directory, a session per run that sorts by time, tags split on
// commas, and a --project the grammar cannot carry refused.
func TestClientAttribution(t *testing.T) {
	now := time.Date(2026, 1, 5, 14, 30, 12, 0, time.UTC)
	a, err := clientAttribution("run", "", []string{"a, b", "c"}, "/home/me/web", true, now)
	if err != nil || a.Project != "web" || strings.Join(a.Tags, "|") != "a|b|c" || !regexp.MustCompile(`^20260105T143012-[0-9a-f]{4}$`).MatchString(a.Session) {
		t.Errorf("%+v, %v", a, err)
	}
	b, _ := clientAttribution("run", "", nil, "/home/me/web", true, now)
	if b.Session == a.Session {
		t.Errorf("two runs share session %s", a.Session)
	}
	if a, err := clientAttribution("run", "site", nil, "/home/me/web", false, now); err != nil || a.Project != "site" || a.Session != "" {
		t.Errorf("--project: %+v, %v", a, err)
	}
	if _, err := clientAttribution("run", strings.Repeat("x", 300), nil, "", true, now); err == nil || !strings.Contains(err.Error(), "--project") {
		t.Errorf("a long --project: %v", err)
	}
	if a, err := clientAttribution("run", "", nil, "/tmp/"+strings.Repeat("x", 250), true, now); err != nil || a.Project != "" || a.Session == "" {
		t.Errorf("a directory name too long to carry: %+v, %v", a, err)
	}
}

// TestEnvProject guards conduit env: the same attribution-less variables
// as ever without --project, and with it the project in the proxy user
// name (after proxy_user, with the password from its variable) or in the
// base URLs.
func TestEnvProject(t *testing.T) {
	cfg := envConfig(t, "127.0.0.1:9090", t.TempDir())
	code, out, _ := runConduit(t, nil, "-c", cfg, "env", "--mode", "proxy", "--shell", "sh")
	if code != 0 || !strings.Contains(out, "export HTTPS_PROXY='http://127.0.0.1:9090'\n") {
		t.Errorf("without --project: %d\n%s", code, out)
	}
	code, out, _ = runConduit(t, nil, "-c", cfg, "env", "--mode", "proxy", "--shell", "sh", "--project", "web site", "--tag", "x")
	if code != 0 || !strings.Contains(out, "export HTTPS_PROXY='http://conduit+project=web%2520site+tag=x@127.0.0.1:9090'\n") ||
		!strings.Contains(out, "attributes them (project web site, tags x)") {
		t.Errorf("proxy mode with --project: %d\n%s", code, out)
	}
	code, out, _ = runConduit(t, nil, "-c", cfg, "env", "--shell", "sh", "--project", "web")
	if code != 0 || !strings.Contains(out, "export OPENAI_BASE_URL='http://127.0.0.1:9090/@project=web/openai/v1'\n") ||
		!strings.Contains(out, "base URL http://127.0.0.1:9090/@project=web/groq/v1") {
		t.Errorf("base-url mode with --project: %d\n%s", code, out)
	}

	auth := filepath.Join(t.TempDir(), "conduit.toml")
	writeFile(t, auth, "[providers.openai]\nupstream = \"https://api.openai.com\"\n[server]\nproxy_user = \"alice\"\nproxy_password_env = \"PW\"\n")
	code, out, errOut := runConduit(t, map[string]string{"PW": "p@ss:word"}, "-c", auth, "env", "--mode", "proxy", "--shell", "sh", "--project", "web")
	if code != 0 || !strings.Contains(out, "export HTTPS_PROXY='http://alice+project=web:p%40ss%3Aword@127.0.0.1:8080'\n") {
		t.Errorf("with a proxy password: %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = runConduit(t, nil, "-c", auth, "env", "--mode", "proxy", "--project", "web")
	if code != 0 || !strings.Contains(errOut, "set PW in this environment") {
		t.Errorf("without the password's variable: %d %q", code, errOut)
	}

	for _, tt := range []struct{ args []string }{{[]string{"--tag", "x"}}, {[]string{"--project", ""}}, {[]string{"--project", "a\x01"}}} {
		if code, _, errOut := runConduit(t, nil, append([]string{"-c", cfg, "env"}, tt.args...)...); code != exitUsage {
			t.Errorf("%q: exit %d %q", tt.args, code, errOut)
		}
	}
}

// TestReportAndExportByProject guards the CLI's projects and sessions:
// report --by project and --by session, and the --project and --session
// filters of report and export, and --all, which adds the requests that
// are not LLM calls.
func TestReportAndExportByProject(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conduit.toml")
	writeFile(t, cfg, "[providers.openai]\nupstream = \"https://api.openai.com\"\n")
	db, err := ledger.Open(filepath.Join(dir, "conduit.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var recs []ledger.Record
	for i, ps := range [][2]string{{"web", "s1"}, {"web", "s1"}, {"web", "s2"}, {"api", "s3"}, {"", ""}} {
		c := 0.5
		recs = append(recs, ledger.Record{
			ID: "id-" + string(rune('a'+i)), StartedAt: now.Add(-time.Duration(i) * time.Minute), FinishedAt: now,
			Provider: "openai", API: "openai", Mode: ledger.ModeBaseURL, Method: "POST", Host: "api.openai.com",
			Path: "/v1/chat/completions", Model: "gpt-4.1", Status: 200, Outcome: ledger.OutcomeComplete,
			HasUsage: true, InputTokens: 10, OutputTokens: 10, CostUSD: &c, Project: ps[0], Session: ps[1],
		})
	}
	other := recs[0]
	other.ID, other.Kind, other.Path, other.Model, other.HasUsage, other.CostUSD = "id-other", ledger.KindOther, "/api/hello", "", false, nil
	other.InputTokens, other.OutputTokens = 0, 0
	recs = append(recs, other)
	if err := db.Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	db.Close()
	groups := func(args ...string) map[string]int {
		t.Helper()
		code, out, errOut := runCLI(t, nil, append([]string{"-c", cfg, "report", "--format", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var rep struct {
			Groups []struct {
				Key   string
				Calls int
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, g := range rep.Groups {
			m[g.Key] = g.Calls
		}
		return m
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--by", "project"}, "map[:1 api:1 web:3]"},
		{[]string{"--by", "session"}, "map[:1 s1:2 s2:1 s3:1]"},
		{[]string{"--by", "session", "--project", "web"}, "map[s1:2 s2:1]"},
		{[]string{"--by", "project", "--session", "s3"}, "map[api:1]"},
		{[]string{"--by", "project", "--all"}, "map[:1 api:1 web:4]"},
	} {
		if got := groups(tt.args...); fmt.Sprint(got) != tt.want {
			t.Errorf("report %v: %v, want %s", tt.args, got, tt.want)
		}
	}
	code, out, _ := runCLI(t, nil, "-c", cfg, "export", "--project", "web", "--session", "s1")
	if lines := strings.Count(out, "\n"); code != 0 || lines != 2 || !strings.Contains(out, `"project":"web"`) || !strings.Contains(out, `"session":"s1"`) {
		t.Errorf("export: exit %d, %d lines\n%s", code, lines, out)
	}
	code, out, _ = runCLI(t, nil, "-c", cfg, "export", "--project", "web", "--session", "s1", "--all")
	if lines := strings.Count(out, "\n"); code != 0 || lines != 3 || !strings.Contains(out, `"kind":"other"`) {
		t.Errorf("export --all: exit %d, %d lines\n%s", code, lines, out)
	}
}
