package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// DefaultFileName is the config file read when neither --config nor
// CONDUIT_CONFIG names one, relative to the working directory.
const DefaultFileName = "conduit.toml"

// envVar names the config file when --config does not.
const envVar = "CONDUIT_CONFIG"

const notFoundAdvice = "create one with 'conduit init', or point to one with --config or " + envVar

// Path picks the config file: flag (--config), else CONDUIT_CONFIG, else
// DefaultFileName.
func Path(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if env := getenv(envVar); env != "" {
		return env
	}
	return DefaultFileName
}

// Load reads and validates the config file at path. A missing file is an
// error that says how to create one: Conduit never runs on silent defaults.
// getenv supplies the variables that override or complete the file
// (VALOHAI_LLM_*, OTEL_*, NO_PROXY, the proxy password's variable).
func Load(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no config file at %s: %s", path, notFoundAdvice)
	}
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	return Parse(f, path, getenv)
}

// Parse parses and validates a config file's content; name is the file name
// used in errors and to resolve relative paths. Every problem with the
// content is an *Error; only the first is reported.
func Parse(r io.Reader, name string, getenv func(string) string) (*Config, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", name, err)
	}
	var raw fileConfig
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Line: pe.Position.Line, Col: pe.Position.Col, Key: pe.LastKey, Msg: pe.Message}
		}
		return nil, decodeError(name, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return nil, unknownKeyError(name, src, undecoded[0])
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, fmt.Errorf("resolve config path %s: %w", name, err)
	}
	cfg := &Config{Path: name, Dir: filepath.Dir(abs), src: src}
	v := validator{file: name, src: src}
	cfg.Listen = v.listen(raw.Listen)
	cfg.Providers = v.providers(raw.Providers, md.Keys())
	cfg.ValohaiLLM = v.valohai(raw.ValohaiLLM, getenv)
	cfg.Pricing = v.pricing(raw.Pricing)
	cfg.Ledger = v.ledger(raw.Ledger, cfg.Dir)
	cfg.Timeouts = v.timeouts(raw.Timeouts)
	cfg.MITM = v.mitm(raw.MITM, cfg.Dir)
	cfg.Upstream = v.upstream(raw.Upstream, cfg.Dir, cfg.Listen, getenv)
	cfg.Metrics = v.metrics(raw.Metrics)
	cfg.OTel = v.otel(raw.OTel, getenv)
	cfg.Server = v.server(raw.Server, cfg.Listen, getenv)
	cfg.Budgets = v.budgets(raw.Budgets, md.Keys())
	cfg.BudgetSettings = v.budgetSettings(raw.BudgetSettings)
	cfg.Alerts = v.alerts(raw.Alerts)
	v.providersNotSelf(cfg.Providers, cfg.Listen)
	if v.err != nil {
		return nil, v.err
	}
	return cfg, nil
}

// typeMismatch is the text of the decoder's one error without a
// ParseError: a value where a table of the file's shape belongs
// ([budgets] timezone = "UTC", a budget's name taken for a key). It
// carries its position only in the text.
var typeMismatch = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): type mismatch for [^:]+: expected table but found (\S+)$`)

// decodeError places a decoding error that is not a ParseError.
func decodeError(name string, err error) *Error {
	if m := typeMismatch.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		msg := "expected a table here, found a " + m[3]
		if parent, _, _ := strings.Cut(m[2], "."); parent == "budgets" {
			msg += " (a budget is a table, [budgets.<name>], with limit_usd and period; the time zone goes under [budget_settings])"
		}
		return &Error{File: name, Line: line, Key: m[2], Msg: msg}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
}

// Error is a problem with a config file, located as precisely as it can be:
// file, line (0 when the problem is the file as a whole), column (0 when
// unknown) and the key it concerns ("" when none). Its text is
// "file:line:col: key: message", leaving out what is unknown.
type Error struct {
	File string
	Line int
	Col  int
	Key  string // the dotted key path: "providers.openai.upstream"
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}
