package valohai

import (
	"context"
	"testing"

	"github.com/valohai/conduit/ledger"
)

// BenchmarkSend measures conduit sync's pace on loopback: reading 64
// records, encoding them, one POST, marking them, per batch. It reports
// records per second.
func BenchmarkSend(b *testing.B) {
	const n = 6400
	in := newIngest(b, nil)
	c := in.client()
	for b.Loop() {
		b.StopTimer()
		db := mustOpen(b)
		insertEligible(b, db, 0, n)
		b.StartTimer()
		res, err := c.Send(context.Background(), db)
		if err != nil || res.Sent != n {
			b.Fatalf("%+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkWritten measures the Writer hook's cost per committed batch of
// 256 records (the ledger Writer's batch when it keeps up, BatchFill).
func BenchmarkWritten(b *testing.B) {
	recs := make([]ledger.Record, 256)
	for i := range recs {
		recs[i] = eligibleRecord(i)
	}
	s := newSender(nil, &Client{}, SenderOptions{})
	b.ReportAllocs()
	for b.Loop() {
		s.Written(recs)
	}
}

// BenchmarkPayload measures encoding one full POST body.
func BenchmarkPayload(b *testing.B) {
	recs := make([]ledger.Record, BatchSize)
	for i := range recs {
		recs[i] = eligibleRecord(i)
	}
	c := &Client{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodePayload(c.Payload(recs)); err != nil {
			b.Fatal(err)
		}
	}
}
