package ui

import (
	"strings"
	"sync"
)

// LogBuffer keeps the last lines written to it, for the dashboard's log
// pane: give it to a slog.TextHandler as its writer, so that logging while
// the dashboard owns the terminal never scribbles over the screen. It is
// safe for concurrent use. The zero value keeps nothing; use NewLogBuffer.
type LogBuffer struct {
	mu    sync.Mutex
	lines []string
	keep  int
}

// NewLogBuffer returns a LogBuffer keeping the last n lines (n < 1 means
// 100).
func NewLogBuffer(n int) *LogBuffer {
	if n < 1 {
		n = 100
	}
	return &LogBuffer{keep: n}
}

// Write stores each line of p (a slog handler writes one record per call).
// It never fails.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if b.keep == 0 {
			break
		}
		b.lines = append(b.lines, l)
		if over := len(b.lines) - b.keep; over > 0 {
			b.lines = append(b.lines[:0], b.lines[over:]...)
		}
	}
	return len(p), nil
}

// Lines returns a copy of the kept lines, oldest first. A nil LogBuffer
// has none.
func (b *LogBuffer) Lines() []string {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}
