// Package wsrecord records the bytes of a WebSocket connection as a relay
// sees them, so that tests of the frame reader and of the meters can feed
// real peers' bytes to them, cut where the relay's reads cut them or any
// other way. It is test support only: a plain TCP relay on loopback, one
// connection, both directions copied and kept.
package wsrecord

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Piece is what one read of the relay returned.
type Piece struct {
	FromClient bool
	Data       []byte
}

// Recording is one connection's bytes in the pieces the relay's reads
// returned, in the order they were read. A piece is recorded before it is
// forwarded, so the order respects causality: a request precedes what the
// peer answered to it.
type Recording struct {
	mu     sync.Mutex
	pieces []Piece
}

// Pieces returns every piece, both ways, in order.
func (r *Recording) Pieces() []Piece {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pieces
}

// ClientToServer and ServerToClient return one direction's pieces.
func (r *Recording) ClientToServer() [][]byte { return r.side(true) }
func (r *Recording) ServerToClient() [][]byte { return r.side(false) }

func (r *Recording) side(fromClient bool) [][]byte {
	var out [][]byte
	for _, p := range r.Pieces() {
		if p.FromClient == fromClient {
			out = append(out, p.Data)
		}
	}
	return out
}

func (r *Recording) add(fromClient bool, p []byte) {
	r.mu.Lock()
	r.pieces = append(r.pieces, Piece{fromClient, bytes.Clone(p)})
	r.mu.Unlock()
}

// FramePieces returns the pieces after each direction's HTTP head (the
// upgrade request and the 101 response), in order, and the 101 response.
func (r *Recording) FramePieces() ([]Piece, *http.Response, error) {
	var out []Piece
	var resp *http.Response
	var head [2][]byte
	done := [2]bool{}
	for _, p := range r.Pieces() {
		side := 0
		if p.FromClient {
			side = 1
		}
		if done[side] {
			out = append(out, p)
			continue
		}
		head[side] = append(head[side], p.Data...)
		i := bytes.Index(head[side], []byte("\r\n\r\n"))
		if i < 0 {
			continue
		}
		done[side] = true
		if side == 0 {
			var err error
			resp, err = http.ReadResponse(bufio.NewReader(bytes.NewReader(head[0][:i+4])), nil)
			if err != nil {
				return nil, nil, fmt.Errorf("wsrecord: read the 101 response: %w", err)
			}
		}
		if rest := head[side][i+4:]; len(rest) > 0 {
			out = append(out, Piece{p.FromClient, rest})
		}
	}
	if resp == nil {
		return nil, nil, fmt.Errorf("wsrecord: no 101 response in the recording")
	}
	return out, resp, nil
}

// Relay listens on loopback, accepts one connection, dials target and
// copies both ways until both sides have closed, recording what passes.
// done is closed when the relay has finished. The listener is closed when
// the test ends.
func Relay(t testing.TB, target string) (addr string, rec *Recording, done <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	rec = &Recording{}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			return
		}
		var wg sync.WaitGroup
		pump := func(dst, src net.Conn, fromClient bool) {
			defer wg.Done()
			buf := make([]byte, 1500) // a packet's worth: many natural cuts
			for {
				n, err := src.Read(buf)
				if n > 0 {
					rec.add(fromClient, buf[:n])
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			dst.(*net.TCPConn).CloseWrite()
		}
		wg.Add(2)
		go pump(out, in, true)
		go pump(in, out, false)
		wg.Wait()
		in.Close()
		out.Close()
	}()
	return ln.Addr().String(), rec, finished
}

// Frames splits recorded pieces into the HTTP head at their start (parsed
// as a response when response is set) and the frame bytes after it, the
// latter both whole and in the recorded pieces.
func Frames(pieces [][]byte, response bool) (frames []byte, cut [][]byte, resp *http.Response, err error) {
	all := bytes.Join(pieces, nil)
	i := bytes.Index(all, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, nil, nil, fmt.Errorf("wsrecord: no HTTP head in %d bytes", len(all))
	}
	if response {
		resp, err = http.ReadResponse(bufio.NewReader(bytes.NewReader(all[:i+4])), nil)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("wsrecord: read the 101 response: %w", err)
		}
	}
	skip := i + 4
	for _, p := range pieces {
		if skip >= len(p) {
			skip -= len(p)
			continue
		}
		cut = append(cut, p[skip:])
		skip = 0
	}
	return all[i+4:], cut, resp, nil
}
