package ledger

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// threadNice is the nice value of the thread running the caller.
func threadNice(t *testing.T) int {
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Errorf("read thread stat: %v", err)
		return -100
	}
	// Fields after the command's closing parenthesis: state is the 3rd
	// field of the line, nice the 19th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(f[19-3])
	if err != nil {
		t.Errorf("thread stat %q: %v", b, err)
	}
	return n
}

// TestWriterBackground checks that a Writer with Background writes its
// batches on a thread at nice 10 while it keeps up, and at the caller's
// priority once a full batch waits behind the one being written.
func TestWriterBackground(t *testing.T) {
	base := threadNice(t)
	if base >= backgroundNice {
		t.Fatalf("this test's threads already run at nice %d", base)
	}
	var nices []int
	first := make(chan struct{})
	release := make(chan struct{})
	w := NewWriter(nil, WriterOptions{
		BatchFill: 4, BatchSize: 4, MaxDelay: time.Millisecond, Background: true,
		Write: func(_ context.Context, recs []Record) error {
			nices = append(nices, threadNice(t))
			if len(nices) == 1 {
				close(first)
				<-release
			}
			return nil
		},
	})
	defer w.Close(context.Background())
	w.Add(Record{ID: "first"})
	<-first
	// While the first batch is written, two full batches queue up: the
	// first of them has the second behind it.
	for i := range 8 {
		w.Add(Record{ID: strconv.Itoa(i)})
	}
	close(release)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []int{backgroundNice, base, backgroundNice}
	if len(nices) != len(want) || nices[0] != want[0] || nices[1] != want[1] || nices[2] != want[2] {
		t.Fatalf("batches written at nice %v, want %v", nices, want)
	}
}
