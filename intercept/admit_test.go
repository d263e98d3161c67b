package intercept

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/valohai/conduit/ledger"
)

// TestAdmitRefusesBeforeUpstream guards the admission hook in both modes:
// it sees the call's record as read from the request (provider, mode,
// model), a refusal answers the client in the provider's error shape
// without anything reaching the provider and is recorded with the
// refusal's outcome, and a call it admits goes upstream as usual.
func TestAdmitRefusesBeforeUpstream(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []ledger.Record
	admit := func(o *Options) {
		o.Admit = func(r *http.Request, rec ledger.Record) *Refusal {
			mu.Lock()
			seen = append(seen, rec)
			mu.Unlock()
			if rec.Model != "claude-haiku-4-5" {
				return nil
			}
			return &Refusal{Status: http.StatusTooManyRequests, Type: "conduit_budget_exceeded",
				Message: "conduit: budget daily is spent", Outcome: "budget_refused"}
		}
	}
	bh := newHarness(t, harnessConfig{options: admit})
	fh := newFwdHarness(t, fwdConfig{options: admit})
	refused, admitted := calls[7], calls[6] // anthropic: claude-haiku-4-5, claude-sonnet-4-5
	for _, env := range []modeEnv{baseURLEnv(bh), forwardEnv(fh)} {
		t.Run(env.name, func(t *testing.T) {
			fake := bh.fake
			if env.mode == ledger.ModeForward {
				fake = fh.fake
			}
			mu.Lock()
			seen = nil
			mu.Unlock()
			before := len(fake.Requests())

			client, url := env.proxied(refused)
			resp := send(t, client, "POST", url, hdr("x-api-key", "k"), refused.body)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Type  string
				Error struct{ Type, Message string }
			}
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-Conduit-Error") != "conduit_budget_exceeded" {
				t.Errorf("refused call: %d, X-Conduit-Error %q", resp.StatusCode, resp.Header.Get("X-Conduit-Error"))
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error.Type != "conduit_budget_exceeded" || e.Error.Message != "conduit: budget daily is spent" {
				t.Errorf("refused call's body is not Anthropic's error shape: %s (%v)", body, err)
			}
			if n := len(fake.Requests()); n != before {
				t.Errorf("a refused call reached the provider (%d requests)", n-before)
			}
			r := env.record(t)
			if r.Outcome != "budget_refused" || r.Status != http.StatusTooManyRequests || r.Error != "conduit: budget daily is spent" || r.Model != "claude-haiku-4-5" || r.Mode != env.mode {
				t.Errorf("refused call's record %+v", r)
			}

			client, url = env.proxied(admitted)
			resp = send(t, client, "POST", url, hdr("x-api-key", "k"), admitted.body)
			if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("admitted call: %d, %v", resp.StatusCode, err)
			}
			resp.Body.Close()
			if r := env.record(t); r.Outcome != ledger.OutcomeComplete || r.Model != "claude-sonnet-4-5" {
				t.Errorf("admitted call's record %+v", r)
			}

			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 2 {
				t.Fatalf("Admit asked %d times, want 2", len(seen))
			}
			for i, want := range []string{"claude-haiku-4-5", "claude-sonnet-4-5"} {
				if s := seen[i]; s.Provider != "anthropic" || s.Mode != env.mode || s.Model != want || s.Endpoint != "messages" || s.Stream != (i == 1) {
					t.Errorf("Admit saw %+v, want provider anthropic, mode %s, model %s", s, env.mode, want)
				}
			}
		})
	}
}

// TestAdmitRefusalInEachShape guards the refused client's view for every
// API format: a 429 in the body its own SDK parses (Gemini's status
// RESOURCE_EXHAUSTED, as Google's quota errors), with the refusal's type
// and message.
func TestAdmitRefusalInEachShape(t *testing.T) {
	t.Parallel()
	const msg = `conduit: budget "daily" is spent`
	bh := newHarness(t, harnessConfig{options: func(o *Options) {
		o.Admit = func(*http.Request, ledger.Record) *Refusal {
			return &Refusal{Status: http.StatusTooManyRequests, Type: "conduit_budget_exceeded", Message: msg, Outcome: ledger.OutcomeBudgetRefused}
		}
	}})
	tests := []struct {
		call int
		want string
	}{
		{0, `{"error":{"code":"conduit_budget_exceeded","message":"conduit: budget \"daily\" is spent","param":null,"type":"conduit_budget_exceeded"}}`},
		{7, `{"error":{"message":"conduit: budget \"daily\" is spent","type":"conduit_budget_exceeded"},"type":"error"}`},
		{10, `{"error":{"code":429,"message":"conduit: budget \"daily\" is spent","reason":"conduit_budget_exceeded","status":"RESOURCE_EXHAUSTED"}}`},
		{11, `{"error":"conduit: budget \"daily\" is spent"}`},
	}
	for _, tt := range tests {
		c := calls[tt.call]
		resp, body := do(t, "POST", bh.proxyURL+"/"+c.provider+c.path, nil, c.body)
		if resp.StatusCode != http.StatusTooManyRequests || strings.TrimSpace(string(body)) != tt.want {
			t.Errorf("%s: %d %s\nwant %s", c.name, resp.StatusCode, body, tt.want)
		}
		if r := bh.record(t); r.Outcome != ledger.OutcomeBudgetRefused || r.Status != http.StatusTooManyRequests {
			t.Errorf("%s: record %+v", c.name, r)
		}
	}
	if n := len(bh.fake.Requests()); n != 0 {
		t.Errorf("refused calls reached the provider: %d", n)
	}
}
