// Package config reads conduit.toml into a checked [Config]: the file's
// shape, loading it with BurntSushi/toml, and a check of every value, so that
// a mistake stops Conduit at start with the file, line, key and a suggested
// fix rather than surfacing later as a failed or unrecorded call.
//
// A file written for the Rust Conduit (listen, [providers.*] upstream,
// [valohai-llm], [pricing.*]) loads unchanged; the other keys are this
// Conduit's own. Unknown keys are errors: a typo must not silently fall back
// to a default.
//
// The package turns text into values and nothing more: it opens no sockets,
// serves nothing and imports no proxy code; cmd/conduit maps a Config onto
// the packages that act on it. A check that needs their knowledge (forward
// mode's host grammar for [mitm] hosts) is made there, and placed in the
// file with [Config.KeyError]. [Parse] takes the content apart from [Load],
// which reads a file.
//
// The files follow the jobs: config.go holds the types the rest of Conduit
// reads, one per table; file.go the file's shape and the TOML leaf types
// that let the decoder place a value of the wrong type; load.go Load, Parse
// and [Error]; validate.go and validate_*.go the checks, one validator
// method per table, in files by topic; keys.go the keys the format reads
// ([Keys]) and unknown-key errors; positions.go where a key is in the
// source, for errors found after decoding.
//
// Adding a table takes its type and a field in [Config], its file struct and
// a field in fileConfig, a validator method and its line in Parse, and a row
// per key in README.md's configuration reference (a test compares that
// reference with Keys).
package config
