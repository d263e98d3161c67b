package wsframe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/valohai/conduit/internal/wsrecord"
)

// dataMessages keeps the data messages' payloads.
func dataMessages(ms []msg) []string {
	var out []string
	for _, m := range ms {
		if m.Op == OpText || m.Op == OpBinary {
			out = append(out, m.Data)
		}
	}
	return out
}

// TestReaderAgainstCoderWebsocket runs github.com/coder/websocket's client
// and server through a recording relay, in each compression mode, and
// checks that readers fed the recorded bytes (cut as the relay read them,
// whole and at random, mostly in pieces of a few bytes) see exactly the
// messages each side sent, and the close frames of the closing handshake.
func TestReaderAgainstCoderWebsocket(t *testing.T) {
	t.Parallel()
	for _, mode := range []websocket.CompressionMode{
		websocket.CompressionDisabled, websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover,
	} {
		t.Run(fmt.Sprint("mode=", mode), func(t *testing.T) { checkCoderSession(t, mode) })
	}
}

func checkCoderSession(t *testing.T, mode websocket.CompressionMode) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard, not a timing assertion
	defer cancel()
	clientSent := []string{"hi", prose(300), prose(5000), string(noise(90000, 3)), prose(200000), ""}
	var serverSent []string
	var serverErr error
	serverDone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(serverDone)
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: mode, CompressionThreshold: 64})
		if err != nil {
			serverErr = err
			return
		}
		c.SetReadLimit(1 << 30)
		for i := 0; ; i++ {
			_, data, err := c.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					serverErr = err
				}
				return
			}
			// An echo in three writes (a fragmented message), then a
			// message of its own.
			wr, err := c.Writer(ctx, websocket.MessageText)
			if err != nil {
				serverErr = err
				return
			}
			third := len(data) / 3
			for _, part := range [][]byte{data[:third], data[third : 2*third], data[2*third:]} {
				wr.Write(part)
			}
			if err := wr.Close(); err != nil {
				serverErr = err
				return
			}
			own := prose(100 + 700*i)
			if err := c.Write(ctx, websocket.MessageBinary, []byte(own)); err != nil {
				serverErr = err
				return
			}
			serverSent = append(serverSent, string(data), own)
		}
	}))
	defer srv.Close()
	addr, rec, relayDone := wsrecord.Relay(t, srv.Listener.Addr().String())
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{CompressionMode: mode, CompressionThreshold: 64})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 30)
	for _, m := range clientSent {
		if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, _, err := c.Read(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	<-serverDone
	<-relayDone
	if serverErr != nil {
		t.Fatal(serverErr)
	}

	c2s, c2sCut, _, err := wsrecord.Frames(rec.ClientToServer(), false)
	if err != nil {
		t.Fatal(err)
	}
	s2c, s2cCut, resp, err := wsrecord.Frames(rec.ServerToClient(), true)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseExtensions(resp.Header.Values("Sec-WebSocket-Extensions"))
	if err != nil || d.Enabled != (mode != websocket.CompressionDisabled) {
		t.Fatalf("extensions %q: %+v, %v", resp.Header.Values("Sec-WebSocket-Extensions"), d, err)
	}
	for _, side := range []struct {
		dir    Direction
		bytes  []byte
		chunks [][]byte
		want   []string
	}{
		{FromClient, c2s, c2sCut, clientSent},
		{FromServer, s2c, s2cCut, serverSent},
	} {
		ways := map[string][][]byte{
			"as relayed": side.chunks,
			"whole":      {side.bytes},
			"random":     splitRandom(side.bytes, rand.New(rand.NewPCG(uint64(mode), 9))),
		}
		for how, pieces := range ways {
			for _, tweak := range []func(*Reader){func(*Reader) {}, streamAll} {
				got, _, err := run(side.dir, Options{Deflate: d}, pieces, tweak)
				if err != nil {
					t.Fatalf("%s %s: %v", side.dir, how, err)
				}
				if data := dataMessages(got); !reflect.DeepEqual(data, side.want) {
					t.Fatalf("%s %s: %d messages differ from the %d sent", side.dir, how, len(data), len(side.want))
				}
				last := got[len(got)-1]
				if last.Op != OpClose || last.Code != 1000 {
					t.Fatalf("%s %s: last frame %v, want the close", side.dir, how, last)
				}
				if mode != websocket.CompressionDisabled && !anyCompressed(got) {
					t.Fatalf("%s %s: no message was compressed", side.dir, how)
				}
			}
		}
	}
}

func anyCompressed(ms []msg) bool {
	for _, m := range ms {
		if m.Compressed {
			return true
		}
	}
	return false
}
