package config

import "testing"

// TestKeyLine guards where errors found after decoding point: the key's own
// line, a table's header, the first key under a table that has no header,
// and the cases a line-by-line reading of the source gets wrong (a
// multi-line string holding lines that look like tables and keys, inline
// tables, quoted keys holding '=' or '#').
func TestKeyLine(t *testing.T) {
	t.Parallel()
	src := `# comment
listen = ":1" # trailing

[providers.openai]
upstream = "x"

[pricing."gpt-4.1"]
input = 1
providers.inline.upstream = "y"

[valohai-llm]
api_key = """
[mitm]
ca_dir = "not here"
"""
[mitm]
ca_dir = "here"
hosts = [
  "a.example.com",
]

[otel]
headers = { "x key" = "v", "a=b#c" = "w" }
"odd = key # not a comment" = 1
`
	tests := []struct {
		key  []string
		want int
	}{
		{[]string{"listen"}, 2},
		{[]string{"providers"}, 4},
		{[]string{"providers", "openai"}, 4},
		{[]string{"providers", "openai", "upstream"}, 5},
		{[]string{"pricing", "gpt-4.1"}, 7},
		{[]string{"pricing", "gpt-4.1", "input"}, 8},
		{[]string{"pricing", "gpt-4.1", "providers", "inline"}, 9},
		{[]string{"mitm"}, 16},
		{[]string{"mitm", "ca_dir"}, 17},
		{[]string{"mitm", "hosts"}, 18},
		{[]string{"otel", "headers"}, 23},
		{[]string{"otel", "headers", "x key"}, 23},
		{[]string{"otel", "headers", "a=b#c"}, 23},
		{[]string{"otel", "odd = key # not a comment"}, 24},
		{[]string{"nothing"}, 0},
		{[]string{"listen", "below a value"}, 0},
		{[]string{"mitm", "hosts", "0"}, 0},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := keyLine([]byte(src), tt.key); got != tt.want {
			t.Errorf("keyLine(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

// TestKeyLineNoSource guards the Config a caller builds by hand: no source,
// no line, no panic.
func TestKeyLineNoSource(t *testing.T) {
	t.Parallel()
	if got := keyLine(nil, []string{"listen"}); got != 0 {
		t.Errorf("keyLine(nil) = %d", got)
	}
	if got := keyLine([]byte("listen = [[[\n"), []string{"listen"}); got != 0 {
		t.Errorf("keyLine of a broken document = %d", got)
	}
}
