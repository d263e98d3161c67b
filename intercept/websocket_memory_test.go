package intercept

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/wsframe"
)

// retained sums what the open relays' frame readers hold now. A direction
// busy writing (to the test itself, maybe) is skipped: ok is then false.
func (s *webSockets) retained() (n int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok = true
	for rl := range s.conns {
		for _, h := range []*wsHalf{&rl.toServer, &rl.toClient} {
			if !h.mu.TryLock() {
				ok = false
				continue
			}
			n += h.rd.Retained()
			h.mu.Unlock()
		}
	}
	return n, ok
}

// TestWebSocketHugeFrame guards bounded memory whatever the frame size: a
// single 100 MiB frame (one Responses delta event) passes through the
// relay to the client whole, the frame readers keep at most their message
// cap of it, the whole run allocates well under the frame's size, and the
// response's usage, in the message after it, is recorded.
func TestWebSocketHugeFrame(t *testing.T) {
	const frameSize = 100 * mib
	prefix := []byte(`{"type":"response.output_text.delta","delta":"`)
	suffix := []byte(`"}`)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		if skipFrame(conn) != nil { // the response.create
			return
		}
		send := func(b []byte) { conn.Write(ws.MustCompileFrame(ws.NewTextFrame(b))) }
		send([]byte(`{"type":"response.created","response":{"id":"resp_1","model":"gpt-5.5","status":"in_progress"}}`))
		ws.WriteHeader(conn, ws.Header{Fin: true, OpCode: ws.OpText, Length: frameSize})
		conn.Write(prefix)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for left := frameSize - len(prefix) - len(suffix); left > 0; left -= len(chunk) {
			if _, err := conn.Write(chunk[:min(left, len(chunk))]); err != nil {
				return
			}
		}
		conn.Write(suffix)
		send([]byte(`{"type":"response.completed","response":{"id":"resp_1","model":"gpt-5.5","status":"completed","usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10}}}`))
		skipFrame(conn) // the client's close
	})
	h := newHarness(t, harnessConfig{upstream: upstream})
	c, _ := h.wsDialer().dial(t, "openai", "/v1/responses", http.Header{"Authorization": {auth}}, websocket.CompressionDisabled)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c.send(wsCreate("big", ""))
	c.readUntil("response.created")
	typ, rd, err := c.c.Reader(c.ctx)
	if err != nil || typ != websocket.MessageText {
		t.Fatal(typ, err)
	}
	var peak, samples int
	n, err := io.Copy(writerFunc(func(p []byte) (int, error) {
		if r, ok := h.proxy.sockets.retained(); ok {
			peak, samples = max(peak, r), samples+1
		}
		return len(p), nil
	}), rd)
	if err != nil || n != frameSize {
		t.Fatalf("read %d bytes (%v), want %d", n, err, frameSize)
	}
	c.readUntil("response.completed")
	runtime.ReadMemStats(&after)
	c.c.Close(websocket.StatusNormalClosure, "")
	r := h.record(t)
	if r.Outcome != ledger.OutcomeComplete || r.InputTokens != 7 || r.OutputTokens != 3 {
		t.Errorf("record: %s in %d out %d (%s)", r.Outcome, r.InputTokens, r.OutputTokens, r.Error)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("100 MiB frame: frame readers held at most %.1f MiB (%d samples); the process allocated %.1f MiB while it passed", float64(peak)/mib, samples, float64(alloc)/mib)
	if samples == 0 {
		t.Error("never sampled the frame readers")
	}
	if limit := wsframe.DefaultMaxMessageSize + wsframe.DefaultHeadSize + wsframe.DefaultTailSize + 1*mib; peak > limit {
		t.Errorf("frame readers held %d bytes, over %d", peak, limit)
	}
	if alloc > frameSize {
		t.Errorf("allocated %d bytes for a %d-byte frame: something holds it", alloc, frameSize)
	}
}

// skipFrame reads one frame and discards its payload.
func skipFrame(r io.Reader) error {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return err
	}
	_, err = io.CopyN(io.Discard, r, h.Length)
	return err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestWebSocketManyResponses guards bounded memory on a long connection:
// 10,000 responses on one connection are 10,000 exact records, and what
// the relay and meter hold does not grow with them. (500 with -race or
// -short: the race detector makes each compressed response ~30 times
// slower.)
func TestWebSocketManyResponses(t *testing.T) {
	n := 10000
	if testing.Short() || raceEnabled {
		n = 500
	}
	var got, bad atomic.Int64
	h := newHarness(t, harnessConfig{options: func(o *Options) {
		o.Record = func(r Call) {
			got.Add(1)
			if r.Outcome != ledger.OutcomeComplete || !r.HasUsage || r.OutputTokens != 1 {
				bad.Add(1)
			}
		}
		o.Logger = discardLogger()
	}})
	c, _ := h.wsDialer().dial(t, "openai", "/v1/responses", http.Header{"Authorization": {auth}, fakeprovider.HeaderEvents: {"1"}}, websocket.CompressionContextTakeover)
	msg := wsCreate("hi", "")
	var heap [2]uint64
	// Eight requests in flight, as a busy client keeps them (the meter
	// matches up to 16 waiting requests to their responses).
	const window = 8
	for range window {
		c.send(msg)
	}
	for i := range n {
		c.readUntil("response.completed")
		if i+window < n {
			c.send(msg)
		}
		if i == n/10 || i == n-1 {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heap[min(1, i/(n/10+1))] = ms.HeapAlloc
		}
	}
	held, ok := h.proxy.sockets.retained()
	if !ok {
		t.Error("a direction is busy on an idle connection")
	}
	c.c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(10 * time.Second) // a hang guard
	for got.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got.Load() != int64(n) || bad.Load() != 0 {
		t.Errorf("%d records (%d not complete with 1 output token), want %d", got.Load(), bad.Load(), n)
	}
	growth := int64(heap[1]) - int64(heap[0])
	t.Logf("%d responses on one connection: heap grew %.2f MiB from response %d to %d; the frame readers hold %.1f KiB", n, float64(growth)/mib, n/10, n, float64(held)/1024)
	if held > 1*mib {
		t.Errorf("frame readers hold %d bytes after %d small responses", held, n)
	}
	if growth > 4*mib {
		t.Errorf("heap grew %d bytes over %d responses", growth, n-n/10)
	}
}

// TestWebSocketMemoryPerConnection measures what Conduit holds per idle and
// per busy WebSocket connection: the heap with N connections through
// Conduit, less the heap with N connections straight to the fake (the
// client's and the fake's share). It only logs: set
// CONDUIT_WS_MEMORY=<connections> to run it.
func TestWebSocketMemoryPerConnection(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CONDUIT_WS_MEMORY"))
	if n <= 0 {
		t.Skip("a measurement: set CONDUIT_WS_MEMORY=1000 to run it")
	}
	h := newHarness(t, harnessConfig{options: func(o *Options) { o.Logger = discardLogger() }})
	direct := wsDialer{url: func(_, p string) string { return "ws" + h.fakeURL[len("http"):] + p }}
	heapWith := func(d wsDialer, provider string) uint64 {
		var conns []*wsConn
		for range n {
			c, _ := d.dial(t, provider, "/v1/responses", http.Header{"Authorization": {auth}}, websocket.CompressionContextTakeover)
			c.send(wsCreate("hello", `,"generate":false`))
			c.readUntil("response.completed")
			conns = append(conns, c)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		for _, c := range conns {
			c.c.CloseNow()
		}
		return ms.HeapAlloc + ms.StackInuse
	}
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	straight := heapWith(direct, "")
	time.Sleep(time.Second) // let the closed connections go (a measurement, not a test)
	through := heapWith(h.wsDialer(), "openai")
	per := (float64(through) - float64(straight)) / float64(n)
	t.Logf("%d idle connections: %.1f MiB heap+stacks straight to the fake, %.1f MiB through Conduit: %.1f KiB per connection in Conduit",
		n, float64(straight-base.HeapAlloc-base.StackInuse)/mib, float64(through-base.HeapAlloc-base.StackInuse)/mib, per/1024)
	fmt.Fprintf(os.Stderr, "idle: %.1f KiB per connection\n", per/1024)
}
