package intercept

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/valohai/conduit/parsers"
)

// Conduit's own error types, as they appear in the JSON error bodies.
const (
	typeUnknownProvider     = "conduit_unknown_provider"
	typeBadRequest          = "conduit_bad_request"
	typeRequestTooLarge     = "conduit_request_too_large"
	typeUpstreamUnreachable = "conduit_upstream_unreachable"
	typeUpstreamTimeout     = "conduit_upstream_timeout"
	typeClientGone          = "conduit_client_gone"
	typeLoop                = "conduit_loop_detected"
	typeMetricsOff          = "conduit_metrics_off"
	typeUnsolicitedUpgrade  = "conduit_unsolicited_upgrade"
)

// errorBody renders an error in the shape the API's own SDKs parse, so that
// a client sees Conduit's errors as it would see the provider's.
func errorBody(api parsers.API, status int, typ, msg string, extra map[string]any) []byte {
	var v any
	switch api {
	case parsers.Anthropic:
		e := map[string]any{"type": typ, "message": msg}
		for k, x := range extra {
			e[k] = x
		}
		v = map[string]any{"type": "error", "error": e}
	case parsers.Gemini:
		e := map[string]any{"code": status, "message": msg, "status": grpcStatus(status), "reason": typ}
		for k, x := range extra {
			e[k] = x
		}
		v = map[string]any{"error": e}
	case parsers.Ollama:
		v = map[string]any{"error": msg}
	default: // OpenAI and OpenAI-compatible
		e := map[string]any{"message": msg, "type": typ, "param": nil, "code": typ}
		for k, x := range extra {
			e[k] = x
		}
		v = map[string]any{"error": e}
	}
	b, _ := json.Marshal(v) // maps of strings and numbers always marshal
	return append(b, '\n')
}

func grpcStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	default:
		return "UNAVAILABLE"
	}
}

// writeError writes a JSON error response.
func writeError(w http.ResponseWriter, api parsers.API, status int, typ, msg string, extra map[string]any) {
	body := errorBody(api, status, typ, msg, extra)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Conduit-Error", typ)
	w.WriteHeader(status)
	w.Write(body)
}
