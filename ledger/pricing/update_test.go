package pricing

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sourceData is the committed source, the shape a download has.
func sourceData(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("source/genai-prices.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const testURL = "https://prices.example/data.json"

// editSource returns the committed source with edit applied to one
// provider's models.
func editSource(t *testing.T, provider string, edit func(models []any) []any) []byte {
	t.Helper()
	var providers []map[string]any
	if err := json.Unmarshal(sourceData(t), &providers); err != nil {
		t.Fatal(err)
	}
	for _, p := range providers {
		if p["id"] == provider {
			p["models"] = edit(p["models"].([]any))
		}
	}
	out, err := json.Marshal(providers)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// model returns the model with id in models.
func model(t *testing.T, models []any, id string) map[string]any {
	t.Helper()
	for _, m := range models {
		if m := m.(map[string]any); m["id"] == id {
			return m
		}
	}
	t.Fatalf("fixture: no model %s", id)
	return nil
}

// TestCheckUpdate checks what makes downloaded data acceptable.
func TestCheckUpdate(t *testing.T) {
	t.Parallel()
	date := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	good := sourceData(t)
	u, err := CheckUpdate(good, testURL, date)
	if err != nil {
		t.Fatal(err)
	}
	p := mustPricer(t, nil, "")
	if u.Providers != len(p.book.providers) || u.Models < 1600 || len(u.Stale) != 0 || u.URL != testURL || !u.Date.Equal(date) {
		t.Errorf("update %+v", u)
	}
	if !strings.HasPrefix(u.Version, "genai-prices data of 2026-11-20 sha256:"+u.SHA256[:12]+" + overlay ") {
		t.Errorf("version %q", u.Version)
	}

	// The data no longer needs a correction: it is skipped and said.
	fixed := editSource(t, "openai", func(models []any) []any {
		return append(models, map[string]any{"id": "davinci-002", "match": map[string]any{"equals": "davinci-002"},
			"prices": map[string]any{"input_mtok": 2, "output_mtok": 2}})
	})
	u, err = CheckUpdate(fixed, testURL, date)
	if err != nil || len(u.Stale) != 1 || u.Stale[0] != "openai-davinci-002" {
		t.Errorf("stale correction: %+v, %v", u, err)
	}

	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"not JSON", []byte("<html>rate limited</html>"), "want a JSON array of providers"},
		{"truncated", good[:len(good)/2], "want a JSON array of providers"},
		{"an unknown price key", bytes.Replace(good, []byte(`"input_mtok":`), []byte(`"input_tokens_mtok":`), 1), "unknown price key"},
		{"a negative rate", bytes.Replace(good, []byte(`"output_mtok":24`), []byte(`"output_mtok":-24`), 1), "is not a price"},
		{"a model gone", editSource(t, "anthropic", func(models []any) []any {
			model(t, models, "claude-2")["id"] = "claude-2-renamed"
			return models
		}), "lacks anthropic/claude-2, which the built-in book prices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckUpdate(tt.data, testURL, date)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestStoredUpdate checks that a saved download loads back and prices,
// and that a torn one is refused.
func TestStoredUpdate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "prices")
	if u, err := LoadUpdate(dir); u != nil || err != nil {
		t.Fatalf("empty dir: %+v, %v", u, err)
	}
	// OpenAI's gpt-4.1 at $1 per 1M input tokens instead of $2.
	data := editSource(t, "openai", func(models []any) []any {
		model(t, models, "gpt-4.1")["prices"].(map[string]any)["input_mtok"] = 1
		return models
	})
	date := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	u, err := CheckUpdate(data, testURL, date)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadUpdate(dir)
	if err != nil || got == nil || got.SHA256 != u.SHA256 || !got.Date.Equal(date) || got.URL != testURL {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	p := mustPricer(t, nil, "")
	call := call{provider: "openai", model: "gpt-4.1", hasUsage: true, at: now, parts: []usage{{input: 1_000_000}}}
	if r := p.price(call); r.usd != 2 {
		t.Fatalf("built-in: %v", r.usd)
	}
	p.UseUpdate(got)
	if r := p.price(call); r.usd != 1 || r.version != u.Version {
		t.Errorf("downloaded: %v (%s)", r.usd, r.version)
	}
	if v, d, origin := p.Source(); v != u.Version || !d.Equal(date) || origin != "downloaded from "+testURL {
		t.Errorf("source %q %v %q", v, d, origin)
	}

	if err := os.WriteFile(filepath.Join(dir, updateDataFile), []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUpdate(dir); err == nil || !strings.Contains(err.Error(), "does not match its description") {
		t.Errorf("torn download: %v", err)
	}
}

func TestEmbeddedDate(t *testing.T) {
	t.Parallel()
	if got := EmbeddedDate(); !got.Equal(time.Date(2026, 9, 23, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("EmbeddedDate = %v", got)
	}
}
