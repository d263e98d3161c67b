package config

import (
	"net/url"
	"strings"
	"time"
)

// otelEndpointEnvVars enable the export when [otel] has no endpoint.
var otelEndpointEnvVars = []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"}

// maxOTelQueue bounds [otel] queue_size: a span is ~1-2 KiB.
const maxOTelQueue = 1 << 20

// metrics checks the [metrics] table: on unless turned off.
func (v *validator) metrics(raw fileMetrics) Metrics {
	return Metrics{Enabled: raw.Enabled == nil || bool(*raw.Enabled)}
}

// otel checks the [otel] table. The OTEL_* variables the SDK reads itself
// (headers, service name, interval) stay unset here; only whether the
// export is on is decided from them.
func (v *validator) otel(raw fileOTel, getenv func(string) string) OTel {
	var out OTel
	if raw.Endpoint != nil {
		key := []string{"otel", "endpoint"}
		s := string(*raw.Endpoint)
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail(key, "%q is not an http(s) URL (e.g. \"http://collector:4318\", the collector's OTLP/HTTP port)", s)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			v.fail(key, "%q: an endpoint is scheme://host[:port][/path], without credentials, query or fragment (put keys in [otel] headers)", s)
		}
		out.Endpoint = strings.TrimRight(s, "/")
	}
	if raw.Headers != nil {
		out.Headers = make(map[string]string, len(*raw.Headers))
		for name, value := range *raw.Headers {
			if !validHeaderName(name) {
				v.fail([]string{"otel", "headers", name}, "%q is not an HTTP header name", name)
			}
			if strings.ContainsAny(value, "\r\n") {
				v.fail([]string{"otel", "headers", name}, "a header value cannot contain a line break")
			}
			out.Headers[name] = value
		}
	}
	if raw.ServiceName != nil {
		if *raw.ServiceName == "" {
			v.fail([]string{"otel", "service_name"}, "must not be empty (leave it out for OTEL_SERVICE_NAME or \"conduit\")")
		}
		out.ServiceName = string(*raw.ServiceName)
	}
	if raw.ExportInterval != nil {
		if *raw.ExportInterval == 0 {
			v.fail([]string{"otel", "export_interval"}, "must be longer than zero")
		}
		out.ExportInterval = time.Duration(*raw.ExportInterval)
	}
	if raw.QueueSize != nil {
		if n := int64(*raw.QueueSize); n < 1 || n > maxOTelQueue {
			v.fail([]string{"otel", "queue_size"}, "must be between 1 and %d, found %d", maxOTelQueue, n)
		} else {
			out.QueueSize = int(n)
		}
	}
	out.Enabled = out.Endpoint != ""
	for _, name := range otelEndpointEnvVars {
		if getenv(name) != "" {
			out.Enabled = true
		}
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		out.Enabled = false
	}
	return out
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
