package conduit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// releaseFiles are stand-ins for `make release` binaries: shell scripts
// that print a version, each different so a test can tell which one was
// installed.
var releaseFiles = map[string]string{
	"conduit-linux-amd64":       "#!/bin/sh\necho conduit v9.9.9-linux-amd64\n",
	"conduit-linux-arm64":       "#!/bin/sh\necho conduit v9.9.9-linux-arm64\n",
	"conduit-darwin-amd64":      "#!/bin/sh\necho conduit v9.9.9-darwin-amd64\n",
	"conduit-darwin-arm64":      "#!/bin/sh\necho conduit v9.9.9-darwin-arm64\n",
	"conduit-windows-amd64.exe": "#!/bin/sh\necho conduit v9.9.9-windows-amd64\n",
}

// writeDist writes releaseFiles and their SHA256SUMS (sha256sum's format)
// into a new directory; tamper names a file whose listed sum is wrong, and
// omit one left out of the sums.
func writeDist(t *testing.T, tamper, omit string) string {
	t.Helper()
	dir := t.TempDir()
	var sums strings.Builder
	for name, body := range releaseFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		if name == tamper {
			sum = sha256.Sum256([]byte("something else"))
		}
		if name != omit {
			fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), name)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeUname puts a uname that reports the given kernel and machine first
// on a PATH, so install.sh's detection can be driven.
func fakeUname(t *testing.T, s, m string) string {
	t.Helper()
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\ncase \"$1\" in -s) echo %q;; -m) echo %q;; *) echo %q;; esac\n", s, m, s)
	if err := os.WriteFile(filepath.Join(dir, "uname"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// installShells are the shells install.sh is run with: it is POSIX sh, and
// people pipe it into sh or bash.
func installShells(t *testing.T) []string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("install.sh tests run on Unix; Windows users run it from Git Bash")
	}
	for _, tool := range []string{"curl", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err2 := exec.LookPath("wget"); tool == "curl" && err2 == nil {
				continue
			}
			if _, err2 := exec.LookPath("shasum"); tool == "sha256sum" && err2 == nil {
				continue
			}
			t.Skipf("%s not installed: install.sh needs it", tool)
		}
	}
	var shells []string
	for _, sh := range []string{"sh", "bash"} {
		if p, err := exec.LookPath(sh); err == nil {
			shells = append(shells, p)
		}
	}
	if len(shells) == 0 {
		t.Skip("no sh or bash")
	}
	return shells
}

// runInstall runs install.sh with sh and env (on top of a minimal
// environment) and returns its combined output and error.
func runInstall(t *testing.T, sh string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, "install.sh")
	cmd.Env = append([]string{"LC_ALL=C"}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestInstallScript runs install.sh against a local release directory
// served over HTTP: it must pick the binary for the OS and CPU uname
// reports, verify it against SHA256SUMS, install it executable where asked
// (~/.local/bin by default), and refuse, with a clear error and nothing
// installed, a checksum mismatch, a binary missing from the sums, a
// missing binary, and an OS or CPU it has no binary for (before
// downloading anything).
func TestInstallScript(t *testing.T) {
	shells := installShells(t)
	tests := []struct {
		name      string
		uname     [2]string // uname -s, uname -m
		tamper    string    // file whose sum is wrong
		omit      string    // file left out of SHA256SUMS
		remove    string    // file missing from the release
		noDir     bool      // no CONDUIT_INSTALL_DIR: the default ~/.local/bin
		fileBase  bool      // CONDUIT_DOWNLOAD_BASE is a file:// URL
		wantFile  string    // installed from this release file; "" = refused
		wantBin   string    // installed under this name
		wantOut   string
		wantNoGet bool // refused before any download
	}{
		{name: "linux amd64", uname: [2]string{"Linux", "x86_64"}, wantFile: "conduit-linux-amd64", wantBin: "conduit", wantOut: "installed conduit v9.9.9-linux-amd64"},
		{name: "linux arm64", uname: [2]string{"Linux", "aarch64"}, wantFile: "conduit-linux-arm64", wantBin: "conduit", wantOut: "checksum OK"},
		{name: "darwin arm64", uname: [2]string{"Darwin", "arm64"}, wantFile: "conduit-darwin-arm64", wantBin: "conduit"},
		{name: "darwin amd64", uname: [2]string{"Darwin", "x86_64"}, wantFile: "conduit-darwin-amd64", wantBin: "conduit"},
		{name: "windows amd64 (Git Bash)", uname: [2]string{"MINGW64_NT-10.0-22631", "x86_64"}, wantFile: "conduit-windows-amd64.exe", wantBin: "conduit.exe"},
		{name: "default dir ~/.local/bin", uname: [2]string{"Linux", "x86_64"}, noDir: true, wantFile: "conduit-linux-amd64", wantBin: "conduit", wantOut: "is not on your PATH"},
		{name: "file:// base", uname: [2]string{"Linux", "x86_64"}, fileBase: true, wantFile: "conduit-linux-amd64", wantBin: "conduit"},
		{name: "checksum mismatch", uname: [2]string{"Linux", "x86_64"}, tamper: "conduit-linux-amd64", wantOut: "error: checksum mismatch for conduit-linux-amd64"},
		{name: "not in SHA256SUMS", uname: [2]string{"Linux", "x86_64"}, omit: "conduit-linux-amd64", wantOut: "has no entry for conduit-linux-amd64"},
		{name: "binary missing from release", uname: [2]string{"Linux", "x86_64"}, remove: "conduit-linux-amd64", wantOut: "error: download "},
		{name: "unknown arch", uname: [2]string{"Linux", "mips64"}, wantOut: "error: unsupported CPU architecture: mips64", wantNoGet: true},
		{name: "unknown OS", uname: [2]string{"Plan9", "x86_64"}, wantOut: "error: unsupported operating system: Plan9", wantNoGet: true},
		{name: "windows arm64", uname: [2]string{"MINGW64_NT-10.0", "aarch64"}, wantOut: "error: unsupported platform: windows/arm64", wantNoGet: true},
	}
	for _, sh := range shells {
		for _, tt := range tests {
			t.Run(filepath.Base(sh)+"/"+tt.name, func(t *testing.T) {
				dist := writeDist(t, tt.tamper, tt.omit)
				if tt.remove != "" {
					os.Remove(filepath.Join(dist, tt.remove))
				}
				var gets atomic.Int64
				files := http.FileServer(http.Dir(dist))
				ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					gets.Add(1)
					files.ServeHTTP(w, r)
				}))
				defer ts.Close()
				base := ts.URL
				if tt.fileBase {
					base = (&url.URL{Scheme: "file", Path: dist}).String()
				}
				home := t.TempDir()
				installDir := filepath.Join(t.TempDir(), "bin")
				env := []string{"PATH=" + fakeUname(t, tt.uname[0], tt.uname[1]), "HOME=" + home, "CONDUIT_DOWNLOAD_BASE=" + base}
				if tt.noDir {
					installDir = filepath.Join(home, ".local", "bin")
				} else {
					env = append(env, "CONDUIT_INSTALL_DIR="+installDir)
				}
				out, err := runInstall(t, sh, env...)
				if !strings.Contains(out, tt.wantOut) {
					t.Errorf("output lacks %q:\n%s", tt.wantOut, out)
				}
				if tt.wantNoGet && gets.Load() != 0 {
					t.Errorf("downloaded %d files before refusing", gets.Load())
				}
				entries, _ := os.ReadDir(installDir)
				if tt.wantFile == "" {
					if err == nil {
						t.Fatalf("install.sh succeeded, want a refusal:\n%s", out)
					}
					if len(entries) != 0 {
						t.Errorf("refused, yet %s holds %v", installDir, entries)
					}
					return
				}
				if err != nil {
					t.Fatalf("install.sh: %v\n%s", err, out)
				}
				if len(entries) != 1 || entries[0].Name() != tt.wantBin {
					t.Fatalf("%s holds %v, want only %s", installDir, entries, tt.wantBin)
				}
				got, err := os.ReadFile(filepath.Join(installDir, tt.wantBin))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != releaseFiles[tt.wantFile] {
					t.Errorf("installed %q, want %s", got, tt.wantFile)
				}
				if info, _ := entries[0].Info(); info.Mode().Perm()&0o111 == 0 {
					t.Errorf("installed mode %v: not executable", info.Mode())
				}
			})
		}
	}
}

// TestInstallScriptReplacesOldVersion guards an upgrade: the new binary
// replaces the old one in place, and a refused download leaves the old one
// untouched.
func TestInstallScriptReplacesOldVersion(t *testing.T) {
	sh := installShells(t)[0]
	installDir := t.TempDir()
	old := filepath.Join(installDir, "conduit")
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho conduit v0.0.1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tamper string
		want   string
	}{
		{"conduit-linux-amd64", "#!/bin/sh\necho conduit v0.0.1\n"},
		{"", releaseFiles["conduit-linux-amd64"]},
	} {
		dist := writeDist(t, tc.tamper, "")
		ts := httptest.NewServer(http.FileServer(http.Dir(dist)))
		out, _ := runInstall(t, sh, "PATH="+fakeUname(t, "Linux", "x86_64"), "HOME="+t.TempDir(),
			"CONDUIT_DOWNLOAD_BASE="+ts.URL, "CONDUIT_INSTALL_DIR="+installDir)
		ts.Close()
		got, _ := os.ReadFile(old)
		if string(got) != tc.want {
			t.Errorf("tamper=%q: conduit is now %q, want %q\n%s", tc.tamper, got, tc.want, out)
		}
		if entries, _ := os.ReadDir(installDir); len(entries) != 1 {
			t.Errorf("tamper=%q: leftovers in %s: %v", tc.tamper, installDir, entries)
		}
	}
}

// TestInstallScriptWithMakeRelease guards the two halves together: `make
// release` (one platform, this one) writes the names and sums install.sh
// expects, with the version stamped in, and the installed binary runs.
func TestInstallScriptWithMakeRelease(t *testing.T) {
	sh := installShells(t)[0]
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed: cannot build a release")
	}
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skipf("release binaries for %s are not installed by install.sh", runtime.GOOS)
	}
	dist := t.TempDir()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH: cannot build a release")
	}
	// No deadline of its own: a cold build on a small CI machine takes
	// minutes, and the test binary's -timeout bounds it anyway.
	cmd := exec.Command(makeBin, "release", "GO="+goBin, "DIST="+dist,
		"PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH, "VERSION=v0.0.0-installtest")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	installDir := t.TempDir()
	out, err := runInstall(t, sh, "PATH="+os.Getenv("PATH"), "HOME="+t.TempDir(),
		"CONDUIT_DOWNLOAD_BASE="+(&url.URL{Scheme: "file", Path: dist}).String(), "CONDUIT_INSTALL_DIR="+installDir)
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	if !strings.Contains(out, "installed conduit v0.0.0-installtest to "+filepath.Join(installDir, "conduit")) {
		t.Errorf("install.sh output:\n%s", out)
	}
}

// TestInstallScriptShellcheck keeps install.sh POSIX and lint-clean.
func TestInstallScriptShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed (apt-get install shellcheck)")
	}
	if out, err := exec.Command(sc, "-s", "sh", "install.sh").CombinedOutput(); err != nil {
		t.Errorf("shellcheck install.sh: %v\n%s", err, out)
	}
}
