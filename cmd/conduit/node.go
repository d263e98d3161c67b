package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Forward mode and Node.js. Node's fetch — what the OpenAI and Anthropic
// JS SDKs call — ignores HTTPS_PROXY unless NODE_USE_ENV_PROXY=1, and only
// Node 22.21+ and 24.5+ read that variable. On any other Node a tool run
// with HTTPS_PROXY calls the provider directly and nothing is recorded. So
// proxy mode also sets NODE_OPTIONS=--require <nodePreloadName>, a script
// that makes fetch honour the proxy variables where Node itself does not
// (node_preload.cjs says how), and `conduit run` and `conduit env` say so
// when the Node they find is one of those.

//go:embed node_preload.cjs
var nodePreload []byte

// nodePreloadName is the preload's file name, beside the CA (as the trust
// bundle is): [mitm] ca_dir.
const nodePreloadName = "node-env-proxy.cjs"

// writeNodePreload writes the preload into dir, unless it is there with
// this content already, and returns its path.
func writeNodePreload(dir string) (string, error) {
	path := filepath.Join(dir, nodePreloadName)
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, nodePreload) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("write the Node.js preload: %w", err)
	}
	if err := writeFileAtomic(path, nodePreload, 0o644); err != nil {
		return "", fmt.Errorf("write the Node.js preload: %w", err)
	}
	return path, nil
}

// nodeOptions returns the user's NODE_OPTIONS with --require preload added
// (once: evaluating `conduit env` twice must not load it twice). A path
// with a space is quoted, as NODE_OPTIONS allows.
func nodeOptions(user, preload string) string {
	req := "--require " + preload
	if strings.ContainsAny(preload, " \t\"") {
		req = "--require \"" + strings.ReplaceAll(preload, `"`, `\"`) + "\""
	}
	if strings.Contains(user, preload) {
		return user
	}
	if user = strings.TrimSpace(user); user == "" {
		return req
	}
	return user + " " + req
}

// nodeVersion is a Node.js release, as `node --version` prints it.
type nodeVersion struct {
	major, minor, patch int
}

func (v nodeVersion) String() string { return fmt.Sprintf("v%d.%d.%d", v.major, v.minor, v.patch) }

// honoursEnvProxy reports whether this Node's fetch follows HTTPS_PROXY
// when NODE_USE_ENV_PROXY=1: 22.21 and later 22.x, and 24.5 onwards.
func (v nodeVersion) honoursEnvProxy() bool {
	switch {
	case v.major >= 25:
		return true
	case v.major == 24:
		return v.minor >= 5
	case v.major == 22:
		return v.minor >= 21
	}
	return false
}

var nodeVersionRE = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)`)

func parseNodeVersion(s string) (nodeVersion, bool) {
	m := nodeVersionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return nodeVersion{}, false
	}
	var v nodeVersion
	v.major, _ = strconv.Atoi(m[1])
	v.minor, _ = strconv.Atoi(m[2])
	v.patch, _ = strconv.Atoi(m[3])
	return v, true
}

// nodeVersionTimeout bounds `node --version`: a node that hangs must not
// hold up the command the user asked for.
const nodeVersionTimeout = 5 * time.Second

// nodeVersionOf runs `<node> --version`, once per path per conduit run.
func (a *app) nodeVersionOf(ctx context.Context, node string) (nodeVersion, bool) {
	if v, ok := a.nodeVersions[node]; ok {
		return v.version, v.ok
	}
	ctx, cancel := context.WithTimeout(ctx, nodeVersionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	v, ok := parseNodeVersion(string(out))
	ok = ok && err == nil
	if a.nodeVersions == nil {
		a.nodeVersions = make(map[string]nodeCheck)
	}
	a.nodeVersions[node] = nodeCheck{version: v, ok: ok}
	return v, ok
}

type nodeCheck struct {
	version nodeVersion
	ok      bool
}

// nodeRunners are commands that run Node.js programs: the node on PATH
// runs them.
var nodeRunners = map[string]bool{"node": true, "nodejs": true, "npx": true, "npm": true, "pnpm": true, "pnpx": true, "yarn": true, "corepack": true}

// nodeFor returns the node binary that would run the command at path (as
// `conduit run` found it), or "" when it does not look like a Node.js
// program: node itself, a package runner, or a script whose #! line names
// node (as npm's bin links, Claude Code's among them, do).
func nodeFor(path string) string {
	base := strings.TrimSuffix(strings.ToLower(filepath.Base(path)), ".exe")
	if base == "node" || base == "nodejs" {
		return path
	}
	if nodeRunners[strings.TrimSuffix(base, ".cmd")] {
		return lookNode()
	}
	interp := shebang(path)
	if len(interp) == 0 {
		return ""
	}
	switch filepath.Base(interp[0]) {
	case "node", "nodejs":
		return interp[0]
	case "env":
		for _, arg := range interp[1:] {
			if strings.HasPrefix(arg, "-") {
				continue // env -S …
			}
			if arg == "node" || arg == "nodejs" {
				return lookNode()
			}
			break
		}
	}
	return ""
}

func lookNode() string {
	p, err := exec.LookPath("node")
	if err != nil {
		return ""
	}
	return p
}

// shebang returns the interpreter and arguments of a script's #! line, or
// nil when the file does not start with one.
func shebang(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return nil
	}
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return nil
	}
	return strings.Fields(rest)
}

// nodeProxyNote says what a Node that ignores NODE_USE_ENV_PROXY means for
// forward mode, or "" when this one honours it. who names the Node ("node
// v20.20.2 (/usr/bin/node)"), how the way the preload reaches it.
func nodeProxyNote(v nodeVersion, who, how string) string {
	if v.honoursEnvProxy() {
		return ""
	}
	return fmt.Sprintf("%s ignores NODE_USE_ENV_PROXY (Node 22.21+ and 24.5+ read it): %s so that its fetch "+
		"(the OpenAI and Anthropic SDKs) goes through Conduit; code that calls node:http or node:https itself "+
		"is not covered: for it use base-URL mode ('conduit run --mode base-url -- …') or a newer Node", who, how)
}

// runNodeNote is what `conduit run` says about running the command at path
// in proxy mode: a note when it is a Node.js program whose Node ignores
// NODE_USE_ENV_PROXY, else "".
func (a *app) runNodeNote(ctx context.Context, res clientEnvResult, path string) string {
	if res.NodePreload == "" {
		return ""
	}
	node := nodeFor(path)
	if node == "" {
		return ""
	}
	v, ok := a.nodeVersionOf(ctx, node)
	if !ok {
		return ""
	}
	return nodeProxyNote(v, fmt.Sprintf("node %s (%s)", v, node), "conduit run loads Conduit's preload ("+res.NodePreload+") through NODE_OPTIONS")
}
