package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
)

// TestRealtimeAndLiveClients runs a Realtime client (`ws`, the library
// the openai SDK uses) and a Gemini Live client (@google/genai's session)
// through Conduit's base-URL mode, two responses each on one connection
// (testdata/ws-clients/clients.mjs): the ledger must hold one record per
// response, with exactly the tokens each client was told, on one
// connection per API.
func TestRealtimeAndLiveClients(t *testing.T) {
	t.Parallel()
	node, dir := npmInstall(t, "testdata/ws-clients")
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "clients.mjs")
	cmd.Dir = dir
	cmd.Env = append(baseEnv(t), "CONDUIT_URL=http://"+s.addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node clients.mjs: %v\n%s\nproxy log:\n%s", err, stderr.String(), s.log())
	}
	var got struct {
		Realtime []struct {
			InputTokens       int64 `json:"input_tokens"`
			OutputTokens      int64 `json:"output_tokens"`
			InputTokenDetails struct {
				CachedTokens int64 `json:"cached_tokens"`
			} `json:"input_token_details"`
		}
		Live []struct {
			PromptTokenCount   int64
			ResponseTokenCount int64
		}
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.Realtime) != 2 || len(got.Live) != 2 {
		t.Fatalf("clients printed %s (%v)", out, err)
	}
	s.stop(t)
	db, err := ledger.OpenReadOnly(s.ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		provider string
		want     [][2]int64 // input, output per response
	}{
		{"openai", [][2]int64{{got.Realtime[0].InputTokens, got.Realtime[0].OutputTokens}, {got.Realtime[1].InputTokens, got.Realtime[1].OutputTokens}}},
		{"gemini", [][2]int64{{got.Live[0].PromptTokenCount, got.Live[0].ResponseTokenCount}, {got.Live[1].PromptTokenCount, got.Live[1].ResponseTokenCount}}},
	} {
		page, err := db.Page(context.Background(), ledger.Filter{Provider: c.provider}, ledger.Cursor{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Rows) != len(c.want) {
			t.Fatalf("%s: %d records, want %d", c.provider, len(page.Rows), len(c.want))
		}
		// Pages are newest first.
		for i, r := range page.Rows {
			w := c.want[len(c.want)-1-i]
			t.Logf("%s: %s %s in %d out %d connection %s", c.provider, r.Path, r.Outcome, r.InputTokens, r.OutputTokens, r.ConnectionID)
			if r.InputTokens != w[0] || r.OutputTokens != w[1] || r.Outcome != ledger.OutcomeComplete || r.Mode != ledger.ModeBaseURL {
				t.Errorf("%s response %d: in %d out %d outcome %s mode %s; the client was told in %d out %d", c.provider, i, r.InputTokens, r.OutputTokens, r.Outcome, r.Mode, w[0], w[1])
			}
			if r.ConnectionID == "" || r.ConnectionID != page.Rows[0].ConnectionID {
				t.Errorf("%s response %d: connection %q, first %q", c.provider, i, r.ConnectionID, page.Rows[0].ConnectionID)
			}
		}
	}
}
