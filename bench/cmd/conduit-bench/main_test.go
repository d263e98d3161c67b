//go:build linux

package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/valohai/conduit/bench/loadgen"
)

// TestMemoryRow guards the memory row's verdict: the peak against 200 MB,
// and the RSS trend judged only while every stream runs (samples after the
// first stream ended are left out).
func TestMemoryRow(t *testing.T) {
	const mb = 1_000_000
	ramp := func(from, to int64, after ...memSample) []memSample {
		var s []memSample
		for i := range 10 {
			s = append(s, memSample{bytes: int64(i+1) * 1e8, rss: from + (to-from)*int64(i)/9})
		}
		return append(s, after...)
	}
	tests := []struct {
		name    string
		samples []memSample
		opened  int64
		hwm     int64
		want    loadgen.Verdict
		measure string
	}{
		{"flat and small", ramp(120*mb, 122*mb), 120 * mb, 125 * mb, loadgen.Met, "trend +2.2 MB per GB"},
		{"grows with the bytes", ramp(120*mb, 160*mb), 120 * mb, 165 * mb, loadgen.Missed, "+33%"},
		{"flat but over the limit", ramp(210*mb, 210*mb), 210 * mb, 215 * mb, loadgen.Missed, "peak 215 MB"},
		{"a bump once streams end is not a trend", ramp(120*mb, 121*mb, memSample{bytes: 2e9, finished: 3, rss: 190 * mb}), 120 * mb, 190 * mb, loadgen.Met, "peak 190 MB"},
		{"too few samples", ramp(120*mb, 121*mb)[:2], 120 * mb, 125 * mb, loadgen.Missed, "too few samples"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := memoryRow(tc.samples, tc.opened, tc.hwm, 1000, 10*mb, 10_000*mb, 20*time.Second)
			if r.Verdict != tc.want || !strings.Contains(r.Measured, tc.measure) {
				t.Errorf("verdict %v, measured %q; want %v mentioning %q", r.Verdict, r.Measured, tc.want, tc.measure)
			}
		})
	}
}

// TestSummarize guards the scanner and meter rows: the slowest benchmark
// by its best run, allocations per event from events/op or ns/event.
func TestSummarize(t *testing.T) {
	out := `BenchmarkScannerOpenAI/chunk=4KiB-2 100 70000 ns/op 2000.0 MB/s 504.0 events/op 0 B/op 0 allocs/op
BenchmarkScannerOpenAI/chunk=4KiB-2 100 60000 ns/op 2300.0 MB/s 504.0 events/op 0 B/op 0 allocs/op
BenchmarkScannerAnthropic/chunk=event-2 100 150000 ns/op 900.0 MB/s 506.0 events/op 0 B/op 0 allocs/op
BenchmarkScannerAnthropic/chunk=event-2 100 110000 ns/op 1200.0 MB/s 506.0 events/op 0 B/op 0 allocs/op
BenchmarkMeterOpenAIChat-2 100 150000 ns/op 1000.0 MB/s 300.0 ns/event 3240 B/op 17 allocs/op
`
	bs, err := loadgen.ParseBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := summarize(bs, "BenchmarkScanner")
	if !ok || s.slowest != "Anthropic/chunk=event" || s.slowBest != 1200 || s.slowMedian != 1050 || s.maxAllocs != 0 {
		t.Errorf("scanners: %+v", s)
	}
	m, ok := summarize(bs, "BenchmarkMeter")
	if !ok || m.slowest != "OpenAIChat" || m.maxAllocs != 17 || m.maxAllocsEv != 17.0/500 {
		t.Errorf("meters: %+v", m)
	}
	if _, ok := summarize(bs, "BenchmarkNothing"); ok {
		t.Error("a prefix with no benchmark was summarized")
	}
}

// TestParseFlags guards -only and the bounds on the numeric flags.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		only    []string
	}{
		{args: nil, only: sections},
		{args: []string{"-only", "latency, memory"}, only: []string{"latency", "memory"}},
		{args: []string{"-only", "latency,nope"}, wantErr: `unknown section "nope"`},
		{args: []string{"-rounds", "0"}, wantErr: "must be positive"},
		{args: []string{"extra"}, wantErr: "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.only) != len(tc.only) {
				t.Errorf("only %v, want %v", c.only, tc.only)
			}
			for _, s := range tc.only {
				if !c.only[s] {
					t.Errorf("section %s not selected", s)
				}
			}
		})
	}
}

// TestQuickFlag guards -quick: fewer, shorter rounds and fewer memory
// streams, except where a flag of its own says otherwise.
func TestQuickFlag(t *testing.T) {
	tests := []struct {
		args    []string
		rounds  int
		block   time.Duration
		streams int
	}{
		{args: nil, rounds: 5, block: 1500 * time.Millisecond, streams: 1000},
		{args: []string{"-quick"}, rounds: quickRounds, block: quickBlock, streams: quickStreams},
		{args: []string{"-quick", "-rounds", "3"}, rounds: 3, block: quickBlock, streams: quickStreams},
		{args: []string{"-streams", "50", "-quick", "-block", "1s"}, rounds: quickRounds, block: time.Second, streams: 50},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.rounds != tc.rounds || c.block != tc.block || c.streams != tc.streams {
				t.Errorf("rounds %d, block %v, streams %d; want %d, %v, %d", c.rounds, c.block, c.streams, tc.rounds, tc.block, tc.streams)
			}
		})
	}
}

// TestRotate guards the interleaving: across rounds every target runs in
// every position.
func TestRotate(t *testing.T) {
	ts := []string{"direct", "bare", "conduit"}
	first := map[string]bool{}
	for r := range len(ts) {
		o := rotate(ts, r)
		if len(o) != len(ts) {
			t.Fatalf("round %d: %v", r, o)
		}
		first[o[0]] = true
	}
	if len(first) != len(ts) {
		t.Errorf("not every target ran first: %v", first)
	}
}
