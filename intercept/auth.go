package intercept

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// ProxyAuth is the credential a forward-mode client must present when
// Conduit listens beyond loopback: a forward proxy reachable from a network
// is an open relay otherwise. CONNECT and absolute-form requests without a
// matching "Proxy-Authorization: Basic" header get 407 with a
// Proxy-Authenticate challenge; origin-form (base-URL) requests are not
// affected. The header is never forwarded.
type ProxyAuth struct {
	// User is the user name clients send.
	User string
	// PasswordSHA256 is the SHA-256 of the password: Conduit compares
	// digests and never needs to hold the password itself.
	PasswordSHA256 [32]byte
}

// proxyAuthRealm names Conduit in the challenge.
const proxyAuthRealm = "conduit"

// allows reports whether h carries the credential. Both parts are compared
// in constant time, so a refusal tells nothing about how close a guess was.
func (a *ProxyAuth) allows(h http.Header) bool {
	for _, v := range h.Values("Proxy-Authorization") {
		scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
		if !ok || !strings.EqualFold(scheme, "Basic") {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			continue
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			continue
		}
		// The user name may carry an attribution after the user and a
		// "+" (see Attribution): only the part before it is the user.
		if len(user) > len(a.User) && user[len(a.User)] == '+' {
			user = user[:len(a.User)]
		}
		wantUser := sha256.Sum256([]byte(a.User))
		gotUser := sha256.Sum256([]byte(user))
		gotPass := sha256.Sum256([]byte(pass))
		userOK := subtle.ConstantTimeCompare(wantUser[:], gotUser[:])
		passOK := subtle.ConstantTimeCompare(a.PasswordSHA256[:], gotPass[:])
		if userOK&passOK == 1 {
			return true
		}
	}
	return false
}

// challenge answers a proxy request that lacks the credential.
func challenge(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Proxy-Authenticate", `Basic realm="`+proxyAuthRealm+`", charset="UTF-8"`)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusProxyAuthRequired)
	w.Write([]byte("conduit: proxy authentication required: put the user and password from [server] proxy_auth in the proxy URL (HTTPS_PROXY=http://user:password@host:port)\n"))
}
