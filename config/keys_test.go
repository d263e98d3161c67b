package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestKeys guards the listing the README's reference is checked against:
// every table's keys, user-named tables as "*", and a table of the user's
// own keys (otel.headers) as one key.
func TestKeys(t *testing.T) {
	t.Parallel()
	var keys []string
	for _, k := range Keys() {
		keys = append(keys, strings.Join(k, "."))
	}
	for _, want := range []string{
		"listen", "providers.*.upstream", "providers.*.stream_usage", "valohai-llm.api_key", `pricing.*.cache_write_1h`,
		"ledger.path", "timeouts.drain", "mitm.hosts", "upstream.ca_file", "metrics.enabled", "otel.headers", "server.proxy_password",
	} {
		if !slices.Contains(keys, want) {
			t.Errorf("Keys() lacks %s: %v", want, keys)
		}
	}
	if slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, "otel.headers.") }) {
		t.Errorf("Keys() walks into otel.headers: %v", keys)
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(keys) || keys[0] != "listen" {
		t.Errorf("Keys() is not the declaration order without repeats: %v", keys)
	}
	Keys()[0][0] = "changed"
	if Keys()[0][0] != "listen" {
		t.Error("Keys() shares its slices between calls")
	}
}

// wrongValue is a TOML value of the wrong type for each leaf type.
var wrongValue = map[string]string{
	"tString":     "42",
	"tBool":       `"maybe"`,
	"tDuration":   "30",
	"tRate":       `"cheap"`,
	"tStringList": "42",
	"tStringMap":  "42",
	"tInt":        `"many"`,
	"tUSD":        `"ten"`,
	"tFractions":  `"half"`,
}

// TestFaultEveryConfigKeyWrongType guards "every invalid config value: a
// message with file, line and key" for every key the format has — found by
// walking the format itself, so a key added later is covered too: a value
// of the wrong type names the file, the line it is on, and the key.
func TestFaultEveryConfigKeyWrongType(t *testing.T) {
	t.Parallel()
	const okProvider = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	type leaf struct {
		path []string
		typ  reflect.Type
	}
	var leaves []leaf
	walkKeys(reflect.TypeFor[fileConfig](), nil, func(path []string, typ reflect.Type) {
		p := slices.Clone(path)
		for i := range p {
			if p[i] == "*" {
				p[i] = "x"
			}
		}
		leaves = append(leaves, leaf{p, typ})
	})
	if len(leaves) < 20 {
		t.Fatalf("walked only %d keys: %v", len(leaves), leaves)
	}
	for _, l := range leaves {
		key := strings.Join(l.path, ".")
		t.Run(key, func(t *testing.T) {
			val, ok := wrongValue[l.typ.Name()]
			if !ok {
				t.Fatalf("no wrong value for type %s: add one to wrongValue", l.typ.Name())
			}
			var src strings.Builder
			line := 0
			if len(l.path) == 1 {
				src.WriteString(l.path[0] + " = " + val + "\n")
				line = 1
			}
			src.WriteString("# a comment\n")
			if l.path[0] == "providers" {
				fmt.Fprintf(&src, "[providers.x]\n")
				if l.path[len(l.path)-1] != "upstream" {
					src.WriteString("upstream = \"https://api.openai.com\"\n")
				}
			} else {
				src.WriteString(okProvider)
				if len(l.path) > 1 {
					fmt.Fprintf(&src, "[%s]\n", quotedKey(l.path[:len(l.path)-1]))
				}
			}
			if len(l.path) > 1 {
				src.WriteString(l.path[len(l.path)-1] + " = " + val + "\n")
				line = strings.Count(src.String(), "\n")
			}
			_, err := Parse(strings.NewReader(src.String()), "conduit.toml", noEnv)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("%s = %s: got %v, want an *Error\n%s", key, val, err, src.String())
			}
			if ce.File != "conduit.toml" || ce.Line != line || (ce.Key != key && !strings.Contains(err.Error(), key)) {
				t.Errorf("%s = %s: %q does not name conduit.toml:%d and the key\n%s", key, val, err, line, src.String())
			}
		})
	}
}

func quotedKey(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = fmt.Sprintf("%q", p)
	}
	return strings.Join(parts, ".")
}

// TestUnknownKeyListsKnownKeys guards the advice for an unknown key that is
// no near miss: the keys its table takes; and none for a table the format
// does not have.
func TestUnknownKeyListsKnownKeys(t *testing.T) {
	t.Parallel()
	const ok = "[providers.ok]\nupstream = \"https://api.openai.com\"\n"
	_, err := parse(t, ok+"[timeouts]\nwhenever = \"1s\"\n")
	if err == nil || err.Error() != "conduit.toml:4: timeouts.whenever: unknown key (known keys here: connect, response_header, total, drain, websocket_idle, websocket_total)" {
		t.Errorf("got %v", err)
	}
	_, err = parse(t, ok+"[nothing]\nx = 1\n")
	if err == nil || err.Error() != "conduit.toml:3: nothing: unknown key (known keys here: listen, providers, valohai-llm, pricing, ledger, timeouts, mitm, upstream, metrics, otel, server, budgets, budget_settings, alerts)" {
		t.Errorf("got %v", err)
	}
	_, err = parse(t, ok+"[ledger.path]\nx = 1\n")
	if err == nil || !strings.HasPrefix(err.Error(), "conduit.toml:3:") {
		t.Errorf("a table where a value belongs: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"prxy", "proxy"}, {"dashbord", "dashboard"}, {"x", ""}, {"zzzzzz", ""}, {"ca", ""},
	} {
		if got := Suggest(tt.in, []string{"proxy", "dashboard", "init", "help"}); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
