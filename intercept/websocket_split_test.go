package intercept

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/internal/wsrecord"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// splitProxy listens on loopback and relays every connection to target,
// writing each read on in random pieces of 1 to 16 bytes (TCP_NODELAY is
// Go's default, so each piece is a segment of its own), so that the reads
// on the far side cut frames anywhere.
func splitProxy(t *testing.T, target string, seed uint64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	go func() {
		for n := uint64(0); ; n++ {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			pump := func(dst, src net.Conn, r *rand.Rand) {
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					n, err := src.Read(buf)
					for p := buf[:n]; len(p) > 0; {
						k := min(len(p), 1+r.IntN(16))
						if _, werr := dst.Write(p[:k]); werr != nil {
							src.Close()
							return
						}
						p = p[k:]
					}
					if err != nil {
						dst.(*net.TCPConn).CloseWrite()
						return
					}
				}
			}
			wg.Add(2)
			go pump(out, in, rand.New(rand.NewPCG(seed, 2*n)))
			go pump(in, out, rand.New(rand.NewPCG(seed, 2*n+1)))
		}
	}()
	return ln.Addr().String()
}

// TestWebSocketRelayRandomSplits runs each API's conversation with both of
// Conduit's sockets fed in random small pieces (client → Conduit and
// provider → Conduit), compressed and not: every record is still exact.
func TestWebSocketRelayRandomSplits(t *testing.T) {
	for sname, sc := range wsScripts {
		for _, comp := range []websocket.CompressionMode{websocket.CompressionDisabled, websocket.CompressionContextTakeover} {
			t.Run(fmt.Sprintf("%s/compression=%d", sname, comp), func(t *testing.T) {
				h := newHarness(t, harnessConfig{options: func(o *Options) {
					for i := range o.Providers {
						split := splitProxy(t, o.Providers[i].Upstream.Host, 7)
						o.Providers[i].Upstream = &url.URL{Scheme: "http", Host: split}
					}
				}})
				proxyAddr := h.proxyURL[len("http://"):]
				toProxy := splitProxy(t, proxyAddr, 11)
				d := h.wsDialer()
				d.client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var nd net.Dialer
					return nd.DialContext(ctx, network, toProxy)
				}}}
				c, _ := d.dial(t, sc.provider, sc.path, sc.h, comp)
				sent := c.run(sc.first, sc.steps)
				want, err := fakeprovider.ExpectedWSUsage(sc.path, sc.h, sent, fakeprovider.Options{})
				if err != nil {
					t.Fatal(err)
				}
				checkWSRecords(t, h.take(t, len(want)), want, sc.provider, ledger.ModeBaseURL, sc.model)
			})
		}
	}
}

// TestWebSocketRelayEveryByte feeds a recorded connection (a Realtime
// session with permessage-deflate, and a Responses one with fragments and
// pings) to the relay's two directions one byte at a time and in random
// cuts: each destination gets exactly the bytes sent, and the records are
// those of the whole.
func TestWebSocketRelayEveryByte(t *testing.T) {
	for _, name := range []string{"realtime", "responses"} {
		sc := wsScripts[name]
		hd := sc.h.Clone()
		if name == "responses" {
			hd.Set(fakeprovider.HeaderWSFragment, "7")
			hd.Set(fakeprovider.HeaderWSPing, "1")
		}
		rec, sent := recordThroughTCP(t, sc.path, hd, sc.first, sc.steps)
		pieces, resp, err := rec.FramePieces()
		if err != nil {
			t.Fatal(err)
		}
		want, err := fakeprovider.ExpectedWSUsage(sc.path, hd, sent, fakeprovider.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for how, split := range map[string]func([]byte, *rand.Rand) [][]byte{
			"every byte": func(b []byte, _ *rand.Rand) [][]byte { return cutEvery(b, 1) },
			"random": func(b []byte, r *rand.Rand) [][]byte {
				var out [][]byte
				for len(b) > 0 {
					k := 1 + r.IntN(min(len(b), 64))
					out, b = append(out, b[:k]), b[k:]
				}
				return out
			},
		} {
			t.Run(name+"/"+how, func(t *testing.T) {
				sink := newRecordSink()
				u, _ := url.Parse("http://upstream.test")
				srv, err := New(Options{Providers: []Provider{{Key: sc.provider, Upstream: u, API: apiOf(sc.provider)}}, Record: sink.put(t), Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/"+sc.provider+sc.path, nil)
				tg := target{provider: srv.routes.providers[sc.provider], mode: ledger.ModeBaseURL, url: u.JoinPath(req.URL.Path)}
				tg.url.RawQuery = req.URL.RawQuery
				cl := srv.capture.newWebSocketCall(req, tg)
				cl.rec.Status = http.StatusSwitchingProtocols
				rl := newWSRelay(srv.sockets, cl, nil, nil, nil, resp.Header)
				var toServer, toClient bytes.Buffer
				rl.toServer.dst, rl.toClient.dst = &toServer, &toClient
				var wantServer, wantClient []byte
				r := rand.New(rand.NewPCG(1, 2))
				for _, p := range pieces {
					half := &rl.toClient
					if p.FromClient {
						half, wantServer = &rl.toServer, append(wantServer, p.Data...)
					} else {
						wantClient = append(wantClient, p.Data...)
					}
					for _, q := range split(p.Data, r) {
						if err := half.forward(q); err != nil {
							t.Fatal(err)
						}
					}
				}
				rl.meter.Finish(time.Now())
				if !bytes.Equal(toServer.Bytes(), wantServer) || !bytes.Equal(toClient.Bytes(), wantClient) {
					t.Fatalf("bytes changed: to server %d/%d, to client %d/%d", toServer.Len(), len(wantServer), toClient.Len(), len(wantClient))
				}
				if rl.toServer.rd.Err() != nil || rl.toClient.rd.Err() != nil {
					t.Fatalf("frames: %v / %v", rl.toServer.rd.Err(), rl.toClient.rd.Err())
				}
				checkWSRecords(t, sink.take(t, len(want)), want, sc.provider, ledger.ModeBaseURL, sc.model)
			})
		}
	}
}

func cutEvery(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out, b = append(out, b[:n]), b[n:]
	}
	return append(out, b)
}

func apiOf(provider string) parsers.API {
	if provider == "gemini" {
		return parsers.Gemini
	}
	return parsers.OpenAI
}

// recordThroughTCP holds a conversation with the fake through a recording
// TCP relay, with permessage-deflate, and returns the recording and the
// messages sent.
func recordThroughTCP(t *testing.T, path string, h http.Header, first string, steps []wsStep) (*wsrecord.Recording, [][]byte) {
	t.Helper()
	fake := fakeprovider.New(fakeprovider.Options{})
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	t.Cleanup(fake.Close)
	addr, rec, done := wsrecord.Relay(t, ts.Listener.Addr().String())
	d := wsDialer{url: func(_, p string) string { return "ws://" + addr + p }}
	c, _ := d.dial(t, "", path, h, websocket.CompressionContextTakeover)
	sent := c.run(first, steps)
	<-done
	return rec, sent
}
