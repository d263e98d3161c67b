package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/valohai/conduit"
	"github.com/valohai/conduit/config"
)

var initCmd = &command{
	name:    "init",
	summary: "Write a starter conduit.toml in the current directory",
	help: `Write a starter conduit.toml in the current directory

Usage: conduit init [OPTIONS]

Writes the documented example configuration (OpenAI, Anthropic and Gemini
providers) to ./conduit.toml, or to --config's path. It never overwrites an
existing file.

Options:
` + globalOptionsHelp + `
Examples:
  conduit init && conduit proxy
  conduit -c ~/.config/conduit/conduit.toml init
`,
	run: runInit,
}

func runInit(_ context.Context, a *app, cmd *command, args []string) error {
	rest, err := a.parse(cmd, a.flagSet(cmd), args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("init: unexpected argument '%s'; run 'conduit init --help' for usage", rest[0])
	}
	path := a.configFlag
	if path == "" {
		path = config.DefaultFileName
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting it (edit it, or remove it first)", path)
	}
	if err != nil {
		return fmt.Errorf("create config: %w", err)
	}
	if _, err := f.Write(conduit.ExampleConfig); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(a.stdout, "wrote %s\nstart the proxy with: conduit proxy\n", path)
	return nil
}
