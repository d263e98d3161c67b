package main

import (
	"bufio"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestNodeVersions guards which Node releases read NODE_USE_ENV_PROXY
// (22.21+ on 22.x, 24.5+), and the parse of `node --version`.
func TestNodeVersions(t *testing.T) {
	for in, want := range map[string]bool{
		"v18.19.1": false, "v20.20.2": false, "v22.20.0": false, "v22.21.0": true, "v22.23.1": true,
		"v23.11.0": false, "v24.0.0": false, "v24.4.1": false, "v24.5.0": true, "v25.0.0": true, "v26.7.0\n": true,
	} {
		v, ok := parseNodeVersion(in)
		if !ok || v.honoursEnvProxy() != want || v.String() != strings.TrimSpace(in) {
			t.Errorf("%q: %v %v honours %v, want %v", in, v, ok, v.honoursEnvProxy(), want)
		}
	}
	for _, bad := range []string{"", "20.1.0", "node v20", "vx.1.2"} {
		if _, ok := parseNodeVersion(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestNodeOptions guards how the preload joins the user's NODE_OPTIONS:
// kept, added once, quoted when the path has a space.
func TestNodeOptions(t *testing.T) {
	tests := []struct{ user, preload, want string }{
		{"", "/c/p.cjs", "--require /c/p.cjs"},
		{"--max-old-space-size=4096", "/c/p.cjs", "--max-old-space-size=4096 --require /c/p.cjs"},
		{"--max-old-space-size=4096 --require /c/p.cjs", "/c/p.cjs", "--max-old-space-size=4096 --require /c/p.cjs"},
		{"", "/Users/a b/p.cjs", `--require "/Users/a b/p.cjs"`},
	}
	for _, tt := range tests {
		if got := nodeOptions(tt.user, tt.preload); got != tt.want {
			t.Errorf("nodeOptions(%q, %q) = %q, want %q", tt.user, tt.preload, got, tt.want)
		}
	}
}

// fakeNode puts a `node` on PATH that prints version for --version and
// otherwise its NODE_OPTIONS, and returns its directory.
func fakeNode(t *testing.T, version string) string {
	t.Helper()
	needSh(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "node"), "#!/bin/sh\nif [ \"$1\" = --version ]; then echo "+version+"; exit 0; fi\nprintf '%s' \"$NODE_OPTIONS\"\n")
	if err := os.Chmod(filepath.Join(dir, "node"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

// TestNodeFor guards which commands `conduit run` takes for Node.js
// programs: node itself, package runners, and scripts whose #! line names
// node (npm's bin links); not a shell or a Python script.
func TestNodeFor(t *testing.T) {
	dir := fakeNode(t, "v20.11.0")
	node := filepath.Join(dir, "node")
	script := func(name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		writeFile(t, p, body)
		return p
	}
	tests := []struct{ path, want string }{
		{node, node},
		{"/usr/local/bin/npx", node},
		{"/usr/local/bin/npm", node},
		{script("claude", "#!/usr/bin/env node\nimport('./cli.js')\n"), node},
		{script("tool", "#!/usr/bin/env -S node --no-warnings\n"), node},
		{script("direct", "#!/opt/node/bin/node\n"), "/opt/node/bin/node"},
		{script("py", "#!/usr/bin/env python3\n"), ""},
		{script("plain", "echo hi\n"), ""},
		{"/bin/sh", ""},
	}
	for _, tt := range tests {
		if got := nodeFor(tt.path); got != tt.want {
			t.Errorf("nodeFor(%s) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestRunAndEnvSayWhenNodeIgnoresTheProxy guards forward mode on a Node.js
// that ignores NODE_USE_ENV_PROXY: `conduit run` of a Node program and
// `conduit env --mode proxy` say so, and NODE_OPTIONS loads the preload
// (written beside the CA); on a Node that honours the variable, and for a
// command that is not Node, nothing is said.
func TestRunAndEnvSayWhenNodeIgnoresTheProxy(t *testing.T) {
	addr := fakeConduit(t)
	ca := newCA(t, "api.openai.com")
	cfg := envConfig(t, addr, ca.Dir())
	preload := filepath.Join(ca.Dir(), nodePreloadName)
	for _, tt := range []struct {
		version string
		note    bool
	}{{"v20.20.2", true}, {"v24.4.0", true}, {"v22.21.0", false}, {"v24.5.0", false}} {
		t.Run(tt.version, func(t *testing.T) {
			dir := fakeNode(t, tt.version)
			code, out, errOut := runConduit(t, map[string]string{"NODE_OPTIONS": "--no-warnings"}, "-c", cfg, "run", "--", "node", "app.mjs")
			if code != 0 || out != "--no-warnings --require "+preload {
				t.Errorf("run: exit %d, NODE_OPTIONS %q (stderr %q)", code, out, errOut)
			}
			want := "conduit: note: node " + tt.version + " (" + filepath.Join(dir, "node") + ") ignores NODE_USE_ENV_PROXY"
			if got := strings.Contains(errOut, want) && strings.Contains(errOut, "fetch") && strings.Contains(errOut, "--mode base-url"); got != tt.note {
				t.Errorf("run: note %v, want %v: %q", got, tt.note, errOut)
			}
			if b, err := os.ReadFile(preload); err != nil || string(b) != string(nodePreload) {
				t.Errorf("preload not written: %v", err)
			}
			_, _, errOut = runConduit(t, nil, "-c", cfg, "run", "--", "sh", "-c", "true")
			if strings.Contains(errOut, "NODE_USE_ENV_PROXY") {
				t.Errorf("run sh: %q", errOut)
			}
			code, out, errOut = runConduit(t, nil, "-c", cfg, "env", "--mode", "proxy", "--shell", "sh")
			if code != 0 || !strings.Contains(out, "export NODE_OPTIONS='--require "+preload+"'\n") {
				t.Errorf("env: exit %d:\n%s", code, out)
			}
			want = "conduit: warning: node " + tt.version + " on PATH"
			if got := strings.Contains(errOut, want) && strings.Contains(errOut, "ignores NODE_USE_ENV_PROXY"); got != tt.note {
				t.Errorf("env: warning %v, want %v: %q", got, tt.note, errOut)
			}
		})
	}
}

// TestNodePreload runs the real preload in the node on PATH, with no
// NODE_USE_ENV_PROXY (so it acts on any Node version): fetch of an https
// origin goes through the proxy as a CONNECT tunnel and trusts
// NODE_EXTRA_CA_CERTS; an http origin goes to the proxy in absolute form;
// a NO_PROXY origin is reached directly; and with no proxy variable the
// preload leaves the global dispatcher alone.
func TestNodePreload(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the Node.js preload was not run")
	}
	tlsOrigin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls:"+r.Host+r.URL.Path)
	}))
	defer tlsOrigin.Close()
	direct := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "direct:"+r.URL.Path)
	}))
	defer direct.Close()
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.RequestURI)
		mu.Unlock()
		if r.Method != http.MethodConnect {
			io.WriteString(w, "plain:"+r.Host+r.URL.Path)
			return
		}
		// Every tunnel leads to the TLS origin, whose certificate is for
		// example.com.
		up, err := net.Dial("tcp", tlsOrigin.Listener.Addr().String())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { io.Copy(up, buf); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	}))
	defer proxy.Close()

	dir := t.TempDir()
	preload, err := writeNodePreload(dir)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "origin.pem")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsOrigin.Certificate().Raw})))
	script := fmt.Sprintf(`
const get = async (url) => { try { return await (await fetch(url)).text(); } catch (e) { return "error " + e.cause; } };
console.log(await get("https://example.com/tunnelled"));
console.log(await get("http://plain.example/absolute"));
console.log(await get(%q));
`, direct.URL+"/bypassed")
	run := func(env ...string) []string {
		t.Helper()
		cmd := exec.Command(node, "--input-type=module", "-e", script)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "NODE_OPTIONS=" + nodeOptions("", preload), "NODE_EXTRA_CA_CERTS=" + caFile}, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		var lines []string
		for sc := bufio.NewScanner(strings.NewReader(string(out))); sc.Scan(); {
			lines = append(lines, sc.Text())
		}
		return lines
	}
	got := run("HTTPS_PROXY="+proxy.URL, "HTTP_PROXY="+proxy.URL, "NO_PROXY=localhost,127.0.0.1")
	want := []string{"tls:example.com/tunnelled", "plain:plain.example/absolute", "direct:/bypassed"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("through the preload:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	mu.Lock()
	if strings.Join(seen, "|") != "CONNECT example.com:443|GET http://plain.example/absolute" {
		t.Errorf("the proxy saw %q", seen)
	}
	mu.Unlock()

	// No proxy variable: the preload leaves fetch as Node made it.
	cmd := exec.Command(node, "-e", `console.log(String(fetch).includes("Reflect.apply"))`)
	for _, env := range [][]string{nil, {"HTTPS_PROXY=" + proxy.URL}} {
		cmd := exec.Command(cmd.Path, cmd.Args[1:]...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "NODE_OPTIONS=" + nodeOptions("", preload)}, env...)
		out, err := cmd.CombinedOutput()
		if wrapped := strings.TrimSpace(string(out)) == "true"; err != nil || wrapped != (env != nil) {
			t.Errorf("env %v: fetch wrapped %s (%v), want %v", env, out, err, env != nil)
		}
	}
}
