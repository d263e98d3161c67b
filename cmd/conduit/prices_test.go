package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ledger/pricing"
)

// isolatePricesDir points the user config directory, where downloaded
// price data lives, at a fresh directory and returns the prices directory.
func isolatePricesDir(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", base) // Linux and the BSDs
	t.Setenv("HOME", base)            // macOS
	t.Setenv("AppData", base)         // Windows
	dir, err := pricing.UpdateDir()
	if err != nil || !strings.HasPrefix(dir, base) {
		t.Fatalf("prices dir %q (%v) is not under %s", dir, err, base)
	}
	return dir
}

// priceData is the pinned source with OpenAI's gpt-4.1 at $1.50 per 1M
// input tokens instead of $2, so that a test can tell which data priced.
func priceData(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "ledger", "pricing", "source", "genai-prices.json"))
	if err != nil {
		t.Fatal(err)
	}
	var providers []map[string]any
	if err := json.Unmarshal(raw, &providers); err != nil {
		t.Fatal(err)
	}
	for _, p := range providers {
		if p["id"] != "openai" {
			continue
		}
		for _, m := range p["models"].([]any) {
			if m := m.(map[string]any); m["id"] == "gpt-4.1" {
				m["prices"].(map[string]any)["input_mtok"] = 1.5
			}
		}
	}
	out, err := json.Marshal(providers)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// priceServer serves body with a Last-Modified date (zero: none) and
// counts requests.
func priceServer(t *testing.T, body []byte, lastModified time.Time) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if !lastModified.IsZero() {
			w.Header().Set("Last-Modified", lastModified.UTC().Format(http.TimeFormat))
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestPricesUpdate runs `conduit prices update` against a local server:
// good data is stored and then prices; corrupt, older, incomplete data and
// network and HTTP errors are refused and change nothing.
func TestPricesUpdate(t *testing.T) {
	dir := isolatePricesDir(t)
	good := priceData(t)
	stored := func() []byte {
		b, _ := os.ReadFile(filepath.Join(dir, "genai-prices.json"))
		return b
	}
	show := func() string {
		t.Helper()
		code, out, errOut := runCLI(t, nil, "prices", "show", "gpt-4.1", "--provider", "openai")
		if code != 0 {
			t.Fatalf("prices show: exit %d: %s", code, errOut)
		}
		return out
	}
	if out := show(); !strings.Contains(out, "input_mtok               $2 per 1M tokens") || !strings.Contains(out, "built in") {
		t.Fatalf("before any update:\n%s", out)
	}

	// Older than the built-in book: not stored.
	srv, _ := priceServer(t, good, pricing.EmbeddedDate().AddDate(0, -1, 0))
	code, out, errOut := runCLI(t, nil, "prices", "update", "--url", srv.URL)
	if code != 0 || !strings.Contains(out, "Not updated") || !strings.Contains(out, "not newer than the built-in book") || stored() != nil {
		t.Fatalf("older: exit %d\n%s%s", code, out, errOut)
	}

	// Corrupt: refused, named.
	srv, _ = priceServer(t, good[:len(good)/3], time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	code, out, errOut = runCLI(t, nil, "prices", "update", "--url", srv.URL)
	if code != 1 || !strings.Contains(errOut, "want a JSON array of providers") || !strings.Contains(errOut, "the price data in use is unchanged") || stored() != nil {
		t.Fatalf("corrupt: exit %d\n%s%s", code, out, errOut)
	}

	// A feed that lost models: refused.
	srv, _ = priceServer(t, []byte(`[{"id":"acme","api_pattern":"x","models":[{"id":"m","match":{"equals":"m"},"prices":{}}]}]`), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	if code, _, errOut = runCLI(t, nil, "prices", "update", "--url", srv.URL); code != 1 || !strings.Contains(errOut, "which the built-in book prices: not an update") {
		t.Fatalf("incomplete: exit %d: %s", code, errOut)
	}

	// Network error: nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String() + "/data.json"
	ln.Close()
	if code, _, errOut = runCLI(t, nil, "prices", "update", "--url", deadURL); code != 1 || !strings.Contains(errOut, "download "+deadURL) || stored() != nil {
		t.Fatalf("network error: exit %d: %s", code, errOut)
	}

	// An HTTP error.
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	if code, _, errOut = runCLI(t, nil, "prices", "update", "--url", notFound.URL); code != 1 || !strings.Contains(errOut, "404 Not Found") {
		t.Fatalf("404: exit %d: %s", code, errOut)
	}

	// Good and newer: stored, and prices from the next start.
	date := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	srv, _ = priceServer(t, good, date)
	code, out, errOut = runCLI(t, nil, "prices", "update", "--url", srv.URL)
	if code != 0 || !strings.Contains(out, "Stored in "+dir) || !strings.Contains(out, "genai-prices data of 2026-11-20") || string(stored()) != string(good) {
		t.Fatalf("good: exit %d\n%s%s", code, out, errOut)
	}
	if out := show(); !strings.Contains(out, "input_mtok               $1.5 per 1M tokens") || !strings.Contains(out, "downloaded from "+srv.URL) {
		t.Errorf("after the update:\n%s", out)
	}
	// The proxy's own start picks it up.
	p, err := pricing.NewPricer(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	usePricesUpdate(newLogger(&strings.Builder{}, 0), p)
	if v, d, _ := p.Source(); !d.Equal(date) || !strings.HasPrefix(v, "genai-prices data of 2026-11-20") {
		t.Errorf("proxy pricer source %q %v", v, d)
	}

	// The same data again, and data older than the stored one.
	if code, out, _ = runCLI(t, nil, "prices", "update", "--url", srv.URL); code != 0 || !strings.Contains(out, "Already up to date") {
		t.Errorf("again: exit %d: %s", code, out)
	}
	srv, _ = priceServer(t, append(good, ' '), date.AddDate(0, 0, -1))
	if code, out, _ = runCLI(t, nil, "prices", "update", "--url", srv.URL); code != 0 || !strings.Contains(out, "not newer than the data downloaded before") {
		t.Errorf("older than stored: exit %d: %s", code, out)
	}
	if string(stored()) != string(good) {
		t.Error("the stored data changed")
	}
}

// TestPricesUpdateThroughProxy checks that the download goes through the
// proxy the environment names.
func TestPricesUpdateThroughProxy(t *testing.T) {
	isolatePricesDir(t)
	good := priceData(t)
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String()) // absolute form: a proxied request
		w.Header().Set("Last-Modified", time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat))
		w.Write(good)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	old := pricesProxy
	pricesProxy = http.ProxyURL(pu)
	defer func() { pricesProxy = old }()
	code, out, errOut := runCLI(t, nil, "prices", "update", "--url", "http://prices.invalid/data.json")
	if code != 0 || seen.Load() != "http://prices.invalid/data.json" {
		t.Fatalf("exit %d, proxy saw %v\n%s%s", code, seen.Load(), out, errOut)
	}
}

// TestPricesUpdateUsage checks flag mistakes.
func TestPricesUpdateUsage(t *testing.T) {
	isolatePricesDir(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"prices"}, "prices: missing command (update, show or missing)"},
		{[]string{"prices", "updte"}, "did you mean 'prices update'?"},
		{[]string{"prices", "update", "--url", "ftp://x"}, `--url "ftp://x": want an http:// or https:// URL`},
		{[]string{"prices", "show"}, "want one model name"},
		{[]string{"prices", "show", "gpt-4.1", "--at", "yesterday-ish"}, "--at:"},
	} {
		if code, _, errOut := runCLI(t, nil, tt.args...); code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d: %s", tt.args, code, errOut)
		}
	}
}

// TestPricesShow checks what `conduit prices show` prints for the book,
// an override and an unpriced model, and that --provider uses the
// config's upstream host.
func TestPricesShow(t *testing.T) {
	isolatePricesDir(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conduit.toml")
	writeFile(t, cfg, `[providers.work]
upstream = "https://api.groq.com/openai/v1"

[pricing."my-model"]
input = 1
output = 2
`)
	code, out, errOut := runCLI(t, nil, "-c", cfg, "prices", "show", "llama-3.3-70b-versatile", "--provider", "work")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"priced by   the price book", "price list  groq (from the upstream host (https://api.groq.com/openai/v1))",
		"entry       llama-3.3-70b-versatile, by its exact name", "in force    always", "input_mtok", "data of 2026-09-23, built in"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ = runCLI(t, nil, "-c", cfg, "prices", "show", "my-model-7b"); code != 0 || !strings.Contains(out, `the override [pricing."my-model"] in `+cfg) {
		t.Errorf("override: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, nil, "-c", cfg, "prices", "show", "claude-opus-4-10", "--provider", "anthropic")
	if code != 1 || !strings.Contains(out, "priced by   nothing: unpriced") || !strings.Contains(out, "why         model not in anthropic's price list") {
		t.Errorf("unpriced: exit %d\n%s", code, out)
	}
}

// TestPricesMissingAndReprice records calls unpriced at the time, lists
// them, reprices them (dry run first) and checks the report totals.
func TestPricesMissingAndReprice(t *testing.T) {
	isolatePricesDir(t)
	cfg, ledgerPath := ledgerFixture(t)
	db, err := ledger.Open(ledgerPath, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Two gpt-5.4-mini calls recorded before the book knew it: 1M input
	// tokens each at $0.75.
	start := time.Now().UTC().Add(-10 * time.Minute)
	for _, id := range []string{"m1", "m2"} {
		err := db.Insert(context.Background(), []ledger.Record{{
			ID: id, StartedAt: start, FinishedAt: start.Add(time.Second), Provider: "openai", API: "openai",
			Mode: ledger.ModeBaseURL, Method: "POST", Host: "api.openai.com", Path: "/v1/chat/completions",
			Model: "gpt-5.4-mini", Status: 200, Outcome: ledger.OutcomeComplete, HasUsage: true,
			InputTokens: 1_000_000, OutputTokens: 0, CostNote: "model not in openai's price list",
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	code, out, errOut := runCLI(t, nil, "-c", cfg, "prices", "missing")
	if code != 0 {
		t.Fatalf("missing: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"PROVIDER", "gpt-5.4-mini", "2,000,000", "priced now (table): run 'conduit reprice'",
		"llama3.1:8b", "unpriced: model not in openai's price list", "3 unpriced call(s) of 2 model(s); 2 of them"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = runCLI(t, nil, "-c", cfg, "reprice", "--dry-run")
	if code != 0 || !strings.Contains(out, "Would reprice 5 call(s)") || !strings.Contains(out, "newly priced") || !strings.Contains(out, "Dry run: nothing was written.") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	// The fixture's gpt-4.1 calls were stored at $0.0036 without a price
	// source; the book says 1000 × $2 + 200 × $8 per 1M = $0.0036 too, and
	// records its version: every call changes, the cost by the two new
	// calls' 2 × $0.75.
	code, out, errOut = runCLI(t, nil, "-c", cfg, "reprice")
	if code != 0 || !strings.Contains(out, "Repriced 5 call(s) with genai-prices 0.1.8") || !strings.Contains(out, "5 changed: 2 newly priced, 0 no longer priced") ||
		!strings.Contains(out, "cost $0.0072 → $1.51 (+$1.50)") {
		t.Fatalf("reprice: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, nil, "-c", cfg, "report", "--format", "json")
	var rep struct {
		Total struct {
			CostUSD float64 `json:"cost_usd"`
		} `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || rep.Total.CostUSD != 1.5072 {
		t.Errorf("report after reprice: exit %d, %v, %+v\n%s", code, err, rep, out)
	}
	if code, out, _ = runCLI(t, nil, "-c", cfg, "reprice", "--dry-run"); code != 0 || !strings.Contains(out, "0 changed") {
		t.Errorf("second dry run: %s", out)
	}
}

// TestPricesUpdateURLFromConfig checks that [ledger] prices_url is where
// `prices update` downloads from when --url is not given, and that --url
// still wins.
func TestPricesUpdateURLFromConfig(t *testing.T) {
	isolatePricesDir(t)
	srv, hits := priceServer(t, priceData(t), pricing.EmbeddedDate().AddDate(0, -1, 0))
	cfg := filepath.Join(t.TempDir(), "conduit.toml")
	if err := os.WriteFile(cfg, []byte("[providers.openai]\nupstream = \"https://api.openai.com\"\n[ledger]\nprices_url = \""+srv.URL+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, nil, "-c", cfg, "prices", "update"); code != 0 || hits.Load() != 1 || !strings.Contains(out, srv.URL) {
		t.Fatalf("from config: exit %d, %d downloads\n%s%s", code, hits.Load(), out, errOut)
	}
	other, otherHits := priceServer(t, priceData(t), pricing.EmbeddedDate().AddDate(0, -1, 0))
	if code, _, errOut := runCLI(t, nil, "-c", cfg, "prices", "update", "--url", other.URL); code != 0 || otherHits.Load() != 1 || hits.Load() != 1 {
		t.Fatalf("--url over config: exit %d (%d, %d downloads): %s", code, otherHits.Load(), hits.Load(), errOut)
	}
}
