package fakeprovider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 4, recomputed here so the fake can check that a
// request reached it exactly as its client signed it (the check a proxy
// must pass: any change to the signed headers, the path or the body breaks
// the signature). The rules are those of
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// for services other than S3 (the path is URI-encoded once more); the tests
// check them against AWS's published test-suite signatures and the AWS SDK
// for Go's signer.

// badSignatureMessage is Bedrock's message for a signature that does not
// match.
const badSignatureMessage = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// sigV4Algorithm is the only algorithm SigV4 header signing uses.
const sigV4Algorithm = "AWS4-HMAC-SHA256"

// errNoSignature marks a request without a SigV4 Authorization header.
var errNoSignature = errors.New("no SigV4 Authorization header")

// sigV4Auth is a parsed Authorization header.
type sigV4Auth struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseSigV4Auth(h string) (sigV4Auth, error) {
	var a sigV4Auth
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return a, errNoSignature
	}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Credential":
			parts := strings.Split(v, "/")
			if len(parts) != 5 || parts[4] != "aws4_request" {
				return a, fmt.Errorf("malformed Credential %q", v)
			}
			a.accessKey, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKey == "" || len(a.signedHeaders) == 0 || a.signature == "" {
		return a, fmt.Errorf("incomplete SigV4 Authorization header")
	}
	return a, nil
}

// verifySigV4 checks r's signature against the secret of its access key
// in secrets; body is the request body as received.
func verifySigV4(r *http.Request, body []byte, secrets map[string]string) error {
	a, err := parseSigV4Auth(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	secret, ok := secrets[a.accessKey]
	if !ok {
		return fmt.Errorf("unknown access key %q", a.accessKey)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, a.date) {
		return fmt.Errorf("X-Amz-Date %q is not on the credential date %s", amzDate, a.date)
	}
	want := sigV4Signature(r, body, a.signedHeaders, secret, amzDate, a.region, a.service)
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return errors.New("signature mismatch")
	}
	return nil
}

// SignV4 signs req as the AWS SDK for Go does (SigV4, header form), for
// tests that send the fake signed requests through a proxy: it sets
// X-Amz-Date, X-Amz-Content-Sha256 and Authorization over Host,
// Content-Length, every other header but Authorization, User-Agent,
// X-Amzn-Trace-Id and Expect, and the body. region and service name the
// credential scope (Bedrock's service is "bedrock").
func SignV4(req *http.Request, body []byte, accessKey, secret, region, service string, at time.Time) {
	amzDate := at.UTC().Format("20060102T150405Z")
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
	signed := []string{"host"}
	if req.ContentLength > 0 && req.Header.Get("Content-Length") == "" {
		signed = append(signed, "content-length")
	}
	for name := range req.Header {
		switch l := strings.ToLower(name); l {
		case "authorization", "user-agent", "x-amzn-trace-id", "expect":
		default:
			signed = append(signed, l)
		}
	}
	sort.Strings(signed)
	sig := sigV4Signature(req, body, signed, secret, amzDate, region, service)
	req.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		sigV4Algorithm, accessKey, amzDate[:8], region, service, strings.Join(signed, ";"), sig))
}

// sigV4Signature computes the hex signature of r over signedHeaders.
func sigV4Signature(r *http.Request, body []byte, signedHeaders []string, secret, amzDate, region, service string) string {
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		payloadHash = hexSHA256(body)
	}
	var cr strings.Builder
	cr.WriteString(r.Method + "\n")
	cr.WriteString(canonicalURI(r) + "\n")
	cr.WriteString(canonicalQuery(r.URL.RawQuery) + "\n")
	for _, name := range signedHeaders {
		cr.WriteString(name + ":" + canonicalHeaderValue(r, name) + "\n")
	}
	cr.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n" + payloadHash)
	scope := amzDate[:min(8, len(amzDate))] + "/" + region + "/" + service + "/aws4_request"
	toSign := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(cr.String()))
	key := hmacSHA256([]byte("AWS4"+secret), amzDate[:min(8, len(amzDate))])
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

// canonicalURI is the path as sent, URI-encoded once more (every service
// but S3 double-encodes: a model id's %3A is signed as %253A).
func canonicalURI(r *http.Request) string {
	p := r.URL.EscapedPath()
	if r.RequestURI != "" && !strings.HasPrefix(r.RequestURI, "http") {
		p, _, _ = strings.Cut(r.RequestURI, "?")
	}
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// canonicalQuery sorts the query's pairs by key, then value, each
// URI-encoded.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs [][2]string
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		pairs = append(pairs, [2]string{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p[0] + "=" + p[1]
	}
	return strings.Join(out, "&")
}

// canonicalHeaderValue is a signed header's values, trimmed, inner runs of
// spaces collapsed, joined by commas.
func canonicalHeaderValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host", ":authority":
		// Over HTTP/2 the AWS SDK for JavaScript signs the :authority
		// pseudo-header in place of Host; net/http puts both in r.Host.
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host // a client request before it is sent
		}
		vals = []string{host}
	default:
		vals = r.Header.Values(name)
		if len(vals) == 0 && name == "content-length" && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

// uriEncode percent-encodes every byte but the RFC 3986 unreserved ones
// (and '/' unless slash is true), with upper-case hex.
func uriEncode(s string, slash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !slash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
