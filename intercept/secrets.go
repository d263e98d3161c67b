package intercept

import (
	"net/http"
	"net/url"
	"strings"
)

// secretHeaders carry clients' credentials. Conduit forwards them and
// never records them.
var secretHeaders = []string{"Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

// minSecretLen is the shortest value scrubbed: replacing every "k" of a
// message because a test sent the key "k" would only garble it.
const minSecretLen = 8

// scrubSecrets replaces, in a message about to be recorded or logged, every
// credential the request carried: some providers quote the key they refused
// in their error message, and that message becomes the record's Error.
func scrubSecrets(msg string, h http.Header, rawQuery string) string {
	if msg == "" {
		return msg
	}
	var secrets []string
	for _, name := range secretHeaders {
		for _, v := range h.Values(name) {
			secrets = append(secrets, v)
			if _, token, ok := strings.Cut(strings.TrimSpace(v), " "); ok {
				secrets = append(secrets, strings.TrimSpace(token)) // "Bearer <token>"
			}
		}
	}
	if rawQuery != "" {
		if q, err := url.ParseQuery(rawQuery); err == nil {
			for k, vs := range q {
				if secretQueryParams[strings.ToLower(k)] {
					secrets = append(secrets, vs...)
				}
			}
		}
	}
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		msg = strings.ReplaceAll(msg, s, redacted)
		// A message cut to its maximum length may end in part of a key.
		for k := len(s) - 1; k >= minSecretLen; k-- {
			if strings.HasSuffix(msg, s[:k]) {
				msg = msg[:len(msg)-k] + redacted
				break
			}
		}
	}
	return msg
}
