package telemetry

import (
	"math"
	"strconv"
	"strings"
)

// This file writes the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format),
// which every Prometheus-compatible scraper reads. It replaces the
// Prometheus Go client: Conduit's series are a fixed handful, and the
// client's registry, collectors and protobuf encoding were a tenth of the
// binary's weight.

// expositionContentType is the Content-Type of the text format 0.0.4;
// Prometheus refuses a scrape without a valid one.
const expositionContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metric types, the values of TYPE lines.
const (
	typeCounter   = "counter"
	typeGauge     = "gauge"
	typeHistogram = "histogram"
)

// family describes one metric family: its name, HELP text, type, and the
// names of its labels, in the order their values are given.
type family struct {
	name, help, typ string
	labels          []string
}

// mustFamily returns a family after checking its names against the
// format's rules, panicking on a bad one: names are constants, so a bad
// one is a programming error that the package's first test catches.
func mustFamily(name, help, typ string, labels ...string) *family {
	if !validMetricName(name) {
		panic("telemetry: invalid metric name " + strconv.Quote(name))
	}
	for _, l := range labels {
		if !validLabelName(l) || typ == typeHistogram && l == "le" {
			panic("telemetry: invalid label name " + strconv.Quote(l) + " of " + name)
		}
	}
	return &family{name: name, help: help, typ: typ, labels: labels}
}

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]* and is
// not reserved (names starting with "__" are Prometheus's own).
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// exposition appends families to a buffer in the text format. Each family
// is written as its HELP and TYPE lines followed by all its samples.
type exposition struct {
	b []byte
}

// header writes f's HELP and TYPE lines.
func (e *exposition) header(f *family) {
	e.b = append(e.b, "# HELP "...)
	e.b = append(e.b, f.name...)
	e.b = append(e.b, ' ')
	for i := 0; i < len(f.help); i++ {
		switch c := f.help[i]; c {
		case '\\':
			e.b = append(e.b, `\\`...)
		case '\n':
			e.b = append(e.b, `\n`...)
		default:
			e.b = append(e.b, c)
		}
	}
	e.b = append(e.b, "\n# TYPE "...)
	e.b = append(e.b, f.name...)
	e.b = append(e.b, ' ')
	e.b = append(e.b, f.typ...)
	e.b = append(e.b, '\n')
}

// series writes the start of one sample line: f's name, suffix (_bucket,
// _sum, _count, or ""), and the labels: f's with values, then le when it
// is not "".
func (e *exposition) series(f *family, suffix string, values []string, le string) {
	e.b = append(e.b, f.name...)
	e.b = append(e.b, suffix...)
	if len(f.labels) == 0 && le == "" {
		e.b = append(e.b, ' ')
		return
	}
	e.b = append(e.b, '{')
	for i, name := range f.labels {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.label(name, values[i])
	}
	if le != "" {
		if len(f.labels) > 0 {
			e.b = append(e.b, ',')
		}
		e.label("le", le)
	}
	e.b = append(e.b, "} "...)
}

// label writes name="value", escaping the value's backslashes, double
// quotes and line feeds as the format requires.
func (e *exposition) label(name, value string) {
	e.b = append(e.b, name...)
	e.b = append(e.b, `="`...)
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\':
			e.b = append(e.b, `\\`...)
		case '"':
			e.b = append(e.b, `\"`...)
		case '\n':
			e.b = append(e.b, `\n`...)
		default:
			e.b = append(e.b, c)
		}
	}
	e.b = append(e.b, '"')
}

// value ends a sample line with v.
func (e *exposition) value(v float64) {
	e.b = appendFloat(e.b, v)
	e.b = append(e.b, '\n')
}

// count ends a sample line with n, exact however large.
func (e *exposition) count(n uint64) {
	e.b = strconv.AppendUint(e.b, n, 10)
	e.b = append(e.b, '\n')
}

// sample writes one whole sample line of a family without a suffix.
func (e *exposition) sample(f *family, values []string, v float64) {
	e.series(f, "", values, "")
	e.value(v)
}

// buckets are a histogram's upper bounds, ascending, with their le label
// values formatted once.
type buckets struct {
	bounds []float64
	les    []string
}

func newBuckets(bounds ...float64) *buckets {
	b := &buckets{bounds: bounds, les: make([]string, len(bounds))}
	for i, v := range bounds {
		if i > 0 && v <= bounds[i-1] {
			panic("telemetry: bucket bounds not ascending")
		}
		b.les[i] = string(appendFloat(nil, v))
	}
	return b
}

// histogram writes one histogram series: its cumulative buckets, +Inf
// included, then _sum and _count. counts[i] counts the observations in
// (bounds[i-1], bounds[i]], the last those above every bound; _count is
// their total, so it always equals the +Inf bucket.
func (e *exposition) histogram(f *family, values []string, b *buckets, counts []uint64, sum float64) {
	var cum uint64
	for i, le := range b.les {
		cum += counts[i]
		e.series(f, "_bucket", values, le)
		e.count(cum)
	}
	cum += counts[len(b.les)]
	e.series(f, "_bucket", values, "+Inf")
	e.count(cum)
	e.series(f, "_sum", values, "")
	e.value(sum)
	e.series(f, "_count", values, "")
	e.count(cum)
}

// appendFloat formats v as the format wants it: Go's shortest
// representation, and +Inf, -Inf and NaN spelled as Prometheus spells
// them.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
