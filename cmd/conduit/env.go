package main

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/valohai/conduit/intercept"
)

var envCmd = &command{
	name:    "env",
	summary: "Print the variables that send a tool's LLM calls through Conduit",
	help: `Print the variables that send a tool's LLM calls through Conduit

Usage: conduit env [OPTIONS]

Prints shell commands that set the environment for one of the two ways in:

  base-url  SDK base-URL variables (OPENAI_BASE_URL, ANTHROPIC_BASE_URL,
            GOOGLE_GEMINI_BASE_URL) pointing at http://<listen>/<provider>;
            other providers are listed as comments. Needs no CA.
  proxy     HTTPS_PROXY and HTTP_PROXY (both spellings) = http://<listen>,
            NO_PROXY with localhost,127.0.0.1 added to yours,
            NODE_USE_ENV_PROXY=1, NODE_OPTIONS loading Conduit's preload
            for a Node.js that ignores NODE_USE_ENV_PROXY (before 22.21,
            and 24.0 to 24.4), and the variables that make each runtime
            trust Conduit's CA (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE,
            REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, CODEX_CA_CERTIFICATE). The
            variables that replace a trust store point at a bundle of the
            system roots plus the CA, rewritten beside the CA by this command.

<listen> is the address of the proxy running on the config's ledger (it
leaves it in a state file beside the ledger), else the config's listen.

Warnings (no CA yet, no system roots, a Node.js that ignores
NODE_USE_ENV_PROXY) go to stderr, so the output can be evaluated as it is.
To run a single command with these variables, use 'conduit run', which also
attributes its calls to a project and a session. With --project, these
variables attribute every call to that project too (in the proxy URL's user
name, or a /@… segment of the base URLs).

Options:
      --mode <MODE>     base-url or proxy [default: base-url]
      --shell <SHELL>   sh, fish or powershell [default: from $SHELL; sh]
      --listen <ADDR>   The proxy's address, if neither the running proxy
                        nor the config says it
      --project <NAME>  Attribute the calls to this project
      --tag <TAG>       With --project: tag every call (repeatable)
` + globalOptionsHelp + `
Examples:
  eval "$(conduit env)"
  eval "$(conduit env --mode proxy)"
  conduit env --mode proxy --shell fish | source
  conduit env --shell powershell | Invoke-Expression
  eval "$(conduit env --project website)"
`,
	run: runEnv,
}

func runEnv(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	modeFlag := fs.String("mode", modeBaseURL, "")
	shellFlag := fs.String("shell", "", "")
	listenFlag := fs.String("listen", "", "")
	projectFlag := fs.String("project", "", "")
	tagFlag := fs.StringArray("tag", nil, "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("env: unexpected argument '%s'; run 'conduit env --help' for usage", rest[0])
	}
	mode, err := parseClientMode("env", *modeFlag)
	if err != nil {
		return err
	}
	shell, err := pickShell("env", *shellFlag, a.getenv, runtime.GOOS)
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	addr, _, err := proxyAddr(cfg, *listenFlag)
	if err != nil {
		return err
	}
	// Without --project the variables stay as plain as ever: a shell's
	// calls are no one run's session.
	var attr intercept.Attribution
	if fs.Changed("project") {
		if attr, err = clientAttribution("env", *projectFlag, *tagFlag, "", false, time.Time{}); err != nil {
			return err
		}
		if attr.Project == "" {
			return usageErrorf("env: --project needs a name")
		}
	} else if len(*tagFlag) > 0 {
		return usageErrorf("env: --tag needs --project")
	}
	res, err := clientEnv(cfg, addr, mode, a.getenv, attr)
	if err != nil {
		return err
	}
	if res.NodePreload != "" {
		if node := lookNode(); node != "" {
			if v, ok := a.nodeVersionOf(ctx, node); ok {
				if note := nodeProxyNote(v, fmt.Sprintf("node %s on PATH (%s)", v, node), "the NODE_OPTIONS line loads Conduit's preload"); note != "" {
					res.Warnings = append(res.Warnings, note)
				}
			}
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "conduit: warning: %s\n", w)
	}
	_, err = fmt.Fprint(a.stdout, renderEnv(shell, mode, res.Vars))
	return err
}

// The shells `conduit env` writes for.
const (
	shellSh         = "sh"
	shellFish       = "fish"
	shellPowerShell = "powershell"
)

// pickShell returns the --shell value, or the one $SHELL names (sh syntax
// for bash, zsh and the rest), or PowerShell on Windows without $SHELL.
func pickShell(cmdName, flag string, getenv func(string) string, goos string) (string, error) {
	switch strings.ToLower(flag) {
	case "sh", "bash", "zsh", "dash", "ksh":
		return shellSh, nil
	case "fish":
		return shellFish, nil
	case "powershell", "pwsh":
		return shellPowerShell, nil
	case "":
	default:
		return "", usageErrorf("%s: --shell must be sh, fish or powershell, not %q", cmdName, flag)
	}
	switch strings.TrimSuffix(filepath.Base(getenv("SHELL")), ".exe") {
	case "fish":
		return shellFish, nil
	case "pwsh", "powershell":
		return shellPowerShell, nil
	case ".", "":
		if goos == "windows" {
			return shellPowerShell, nil
		}
	}
	return shellSh, nil
}

// renderEnv writes the variables as shell commands, with their comments.
func renderEnv(shell, mode string, vars []clientVar) string {
	var b strings.Builder
	eval := map[string]string{
		shellSh:         `eval "$(conduit env --mode %s)"`,
		shellFish:       `conduit env --mode %s --shell fish | source`,
		shellPowerShell: `conduit env --mode %s --shell powershell | Invoke-Expression`,
	}[shell]
	fmt.Fprintf(&b, "# Conduit, %s mode. Apply with: %s\n", mode, fmt.Sprintf(eval, mode))
	for _, v := range vars {
		if v.Comment != "" {
			fmt.Fprintf(&b, "# %s\n", v.Comment)
		}
		if v.Name == "" {
			continue
		}
		switch shell {
		case shellFish:
			fmt.Fprintf(&b, "set -gx %s %s\n", v.Name, quoteFish(v.Value))
		case shellPowerShell:
			fmt.Fprintf(&b, "$Env:%s = %s\n", v.Name, quotePowerShell(v.Value))
		default:
			fmt.Fprintf(&b, "export %s=%s\n", v.Name, quoteSh(v.Value))
		}
	}
	return b.String()
}

// quoteSh single-quotes s for POSIX shells: nothing inside is special but
// the quote itself, written as close quote, backslash-quote, open quote.
func quoteSh(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteFish single-quotes s for fish, where \ and ' are escaped inside.
func quoteFish(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// quotePowerShell single-quotes s for PowerShell, where a quote is
// doubled; PowerShell also takes the typographic single quotes as quotes.
func quotePowerShell(s string) string {
	return "'" + strings.NewReplacer("'", "''", "\u2018", "\u2018\u2018", "\u2019", "\u2019\u2019",
		"\u201a", "\u201a\u201a", "\u201b", "\u201b\u201b").Replace(s) + "'"
}
