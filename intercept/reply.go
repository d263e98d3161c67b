package intercept

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// reply is a call's answer to its client: the provider's status and headers
// (hop-by-hop ones removed) with the body in a tap, or an answer Conduit
// made itself.
type reply struct {
	status int
	header http.Header
	length int64 // Content-Length; -1: unknown (a stream, or a stripped event changed it)
	// body is copied to the client with WriteTo, never read: a tap hands
	// each chunk to the client before its meter sees it.
	body interface {
		io.WriterTo
		io.Closer
	}
	// fullDuplex: the request body may still be streaming upstream when
	// the response starts.
	fullDuplex bool
}

// fixedBody is the body of an answer Conduit made.
type fixedBody struct{ *bytes.Reader }

func (fixedBody) Close() error { return nil }

// writeResponse sends rep to the client and closes its body. An upstream
// read error after the headers went out aborts the client's connection, so
// the client sees the same cut it would have seen without Conduit.
func writeResponse(w http.ResponseWriter, rep *reply) {
	defer rep.body.Close()
	if rep.fullDuplex {
		// An early answer to an upload: without full duplex, Go's HTTP/1
		// server would swallow the rest of the request body, and the
		// provider would get a silently truncated body. (Not for answers
		// Conduit gives before reading a body: there Go's server must
		// drain it so the client can read the answer.)
		http.NewResponseController(w).EnableFullDuplex()
	}
	h := w.Header()
	for k, vs := range rep.header {
		switch {
		case k == "Access-Control-Allow-Origin" && len(h[k]) > 0:
			// The origin guard answered for an origin it allows; the
			// provider's value would replace that decision (or, added,
			// make two values, which browsers refuse).
			continue
		case k == "Vary" && len(h[k]) > 0:
			h[k] = append(h[k], vs...)
			continue
		}
		h[k] = vs
	}
	if rep.length < 0 {
		h.Del("Content-Length")
	}
	w.WriteHeader(rep.status)
	rc := http.NewResponseController(w)
	if rep.length < 0 {
		// A stream's headers go out as the provider sent them: its first
		// event may be long in coming. (A client already gone shows at the
		// first write.)
		_ = rc.Flush()
	}
	n, err := rep.body.WriteTo(w)
	if err != nil && !isClientWriteError(err) {
		if n == 0 {
			// The provider's headers came, then a broken body: the client
			// sees the same, not a connection closed without a response.
			_ = rc.Flush()
		}
		panic(http.ErrAbortHandler)
	}
}

// isClientWriteError reports a clientWriteError in err's chain. (Its own
// function: errors.As's target, declared in writeResponse, cost every call
// an allocation.)
func isClientWriteError(err error) bool {
	var cwe clientWriteError
	return errors.As(err, &cwe)
}

// clientWriteError marks a failure to write to the client, as opposed to a
// failure to read from upstream.
type clientWriteError struct{ err error }

func (e clientWriteError) Error() string { return "writing to client: " + e.err.Error() }
func (e clientWriteError) Unwrap() error { return e.err }
