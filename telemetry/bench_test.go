package telemetry

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// BenchmarkObserve measures what every call pays at its end: Prometheus
// only; Prometheus with OpenTelemetry, spans exported to an in-process
// collector (the time and allocations then include the span goroutine's and
// the exporter's work, on the same 2 cores); and with the span queue full
// (a hung collector), which is Observe's own cost on the call's goroutine:
// series, OpenTelemetry metrics, and a dropped span.
func BenchmarkObserve(b *testing.B) {
	cost := 0.0012
	rec := intercept.Call{Record: ledger.Record{
		ID: "0190c8e0-0000-7000-8000-000000000000", StartedAt: time.Now(), FinishedAt: time.Now().Add(time.Second),
		Provider: "openai", API: "openai", Endpoint: "chat_completions", Mode: ledger.ModeBaseURL, Method: "POST",
		Host: "api.openai.com", Model: "gpt-4o-mini-2024-07-18", Stream: true, Status: 200,
		Outcome: ledger.OutcomeComplete, HasUsage: true, InputTokens: 1200, CachedInputTokens: 1000, OutputTokens: 300,
		CostUSD: &cost, CostSource: ledger.CostFromTable, TTFB: 300 * time.Millisecond, Duration: time.Second,
		Client:    "OpenAI/Python 1.40.0",
		VHHeaders: map[string]string{"x-vh-project": "p", "x-vh-run-id": "r"}, Tags: []string{"exp-1"},
	}, UpstreamTime: 999 * time.Millisecond, RequestModel: "gpt-4o-mini"}
	for _, bc := range []struct {
		name       string
		otel, hung bool
	}{{"prometheus", false, false}, {"prometheus+otel", true, false}, {"prometheus+otel/queue-full", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			opts := Options{Prometheus: true, Logger: slog.New(slog.DiscardHandler)}
			if bc.otel {
				var hold chan struct{}
				if bc.hung {
					hold = make(chan struct{})
				}
				rc := newReceiver(b, hold)
				opts.OTel = &OTelOptions{Endpoint: rc.url, BatchTimeout: time.Hour, ExportInterval: time.Hour}
				if bc.hung {
					opts.OTel.QueueSize, opts.OTel.BatchSize = 1, 1
				}
				defer func() {
					if hold != nil {
						b.Cleanup(func() { close(hold) }) // runs before Shutdown
					}
				}()
			}
			tel, err := New(context.Background(), opts)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				tel.Shutdown(ctx)
			})
			b.ReportAllocs()
			for b.Loop() {
				tel.Observe(rec)
			}
		})
	}
}
