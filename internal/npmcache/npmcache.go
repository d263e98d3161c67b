// Package npmcache installs pinned npm packages for process-level tests
// (real client CLIs and SDKs), once per machine, into the user's cache
// directory: os.UserCacheDir()/conduit-test/npm/<name>-<hash>.
//
// Why a cache outside the repository: the agent CLIs are hundreds of
// megabytes each (they ship native binaries inside their npm packages), so
// installing them per test run would cost minutes, and they must never end
// up in the work tree. The directory is keyed by a hash of the package
// list, so changing a pinned version installs afresh beside the old one.
//
// An install is written to a temporary directory beside its final place
// and renamed into it, so two test processes installing at once (go test
// runs packages in parallel) never see half an install.
package npmcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// installTimeout bounds one npm install: Claude Code and Codex each take
// about 15 s with a warm registry; a slow mirror gets ten times that.
const installTimeout = 5 * time.Minute

// DirWithScripts returns a directory whose node_modules holds exactly the
// packages given (each "name@version", pinned), installing them on first
// use with their install scripts: Claude Code's postinstall links the
// native executable of its platform package over a stub that only prints
// an error. The name only labels the directory ("claude-code"). It skips
// tb, with the reason, when npm is not installed or the registry cannot be
// reached; any other install failure fails tb with npm's output.
func DirWithScripts(tb testing.TB, name string, packages ...string) string {
	tb.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		tb.Skip("npm not found: cannot install " + strings.Join(packages, " "))
	}
	dir, err := cacheDir(name+"-scripts", packages)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left to remove
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	args := append([]string{"install", "--no-audit", "--no-fund", "--no-save", "--prefix", tmp}, packages...)
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || unreachable.Match(out)):
		tb.Skipf("npm registry unreachable, cannot install %s: %v\n%s", strings.Join(packages, " "), err, tail(out))
	case err != nil:
		tb.Fatalf("npm install %s: %v\n%s", strings.Join(packages, " "), err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process finished the same install first: use theirs.
		if _, serr := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); serr != nil {
			tb.Fatalf("install %s into %s: %v", name, dir, err)
		}
	}
	return dir
}

// Bin returns the path of an executable the installed packages put in
// dir's node_modules/.bin ("claude", "codex").
func Bin(dir, name string) string {
	return filepath.Join(dir, "node_modules", ".bin", name)
}

// unreachable matches npm's errors for a registry it cannot reach (no DNS,
// no route, refused, timed out, offline), as opposed to a package or
// version that does not exist, which fails the test.
var unreachable = regexp.MustCompile(`ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|network request to .* failed`)

// cacheDir is the install's directory: the user cache (the temporary
// directory when there is none), keyed by name and the package list.
func cacheDir(name string, packages []string) (string, error) {
	if len(packages) == 0 {
		return "", errors.New("npmcache: no packages to install")
	}
	for _, p := range packages {
		if at := strings.LastIndexByte(p, '@'); at <= 0 {
			return "", fmt.Errorf("npmcache: %q is not pinned (want name@version)", p)
		}
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(strings.Join(packages, "\n")))
	return filepath.Join(base, "conduit-test", "npm", name+"-"+hex.EncodeToString(sum[:6])), nil
}

// tail is the end of npm's output, enough to see why it failed.
func tail(out []byte) []byte {
	const keep = 2000
	if len(out) > keep {
		return out[len(out)-keep:]
	}
	return out
}
