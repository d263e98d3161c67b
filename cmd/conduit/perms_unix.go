//go:build unix

package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/valohai/conduit/config"
)

// warnSecretPerms logs, at start, a config file that holds secrets and
// that other users can read or change, with the chmod that fixes it.
func warnSecretPerms(logger *slog.Logger, cfg *config.Config) {
	keys := cfg.SecretKeys()
	if len(keys) == 0 {
		return
	}
	path := filepath.Join(cfg.Dir, filepath.Base(cfg.Path))
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	logger.Warn(fmt.Sprintf("%s holds secrets (%s) and other users can read it (mode %04o): run `chmod 600 %s`",
		path, strings.Join(keys, ", "), fi.Mode().Perm(), shellQuote(path)))
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+~") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
