package telemetry

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file holds the OTLP messages Conduit sends and their protobuf
// encoding, written with protowire alone: the generated OTLP types need the
// protobuf runtime (reflection, descriptors, registries), a large part of
// the binary for the few messages sent here. Field numbers and types are
// those of opentelemetry-proto v1
// (https://github.com/open-telemetry/opentelemetry-proto/tree/main/opentelemetry/proto:
// collector/{trace,metrics}/v1, trace/v1/trace.proto,
// metrics/v1/metrics.proto, common/v1/common.proto,
// resource/v1/resource.proto). The tests decode every shape encoded here
// with the generated types of go.opentelemetry.io/proto/otlp.
//
// Fields are written as proto.Marshal writes them: in field-number order,
// members of a oneof after the other fields, proto3 scalars holding their
// zero value left out, and fields with presence (oneof members, optional)
// written whatever their value. A decoder accepts fields in any order; the
// same order makes the bytes comparable with the generated code's.

// valueKind is which member of an AnyValue is set.
type valueKind uint8

const (
	valString valueKind = iota
	valBool
	valInt
	valDouble
	valStrings // an array of strings
)

// anyValue is an OTLP AnyValue of one of the kinds Conduit sends.
type anyValue struct {
	kind valueKind
	str  string
	num  int64 // valInt; valBool: 1 for true
	dbl  float64
	strs []string
}

// keyValue is an OTLP KeyValue: one attribute.
type keyValue struct {
	key   string
	value anyValue
}

// stringKV is a string attribute; bytes of k and v that are not UTF-8 are
// replaced (see validUTF8).
func stringKV(k, v string) keyValue {
	return keyValue{validUTF8(k), anyValue{kind: valString, str: validUTF8(v)}}
}

// stringsKV is a string array attribute; the caller makes vs valid UTF-8.
func stringsKV(k string, vs []string) keyValue {
	return keyValue{validUTF8(k), anyValue{kind: valStrings, strs: vs}}
}

func intKV(k string, v int64) keyValue { return keyValue{k, anyValue{kind: valInt, num: v}} }

func doubleKV(k string, v float64) keyValue {
	return keyValue{k, anyValue{kind: valDouble, dbl: v}}
}

func boolKV(k string, v bool) keyValue {
	kv := keyValue{k, anyValue{kind: valBool}}
	if v {
		kv.value.num = 1
	}
	return kv
}

// span is an OTLP Span of kind CLIENT without a parent, events or links.
type span struct {
	traceID      [16]byte
	spanID       [8]byte
	name         string
	start, end   uint64 // Unix nanoseconds
	attrs        []keyValue
	droppedAttrs uint32
	// failed sets the status to ERROR with statusMessage; else the
	// status is left unset.
	failed        bool
	statusMessage string
}

// temporality is an OTLP AggregationTemporality.
type temporality uint64

const (
	temporalityDelta      temporality = 1
	temporalityCumulative temporality = 2
)

// metric is an OTLP Metric holding either a histogram (histogram points)
// or a monotonic sum of doubles (sum points).
type metric struct {
	name, description, unit string
	temporality             temporality
	histogram               []histogramPoint
	sum                     []sumPoint
}

// histogramPoint is an OTLP HistogramDataPoint with explicit bounds; sum,
// min and max are always set.
type histogramPoint struct {
	attrs       []keyValue
	start, time uint64 // Unix nanoseconds
	bounds      []float64
	h           histogram
}

// sumPoint is an OTLP NumberDataPoint holding a double.
type sumPoint struct {
	attrs       []keyValue
	start, time uint64 // Unix nanoseconds
	value       float64
}

// Enum values of the OTLP definitions.
const (
	spanKindClient  = 3 // Span.SpanKind SPAN_KIND_CLIENT
	statusCodeError = 2 // Status.StatusCode STATUS_CODE_ERROR
	// spanFlags: W3C "sampled" (0x01), and SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
	// (0x100): whether the parent is remote is known (there is no
	// parent), as the OpenTelemetry SDK sets them.
	spanFlags = 0x01 | 0x100
)

// appendTraces appends the encoding of an ExportTraceServiceRequest: one
// ResourceSpans of resource, holding one ScopeSpans of Conduit's scope
// with spans.
func appendTraces(b []byte, resource []keyValue, spans []span) []byte {
	w := wire{b}
	rs := w.begin(1) // ExportTraceServiceRequest.resource_spans
	w.resource(1, resource)
	ss := w.begin(2) // ResourceSpans.scope_spans
	w.scope(1)
	for i := range spans {
		w.span(2, &spans[i])
	}
	w.end(ss)
	w.str(3, schemaURL) // ResourceSpans.schema_url
	w.end(rs)
	return w.b
}

// appendMetrics appends the encoding of an ExportMetricsServiceRequest:
// one ResourceMetrics of resource, holding one ScopeMetrics of Conduit's
// scope with metrics.
func appendMetrics(b []byte, resource []keyValue, metrics []metric) []byte {
	w := wire{b}
	rm := w.begin(1) // ExportMetricsServiceRequest.resource_metrics
	w.resource(1, resource)
	sm := w.begin(2) // ResourceMetrics.scope_metrics
	w.scope(1)
	for i := range metrics {
		w.metric(2, &metrics[i])
	}
	w.end(sm)
	w.str(3, schemaURL) // ResourceMetrics.schema_url
	w.end(rm)
	return w.b
}

// wire appends protobuf fields to b.
type wire struct{ b []byte }

// begin starts an embedded message as field num; end(start) closes it.
func (w *wire) begin(num protowire.Number) (start int) {
	w.b = protowire.AppendTag(w.b, num, protowire.BytesType)
	return len(w.b)
}

// end closes the message begun at start: its content, already written,
// moves up to make room for its length.
func (w *wire) end(start int) {
	n := len(w.b) - start
	size := protowire.SizeVarint(uint64(n))
	w.b = append(w.b, make([]byte, size)...)
	copy(w.b[start+size:], w.b[start:start+n])
	protowire.AppendVarint(w.b[:start], uint64(n))
}

// str writes a string field, left out when empty.
func (w *wire) str(num protowire.Number, s string) {
	if s != "" {
		w.b = protowire.AppendTag(w.b, num, protowire.BytesType)
		w.b = protowire.AppendString(w.b, s)
	}
}

// varint writes a varint field (uint32, uint64, int64, bool or enum), left
// out when zero.
func (w *wire) varint(num protowire.Number, v uint64) {
	if v != 0 {
		w.b = protowire.AppendTag(w.b, num, protowire.VarintType)
		w.b = protowire.AppendVarint(w.b, v)
	}
}

// fixed64 writes a fixed64 field, left out when zero.
func (w *wire) fixed64(num protowire.Number, v uint64) {
	if v != 0 {
		w.b = protowire.AppendTag(w.b, num, protowire.Fixed64Type)
		w.b = protowire.AppendFixed64(w.b, v)
	}
}

// double writes a double field with presence: always.
func (w *wire) double(num protowire.Number, v float64) {
	w.b = protowire.AppendTag(w.b, num, protowire.Fixed64Type)
	w.b = protowire.AppendFixed64(w.b, math.Float64bits(v))
}

func (w *wire) resource(num protowire.Number, attrs []keyValue) {
	at := w.begin(num)
	for i := range attrs {
		w.keyValue(1, &attrs[i]) // Resource.attributes
	}
	w.end(at)
}

// scope writes Conduit's InstrumentationScope.
func (w *wire) scope(num protowire.Number) {
	at := w.begin(num)
	w.str(1, instrumentationName) // InstrumentationScope.name
	w.end(at)
}

func (w *wire) keyValue(num protowire.Number, kv *keyValue) {
	at := w.begin(num)
	w.str(1, kv.key) // KeyValue.key
	w.anyValue(2, &kv.value)
	w.end(at)
}

// anyValue writes v; its member is a oneof, written even when zero.
func (w *wire) anyValue(num protowire.Number, v *anyValue) {
	at := w.begin(num)
	switch v.kind {
	case valString:
		w.b = protowire.AppendTag(w.b, 1, protowire.BytesType) // string_value
		w.b = protowire.AppendString(w.b, v.str)
	case valBool:
		w.b = protowire.AppendTag(w.b, 2, protowire.VarintType) // bool_value
		w.b = protowire.AppendVarint(w.b, uint64(v.num))
	case valInt:
		w.b = protowire.AppendTag(w.b, 3, protowire.VarintType) // int_value
		w.b = protowire.AppendVarint(w.b, uint64(v.num))
	case valDouble:
		w.double(4, v.dbl) // double_value
	case valStrings:
		arr := w.begin(5) // array_value
		for _, s := range v.strs {
			e := w.begin(1) // ArrayValue.values
			w.b = protowire.AppendTag(w.b, 1, protowire.BytesType)
			w.b = protowire.AppendString(w.b, s)
			w.end(e)
		}
		w.end(arr)
	}
	w.end(at)
}

func (w *wire) span(num protowire.Number, s *span) {
	at := w.begin(num)
	w.b = protowire.AppendTag(w.b, 1, protowire.BytesType) // trace_id
	w.b = protowire.AppendBytes(w.b, s.traceID[:])
	w.b = protowire.AppendTag(w.b, 2, protowire.BytesType) // span_id
	w.b = protowire.AppendBytes(w.b, s.spanID[:])
	w.str(5, s.name)
	w.varint(6, spanKindClient)
	w.fixed64(7, s.start)
	w.fixed64(8, s.end)
	for i := range s.attrs {
		w.keyValue(9, &s.attrs[i])
	}
	w.varint(10, uint64(s.droppedAttrs))
	if s.failed {
		st := w.begin(15) // status
		w.str(2, s.statusMessage)
		w.varint(3, statusCodeError)
		w.end(st)
	}
	w.b = protowire.AppendTag(w.b, 16, protowire.Fixed32Type) // flags
	w.b = protowire.AppendFixed32(w.b, spanFlags)
	w.end(at)
}

func (w *wire) metric(num protowire.Number, m *metric) {
	at := w.begin(num)
	w.str(1, m.name)
	w.str(2, m.description)
	w.str(3, m.unit)
	if m.histogram != nil {
		h := w.begin(9) // histogram
		for i := range m.histogram {
			w.histogramPoint(1, &m.histogram[i])
		}
		w.varint(2, uint64(m.temporality))
		w.end(h)
	} else {
		s := w.begin(7) // sum
		for i := range m.sum {
			w.sumPoint(1, &m.sum[i])
		}
		w.varint(2, uint64(m.temporality))
		w.varint(3, 1) // is_monotonic
		w.end(s)
	}
	w.end(at)
}

func (w *wire) histogramPoint(num protowire.Number, p *histogramPoint) {
	at := w.begin(num)
	w.fixed64(2, p.start)
	w.fixed64(3, p.time)
	w.fixed64(4, p.h.count)
	w.double(5, p.h.sum)                                   // optional
	w.b = protowire.AppendTag(w.b, 6, protowire.BytesType) // bucket_counts, packed
	w.b = protowire.AppendVarint(w.b, uint64(8*len(p.h.counts)))
	for _, c := range p.h.counts {
		w.b = protowire.AppendFixed64(w.b, c)
	}
	if len(p.bounds) > 0 {
		w.b = protowire.AppendTag(w.b, 7, protowire.BytesType) // explicit_bounds, packed
		w.b = protowire.AppendVarint(w.b, uint64(8*len(p.bounds)))
		for _, v := range p.bounds {
			w.b = protowire.AppendFixed64(w.b, math.Float64bits(v))
		}
	}
	for i := range p.attrs {
		w.keyValue(9, &p.attrs[i])
	}
	w.double(11, p.h.min) // optional
	w.double(12, p.h.max) // optional
	w.end(at)
}

func (w *wire) sumPoint(num protowire.Number, p *sumPoint) {
	at := w.begin(num)
	w.fixed64(2, p.start)
	w.fixed64(3, p.time)
	for i := range p.attrs {
		w.keyValue(7, &p.attrs[i])
	}
	w.double(4, p.value) // as_double, a oneof member: after the others
	w.end(at)
}
