package intercept

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/valohai/conduit/ledger"
)

// hopHeaders are meaningful only for one connection (RFC 9110 §7.6.1) and
// are never forwarded, in either direction.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection", // non-standard, still sent by curl
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopHeaders deletes the hop-by-hop headers, including those the
// Connection header names.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		delete(h, name) // canonical already: Del would check each name again
	}
}

// Conduit's own request headers: it reads them and removes them before the
// request goes upstream.
const (
	// tagHeader carries a call's tags (comma-separated).
	tagHeader = "X-Conduit-Tag"
	// projectHeader names the call's project, for calls made without
	// `conduit run` (and ahead of its attribution).
	projectHeader = "X-Conduit-Project"
	// budgetHeader "override" lets the call through a budget that would
	// refuse it; the call is recorded with ledger.TagBudgetOverride.
	budgetHeader = "X-Conduit-Budget"
)

// budgetOverride reports whether h asks to let the call through its
// budgets.
func budgetOverride(h http.Header) bool {
	for _, v := range h.Values(budgetHeader) {
		if strings.EqualFold(strings.TrimSpace(v), "override") {
			return true
		}
	}
	return false
}

// outboundHeaders returns the headers to send upstream: the client's, minus
// hop-by-hop headers, Accept-Encoding (so Go's transport negotiates gzip and
// decodes it: the tap always sees, and the client always gets, identity
// bytes) unless an AWS signature covers it (then the client gets the bytes
// as sent and only the meter's copy is decoded), and Conduit's own headers.
//
// It copies what stays in one pass, as Header.Clone does, rather than
// cloning everything and deleting a dozen names: this runs for every call.
func outboundHeaders(in http.Header) http.Header {
	keepAcceptEncoding := sigV4Signs(in, "Accept-Encoding")
	var named []string // what the Connection header names: hop-by-hop too
	for _, v := range in["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				named = append(named, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	nv := 0
	for _, vv := range in {
		nv += len(vv)
	}
	values := make([]string, nv) // one backing array for every value, as Clone
	h := make(http.Header, len(in))
	for k, vv := range in {
		if notForwarded(k, keepAcceptEncoding) || slices.Contains(named, k) {
			continue
		}
		if vv == nil {
			h[k] = nil
			continue
		}
		n := copy(values, vv)
		h[k] = values[:n:n]
		values = values[n:]
	}
	// Go's server adds nothing else; an empty User-Agent must stay empty
	// rather than become Go's default.
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""}
	}
	return h
}

// notForwarded reports the headers outboundHeaders always drops: the
// hop-by-hop ones, Accept-Encoding unless kept, and Conduit's own.
func notForwarded(name string, keepAcceptEncoding bool) bool {
	switch name {
	case tagHeader, projectHeader, budgetHeader:
		return true
	case "Accept-Encoding":
		return !keepAcceptEncoding
	}
	return slices.Contains(hopHeaders, name)
}

// parseTags splits the tag header's values into trimmed, non-empty tags.
func parseTags(h http.Header) []string {
	var tags []string
	for _, v := range h.Values(tagHeader) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// vhHeaders returns the x-vh-* request headers, names lowercased (several
// values joined with ", ").
func vhHeaders(h http.Header) map[string]string {
	var out map[string]string
	for name, values := range h {
		if !ledger.IsVHHeader(name) {
			continue
		}
		lower := strings.ToLower(name)
		if out == nil {
			out = make(map[string]string)
		}
		out[lower] = strings.Join(values, ", ")
	}
	return out
}

// secretQueryParams are query parameters that carry credentials (Gemini's
// ?key=, Azure's SAS sig, …): their values never reach the ledger or logs.
var secretQueryParams = map[string]bool{
	"key": true, "api_key": true, "apikey": true, "api-key": true,
	"access_token": true, "token": true, "sig": true, "signature": true,
	"x-goog-api-key": true, "code": true, "client_secret": true,
}

const redacted = "REDACTED"

// redactedPath returns path?query with the values of credential-carrying
// query parameters replaced, for the ledger and logs.
func redactedPath(u *url.URL) string {
	p := u.EscapedPath()
	if u.RawQuery == "" {
		return p
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// Unparseable: keep only the names we can see, never a value.
		return p + "?" + redacted
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			if secretQueryParams[strings.ToLower(k)] {
				b.WriteString(redacted)
			} else {
				b.WriteString(url.QueryEscape(v))
			}
		}
	}
	return p + "?" + b.String()
}
