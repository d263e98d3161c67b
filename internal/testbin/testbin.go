// Package testbin builds the binaries that process-level tests run (conduit
// itself, the fake provider), once per test process and with one set of
// flags, so that every test package shares the same build cache entries.
//
// Why one place: a cold build of cmd/conduit takes minutes on a small CI
// machine. Builds here have no deadline of their own (the test binary's
// -timeout is the only bound) and use the flags `make build` and `make
// release` use (CGO_ENABLED=0, -trimpath), so a test that runs `make
// release` finds the packages already compiled.
//
// `go test ./...` runs several test binaries at once, and each would start
// its own `go build` of the same packages: from a cold build cache they
// would all compile the same dependencies side by side, since the go
// command does not share work in progress between processes. Builds here
// take a lock file (one per module directory) first, so the first build
// fills the cache and the others find it filled.
package testbin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Import paths of the binaries tests run.
const (
	Conduit      = "github.com/valohai/conduit/cmd/conduit"
	FakeProvider = "github.com/valohai/conduit/examples/fakeprovider/cmd/fakeprovider"
)

var state struct {
	mu    sync.Mutex
	dir   string
	built map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Main runs the package's tests, then removes the binaries built for them.
// Use it as a package's TestMain: func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.dir != "" {
		os.RemoveAll(state.dir)
	}
	return code
}

// Path returns the path of the binary built from the main package pkg (an
// import path such as Conduit), building it on first use. A failed build
// fails tb, and every later test asking for pkg, with the compiler's output.
func Path(tb testing.TB, pkg string) string {
	tb.Helper()
	b, err := entry(pkg)
	if err == nil {
		b.once.Do(func() { b.path, b.err = goBuild(pkg) })
		err = b.err
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b.path
}

func entry(pkg string) (*build, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.dir == "" {
		dir, err := os.MkdirTemp("", "conduit-testbin-")
		if err != nil {
			return nil, fmt.Errorf("testbin: %w", err)
		}
		state.dir, state.built = dir, make(map[string]*build)
	}
	b := state.built[pkg]
	if b == nil {
		b = new(build)
		state.built[pkg] = b
	}
	return b, nil
}

func goBuild(pkg string) (string, error) {
	// go test puts its own go command first on the test's PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("testbin: no go command to build %s: %w", pkg, err)
	}
	out := filepath.Join(state.dir, path.Base(pkg))
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	lock, err := buildLockPath()
	if err != nil {
		return "", err
	}
	unlock, err := lockFile(lock)
	if err != nil {
		return "", err
	}
	defer unlock()
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testbin: go build %s: %v\n%s", pkg, err, msg)
	}
	return out, nil
}

// buildLockPath is the lock file shared by the test processes of one
// checkout: named after the module's directory, so that tests in another
// checkout (which compile other sources) do not wait for these.
func buildLockPath() (string, error) {
	dir, err := os.Getwd() // go test runs a test binary in its package's directory
	if err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testbin: no go.mod above the test's directory")
		}
		dir = parent
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "conduit-testbin-"+hex.EncodeToString(sum[:8])+".lock"), nil
}
