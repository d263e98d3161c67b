package fakeprovider

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// bedrockPath is Claude Haiku 4.5's cross-region inference profile, escaped
// as the AWS SDKs send it.
const bedrockPath = "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0"

func bedrockBody(extra string) string {
	return `{"anthropic_version":"bedrock-2023-05-31","max_tokens":3,"system":"be brief","messages":[{"role":"user","content":"hello there"}]` + extra + `}`
}

const converseBody = `{"messages":[{"role":"user","content":[{"text":"hello there"}]}],"system":[{"text":"be brief"}],"inferenceConfig":{"maxTokens":3}}`

// esMessages decodes an event stream with the AWS SDK's decoder, which
// checks both CRCs of every message.
func esMessages(t *testing.T, body []byte) []eventstream.Message {
	t.Helper()
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(body)
	var out []eventstream.Message
	for r.Len() > 0 {
		m, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatalf("decode message %d: %v", len(out), err)
		}
		out = append(out, m)
	}
	return out
}

func esHeaderValue(m eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

// TestBedrockInvoke guards InvokeModel: the Anthropic Messages JSON naming
// the Anthropic model behind the Bedrock id, the token-count and request-id
// headers, and usage as ExpectedUsage says.
func TestBedrockInvoke(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	h := hdr(HeaderCachedTokens, "4", HeaderCacheWrite1h, "2")
	resp, body := post(t, ts.URL+bedrockPath+"/invoke", "ollama", h, bedrockBody(""))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	m := decode(t, string(body))
	if str(m, "model") != "claude-haiku-4-5-20251001" || str(m, "type") != "message" {
		t.Errorf("body: %s", body)
	}
	want, err := ExpectedUsage(bedrockPath+"/invoke", h, []byte(bedrockBody("")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := wireUsage(t, "anthropic", false, body); got != want || want.InputTokens != 7+4+2 {
		t.Errorf("usage %+v, want %+v", got, want)
	}
	for name, v := range map[string]string{
		"X-Amzn-Bedrock-Input-Token-Count":             "7",
		"X-Amzn-Bedrock-Output-Token-Count":            "3",
		"X-Amzn-Bedrock-Cache-Read-Input-Token-Count":  "4",
		"X-Amzn-Bedrock-Cache-Write-Input-Token-Count": "2",
		"Content-Type": "application/json",
	} {
		if got := resp.Header.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if id := resp.Header.Get("X-Amzn-Requestid"); len(id) != 36 || strings.Count(id, "-") != 4 {
		t.Errorf("x-amzn-requestid %q", id)
	}
}

// TestBedrockInvokeStream guards InvokeModelWithResponseStream: every
// message decodes with the AWS SDK (CRCs checked) whole and when the fake
// writes 1-byte pieces; headers :event-type chunk, :content-type and
// :message-type event; the payload's bytes are the Anthropic events
// (no pings), the last carrying amazon-bedrock-invocationMetrics; the
// usage is ExpectedUsage's.
func TestBedrockInvokeStream(t *testing.T) {
	t.Parallel()
	for _, chunk := range []string{"", "1"} {
		_, ts := fake(t, Options{})
		resp, body := post(t, ts.URL+bedrockPath+"/invoke-with-response-stream", "ollama", hdr(HeaderChunk, chunk, HeaderCachedTokens, "5"), bedrockBody(""))
		if resp.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
			t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
		}
		msgs := esMessages(t, body)
		var sse strings.Builder
		var types []string
		var last map[string]any
		for i, m := range msgs {
			if esHeaderValue(m, ":event-type") != "chunk" || esHeaderValue(m, ":message-type") != "event" || esHeaderValue(m, ":content-type") != "application/json" {
				t.Fatalf("message %d headers %v", i, m.Headers)
			}
			p := decode(t, string(m.Payload))
			if str(p, "p") == "" {
				t.Errorf("message %d has no padding", i)
			}
			ev, err := base64.StdEncoding.DecodeString(str(p, "bytes"))
			if err != nil {
				t.Fatal(err)
			}
			last = decode(t, string(ev))
			types = append(types, str(last, "type"))
			sse.WriteString("event: " + str(last, "type") + "\ndata: " + string(ev) + "\n\n")
		}
		if want := "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"; strings.Join(types, " ") != want {
			t.Errorf("events %v", types)
		}
		metrics := at(last, "amazon-bedrock-invocationMetrics")
		if num(metrics, "inputTokenCount") != 7 || num(metrics, "outputTokenCount") != 3 || num(metrics, "cacheReadInputTokenCount") != 5 || num(metrics, "invocationLatency") < 1 {
			t.Errorf("metrics %v", metrics)
		}
		h := hdr(HeaderCachedTokens, "5")
		want, _ := ExpectedUsage(bedrockPath+"/invoke-with-response-stream", h, []byte(bedrockBody("")), Options{})
		if got := wireUsage(t, "anthropic", true, []byte(sse.String())); got != want {
			t.Errorf("usage %+v, want %+v", got, want)
		}
	}
}

// TestConverse guards Converse and ConverseStream: output, stopReason,
// usage (inputTokens without cache reads, which come apart) and metrics;
// the stream's event types in order, each payload padded, the metadata
// event with the same usage; all as ExpectedUsage says.
func TestConverse(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	h := hdr(HeaderCachedTokens, "4")
	want, err := ExpectedUsage(bedrockPath+"/converse", h, []byte(converseBody), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, body := post(t, ts.URL+bedrockPath+"/converse", "ollama", h, converseBody)
	m := decode(t, string(body))
	if str(m, "output", "message", "content", 0, "text") != "lorem ipsum dolor" || str(m, "stopReason") != "end_turn" || num(m, "metrics", "latencyMs") < 1 {
		t.Errorf("converse: %s", body)
	}
	fromUsage := func(u any) Usage {
		in := num(u, "inputTokens") + max(num(u, "cacheReadInputTokens"), 0) + max(num(u, "cacheWriteInputTokens"), 0)
		if num(u, "totalTokens") != in+num(u, "outputTokens") {
			t.Errorf("totalTokens in %v", u)
		}
		return Usage{InputTokens: in, CachedInputTokens: max(num(u, "cacheReadInputTokens"), 0), OutputTokens: num(u, "outputTokens")}
	}
	if got := fromUsage(at(m, "usage")); got != want || want.InputTokens != 11 {
		t.Errorf("usage %+v, want %+v", got, want)
	}

	_, body = post(t, ts.URL+bedrockPath+"/converse-stream", "ollama", h, converseBody)
	var types []string
	var text string
	for _, msg := range esMessages(t, body) {
		p := decode(t, string(msg.Payload))
		if str(p, "p") == "" {
			t.Errorf("%s without padding", esHeaderValue(msg, ":event-type"))
		}
		types = append(types, esHeaderValue(msg, ":event-type"))
		text += str(p, "delta", "text")
		if esHeaderValue(msg, ":event-type") == "metadata" {
			if got := fromUsage(at(p, "usage")); got != want {
				t.Errorf("stream usage %+v, want %+v", got, want)
			}
		}
	}
	if strings.Join(types, " ") != "messageStart contentBlockDelta contentBlockDelta contentBlockDelta contentBlockStop messageStop metadata" || text != "lorem ipsum dolor" {
		t.Errorf("stream: %v %q", types, text)
	}
}

// TestBedrockErrors guards Bedrock's error shapes: JSON {"message"} with
// x-amzn-ErrorType for a bad body and the status knob, and a mid-stream
// exception message (:message-type exception) for the error knob.
func TestBedrockErrors(t *testing.T) {
	t.Parallel()
	_, ts := fake(t, Options{})
	resp, body := post(t, ts.URL+bedrockPath+"/invoke", "ollama", nil, `{"max_tokens":3,"messages":[]}`)
	if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "ValidationException") || !strings.Contains(str(decode(t, string(body)), "message"), "anthropic_version") {
		t.Errorf("no anthropic_version: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = post(t, ts.URL+bedrockPath+"/converse", "ollama", hdr(HeaderStatus, "429"), converseBody)
	if resp.StatusCode != 429 || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "ThrottlingException") || str(decode(t, string(body)), "message") == "" {
		t.Errorf("429: %v %s", resp.Header, body)
	}
	for _, path := range []string{"/invoke-with-response-stream", "/converse-stream"} {
		b := converseBody
		if strings.HasPrefix(path, "/invoke") {
			b = bedrockBody("")
		}
		_, body = post(t, ts.URL+bedrockPath+path, "ollama", hdr(HeaderErrorEvent, "1"), b)
		msgs := esMessages(t, body)
		last := msgs[len(msgs)-1]
		if esHeaderValue(last, ":message-type") != "exception" || esHeaderValue(last, ":exception-type") != "modelStreamErrorException" || str(decode(t, string(last.Payload)), "message") == "" {
			t.Errorf("%s: last message %v %s", path, last.Headers, last.Payload)
		}
	}
}

// TestSigV4Vectors guards the signature computation against AWS's SigV4
// test suite (get-vanilla, get-vanilla-query-order-key-case, post-vanilla:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
func TestSigV4Vectors(t *testing.T) {
	t.Parallel()
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	tests := []struct {
		method, url, want string
	}{
		{"GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, tt.url, nil)
		req.Header.Set("X-Amz-Date", "20150830T123600Z")
		got := sigV4Signature(req, nil, []string{"host", "x-amz-date"}, secret, "20150830T123600Z", "us-east-1", "service")
		if got != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.method, tt.url, got, tt.want)
		}
	}
}

// TestSigV4Bedrock guards the Bedrock check end to end: a request the AWS
// SDK for Go signed (its model id's %3A double-encoded in the canonical
// path) and one SignV4 signed are both served; SignV4 and the SDK agree
// byte for byte; a changed body or header, or no signature, is refused
// with Bedrock's 403s.
func TestSigV4Bedrock(t *testing.T) {
	t.Parallel()
	creds := map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	_, ts := fake(t, Options{AWSCredentials: creds})
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte(bedrockBody(""))
	newReq := func(b []byte) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+bedrockPath+"/invoke", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		return req
	}
	sdk := newReq(body)
	sdk.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: creds["AKIDEXAMPLE"]},
		sdk, hexSHA256(body), "bedrock", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	ours := newReq(body)
	SignV4(ours, body, "AKIDEXAMPLE", creds["AKIDEXAMPLE"], "us-east-1", "bedrock", at)
	if a, b := sdk.Header.Get("Authorization"), ours.Header.Get("Authorization"); a != b {
		t.Errorf("SignV4 disagrees with the AWS SDK:\n%s\n%s", b, a)
	}
	send := func(req *http.Request) (int, string) {
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype") + " " + string(b)
	}
	for name, req := range map[string]*http.Request{"sdk": sdk, "SignV4": ours} {
		if code, msg := send(req); code != 200 {
			t.Errorf("%s-signed request refused: %d %s", name, code, msg)
		}
	}
	tampered := newReq(append(bytes.Clone(body[:len(body)-1]), ` }`...))
	tampered.Header = sdk.Header.Clone()
	changedHeader := newReq(body)
	changedHeader.Header = sdk.Header.Clone()
	changedHeader.Header.Set("Content-Type", "application/json; charset=utf-8")
	for name, tt := range map[string]struct {
		req  *http.Request
		want string
	}{
		"tampered body":  {tampered, "InvalidSignatureException"},
		"changed header": {changedHeader, "InvalidSignatureException"},
		"unsigned":       {newReq(body), "MissingAuthenticationTokenException"},
	} {
		code, msg := send(tt.req)
		if code != 403 || !strings.HasPrefix(msg, tt.want) {
			t.Errorf("%s: %d %s", name, code, msg)
		}
	}
	if _, err := parseSigV4Auth("Bearer x"); !errors.Is(err, errNoSignature) {
		t.Errorf("a bearer token parsed as SigV4: %v", err)
	}
}

// TestSigV4Authority guards that a signed :authority pseudo-header (what
// the AWS SDK for JavaScript signs over HTTP/2) is canonicalized as the
// request's host, like host.
func TestSigV4Authority(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest(http.MethodPost, "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke", nil)
	req.Host = "bedrock-runtime.us-east-1.amazonaws.com"
	if got := canonicalHeaderValue(req, ":authority"); got != req.Host {
		t.Errorf(":authority canonicalized as %q", got)
	}
	if got := canonicalHeaderValue(req, "host"); got != req.Host {
		t.Errorf("host canonicalized as %q", got)
	}
}
