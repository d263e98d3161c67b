package config

import (
	"errors"
	"slices"

	"github.com/BurntSushi/toml"
)

// keyLine returns the 1-based line of key in the TOML document src: the
// line of its value, or of its table's [header]. A table with no line of
// its own (the "providers" of [providers.openai], or one made by a dotted
// key) is placed at the first key under it, in file order. It returns 0
// when the key is not in src.
//
// The toml package records where every key is, but hands a position out
// only inside a ParseError, for an error raised while decoding that key's
// value. So keyLine decodes src again into untyped toml.Primitive values,
// walks them down to the key, and decodes its value into positionProbe,
// whose UnmarshalTOML always fails: the error that comes back carries the
// key's position as the decoder knows it, with TOML's full grammar
// (multi-line strings, inline tables, quoted and dotted keys). It runs only
// when an error is reported.
func keyLine(src []byte, key []string) int {
	if len(src) == 0 || len(key) == 0 {
		return 0
	}
	var root map[string]toml.Primitive
	md, err := toml.Decode(string(src), &root)
	if err != nil {
		return 0
	}
	if n := primitiveLine(&md, root, key); n > 0 {
		return n
	}
	for _, k := range md.Keys() {
		if len(k) > len(key) && slices.Equal(k[:len(key)], key) {
			if n := primitiveLine(&md, root, k); n > 0 {
				return n
			}
		}
	}
	return 0
}

// positionProbe fails to decode any value, so that the decoder reports the
// value's position.
type positionProbe struct{}

func (positionProbe) UnmarshalTOML(any) error { return errors.New("position probe") }

// primitiveLine returns the line the decoder recorded for key below table,
// or 0 when key is not there, passes through something other than a table
// (an array of tables), or has no position of its own.
func primitiveLine(md *toml.MetaData, table map[string]toml.Primitive, key []string) int {
	for i, part := range key {
		p, ok := table[part]
		if !ok {
			return 0
		}
		if i == len(key)-1 {
			var pe toml.ParseError
			if err := md.PrimitiveDecode(p, positionProbe{}); errors.As(err, &pe) {
				return pe.Position.Line
			}
			return 0
		}
		table = nil
		if md.PrimitiveDecode(p, &table) != nil {
			return 0
		}
	}
	return 0
}
