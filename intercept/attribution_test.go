package intercept

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/valohai/conduit/examples/fakeprovider"
	"github.com/valohai/conduit/ledger"
)

// TestParseAttribution guards the attribution grammar both modes carry:
// what it reads, what Encode writes back, and what it refuses.
func TestParseAttribution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Attribution
		err  string
	}{
		{"project=web", Attribution{Project: "web"}, ""},
		{"project=web+session=20260105T143012-3fa9", Attribution{Project: "web", Session: "20260105T143012-3fa9"}, ""},
		{"session=s+project=p+tag=a+tag=team%3Asearch", Attribution{Project: "p", Session: "s", Tags: []string{"a", "team:search"}}, ""},
		{"project=my%20repo%2B%C3%A9", Attribution{Project: "my repo+é"}, ""},
		{"", Attribution{}, "no attributes"},
		{"project", Attribution{}, "not key=value"},
		{"project=", Attribution{}, "not key=value"},
		{"projet=web", Attribution{}, `unknown attribute "projet"`},
		{"project=a+project=b", Attribution{}, "project given twice"},
		{"session=a+session=b", Attribution{}, "session given twice"},
		{"project=a:b", Attribution{}, "must be percent-encoded"},
		{"project=a%2", Attribution{}, "two hex digits"},
		{"project=a%zz", Attribution{}, "two hex digits"},
		{"project=a%0Ab", Attribution{}, "control character"},
		{"project=%FF", Attribution{}, "not UTF-8"},
		{"project=" + strings.Repeat("x", 201), Attribution{}, "longer than 200 bytes"},
		{strings.Repeat("tag=x+", 32) + "tag=y", Attribution{}, "more than 32 tags"},
	}
	for _, tt := range tests {
		got, err := ParseAttribution(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want an error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, err := ParseAttribution(got.Encode()); err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("%q: Encode %q reads back as %+v, %v", tt.in, got.Encode(), back, err)
		}
	}
	a := Attribution{Project: "web app", Session: "s1", Tags: []string{"team:search"}}
	if got := a.PathPrefix(); got != "/@project=web%20app+session=s1+tag=team%3Asearch" {
		t.Errorf("PathPrefix %q", got)
	}
	if got := a.ProxyUser("alice"); got != "alice+project=web%20app+session=s1+tag=team%3Asearch" {
		t.Errorf("ProxyUser %q", got)
	}
	if got := (Attribution{}).ProxyUser(""); got != "conduit" {
		t.Errorf("ProxyUser of nothing %q", got)
	}
}

// FuzzAttribution guards the grammar's round trip: whatever Check
// accepts, Encode writes and ParseAttribution reads back unchanged.
func FuzzAttribution(f *testing.F) {
	f.Add("web", "s1", "team:search")
	f.Add("my repo+é", "", "a=b")
	f.Fuzz(func(t *testing.T, project, session, tag string) {
		a := Attribution{Project: project, Session: session}
		if tag != "" {
			a.Tags = []string{tag}
		}
		if a.IsZero() || a.Check() != nil {
			return
		}
		got, err := ParseAttribution(a.Encode())
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("%+v: Encode %q reads back as %+v, %v", a, a.Encode(), got, err)
		}
		if _, err := ParseAttribution(project); err == nil && !strings.Contains(project, "=") {
			t.Fatalf("%q parsed without a key", project)
		}
	})
}

// attributedClient is a forward-mode client whose proxy URL carries user
// and password, as HTTPS_PROXY=http://user:password@host does.
func (h *fwdHarness) attributedClient(user, password string) *http.Client {
	u, _ := url.Parse(h.proxyURL)
	u.User = url.UserPassword(user, password)
	return &http.Client{Transport: &http.Transport{
		Proxy:              http.ProxyURL(u),
		TLSClientConfig:    &tls.Config{RootCAs: h.roots()},
		DisableCompression: true,
	}}
}

// TestAttributionNeverReachesUpstream guards projects and sessions in both
// modes: the attribution conduit run gives (the base URL's @ segment, the
// proxy user name — with and without a proxy password) and Conduit's own
// headers (x-conduit-project, -tag, -budget) are recorded, and the
// provider sees none of them: not in the path, the headers or a proxy
// credential.
func TestAttributionNeverReachesUpstream(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-pw"
	withAuth := func(o *Options) { o.ProxyAuth = &ProxyAuth{User: "alice", PasswordSHA256: sha256.Sum256([]byte(pw))} }
	bh := newHarness(t, harnessConfig{})
	fh := newFwdHarness(t, fwdConfig{})
	fha := newFwdHarness(t, fwdConfig{options: withAuth})
	attr := Attribution{Project: "web app", Session: "20260105T143012-3fa9", Tags: []string{"team:search"}}
	c := calls[6] // anthropic messages stream
	type mode struct {
		name    string
		fake    *fakeprovider.Server
		client  *http.Client
		url     string
		records recordSink
		want    string
	}
	modes := []mode{
		{"base-url", bh.fake, rawClient, bh.proxyURL + attr.PathPrefix() + "/anthropic" + c.path, bh.recordSink, ledger.ModeBaseURL},
		{"forward", fh.fake, fh.attributedClient(attr.ProxyUser(""), "x"), "https://" + hostAnthropic + c.path, fh.recordSink, ledger.ModeForward},
		{"forward with a proxy password", fha.fake, fha.attributedClient(attr.ProxyUser("alice"), pw), "https://" + hostAnthropic + c.path, fha.recordSink, ledger.ModeForward},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, header := range []http.Header{
				hdr("x-api-key", "k"),
				hdr("x-api-key", "k", "X-Conduit-Project", "from-header", "X-Conduit-Tag", "mine", "X-Conduit-Budget", "override"),
			} {
				before := len(m.fake.Requests())
				resp := send(t, m.client, "POST", m.url, header, c.body)
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, %v: %s", resp.StatusCode, err, body)
				}
				rec := m.records.record(t)
				wantProject, wantTags := "web app", []string{"team:search"}
				if header.Get("X-Conduit-Project") != "" {
					wantProject, wantTags = "from-header", []string{"team:search", "mine", ledger.TagBudgetOverride}
				}
				if rec.Project != wantProject || rec.Session != attr.Session || !slices.Equal(rec.Tags, wantTags) || rec.Mode != m.want || rec.Model != "claude-sonnet-4-5" {
					t.Errorf("record: project %q, session %q, tags %q, mode %s; want %q, %q, %q", rec.Project, rec.Session, rec.Tags, rec.Mode, wantProject, attr.Session, wantTags)
				}
				seen := m.fake.Requests()
				if len(seen) != before+1 {
					t.Fatalf("the provider saw %d requests", len(seen)-before)
				}
				up := seen[len(seen)-1]
				if up.Path != c.path {
					t.Errorf("the provider saw path %q, want %q", up.Path, c.path)
				}
				for name, values := range up.Header {
					lower := strings.ToLower(name)
					if strings.HasPrefix(lower, "x-conduit") || lower == "proxy-authorization" {
						t.Errorf("the provider saw %s: %q", name, values)
					}
					for _, v := range values {
						if strings.Contains(v, "web") || strings.Contains(v, attr.Session) || strings.Contains(v, pw) {
							t.Errorf("the provider saw the attribution in %s: %q", name, v)
						}
					}
				}
			}
		})
	}
}

// TestAttributionRefused guards what a malformed attribution gets: a 400
// saying what is wrong, in the provider's error shape for base-URL calls;
// and a wrong proxy password is refused whatever the user name carries.
func TestAttributionRefused(t *testing.T) {
	t.Parallel()
	bh := newHarness(t, harnessConfig{})
	resp, body := do(t, "POST", bh.proxyURL+"/@projet=web/anthropic/v1/messages", hdr("x-api-key", "k"), calls[7].body)
	var e struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Type != "error" || e.Error.Type != "conduit_bad_request" ||
		!strings.Contains(e.Error.Message, `unknown attribute "projet"`) || !strings.Contains(e.Error.Message, "/@project=<name>+session=<id>/<provider>/") {
		t.Errorf("base URL: %d %s (not Anthropic's error shape, or the wrong message)", resp.StatusCode, body)
	}
	if n := len(bh.fake.Requests()); n != 0 {
		t.Errorf("the provider saw %d requests", n)
	}

	fh := newFwdHarness(t, fwdConfig{})
	_, err := fh.attributedClient("conduit+projet=a", "x").Get("https://" + hostOpenAI + "/v1/models")
	if err == nil || !strings.Contains(err.Error(), "Bad Request") {
		t.Errorf("forward mode, malformed: %v", err)
	}
	if !strings.Contains(fh.logs.String(), "malformed attribution") {
		t.Errorf("not logged:\n%s", fh.logs.String())
	}

	fha := newFwdHarness(t, fwdConfig{options: func(o *Options) { o.ProxyAuth = &ProxyAuth{User: "alice", PasswordSHA256: sha256.Sum256([]byte("pw"))} }})
	for _, user := range []string{"alice+project=web", "alic+project=web", "alice+"} {
		_, err = fha.attributedClient(user, "wrong").Get("https://" + hostOpenAI + "/v1/models")
		if err == nil || !strings.Contains(err.Error(), "Proxy Authentication Required") {
			t.Errorf("forward mode, %s with a wrong password: %v", user, err)
		}
	}
	resp, err = fha.attributedClient("alice+project=web", "pw").Get("https://" + hostOpenAI + "/v1/models")
	if err != nil {
		t.Fatalf("the right password with an attribution: %v", err)
	}
	resp.Body.Close()
	if r := fha.record(t); r.Project != "web" || r.Kind != ledger.KindOther {
		t.Errorf("record %+v", r)
	}
}
