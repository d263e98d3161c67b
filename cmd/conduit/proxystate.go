package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// A running proxy leaves a small state file beside its ledger
// (conduit.db.proxy.json): where it listens, its config and ledger, its pid
// and start time. `conduit env` and `conduit run` find the proxy through it
// (config → ledger → state file), so they follow a `--listen` or a
// `listen = "127.0.0.1:0"` port; commands run where no conduit.toml is find
// the config of a proxy whose ledger is in the working directory. A lock
// file beside it (conduit.db.proxy.lock) keeps a second proxy off the same
// ledger: the proxy is the ledger's only writer.
//
// The state file is written atomically once the proxy listens and removed
// when it stops; one left by a proxy that died (its pid is not alive) is
// ignored.

// proxyState is the content of the state file.
type proxyState struct {
	PID       int       `json:"pid"`
	Addr      string    `json:"addr"`   // host:port the proxy listens on, its real port
	Config    string    `json:"config"` // absolute path of its config file
	Ledger    string    `json:"ledger"` // absolute path of its ledger
	StartedAt time.Time `json:"started_at"`
	Version   string    `json:"version"`
}

// describe names the proxy for a message: "pid 123 at 127.0.0.1:8080".
func (s *proxyState) describe() string {
	return fmt.Sprintf("pid %d at %s", s.PID, s.Addr)
}

func stateFilePath(ledger string) string { return ledger + ".proxy.json" }
func lockFilePath(ledger string) string  { return ledger + ".proxy.lock" }

// readProxyState reads a state file.
func readProxyState(path string) (*proxyState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st proxyState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if st.PID <= 0 || st.Addr == "" || st.Config == "" || st.Ledger == "" {
		return nil, fmt.Errorf("read %s: not a Conduit proxy state file", path)
	}
	return &st, nil
}

// runningProxy returns the state of the proxy writing the ledger at path,
// or nil when none is running (no state file, or its pid is not alive).
func runningProxy(ledger string) *proxyState {
	st, err := readProxyState(stateFilePath(ledger))
	if err != nil || !processAlive(st.PID) {
		return nil
	}
	return st
}

// runningProxiesIn returns the running proxies whose ledgers are in dir.
func runningProxiesIn(dir string) []*proxyState {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.proxy.json"))
	var out []*proxyState
	for _, p := range paths {
		if st, err := readProxyState(p); err == nil && processAlive(st.PID) {
			out = append(out, st)
		}
	}
	return out
}

// errLedgerInUse: another proxy holds the ledger's lock.
type errLedgerInUse struct {
	ledger string
	other  *proxyState // nil when its state file is missing or unreadable
}

func (e *errLedgerInUse) Error() string {
	who := "another conduit proxy"
	if e.other != nil {
		who = fmt.Sprintf("another conduit proxy (%s, config %s, started %s)", e.other.describe(), e.other.Config,
			e.other.StartedAt.Local().Format("2006-01-02 15:04:05"))
	}
	return fmt.Sprintf("%s is writing the ledger %s, and a ledger has one writer: stop that proxy, "+
		"or give this one its own ledger ([ledger] path), or pass --allow-second-writer to run both", who, e.ledger)
}

// ledgerClaim is a proxy's hold on its ledger: the lock, and the state
// file once published. The zero value holds nothing.
type ledgerClaim struct {
	logger *slog.Logger
	ledger string
	unlock func()
	state  *proxyState // published
}

// claimLedger takes the lock beside the ledger at path. When another proxy
// holds it, the result is an *errLedgerInUse, or with allowSecond a claim
// without the lock (that proxy keeps its state file) and a warning. A
// lock that cannot be taken for another reason (a read-only directory)
// costs only the detection: the proxy starts, saying so.
func claimLedger(logger *slog.Logger, path string, allowSecond bool) (*ledgerClaim, error) {
	c := &ledgerClaim{logger: logger, ledger: path}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		logger.Warn("cannot take the ledger lock, so a second proxy on this ledger would not be noticed", "err", err)
		return c, nil
	}
	unlock, err := lockFile(lockFilePath(path))
	var busy *errLedgerInUse
	switch {
	case errors.As(err, &busy):
		busy.ledger = path
		busy.other = runningProxy(path)
		if !allowSecond {
			return nil, busy
		}
		msg := "another conduit proxy writes this ledger too (--allow-second-writer)"
		if busy.other != nil {
			msg += ": " + busy.other.describe()
		}
		logger.Warn(msg, "ledger", path)
		return c, nil
	case err != nil:
		logger.Warn("cannot take the ledger lock, so a second proxy on this ledger would not be noticed", "err", err)
		return c, nil
	}
	c.unlock = unlock
	return c, nil
}

// publish writes the state file for a proxy listening on addr, if this
// claim holds the lock. A failure costs only what the file gives (env and
// run then use the config's listen), and is logged.
func (c *ledgerClaim) publish(addr, configPath string) {
	if c.unlock == nil {
		return
	}
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	st := &proxyState{PID: os.Getpid(), Addr: addr, Config: abs, Ledger: c.ledger,
		StartedAt: time.Now().UTC().Truncate(time.Second), Version: versionString()}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := writeFileAtomic(stateFilePath(c.ledger), append(b, '\n'), 0o644); err != nil {
		c.logger.Warn("cannot write the proxy state file: 'conduit env' and 'conduit run' will use the config's listen address", "err", err)
		return
	}
	c.state = st
}

// release removes the state file (if it is still this proxy's) and drops
// the lock.
func (c *ledgerClaim) release() {
	if c.state != nil {
		path := stateFilePath(c.ledger)
		if st, err := readProxyState(path); err == nil && st.PID == c.state.PID {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.logger.Warn("cannot remove the proxy state file", "err", err)
			}
		}
		c.state = nil
	}
	if c.unlock != nil {
		c.unlock()
		c.unlock = nil
	}
}
