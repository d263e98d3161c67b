package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/valohai/conduit/certs"
	"github.com/valohai/conduit/config"
)

var caCmd = &command{
	name:    "ca",
	summary: "Create and inspect the local CA used by forward (HTTPS_PROXY) mode",
	help: `Create and inspect the local CA used by forward (HTTPS_PROXY) mode

Usage: conduit ca <COMMAND> [OPTIONS]

Forward mode decrypts calls to LLM hosts with certificates signed by a CA
unique to this install. Its name constraints permit only the hosts Conduit
intercepts, so even a leaked key cannot sign for any other site. The CA lives
in [mitm] ca_dir, by default conduit/ under your config directory; the proxy
never creates one on its own.

Commands:
  init [--force]  Create the CA for the intercepted hosts ([mitm] hosts, or
                  every provider's upstream host plus the well-known API hosts)
  path            Print the CA certificate's path
  show            Print its subject, SHA-256 fingerprint, validity, the hosts
                  it covers, and whether it covers the current host list
  env             Print the variables that make each runtime trust it

Options:
` + globalOptionsHelp + `
Examples:
  conduit ca init
  conduit ca show
  NODE_EXTRA_CA_CERTS="$(conduit ca path)" claude
  eval "$(conduit ca env)"
`,
	run: runCA,
}

// caSubcommands are the commands under `conduit ca`; their names carry the
// prefix so that flag errors and help hints name the whole command.
var caSubcommands = []*command{caInitCmd, caPathCmd, caShowCmd, caEnvCmd}

var caInitCmd = &command{
	name:    "ca init",
	summary: "Create the local CA for the intercepted hosts",
	help: `Create the local CA for the intercepted hosts

Usage: conduit ca init [OPTIONS]

Creates an ECDSA P-256 CA, valid for ten years, in [mitm] ca_dir (by default
conduit/ under your config directory): ca.pem (0644) and ca-key.pem (0600) in
a 0700 directory. Its name constraints permit exactly the intercepted hosts:
[mitm] hosts, or else every provider's https upstream host plus the
well-known API hosts. When that list grows, 'conduit proxy' and 'conduit ca
show' say which hosts the CA does not cover: run this again with --force.

Options:
      --force          Replace an existing CA (tools that trust the old one
                       must then be given the new one: 'conduit ca env')
` + globalOptionsHelp + `
Examples:
  conduit ca init
  conduit ca init --force && eval "$(conduit env --mode proxy)"
`,
	run: runCAInit,
}

var caPathCmd = &command{
	name:    "ca path",
	summary: "Print the CA certificate's path",
	help: `Print the CA certificate's path

Usage: conduit ca path [OPTIONS]

Prints the path of ca.pem, the certificate tools must trust. Fails when no CA
exists yet ('conduit ca init').

Options:
` + globalOptionsHelp + `
Examples:
  conduit ca path
  NODE_EXTRA_CA_CERTS="$(conduit ca path)" claude
  curl --cacert "$(conduit ca path)" -x http://127.0.0.1:8080 https://api.openai.com/v1/models
`,
	run: runCAPath,
}

var caShowCmd = &command{
	name:    "ca show",
	summary: "Describe the local CA",
	help: `Describe the local CA

Usage: conduit ca show [OPTIONS]

Prints the CA's subject, SHA-256 fingerprint (compare it with what a client
reports), validity, the hosts its name constraints cover and the raw
constraints, its files, whether the system trust store trusts it (Conduit does
not need it to: 'conduit ca env'), and whether it covers every host the
current configuration intercepts.

Options:
` + globalOptionsHelp + `
Examples:
  conduit ca show
  conduit -c ~/conduit.toml ca show
`,
	run: runCAShow,
}

var caEnvCmd = &command{
	name:    "ca env",
	summary: "Print the variables that make each runtime trust the CA",
	help: `Print the variables that make each runtime trust the CA

Usage: conduit ca env [OPTIONS]

Prints shell commands that set, for each runtime, the variable that makes it
trust Conduit's CA: NODE_EXTRA_CA_CERTS and CODEX_CA_CERTIFICATE (added to the
tool's own roots) point at ca.pem; SSL_CERT_FILE, REQUESTS_CA_BUNDLE and
CURL_CA_BUNDLE replace the trust store, so they point at a bundle of the
system roots plus the CA, rewritten beside the CA by this command. Warnings
go to stderr. 'conduit env --mode proxy' prints these together with the
proxy variables.

Options:
      --shell <SHELL>  sh, fish or powershell [default: from $SHELL; sh]
` + globalOptionsHelp + `
Examples:
  eval "$(conduit ca env)"
  conduit ca env --shell fish | source
`,
	run: runCAEnv,
}

func runCA(ctx context.Context, a *app, cmd *command, args []string) error {
	idx, name := findCommand(args)
	if name == "" {
		for _, arg := range args {
			if arg == "--" {
				break
			}
			if arg == "-h" || arg == "--help" {
				fmt.Fprint(a.stdout, cmd.help)
				return errHelpShown
			}
		}
		return usageErrorf("ca: missing command (init, path, show or env); run 'conduit ca --help' for usage")
	}
	var names []string
	for _, sub := range caSubcommands {
		if sub.name == "ca "+name {
			return sub.run(ctx, a, sub, slices.Concat(args[:idx], args[idx+1:]))
		}
		names = append(names, strings.TrimPrefix(sub.name, "ca "))
	}
	hint := "run 'conduit ca --help' for usage"
	if s := config.Suggest(name, names); s != "" {
		hint = fmt.Sprintf("did you mean 'ca %s'? (%s)", s, hint)
	}
	return usageErrorf("ca: unknown command '%s'; %s", name, hint)
}

// caHosts returns the hosts the CA must cover: those forward mode
// intercepts over TLS (mitmCAHosts). Hosts only ever called over plain http
// (a local model server) need no certificate, and leaving them out keeps
// the CA from signing for them.
func caHosts(cfg *config.Config) ([]string, error) {
	providers, err := interceptProviders(cfg.Providers)
	if err != nil {
		return nil, err
	}
	return mitmCAHosts(cfg, providers), nil
}

// loadExistingCA loads the configured CA; unlike loadCA, no CA is an error.
func loadExistingCA(cfg *config.Config) (*certs.Authority, error) {
	dir, err := mitmCADir(cfg)
	if err != nil {
		return nil, err
	}
	return certs.Load(dir)
}

func runCAInit(_ context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	force := fs.Bool("force", false, "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("ca init: unexpected argument '%s'; run 'conduit ca init --help' for usage", rest[0])
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	dir, err := mitmCADir(cfg)
	if err != nil {
		return err
	}
	hosts, err := caHosts(cfg)
	if err != nil {
		return err
	}
	ca, err := certs.Init(dir, hosts, *force, time.Now())
	if err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintf(w, "created the local CA in %s\n", ca.Dir())
	fmt.Fprintf(w, "  certificate: %s\n", ca.CertPath())
	fmt.Fprintf(w, "  SHA-256:     %s\n", ca.Fingerprint())
	fmt.Fprintf(w, "  covers:      %s\n", strings.Join(ca.Hosts(), ", "))
	fmt.Fprintf(w, "point a tool at Conduit with: conduit run -- <command>   or: eval \"$(conduit env --mode proxy)\"\n")
	fmt.Fprintf(w, "a running 'conduit proxy' loads the new CA when restarted\n")
	if *force {
		fmt.Fprintf(w, "tools that trusted the previous CA must be given this one (its path is unchanged; the bundle is rewritten by 'conduit ca env')\n")
	}
	return nil
}

func runCAPath(_ context.Context, a *app, cmd *command, args []string) error {
	cfg, err := a.parseCA(cmd, args)
	if err != nil {
		return err
	}
	ca, err := loadExistingCA(cfg)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, ca.CertPath())
	return err
}

func runCAShow(_ context.Context, a *app, cmd *command, args []string) error {
	cfg, err := a.parseCA(cmd, args)
	if err != nil {
		return err
	}
	ca, err := loadExistingCA(cfg)
	if err != nil {
		return err
	}
	if err := ca.Describe(a.stdout); err != nil {
		return err
	}
	hosts, err := caHosts(cfg)
	if err != nil {
		return err
	}
	var status string
	var nce *certs.NotCoveredError
	switch err := ca.Covers(hosts); {
	case err == nil:
		status = fmt.Sprintf("covers all %d hosts of %s", len(hosts), cfg.Path)
	case errors.As(err, &nce):
		status = fmt.Sprintf("does NOT cover %s of %s (calls to them are tunnelled, not recorded): run 'conduit ca init --force'",
			strings.Join(nce.Hosts, ", "), cfg.Path)
	default:
		status = err.Error()
	}
	_, err = fmt.Fprintf(a.stdout, "  %-18s%s\n", "Config hosts:", status)
	return err
}

func runCAEnv(_ context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	shellFlag := fs.String("shell", "", "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("ca env: unexpected argument '%s'; run 'conduit ca env --help' for usage", rest[0])
	}
	shell, err := pickShell("ca env", *shellFlag, a.getenv, runtime.GOOS)
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	ca, err := loadExistingCA(cfg)
	if err != nil {
		return err
	}
	vars, warnings := caTrustVars(ca)
	for _, w := range warnings {
		fmt.Fprintf(a.stderr, "conduit: warning: %s\n", w)
	}
	_, err = fmt.Fprint(a.stdout, renderCAEnv(shell, vars))
	return err
}

// parseCA parses the flags of a ca subcommand without options of its own,
// rejects arguments, and loads the configuration.
func (a *app) parseCA(cmd *command, args []string) (*config.Config, error) {
	fs := a.flagSet(cmd)
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, usageErrorf("%s: unexpected argument '%s'; run 'conduit %s --help' for usage", cmd.name, rest[0], cmd.name)
	}
	return a.loadConfig()
}

// caTrustVars (re)writes the combined bundle beside the CA and returns the
// trust variables. When the bundle cannot hold the system roots, the
// variables that replace a trust store are left out (pointing them at the
// CA alone would break every other HTTPS host) and a warning says so.
func caTrustVars(ca *certs.Authority) ([]certs.EnvVar, []string) {
	bundle := ca.BundlePath()
	n, err := ca.WriteBundle(bundle)
	var warnings []string
	switch {
	case err != nil:
		warnings = append(warnings, fmt.Sprintf("cannot write the trust bundle %s (%v): SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE are left unset", bundle, err))
	case n == 0:
		warnings = append(warnings, "no system root certificates found to combine with Conduit's CA: SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE are left unset (pointing them at the CA alone would break every other HTTPS host)")
	}
	var vars []certs.EnvVar
	for _, v := range certs.TrustEnv(ca, bundle) {
		if v.Value == bundle && (err != nil || n == 0) {
			continue
		}
		vars = append(vars, v)
	}
	return vars, warnings
}

// renderCAEnv writes the trust variables as shell commands, each with a
// comment saying which tools read it.
func renderCAEnv(shell string, vars []certs.EnvVar) string {
	var b strings.Builder
	apply := map[string]string{
		shellSh:         `eval "$(conduit ca env)"`,
		shellFish:       `conduit ca env --shell fish | source`,
		shellPowerShell: `conduit ca env --shell powershell | Invoke-Expression`,
	}[shell]
	fmt.Fprintf(&b, "# Conduit's local CA, trusted per runtime. Apply with: %s\n", apply)
	for _, v := range vars {
		fmt.Fprintf(&b, "# %s\n", v.For)
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
