//go:build !unix

package main

import (
	"log/slog"

	"github.com/valohai/conduit/config"
)

// warnSecretPerms does nothing where files have no unix mode bits:
// Windows guards a user's files with ACLs, which the profile sets.
func warnSecretPerms(*slog.Logger, *config.Config) {}
