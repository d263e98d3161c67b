package intercept

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGuardFlood guards Conduit under the attack that once took all its
// file descriptors: 1,000 attempts to nest self-CONNECTs (each in every
// spelling that used to tunnel back in, and once more inside the tunnel
// when one opens), 500 slow clients holding half-sent requests and 300
// tunnels held by one client (past its bound), while a steady client keeps
// making base-URL calls. The steady client must see
// no failure, and the descriptors must come back near where they started.
// Descriptor counts and memory are logged (this process holds the clients'
// sockets too), not asserted.
func TestGuardFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test")
	}
	h := newFwdHarness(t, fwdConfig{})
	_, port := splitAuthority(h.proxyAddr, "")
	host, _ := os.Hostname()
	spellings := []string{"0.0.0.0:" + port, "[::]:" + port, "127.0.0.1:0" + port, "[::ffff:127.0.0.1]:" + port, "localhost.:" + port, host + ":" + port}

	runtime.GC()
	baseFDs := countOpenFDs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse

	stop := make(chan struct{})
	var steadyCalls, steadyFailures atomic.Int64
	var steady sync.WaitGroup
	steady.Add(1)
	go func() {
		defer steady.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("POST", h.proxyURL+"/openai/v1/chat/completions", strings.NewReader(calls[0].body))
			req.Header.Set("Authorization", auth)
			req.Header.Set("Content-Type", "application/json")
			resp, err := rawClient.Do(req)
			steadyCalls.Add(1)
			if err != nil {
				steadyFailures.Add(1)
				t.Logf("steady call: %v", err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				steadyFailures.Add(1)
				t.Logf("steady call: %d", resp.StatusCode)
			}
			<-h.records
		}
	}()

	// 500 slow clients: each sends half a request and waits.
	var slow []net.Conn
	for range 500 {
		c, err := net.Dial("tcp", h.proxyAddr)
		if err != nil {
			t.Fatalf("slow client: %v", err)
		}
		io.WriteString(c, "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: "+h.proxyAddr+"\r\nContent-Length: 1000\r\n")
		slow = append(slow, c)
	}

	// 300 tunnels held by one client, past its bound of 256.
	var held []net.Conn
	tooMany := 0
	for range 300 {
		c, status, _ := openTunnel(t, h.proxyAddr, hostOther+":443")
		switch {
		case c != nil:
			held = append(held, c)
		case status == http.StatusTooManyRequests:
			tooMany++
		default:
			t.Fatalf("held tunnel: %d", status)
		}
	}

	// 1,000 nested self-CONNECT attempts, eight at a time.
	var tunnelled, depthMax atomic.Int64
	attempts := make(chan int)
	var flood sync.WaitGroup
	for range 8 {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for i := range attempts {
				if d := nestSelfConnects(h.proxyAddr, spellings[i%len(spellings)], 8); d > 0 {
					tunnelled.Add(1)
					if d > depthMax.Load() {
						depthMax.Store(d)
					}
				}
			}
		}()
	}
	for i := range 1000 {
		attempts <- i
	}
	close(attempts)
	flood.Wait()

	peakFDs := countOpenFDs()
	runtime.ReadMemStats(&ms)
	peakHeap := ms.HeapInuse
	if resp, body := do(t, "GET", h.proxyURL+"/health", nil, ""); resp.StatusCode != 200 {
		t.Errorf("/health during the flood: %d %q", resp.StatusCode, body)
	}
	for _, c := range slow {
		c.Close()
	}
	for _, c := range held {
		c.Close()
	}
	close(stop)
	steady.Wait()

	var afterFDs int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h.proxy.CloseIdleConnections()
		rawClient.CloseIdleConnections()
		if afterFDs = countOpenFDs(); afterFDs <= baseFDs+16 || time.Now().After(deadline) {
			break
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("steady client: %d calls, %d failures", steadyCalls.Load(), steadyFailures.Load())
	t.Logf("held tunnels: %d open, %d refused (429) past the bound of %d per client", len(held), tooMany, DefaultMaxTunnelsPerClient)
	t.Logf("self-CONNECTs: 1000 attempts, %d opened a tunnel (deepest nesting %d)", tunnelled.Load(), depthMax.Load())
	t.Logf("open fds (whole test process, clients included): %d before, %d at the peak (500 slow clients and the tunnels held), %d after", baseFDs, peakFDs, afterFDs)
	t.Logf("heap in use: %.1f MiB before, %.1f MiB at the peak, %.1f MiB after", toMiB(baseHeap), toMiB(peakHeap), toMiB(ms.HeapInuse))
	if n := steadyFailures.Load(); n != 0 {
		t.Errorf("the steady client saw %d failures", n)
	}
	if len(held) != DefaultMaxTunnelsPerClient || tooMany != 300-DefaultMaxTunnelsPerClient {
		t.Errorf("%d tunnels held and %d refused, want %d and %d", len(held), tooMany, DefaultMaxTunnelsPerClient, 300-DefaultMaxTunnelsPerClient)
	}
	if tunnelled.Load() != 0 {
		t.Errorf("%d self-CONNECTs opened a tunnel", tunnelled.Load())
	}
	if afterFDs > baseFDs+16 {
		t.Errorf("%d descriptors open after the flood, %d before", afterFDs, baseFDs)
	}
}

// nestSelfConnects sends CONNECT target on one connection, and again
// inside each tunnel that opens, up to max times; it returns how many
// opened.
func nestSelfConnects(proxyAddr, target string, max int) int64 {
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var depth int64
	for range max {
		io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != http.StatusOK {
			return depth
		}
		depth++
	}
	return depth
}

func toMiB(b uint64) float64 { return float64(b) / (1 << 20) }
