package main

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// newLogger names the trace level TRACE at -vv, and writes at every level
// the lines slog's text handler writes (the renaming hook is left out when
// no trace line can be written).
func TestNewLogger(t *testing.T) {
	timeRE := regexp.MustCompile(`^time=\S+ `)
	for _, level := range []slog.Level{levelTrace, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		var b strings.Builder
		l := newLogger(&b, level)
		ctx := context.Background()
		l.Log(ctx, levelTrace, "deep", "k", 1)
		l.Debug("debug", "k", 2)
		l.Info("call", "method", "POST", "path", "/v1/chat/completions")
		l.Warn("careful", "err", "a b")
		var got []string
		for line := range strings.Lines(b.String()) {
			got = append(got, timeRE.ReplaceAllString(line, ""))
		}
		want := []string{
			"level=TRACE msg=deep k=1\n",
			"level=DEBUG msg=debug k=2\n",
			"level=INFO msg=call method=POST path=/v1/chat/completions\n",
			"level=WARN msg=careful err=\"a b\"\n",
		}
		switch level {
		case slog.LevelDebug:
			want = want[1:]
		case slog.LevelInfo:
			want = want[2:]
		case slog.LevelWarn:
			want = want[3:]
		}
		if strings.Join(got, "") != strings.Join(want, "") {
			t.Errorf("level %v:\n%s\nwant:\n%s", level, strings.Join(got, ""), strings.Join(want, ""))
		}
	}
}
