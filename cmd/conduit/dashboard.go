package main

import (
	"context"
	"errors"
)

var dashboardCmd = &command{
	name:    "dashboard",
	summary: "Open the terminal-based dashboard",
	help: `Open the terminal-based dashboard

Usage: conduit dashboard [OPTIONS]

` + globalOptionsHelp,
	run: func(ctx context.Context, a *app, cmd *command, args []string) error {
		if _, err := a.parse(cmd, a.flagSet(cmd), args); err != nil {
			return err
		}
		return errors.New("dashboard: not built yet")
	},
}
