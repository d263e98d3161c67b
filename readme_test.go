package conduit_test

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/valohai/conduit"
	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/ledger"
)

// readmeSection returns the README's text under the heading line that
// starts with heading, up to the next heading of the same or a higher
// level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	level := strings.Index(heading, " ")
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if in && strings.HasPrefix(line, "#") {
			if l := strings.Index(line, " "); l > 0 && l <= level && strings.Trim(line[:l], "#") == "" {
				break
			}
		}
		if strings.HasPrefix(line, heading) {
			in = true
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	if !in {
		t.Fatalf("README.md has no %q section", heading)
	}
	return strings.Join(out, "\n")
}

// tableKeys returns the backquoted first cell of each table row in text.
func tableKeys(text string) []string {
	var keys []string
	re := regexp.MustCompile("^\\|\\s*`([^`]+)`\\s*\\|")
	for _, line := range strings.Split(text, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			keys = append(keys, m[1])
		}
	}
	return keys
}

// mapPlaceholders name the tables of a map section, as the README writes
// them: [providers.<key>], [pricing."<prefix>"], [budgets.<name>].
var mapPlaceholders = map[string]string{"providers": "<key>", "pricing": `"<prefix>"`, "budgets": "<name>"}

// normalizeSection turns a section of a real file ([providers.openai],
// [pricing."my-finetune-"]) into the README's placeholder form.
func normalizeSection(s string) string {
	first, _, hasRest := strings.Cut(s, ".")
	if p, ok := mapPlaceholders[first]; ok && hasRest {
		return first + "." + p
	}
	return s
}

// referenceKey is a key as the README's reference spells it:
// "listen", "[ledger] path", "[providers.<key>] upstream".
func referenceKey(section, key string) string {
	if section == "" {
		return key
	}
	return "[" + section + "] " + key
}

// exampleKeys returns every key conduit.example.toml sets or shows
// commented out, with its section.
func exampleKeys(t *testing.T) []string {
	t.Helper()
	sectionRE := regexp.MustCompile(`^#?\s*\[([a-z][a-z0-9_."<>-]*)\]\s*(#.*)?$`)
	keyRE := regexp.MustCompile(`^#?\s*([a-z][a-z0-9_]*)\s*=`)
	var keys []string
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(conduit.ExampleConfig)))
	for sc.Scan() {
		line := sc.Text()
		if m := sectionRE.FindStringSubmatch(line); m != nil {
			section = normalizeSection(m[1])
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			keys = append(keys, referenceKey(section, m[1]))
		}
	}
	return keys
}

// loaderKeys returns every key the config loader reads (config.Keys), as
// the README's reference spells them.
func loaderKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for _, path := range config.Keys() {
		for i, part := range path {
			if part != "*" {
				continue
			}
			p, ok := mapPlaceholders[path[i-1]]
			if !ok {
				t.Fatalf("the config has a new table of tables %q: give it a placeholder in mapPlaceholders and document it", path[i-1])
			}
			path[i] = p
		}
		keys = append(keys, referenceKey(strings.Join(path[:len(path)-1], "."), path[len(path)-1]))
	}
	return keys
}

// TestReadmeConfigReference guards the README's configuration reference:
// every key conduit.example.toml shows and every key the config loader
// reads (config.Keys) has a row, and every row is a key the loader reads.
func TestReadmeConfigReference(t *testing.T) {
	documented := tableKeys(readmeSection(t, "## Configuration reference"))
	if len(documented) == 0 {
		t.Fatal("the configuration reference has no table rows")
	}
	read := loaderKeys(t)
	for _, k := range exampleKeys(t) {
		if !slices.Contains(documented, k) {
			t.Errorf("conduit.example.toml has %s, which README.md's configuration reference lacks", k)
		}
	}
	for _, k := range read {
		if !slices.Contains(documented, k) {
			t.Errorf("conduit reads %s (config.Keys), which README.md's configuration reference lacks", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(read, k) {
			t.Errorf("README.md's configuration reference documents %s, which conduit does not read", k)
		}
	}
	if len(read) < 20 {
		t.Errorf("config.Keys lists only %d keys: %v", len(read), read)
	}
}

// TestReadmeExportFields guards the export fields as a documented
// interface: the README lists exactly ledger.ExportFields, in order.
func TestReadmeExportFields(t *testing.T) {
	got := tableKeys(readmeSection(t, "### Export fields"))
	if !slices.Equal(got, ledger.ExportFields) {
		t.Errorf("README.md's export fields\n  %v\nledger.ExportFields\n  %v", got, ledger.ExportFields)
	}
}

// TestReadmeLedgerSchema guards the calls table as a documented interface:
// the README lists exactly the columns a freshly created ledger has, in
// order.
func TestReadmeLedgerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conduit.db")
	db, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(context.Background(), "SELECT name FROM pragma_table_info('calls') ORDER BY cid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var columns []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		columns = append(columns, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := tableKeys(readmeSection(t, "### The `calls` table"))
	if !slices.Equal(got, columns) {
		t.Errorf("README.md's calls table\n  %v\nthe ledger's columns\n  %v", got, columns)
	}
}

// TestReadmeCoversANewcomer guards the sections a newcomer needs: both modes,
// a recipe per tool, the demo, the dashboard capture, pricing and
// troubleshooting, each under its own heading.
func TestReadmeCoversANewcomer(t *testing.T) {
	for _, heading := range []string{
		"## Install", "## Quick start", "## Try it: `make demo`", "## The dashboard",
		"## Base-URL mode", "## Forward mode (HTTPS_PROXY)", "## Recipes per tool",
		"### OpenAI SDKs", "### Anthropic SDKs", "### Claude Code", "### Codex CLI", "### aider", "### curl",
		"## Examples", "## The ledger: schema and export fields", "## Pricing",
		"## Configuration reference", "## Troubleshooting", "## Commands", "## Development",
	} {
		readmeSection(t, heading)
	}
	trouble := readmeSection(t, "## Troubleshooting")
	for _, topic := range []string{"certificate verify failed", "no tokens", "Compressed responses", "Corporate proxies", "WebSocket"} {
		if !strings.Contains(trouble, topic) {
			t.Errorf("troubleshooting does not cover %q", topic)
		}
	}
	if dash := readmeSection(t, "## The dashboard"); !strings.Contains(dash, "Calls ") || !strings.Contains(dash, "forward proxy (HTTPS_PROXY)") {
		t.Error("the dashboard section has no capture of the dashboard")
	}
	pricing := readmeSection(t, "## Pricing")
	version := regexp.MustCompile(`"version":\s*"([^"]+)"`).FindSubmatch(mustRead(t, filepath.Join("ledger", "pricing", "source", "source.json")))
	if version == nil || !strings.Contains(pricing, "genai-prices "+string(version[1])) {
		t.Errorf("the pricing section does not give the price book's source version %s", version)
	}
}

// TestReadmeAnchors guards the README's own links: every #anchor names a
// heading (GitHub's rule: lowercase, punctuation dropped, spaces to
// hyphens).
func TestReadmeAnchors(t *testing.T) {
	text := string(mustRead(t, "README.md"))
	anchors := map[string]bool{}
	drop := regexp.MustCompile("[^a-z0-9 _-]")
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			h := strings.TrimSpace(strings.TrimLeft(line, "#"))
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	var missing []string
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(text, -1) {
		if !anchors[m[1]] {
			missing = append(missing, m[1])
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("README.md links to anchors no heading makes: %v", slices.Compact(missing))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
