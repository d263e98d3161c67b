// Package examples holds runnable client examples for Conduit, in the
// languages and tools people point at it, and the tests that keep them
// honest. The Go code here is tests only:
//
//   - curl/, node/ and proxy-mode/ (curl and Node) run against the fake
//     provider behind a real `conduit proxy`, and each example's calls are
//     checked in the ledger against what its header says the dashboard
//     shows. The Node ones need node and npm (npm install goes to the user
//     cache directory, never into the repository); without them they are
//     skipped, saying why.
//   - python/ and proxy-mode/*.py are compiled only (python3 -m
//     py_compile): their SDKs cannot be installed in the test environment.
//   - providers.toml must load in conduit.
//
// The fake provider itself is package fakeprovider, and the one-command
// demo is examples/demo.
package examples
