// Package intercept is Conduit's proxy: the listener's handler, base-URL
// routing, the forward (HTTPS_PROXY) mode, and the capture pipeline both
// modes share.
//
// Every call, however it arrives, goes through one capture: the request is
// forwarded upstream with its method, body and headers as sent (hop-by-hop
// headers and Accept-Encoding removed), and the response body is wrapped in
// a tap. The tap hands each upstream read to the client first — written and
// flushed — and only then to a usage meter (package parsers), so recording
// never delays or alters what the client receives. When the body ends, or
// the client goes away, the tap finalizes exactly once and the call (a Call: its
// ledger.Record and the timings telemetry reads) goes to the configured
// Record function.
//
// One port serves both modes: Server.ServeHTTP (server.go) reads as the
// path of a request, and every call, however it arrived, ends in
// Server.call. goproxy relays what forward mode does not intercept (blind
// CONNECT tunnels, plain requests to other hosts); Conduit decrypts and
// serves the intercepted hosts itself, each decrypted connection with an
// HTTP/1.1 loop of its own (decrypted.go). Calls go to providers over
// HTTP/1.1 connections of Conduit's own too (h1client.go), written and read
// by the goroutine serving the call; what that client does not serve (a
// streamed request body, an upgrade, an upstream proxy) goes through an
// http.Transport.
//
// A call is attributed to a project and a session without any client code
// changing: an "@…" first path segment in base-URL mode, the proxy user name
// in forward mode (see Attribution), or an x-conduit-project header. These,
// and Conduit's other headers (x-conduit-tag, x-conduit-budget), are
// recorded and never reach the upstream. Options.Admit, the hook cmd wires
// the budgets to, may refuse a call before it goes upstream.
//
// intercept never parses JSON itself: request inspection, stream_options
// injection and usage extraction all belong to parsers.
package intercept
