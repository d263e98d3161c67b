// Package conduit holds what the conduit command embeds from the repository
// root. The program itself is in cmd/conduit; see README.md.
package conduit

import _ "embed"

// ExampleConfig is conduit.example.toml, the documented reference config
// that `conduit init` writes.
//
//go:embed conduit.example.toml
var ExampleConfig []byte
