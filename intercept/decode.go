package intercept

import (
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/valohai/conduit/parsers"
)

// maxDecodedBytes bounds what a compressed body may expand to on its way to
// the meter: a decompression bomb costs the meter's copy at most this much
// work, and never the client's bytes, which pass through compressed.
const maxDecodedBytes = 256 << 20

// decodingSink decodes a compressed body for the meter. Go's transport
// already decodes the gzip it negotiates itself, so this serves the rest: an
// upstream that compresses anyway (br, zstd, deflate, or gzip it was not
// asked for). The client still gets the bytes as sent; only the copy is
// decoded. Decoders are pull-based, so this one runs in a goroutine fed by a
// pipe — a cost only compressed bodies pay.
type decodingSink struct {
	meter meterSink
	pw    *io.PipeWriter
	done  chan struct{}
	err   error // the decoder's, for Finish
}

func newDecodingSink(contentEncoding string, meter meterSink) meterSink {
	codings := strings.Split(strings.ToLower(contentEncoding), ",")
	for i := range codings {
		codings[i] = strings.TrimSpace(codings[i])
	}
	if len(codings) == 1 && (codings[0] == "" || codings[0] == "identity") {
		return meter
	}
	pr, pw := io.Pipe()
	d := &decodingSink{meter: meter, pw: pw, done: make(chan struct{})}
	go d.run(pr, codings)
	return d
}

func (d *decodingSink) run(pr *io.PipeReader, codings []string) {
	defer close(d.done)
	var r io.Reader = pr
	// Codings apply in the order listed, so they are undone in reverse.
	for i := len(codings) - 1; i >= 0; i-- {
		dec, err := decoder(codings[i], r)
		if err != nil {
			d.err = err
			pr.CloseWithError(err)
			return
		}
		r = dec
	}
	_, err := io.Copy(meterWriter{d.meter}, io.LimitReader(r, maxDecodedBytes))
	d.err = err
	// Unblock the tap whatever happened: the meter simply sees no more.
	pr.CloseWithError(errDecoderDone)
}

var errDecoderDone = errors.New("decoder finished")

// meterWriter hides the meter's other methods from io.Copy.
type meterWriter struct{ m meterSink }

func (w meterWriter) Write(p []byte) (int, error) { return w.m.Write(p) }

func decoder(coding string, r io.Reader) (io.Reader, error) {
	switch coding {
	case "gzip", "x-gzip":
		return gzip.NewReader(r)
	case "deflate":
		// HTTP's "deflate" is zlib-wrapped; some servers send raw deflate.
		return zlib.NewReader(r)
	case "br":
		return brotli.NewReader(r), nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case "identity", "":
		return r, nil
	}
	return nil, errors.New("unsupported content-encoding " + coding)
}

// Write hands compressed bytes to the decoder. Once the decoder has stopped
// (end of stream, corrupt data, the size cap) the bytes are dropped.
func (d *decodingSink) Write(p []byte) (int, error) {
	d.pw.Write(p)
	return len(p), nil
}

// Finish waits for the decoder to see the end, then finishes the meter. A
// body that failed to decode counts as cut short.
func (d *decodingSink) Finish(eof bool) parsers.Result {
	d.pw.Close()
	<-d.done
	if d.err != nil {
		eof = false
	}
	return d.meter.Finish(eof)
}
