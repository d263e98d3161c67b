package telemetry

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
)

// Spans are built straight from the finished call's record: Conduit
// observes calls after the fact, so there is no live span, context or
// sampler for an SDK to manage.

// toSpan is one call as a CLIENT span named "<operation> <model>", with the
// GenAI attributes, the x-vh-* headers and tags, never a credential.
func (p *otelPipeline) toSpan(rec *intercept.Call) span {
	op := Operation(rec.Endpoint)
	reqModel := rec.RequestModel
	if reqModel == "" {
		reqModel = rec.Model
	}
	name := op
	if reqModel != "" {
		name += " " + reqModel
	}
	a := spanAttrs{maxLen: p.cfg.attrValueLength, maxCount: p.cfg.attrCount, kvs: make([]keyValue, 0, 40)}
	a.str("gen_ai.operation.name", op)
	a.str("gen_ai.provider.name", ProviderName(&rec.Record))
	a.str("conduit.call.id", rec.ID)
	a.str("conduit.provider", rec.Provider)
	a.str("conduit.api", rec.API)
	a.str("conduit.mode", rec.Mode)
	a.str("conduit.outcome", rec.Outcome)
	a.float("conduit.added_latency", addedLatency(rec).Seconds())
	a.str("http.request.method", rec.Method)
	a.bool("gen_ai.request.stream", rec.Stream)
	if rec.Endpoint != "" {
		a.str("conduit.endpoint", rec.Endpoint)
	}
	if reqModel != "" {
		a.str("gen_ai.request.model", reqModel)
	}
	if rec.Model != "" {
		a.str("gen_ai.response.model", rec.Model)
	}
	if rec.ResponseID != "" {
		a.str("gen_ai.response.id", rec.ResponseID)
	}
	if host, port := hostPort(rec.Host); host != "" {
		a.str("server.address", host)
		if port > 0 {
			a.int("server.port", int64(port))
		}
	}
	if rec.Status > 0 {
		a.int("http.response.status_code", int64(rec.Status))
	}
	if rec.HasUsage {
		a.int("gen_ai.usage.input_tokens", rec.InputTokens)
		a.int("gen_ai.usage.output_tokens", rec.OutputTokens)
		a.int("gen_ai.usage.cache_read.input_tokens", rec.CachedInputTokens)
		a.int("gen_ai.usage.cache_creation.input_tokens", rec.CacheWriteTokens)
		a.int("gen_ai.usage.reasoning.output_tokens", rec.ReasoningTokens)
	}
	if rec.Stream && rec.TTFB > 0 {
		a.float("gen_ai.response.time_to_first_chunk", rec.TTFB.Seconds())
	}
	if rec.CostUSD != nil {
		a.float("conduit.cost_usd", *rec.CostUSD)
		a.str("conduit.cost_source", rec.CostSource)
	}
	if rec.RequestID != "" {
		a.str("conduit.upstream_request_id", rec.RequestID)
	}
	if rec.Client != "" {
		a.str("user_agent.original", rec.Client)
		a.str("conduit.client", ClientName(rec.Client))
	}
	if len(rec.Tags) > 0 {
		a.strs("conduit.tags", rec.Tags)
	}
	headers := make([]string, 0, len(rec.VHHeaders))
	for name := range rec.VHHeaders {
		if exportableHeader(name) {
			headers = append(headers, name)
		}
	}
	slices.Sort(headers)
	for _, name := range headers {
		a.strs("http.request.header."+strings.ToLower(name), []string{rec.VHHeaders[name]})
	}
	et := errorType(&rec.Record)
	if et != "" {
		a.str("error.type", et)
	}

	end := rec.FinishedAt
	if end.IsZero() {
		end = rec.StartedAt.Add(rec.Duration)
	}
	s := span{
		name:         validUTF8(name),
		start:        uint64(max(0, rec.StartedAt.UnixNano())),
		end:          uint64(max(0, end.UnixNano())),
		attrs:        a.kvs,
		droppedAttrs: a.dropped,
	}
	newID(s.traceID[:])
	newID(s.spanID[:])
	if et != "" && rec.Outcome != ledger.OutcomeClientCancelled {
		s.failed, s.statusMessage = true, validUTF8(rec.Error)
	}
	return s
}

// newID fills id with a random trace (16 bytes) or span (8 bytes) ID,
// never all zero (which means "none"). math/rand/v2's generator is seeded
// randomly and safe for concurrent use; the IDs need to be unique, not
// secret.
func newID(id []byte) {
	for {
		for i := 0; i < len(id); i += 8 {
			binary.BigEndian.PutUint64(id[i:], rand.Uint64())
		}
		if slices.ContainsFunc(id, func(b byte) bool { return b != 0 }) {
			return
		}
	}
}

// spanAttrs collects a span's attributes within the span limits: past
// maxCount attributes the rest are counted in dropped, and string values
// are cut to maxLen characters (negative limits: none), as the
// OpenTelemetry SDK does.
type spanAttrs struct {
	maxLen, maxCount int
	kvs              []keyValue
	dropped          uint32
}

func (a *spanAttrs) add(kv keyValue) {
	if a.maxCount >= 0 && len(a.kvs) >= a.maxCount {
		a.dropped++
		return
	}
	a.kvs = append(a.kvs, kv)
}

func (a *spanAttrs) str(k, v string)           { a.add(stringKV(k, a.cut(validUTF8(v)))) }
func (a *spanAttrs) int(k string, v int64)     { a.add(intKV(k, v)) }
func (a *spanAttrs) float(k string, v float64) { a.add(doubleKV(k, v)) }
func (a *spanAttrs) bool(k string, v bool)     { a.add(boolKV(k, v)) }

// strs adds a string array; its values are cut and made valid UTF-8.
func (a *spanAttrs) strs(k string, vs []string) {
	values := make([]string, len(vs))
	for i, v := range vs {
		values[i] = validUTF8(a.cut(v))
	}
	a.add(stringsKV(k, values))
}

// cut shortens s to maxLen characters, never splitting one (a byte that
// is not UTF-8 counts as one, as validUTF8 replaces it by one).
func (a *spanAttrs) cut(s string) string {
	if a.maxLen < 0 || len(s) <= a.maxLen {
		return s
	}
	n := 0
	for i := range s {
		if n == a.maxLen {
			return s[:i]
		}
		n++
	}
	return s
}

// validUTF8 replaces what is not UTF-8 (a header's or model's bytes, say):
// protobuf strings must be UTF-8, and a collector refuses the whole export
// when one is not.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
