package telemetry

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// The requests are decoded as TracesData and MetricsData: the OTLP
// definitions keep them field for field the same as the collector's
// ExportTraceServiceRequest and ExportMetricsServiceRequest ("When new
// fields are added into this message, the OTLP request MUST be updated as
// well", trace/v1/trace.proto), whose Go packages would link gRPC into the
// tests.

// decodeTraces decodes an encoded export request with the generated types,
// failing on anything they do not know (an unknown field means a wrong
// field number or wire type).
func decodeTraces(t testing.TB, b []byte) *tracepb.TracesData {
	t.Helper()
	td := &tracepb.TracesData{}
	if err := proto.Unmarshal(b, td); err != nil {
		t.Fatalf("decode traces: %v", err)
	}
	noUnknownFields(t, td.ProtoReflect())
	return td
}

func decodeMetrics(t testing.TB, b []byte) *metricpb.MetricsData {
	t.Helper()
	md := &metricpb.MetricsData{}
	if err := proto.Unmarshal(b, md); err != nil {
		t.Fatalf("decode metrics: %v", err)
	}
	noUnknownFields(t, md.ProtoReflect())
	return md
}

// noUnknownFields fails when m or a message inside it holds fields its
// definition does not have.
func noUnknownFields(t testing.TB, m protoreflect.Message) {
	t.Helper()
	if len(m.GetUnknown()) > 0 {
		t.Fatalf("%s has unknown fields %x", m.Descriptor().FullName(), m.GetUnknown())
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case fd.IsList():
			for i := range v.List().Len() {
				noUnknownFields(t, v.List().Get(i).Message())
			}
		default:
			noUnknownFields(t, v.Message())
		}
		return true
	})
}

// pbSpan is s encoded and decoded with the generated types.
func pbSpan(t testing.TB, s span) *tracepb.Span {
	t.Helper()
	return decodeTraces(t, appendTraces(nil, nil, []span{s})).ResourceSpans[0].ScopeSpans[0].Spans[0]
}

// pbMetrics is ms encoded and decoded with the generated types.
func pbMetrics(t testing.TB, ms []metric) []*metricpb.Metric {
	t.Helper()
	return decodeMetrics(t, appendMetrics(nil, nil, ms)).ResourceMetrics[0].ScopeMetrics[0].Metrics
}

// pbAttrs is kvs encoded (as a resource's) and decoded with the generated
// types.
func pbAttrs(t testing.TB, kvs []keyValue) []*commonpb.KeyValue {
	t.Helper()
	return decodeTraces(t, appendTraces(nil, kvs, nil)).ResourceSpans[0].Resource.Attributes
}

// The official messages for Conduit's values, built field by field from
// the generated types: what the encoding must decode to.

func officialKVs(kvs []keyValue) []*commonpb.KeyValue {
	out := make([]*commonpb.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		v := &commonpb.AnyValue{}
		switch kv.value.kind {
		case valString:
			v.Value = &commonpb.AnyValue_StringValue{StringValue: kv.value.str}
		case valBool:
			v.Value = &commonpb.AnyValue_BoolValue{BoolValue: kv.value.num != 0}
		case valInt:
			v.Value = &commonpb.AnyValue_IntValue{IntValue: kv.value.num}
		case valDouble:
			v.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: kv.value.dbl}
		case valStrings:
			arr := &commonpb.ArrayValue{}
			for _, s := range kv.value.strs {
				arr.Values = append(arr.Values, &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}})
			}
			v.Value = &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
		}
		out = append(out, &commonpb.KeyValue{Key: kv.key, Value: v})
	}
	return out
}

func officialSpan(s span) *tracepb.Span {
	ps := &tracepb.Span{
		TraceId:                s.traceID[:],
		SpanId:                 s.spanID[:],
		Name:                   s.name,
		Kind:                   tracepb.Span_SPAN_KIND_CLIENT,
		StartTimeUnixNano:      s.start,
		EndTimeUnixNano:        s.end,
		Attributes:             officialKVs(s.attrs),
		DroppedAttributesCount: s.droppedAttrs,
		Flags:                  0x01 | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK), // W3C sampled; no parent, so not remote
	}
	if s.failed {
		ps.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: s.statusMessage}
	}
	return ps
}

func officialMetrics(ms []metric) []*metricpb.Metric {
	var out []*metricpb.Metric
	for _, m := range ms {
		temporality := metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
		if m.temporality == temporalityDelta {
			temporality = metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		}
		pm := &metricpb.Metric{Name: m.name, Description: m.description, Unit: m.unit}
		if m.histogram != nil {
			h := &metricpb.Histogram{AggregationTemporality: temporality}
			for _, p := range m.histogram {
				sum, lo, hi := p.h.sum, p.h.min, p.h.max
				h.DataPoints = append(h.DataPoints, &metricpb.HistogramDataPoint{
					Attributes:        officialKVs(p.attrs),
					StartTimeUnixNano: p.start,
					TimeUnixNano:      p.time,
					Count:             p.h.count,
					Sum:               &sum,
					BucketCounts:      append([]uint64(nil), p.h.counts[:]...),
					ExplicitBounds:    p.bounds,
					Min:               &lo,
					Max:               &hi,
				})
			}
			pm.Data = &metricpb.Metric_Histogram{Histogram: h}
		} else {
			s := &metricpb.Sum{AggregationTemporality: temporality, IsMonotonic: true}
			for _, p := range m.sum {
				s.DataPoints = append(s.DataPoints, &metricpb.NumberDataPoint{
					Attributes:        officialKVs(p.attrs),
					StartTimeUnixNano: p.start,
					TimeUnixNano:      p.time,
					Value:             &metricpb.NumberDataPoint_AsDouble{AsDouble: p.value},
				})
			}
			pm.Data = &metricpb.Metric_Sum{Sum: s}
		}
		out = append(out, pm)
	}
	return out
}

// gen makes random values for the wire tests: strings of every kind of
// character (empty, ASCII, multi-byte, long enough for multi-byte lengths;
// with bad, bytes that are not UTF-8 too), numbers at their extremes.
type gen struct {
	r   *rand.Rand
	bad bool
}

// newGen seeds a gen from the clock, logging the seed to replay a failure.
func newGen(t *testing.T, bad bool) gen {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return gen{r: rand.New(rand.NewPCG(seed, seed)), bad: bad}
}

func (g gen) str() string {
	pieces := []string{"", "a", "gpt-4o", "é", "日本語", "🙂", "\x00", "\"\\\n", "x-vh-run"}
	if g.bad {
		pieces = append(pieces, "\xff", "\xe6\x97")
	}
	var s string
	for range g.r.IntN(4) {
		s += pieces[g.r.IntN(len(pieces))]
	}
	if g.r.IntN(10) == 0 {
		s += string(make([]byte, 100+g.r.IntN(300))) // a length past one varint byte
	}
	return s
}

func (g gen) int() int64 {
	return []int64{0, 1, -1, 127, 128, 300, math.MaxInt64, math.MinInt64, g.r.Int64(), -g.r.Int64()}[g.r.IntN(10)]
}

func (g gen) uint() uint64 {
	return []uint64{0, 1, 255, 1 << 32, math.MaxUint64, g.r.Uint64()}[g.r.IntN(6)]
}

func (g gen) float() float64 {
	return []float64{0, 1, -1.5, 1e-300, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(), g.r.NormFloat64()}[g.r.IntN(9)]
}

func (g gen) kvs() []keyValue {
	var kvs []keyValue
	for range g.r.IntN(6) {
		k := g.str()
		switch g.r.IntN(5) {
		case 0:
			kvs = append(kvs, stringKV(k, g.str()))
		case 1:
			kvs = append(kvs, boolKV(k, g.r.IntN(2) == 0))
		case 2:
			kvs = append(kvs, intKV(k, g.int()))
		case 3:
			kvs = append(kvs, doubleKV(k, g.float()))
		case 4:
			var vs []string
			for range g.r.IntN(3) {
				vs = append(vs, g.str())
			}
			kvs = append(kvs, stringsKV(k, vs))
		}
	}
	return kvs
}

func (g gen) span() span {
	s := span{name: g.str(), start: g.uint(), end: g.uint(), attrs: g.kvs(), droppedAttrs: uint32(g.uint())}
	newID(s.traceID[:])
	newID(s.spanID[:])
	if g.r.IntN(2) == 0 {
		s.failed, s.statusMessage = true, g.str()
	}
	return s
}

func (g gen) metrics() []metric {
	var ms []metric
	for range g.r.IntN(4) {
		m := metric{name: g.str(), description: g.str(), unit: g.str(), temporality: temporality(1 + g.r.IntN(2))}
		n := 1 + g.r.IntN(3)
		if g.r.IntN(2) == 0 {
			for range n {
				p := histogramPoint{attrs: g.kvs(), start: g.uint(), time: g.uint(), bounds: opDurationBuckets[:]}
				if g.r.IntN(3) == 0 {
					p.bounds = nil
				}
				for i := range p.h.counts {
					p.h.counts[i] = g.uint()
				}
				p.h.count, p.h.sum, p.h.min, p.h.max = g.uint(), g.float(), g.float(), g.float()
				m.histogram = append(m.histogram, p)
			}
		} else {
			for range n {
				m.sum = append(m.sum, sumPoint{attrs: g.kvs(), start: g.uint(), time: g.uint(), value: g.float()})
			}
		}
		ms = append(ms, m)
	}
	return ms
}

// TestWireRandom guards the protobuf encoding against the OTLP definitions:
// random spans, metrics and resources of every shape Conduit sends, with
// zero, extreme and multi-byte values, decode with the generated types to
// exactly the messages built from those types, with no field unknown to
// them.
func TestWireRandom(t *testing.T) {
	t.Parallel()
	g := newGen(t, false)
	// 500 cases, as TestWireBytes: the generator draws every field from a
	// handful of shapes, each met many times over, and the seed changes
	// each run; 2000 decoded with reflection took seconds under -race.
	for i := range 500 {
		resource := g.kvs()
		var spans []span
		for range g.r.IntN(4) {
			spans = append(spans, g.span())
		}
		wantTraces := &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource:   &resourcepb.Resource{Attributes: officialKVs(resource)},
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: instrumentationName}}},
			SchemaUrl:  schemaURL,
		}}}
		for _, s := range spans {
			wantTraces.ResourceSpans[0].ScopeSpans[0].Spans = append(wantTraces.ResourceSpans[0].ScopeSpans[0].Spans, officialSpan(s))
		}
		if got := decodeTraces(t, appendTraces(nil, resource, spans)); !proto.Equal(got, wantTraces) {
			t.Fatalf("case %d: traces decode to\n%v\nwant\n%v", i, got, wantTraces)
		}

		ms := g.metrics()
		wantMetrics := &metricpb.MetricsData{ResourceMetrics: []*metricpb.ResourceMetrics{{
			Resource: &resourcepb.Resource{Attributes: officialKVs(resource)},
			ScopeMetrics: []*metricpb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: instrumentationName},
				Metrics: officialMetrics(ms)}},
			SchemaUrl: schemaURL,
		}}}
		if got := decodeMetrics(t, appendMetrics(nil, resource, ms)); !proto.Equal(got, wantMetrics) {
			t.Fatalf("case %d: metrics decode to\n%v\nwant\n%v", i, got, wantMetrics)
		}
	}
}

// TestWireBytes guards that the encoding is the one proto.Marshal gives the
// same messages (fields in number order, zero scalars left out), so that
// what a collector receives is what the OpenTelemetry SDK would send.
func TestWireBytes(t *testing.T) {
	t.Parallel()
	g := newGen(t, false)
	opts := proto.MarshalOptions{Deterministic: true}
	for i := range 500 {
		resource, s, ms := g.kvs(), g.span(), g.metrics()
		want, err := opts.Marshal(&tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource:   &resourcepb.Resource{Attributes: officialKVs(resource)},
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: instrumentationName}, Spans: []*tracepb.Span{officialSpan(s)}}},
			SchemaUrl:  schemaURL,
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTraces(nil, resource, []span{s}); string(got) != string(want) {
			t.Fatalf("case %d: traces\n%x\nwant\n%x", i, got, want)
		}
		want, err = opts.Marshal(&metricpb.MetricsData{ResourceMetrics: []*metricpb.ResourceMetrics{{
			Resource:     &resourcepb.Resource{Attributes: officialKVs(resource)},
			ScopeMetrics: []*metricpb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: instrumentationName}, Metrics: officialMetrics(ms)}},
			SchemaUrl:    schemaURL,
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendMetrics(nil, resource, ms); string(got) != string(want) {
			t.Fatalf("case %d: metrics\n%x\nwant\n%x", i, got, want)
		}
	}
}

// TestWireCalls guards the spans and metrics of random calls, as the
// pipeline builds them, against the official decoding: every record shape
// (usage or none, priced or not, errors, streams, headers, tags, odd
// bytes) encodes to the message the generated types rebuild.
func TestWireCalls(t *testing.T) {
	t.Parallel()
	g := newGen(t, true)
	outcomes := []string{ledger.OutcomeComplete, ledger.OutcomeIncomplete, ledger.OutcomeClientCancelled, ledger.OutcomeUpstreamError, ledger.OutcomeNoUsage, ""}
	endpoints := []string{"chat_completions", "messages", "embeddings", "generate_content", "count_tokens", ""}
	// 200 pipelines of up to 5 calls: each of the 9 attribute limits and
	// every outcome and endpoint comes up dozens of times, and the seed
	// changes each run; 500 took seconds under -race.
	for i := range 200 {
		p := &otelPipeline{cfg: otelConfig{attrValueLength: []int{-1, 3, 4096}[g.r.IntN(3)], attrCount: []int{-1, 5, 128}[g.r.IntN(3)]}}
		m := newGenAIMetrics(time.Unix(int64(g.r.IntN(1e9)), 0))
		for range 1 + g.r.IntN(5) {
			rec := intercept.Call{Record: ledger.Record{
				ID: g.str(), StartedAt: time.Unix(0, int64(g.r.Uint64()>>2)), Duration: time.Duration(g.r.IntN(1e10)),
				Provider: g.str(), API: g.str(), Endpoint: endpoints[g.r.IntN(len(endpoints))], Mode: g.str(), Method: g.str(),
				Host: g.str() + []string{"", ":443", ":x"}[g.r.IntN(3)], Model: g.str(), Stream: g.r.IntN(2) == 0,
				Status: []int{0, 200, 429, 500}[g.r.IntN(4)], Outcome: outcomes[g.r.IntN(len(outcomes))], Error: g.str(),
				HasUsage: g.r.IntN(2) == 0, InputTokens: g.int(), OutputTokens: g.int(), CachedInputTokens: g.int(),
				CacheWriteTokens: g.int(), ReasoningTokens: g.int(), TTFB: time.Duration(g.r.IntN(1e9)),
				ResponseID: g.str(), RequestID: g.str(), Client: g.str(), CostSource: g.str(),
			}, RequestModel: g.str()}
			if g.r.IntN(2) == 0 {
				c := g.float()
				rec.CostUSD = &c
			}
			for range g.r.IntN(3) {
				rec.Tags = append(rec.Tags, g.str())
			}
			if g.r.IntN(2) == 0 {
				rec.VHHeaders = map[string]string{"x-vh-" + g.str(): g.str(), "X-VH-Token": "secret"}
			}
			s := p.toSpan(&rec)
			if got, want := pbSpan(t, s), officialSpan(s); !proto.Equal(got, want) {
				t.Fatalf("case %d: span decodes to\n%v\nwant\n%v", i, got, want)
			}
			cost := 0.0
			if rec.CostUSD != nil {
				cost = *rec.CostUSD
			}
			k := seriesKey{op: Operation(rec.Endpoint), providerName: ProviderName(&rec.Record), requestModel: cleanLabel(rec.RequestModel),
				model: cleanLabel(rec.Model), provider: cleanLabel(rec.Provider), client: ClientName(rec.Client)}
			k.serverAddress, k.serverPort = hostPort(rec.Host)
			m.record(k, rec.HasUsage, rec.InputTokens, rec.OutputTokens, rec.Duration.Seconds(), errorType(&rec.Record), cost)
		}
		ms := m.collect(time.Unix(2e9, int64(i)), i%2 == 0)
		if got, want := pbMetrics(t, ms), officialMetrics(ms); len(got) != len(want) || !proto.Equal(&metricpb.ScopeMetrics{Metrics: got}, &metricpb.ScopeMetrics{Metrics: want}) {
			t.Fatalf("case %d: metrics decode to\n%v\nwant\n%v", i, got, want)
		}
	}
}

// TestWireLongMessage guards lengths of several varint bytes at every
// level: a span whose attributes run past 16 KiB.
func TestWireLongMessage(t *testing.T) {
	t.Parallel()
	var s span
	newID(s.traceID[:])
	newID(s.spanID[:])
	for i := range 200 {
		s.attrs = append(s.attrs, stringKV("k"+strconv.Itoa(i), string(make([]byte, 100))))
	}
	if got, want := pbSpan(t, s), officialSpan(s); !proto.Equal(got, want) {
		t.Fatalf("long span decodes to %d attributes, want %d", len(got.Attributes), len(want.Attributes))
	}
}
