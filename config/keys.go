package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Keys returns the path of every key the file format reads, in the order
// the format declares them: ["listen"], ["ledger", "path"], ["otel",
// "headers"]. A table of tables, one per name the user picks (a provider, a
// pricing prefix), stands as "*" in the path: ["providers", "*",
// "upstream"]. A key whose value is a table of the user's own keys, such as
// otel.headers, is one key. The slices are new on every call.
func Keys() [][]string {
	var out [][]string
	walkKeys(reflect.TypeFor[fileConfig](), nil, func(path []string, _ reflect.Type) {
		out = append(out, slices.Clone(path))
	})
	return out
}

var unmarshalerType = reflect.TypeFor[toml.Unmarshaler]()

// walkKeys calls fn with the path and leaf type of every key under t, a
// type of the file's shape (fileConfig and the types it holds).
func walkKeys(t reflect.Type, path []string, fn func(path []string, leaf reflect.Type)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		fn(path, t)
		return
	}
	switch t.Kind() {
	case reflect.Map:
		walkKeys(t.Elem(), append(path[:len(path):len(path)], "*"), fn)
	case reflect.Struct:
		for f := range t.Fields() {
			if name := tomlName(f); name != "" {
				walkKeys(f.Type, append(path[:len(path):len(path)], name), fn)
			}
		}
	}
}

func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// knownKeys lists the keys the file format accepts in the table at path
// (a "*" of Keys matches any name there), or nil when path is not a table
// of the format or is one of the user's own names.
func knownKeys(path []string) []string {
	var out []string
	for _, k := range Keys() {
		if len(k) <= len(path) || !slices.EqualFunc(k[:len(path)], path, func(f, p string) bool { return f == "*" || f == p }) {
			continue
		}
		if name := k[len(path)]; name != "*" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// unknownKeyError reports a key the format does not read, with the likely
// one meant or, failing that, the keys its table takes.
func unknownKeyError(file string, src []byte, key toml.Key) error {
	msg := "unknown key"
	parent, last := key[:len(key)-1], key[len(key)-1]
	if known := knownKeys(parent); len(known) > 0 {
		if s := Suggest(last, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += fmt.Sprintf(" (known keys here: %s)", strings.Join(known, ", "))
		}
	}
	return &Error{File: file, Line: keyLine(src, key), Key: key.String(), Msg: msg}
}

// Suggest returns the candidate closest to s, if it is close enough to be a
// likely typo: at most two edits away, or fewer for short words; "" when
// none is. It is the rule behind every "did you mean" Conduit prints, for
// config keys here and for commands and flags in cmd/conduit.
func Suggest(s string, candidates []string) string {
	best, bestDist := "", min(3, len(s))
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
