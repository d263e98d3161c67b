// Package loadgen is the load generator and the arithmetic behind
// `make bench`: closed-loop HTTP load with per-request latencies,
// per-event arrival times of an event stream, percentiles and medians over
// rounds, the parsing of `go test -bench` output and of /proc memory
// figures, and the one results table the benchmark prints.
//
// It is Conduit's own rather than an off-the-shelf tool (hey, wrk, vegeta)
// so that the benchmark needs nothing but Go, measures exactly what the
// results table asks (ratios against a bare reverse proxy in the same run,
// per-event stream delays) and can be unit-tested. Nothing here asserts a
// timing: the benchmark reports, `make test` only checks the arithmetic.
package loadgen
