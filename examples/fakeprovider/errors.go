package fakeprovider

import (
	"fmt"
	"net/http"
)

// fail answers with status and the provider's error body.
func (e *emitter) fail(status int, message string) {
	var body any
	contentType := "application/json"
	switch e.prov {
	case providerAnthropic:
		body = anthropicError{
			Type:      "error",
			Error:     anthropicErrorDetail{Type: anthropicErrorType(status), Message: message},
			RequestID: anthropicRequestID(e.seed),
		}
	case providerGemini:
		body = geminiError{Error: geminiErrorDetail{Code: status, Message: message, Status: geminiStatus(status)}}
		contentType = "application/json; charset=UTF-8"
		e.whole(status, contentType, geminiIndent(marshal(body)))
		return
	case providerOllama:
		body = ollamaError{Error: message}
		contentType = "application/json; charset=utf-8"
	case providerBedrock:
		typ := bedrockErrorType(status)
		if status == http.StatusForbidden && message == missingKeyMessage(providerBedrock) {
			typ = "MissingAuthenticationTokenException"
		}
		if status == http.StatusForbidden && message == badSignatureMessage {
			typ = "InvalidSignatureException"
		}
		e.w.Header().Set("X-Amzn-Errortype", typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
		body = map[string]string{"message": message}
	default:
		typ, code := openAIErrorType(status)
		body = openAIError{Error: openAIErrorDetail{Message: message, Type: typ, Code: code}}
	}
	e.whole(status, contentType, marshal(body))
}

type openAIError struct {
	Error openAIErrorDetail `json:"error"`
}

type openAIErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// openAIErrorType is the error type and code OpenAI gives a status.
func openAIErrorType(status int) (typ string, code *string) {
	str := func(s string) *string { return &s }
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", str("invalid_api_key")
	case status == http.StatusNotFound:
		return "invalid_request_error", nil
	case status == http.StatusTooManyRequests:
		return "requests", str("rate_limit_exceeded")
	case status >= 500:
		return "server_error", nil
	default:
		return "invalid_request_error", nil
	}
}

type anthropicError struct {
	Type      string               `json:"type"`
	Error     anthropicErrorDetail `json:"error"`
	RequestID string               `json:"request_id,omitempty"`
}

type anthropicErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// anthropicErrorType is the error type Anthropic gives a status.
func anthropicErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 504:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// anthropicRequestID is the request-id header value (and the error
// body's request_id).
func anthropicRequestID(seed []byte) string {
	return "req_011C" + makeID(seed, "anthropic-request-id", 20)
}

type geminiError struct {
	Error geminiErrorDetail `json:"error"`
}

type geminiErrorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// geminiStatus is the google.rpc status name Gemini gives an HTTP status.
func geminiStatus(status int) string {
	switch status {
	case 400, 413:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 500:
		return "INTERNAL"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

type ollamaError struct {
	Error string `json:"error"`
}

// invalidURLMessage is the provider's message for an unknown path.
func invalidURLMessage(p provider, r *http.Request) string {
	switch p {
	case providerAnthropic:
		return "Not Found"
	case providerGemini:
		return fmt.Sprintf("Requested entity was not found: %s %s", r.Method, r.URL.Path)
	case providerOllama:
		return "404 page not found"
	}
	return fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)
}

// missingKeyMessage is the provider's message for a request without any
// credential.
func missingKeyMessage(p provider) string {
	switch p {
	case providerAnthropic:
		return "x-api-key header is required"
	case providerGemini:
		return "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
	case providerBedrock:
		return "Missing Authentication Token"
	}
	return "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
}

// badJSONMessage is the provider's message for a body that is not JSON.
func badJSONMessage(p provider, err error) string {
	switch p {
	case providerAnthropic:
		return "There was an error parsing the body of your request: " + err.Error()
	case providerGemini:
		return "Invalid JSON payload received. " + err.Error()
	case providerOllama:
		return err.Error()
	}
	return "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
}

// statusMessage is the message sent with an HeaderStatus error.
func statusMessage(p provider, status int) string {
	switch {
	case status == http.StatusTooManyRequests && p == providerAnthropic:
		return "Number of request tokens has exceeded your per-minute rate limit"
	case status == http.StatusTooManyRequests && p == providerGemini:
		return "Resource has been exhausted (e.g. check quota)."
	case status == http.StatusTooManyRequests:
		return "Rate limit reached for requests. Please try again later."
	case status == 529:
		return "Overloaded"
	case status >= 500:
		return "The server had an error while processing your request. Sorry about that!"
	}
	return fmt.Sprintf("fakeprovider: status %d asked by %s", status, HeaderStatus)
}
