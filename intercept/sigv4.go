package intercept

import (
	"net/http"
	"strings"
)

// sigV4Signs reports whether the request's AWS Signature Version 4
// (Authorization: AWS4-HMAC-SHA256 …, SignedHeaders=a;b;c) covers the
// header name. Such a header must reach the upstream exactly as sent, or
// AWS refuses the call: a change Conduit would otherwise make (dropping
// Accept-Encoding so Go's transport negotiates gzip) is skipped for it.
func sigV4Signs(h http.Header, name string) bool {
	rest, ok := strings.CutPrefix(h.Get("Authorization"), "AWS4-HMAC-SHA256 ")
	if !ok {
		return false
	}
	for field := range strings.SplitSeq(rest, ",") {
		signed, ok := strings.CutPrefix(strings.TrimSpace(field), "SignedHeaders=")
		if !ok {
			continue
		}
		for s := range strings.SplitSeq(signed, ";") {
			if strings.EqualFold(s, name) {
				return true
			}
		}
	}
	return false
}
