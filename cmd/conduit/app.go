package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/valohai/conduit/config"
)

// version is set at build time (-ldflags "-X main.version=…"); otherwise the
// module version from the build info is used (go install …@v1.2.3).
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// A command is one subcommand: its name, the line it gets in the top-level
// help, its full help text, and the function that runs it. run parses the
// command's own flags with app.flagSet and app.parse.
type command struct {
	name    string
	summary string
	help    string // printed by `conduit help <name>` and `conduit <name> --help`
	run     func(ctx context.Context, a *app, cmd *command, args []string) error
}

// commands lists every subcommand in the order the help shows them.
// help is handled by run itself.
var commands = []*command{
	proxyCmd,
	dashboardCmd,
	initCmd,
	caCmd,
	envCmd,
	runCmd,
	exportCmd,
	reportCmd,
	budgetCmd,
	pricesCmd,
	repriceCmd,
	syncCmd,
}

const defaultCommand = "proxy"

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// app carries what every command shares: the process's streams and
// environment, and the global options.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	configFlag string
	verbose    int
	quiet      int
	// implicit: the command was not named (`conduit -v` runs proxy), so
	// messages must not name it either.
	implicit bool

	logger *slog.Logger

	nodeVersions map[string]nodeCheck // `node --version` per path, asked once per run
	noted        map[string]bool      // notes already printed in this run
}

// note marks a note as printed: a command that loads its config twice
// says once whose config it uses.
func (a *app) note(key string) {
	if a.noted == nil {
		a.noted = make(map[string]bool)
	}
	a.noted[key] = true
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError is a mistake in how conduit was invoked: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelpShown ends a command that printed its help on request.
var errHelpShown = errors.New("help shown")

// run is the whole program: it picks the command, runs it and maps the result
// to an exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	err := a.dispatch(ctx, args)
	var ue *usageError
	var es *exitStatusError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &es):
		return es.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "conduit: %s\n", ue.msg)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "conduit: %s\n", err)
		return exitError
	}
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	idx, name := findCommand(args)
	if name == "" {
		// No command: global --help / --version act on conduit itself;
		// anything else runs the default command.
		for _, arg := range args {
			if arg == "--" {
				break
			}
			if arg == "-h" || arg == "--help" {
				a.printTopHelp()
				return errHelpShown
			}
			if arg == "-V" || arg == "--version" {
				fmt.Fprintf(a.stdout, "conduit %s\n", versionString())
				return nil
			}
		}
		cmd := lookupCommand(defaultCommand)
		a.implicit = true
		return cmd.run(ctx, a, cmd, args)
	}
	rest := slices.Concat(args[:idx], args[idx+1:])
	if name == "help" {
		return a.help(rest)
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		hint := "run 'conduit --help' for the list of commands"
		if s := config.Suggest(name, commandNames()); s != "" {
			hint = fmt.Sprintf("did you mean '%s'? (%s)", s, hint)
		}
		return usageErrorf("unknown command '%s'; %s", name, hint)
	}
	return cmd.run(ctx, a, cmd, rest)
}

// findCommand returns the index and name of the first argument that is not a
// flag or a global flag's value: the subcommand.
func findCommand(args []string) (int, string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			return -1, ""
		case arg == "-c" || arg == "--config":
			i++ // its value
		case strings.HasPrefix(arg, "-"):
		default:
			return i, arg
		}
	}
	return -1, ""
}

func commandNames() []string {
	names := []string{"help"}
	for _, c := range commands {
		names = append(names, c.name)
	}
	return names
}

func (a *app) help(args []string) error {
	if len(args) == 0 {
		a.printTopHelp()
		return errHelpShown
	}
	if args[0] == "help" {
		a.printTopHelp()
		return errHelpShown
	}
	cmd := lookupCommand(args[0])
	if cmd == nil {
		return usageErrorf("no help for unknown command '%s'; run 'conduit --help' for the list of commands", args[0])
	}
	fmt.Fprint(a.stdout, cmd.help)
	return errHelpShown
}

// globalOptionsHelp lists the options every command takes; a command's help
// prints them under its own Options: heading, after its own options.
const globalOptionsHelp = `  -c, --config <PATH>  Path to config TOML file [env: CONDUIT_CONFIG] [default: ./conduit.toml]
  -v, --verbose...     Increase log verbosity (-v for debug, -vv for trace)
  -q, --quiet...       Decrease log verbosity (-q for warn, -qq for error, -qqq for off)
  -h, --help           Print help
  -V, --version        Print version
`

func (a *app) printTopHelp() {
	var b strings.Builder
	b.WriteString("A local proxy that records the token usage and cost of every LLM API call\n\n")
	b.WriteString("Usage: conduit [OPTIONS] [COMMAND]\n\nCommands:\n")
	width := len("help")
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(&b, "  %-*s  %s\n", width, "help", "Print this message or the help of the given subcommand(s)")
	b.WriteString("\nOptions:\n")
	b.WriteString(globalOptionsHelp)
	fmt.Fprint(a.stdout, b.String())
}

// flagSet returns a FlagSet for cmd with the global options already
// defined, so they are accepted before or after the command name.
func (a *app) flagSet(cmd *command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVarP(&a.configFlag, "config", "c", "", "path to config TOML file")
	fs.CountVarP(&a.verbose, "verbose", "v", "increase log verbosity")
	fs.CountVarP(&a.quiet, "quiet", "q", "decrease log verbosity")
	fs.BoolP("help", "h", false, "print help")
	fs.BoolP("version", "V", false, "print version")
	return fs
}

// parse parses a command's arguments. It prints the command's help for
// -h/--help (returning errHelpShown), the version for -V, and turns flag
// mistakes into usage errors that name the flag and suggest a fix.
func (a *app) parse(cmd *command, fs *pflag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, a.flagError(cmd, fs, err)
	}
	if h, _ := fs.GetBool("help"); h {
		fmt.Fprint(a.stdout, cmd.help)
		return nil, errHelpShown
	}
	if v, _ := fs.GetBool("version"); v {
		fmt.Fprintf(a.stdout, "conduit %s\n", versionString())
		return nil, errHelpShown
	}
	if a.verbose > 0 && a.quiet > 0 {
		return nil, usageErrorf("--verbose and --quiet cannot be used together")
	}
	a.logger = newLogger(a.stderr, a.logLevel())
	return fs.Args(), nil
}

func (a *app) flagError(cmd *command, fs *pflag.FlagSet, err error) error {
	msg := err.Error()
	prefix, hint := cmd.name+": ", fmt.Sprintf("run 'conduit %s --help' for usage", cmd.name)
	if a.implicit {
		prefix, hint = "", "run 'conduit --help' for usage"
	}
	var name string
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		name = strings.TrimPrefix(msg, "unknown flag: --")
		msg = "unknown flag --" + name
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		// pflag: unknown shorthand flag: 'x' in -x
		msg = "unknown flag " + msg[strings.LastIndex(msg, " ")+1:]
	}
	if name != "" {
		var known []string
		fs.VisitAll(func(f *pflag.Flag) { known = append(known, f.Name) })
		if s := config.Suggest(name, known); s != "" {
			hint = fmt.Sprintf("did you mean --%s? (%s)", s, hint)
		}
	}
	return usageErrorf("%s%s; %s", prefix, msg, hint)
}

// logLevel maps -v/-q counts to a level: info by default, -v debug, -vv
// trace (below debug), -q warn, -qq error, -qqq off.
func (a *app) logLevel() slog.Level {
	switch {
	case a.verbose >= 2:
		return levelTrace
	case a.verbose == 1:
		return slog.LevelDebug
	case a.quiet == 1:
		return slog.LevelWarn
	case a.quiet == 2:
		return slog.LevelError
	case a.quiet >= 3:
		return levelOff
	}
	return slog.LevelInfo
}

const (
	levelTrace = slog.LevelDebug - 4
	levelOff   = slog.LevelError + 100
)

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	// Only a trace-level logger ever writes a trace line to rename: any
	// ReplaceAttr makes slog format every line's level and time the slow
	// way, a fifth of the cost of the per-call line.
	if level <= levelTrace {
		opts.ReplaceAttr = func(groups []string, attr slog.Attr) slog.Attr {
			if attr.Key == slog.LevelKey && attr.Value.Any() == levelTrace {
				return slog.String(slog.LevelKey, "TRACE")
			}
			return attr
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
