package pricing

import (
	"slices"
	"testing"
)

// TestModelNames checks which book entry real model names find: dated
// snapshots, aliases and platform prefixes find their model; a different
// model (a -mini, -lite, -image, -tts, -realtime sibling or a new
// generation) finds its own entry or nothing, never another's.
func TestModelNames(t *testing.T) {
	t.Parallel()
	p := mustPricer(t, nil, "")
	tests := []struct {
		provider, model      string
		wantProvider, wantID string // "" wantID: unpriced
	}{
		// Dated snapshots.
		{"openai", "gpt-4.1-2025-04-14", "openai", "gpt-4.1"},
		{"openai", "gpt-4.1-mini-2025-04-14", "openai", "gpt-4.1-mini"},
		{"openai", "gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini"},
		{"openai", "o3-2025-04-16", "openai", "o3"},
		{"openai", "gpt-5-2025-08-07", "openai", "gpt-5"},
		{"openai", "gpt-5.4-mini-2026-03-17", "openai", "gpt-5.4-mini"},
		{"openai", "gpt-5.6-sol-2026-08-21", "openai", "gpt-5.6-sol"},
		{"openai", "gpt-4-0613", "openai", "gpt-4"},
		{"openai", "gpt-3.5-turbo-0613", "openai", "gpt-3.5-turbo-0613"}, // priced apart
		{"openai", "gpt-3.5-turbo-0125", "openai", "gpt-3.5-turbo"},
		{"openai", "gpt-4-turbo-2024-04-09", "openai", "gpt-4-turbo"},
		{"anthropic", "claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5"},
		{"anthropic", "claude-opus-4-1-20250805", "anthropic", "claude-opus-4-1"},
		{"anthropic", "claude-haiku-4-5-20251001", "anthropic", "claude-haiku-4-5"},
		{"anthropic", "claude-3-7-sonnet-20250219", "anthropic", "claude-3-7-sonnet-latest"},
		{"anthropic", "claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet"},
		{"anthropic", "claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4-0"},
		{"anthropic", "claude-opus-4-20250514", "anthropic", "claude-opus-4-0"},
		{"anthropic", "claude-opus-5-5-20261101", "anthropic", "claude-opus-5-5"},
		{"gemini", "gemini-2.0-flash-001", "google", "gemini-2.0-flash"},
		{"gemini", "gemini-2.0-flash-lite-001", "google", "gemini-2.0-flash-lite"},
		{"gemini", "gemini-1.5-pro-002", "google", "gemini-1.5-pro"},
		{"gemini", "gemini-2.5-flash-preview-09-2025", "google", "gemini-2.5-flash"},
		{"gemini", "gemini-2.5-flash-lite-preview-09-2025", "google", "gemini-2.5-flash-lite"},
		{"gemini", "gemini-3.5-flash-20261001", "google", "gemini-3.5-flash"},
		{"gemini", "gemini-2.5-flash-native-audio-preview-09-2025", "google", "gemini-live-2.5-flash"},
		{"xai", "grok-4.3-20260301", "x-ai", "grok-4.3"},
		{"xai", "grok-2-1212", "x-ai", "grok-2-1212"},
		{"mistral", "mistral-large-2411", "mistral", "mistral-large"},
		{"mistral", "codestral-2501", "mistral", "codestral"},
		{"mistral", "magistral-medium-2509", "mistral", "magistral-medium"},
		{"openrouter", "openai/gpt-5-2025-08-07", "openrouter", "openai/gpt-5"},
		{"openrouter", "x-ai/grok-4.3-20260301", "openrouter", "x-ai/grok-4.3"},
		{"openrouter", "anthropic/claude-4.5-sonnet-20250929", "openrouter", "anthropic/claude-sonnet-4.5"},
		{"azure", "o3-mini-2025-01-31", "azure", "o3-mini"},
		{"azure", "gpt-4o-2024-11-20", "openai", "gpt-4o"}, // Azure serves OpenAI's list
		// Vertex @ snapshots.
		{"vertex", "claude-sonnet-4-5@20250929", "google", "claude-sonnet-4-5"},
		{"vertex", "claude-opus-4-1@20250805", "google", "claude-4-opus"},
		{"vertex", "claude-3-5-sonnet-v2@20241022", "google", "claude-3-5-sonnet"},
		{"vertex", "claude-haiku-4-5@20251001", "anthropic", "claude-haiku-4-5"}, // Vertex serves Anthropic's list
		// Bedrock ids: regions, vendors, -v1:0.
		{"bedrock", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "aws", "regional.anthropic.claude-3-7-sonnet-20250219-v1:0"},
		{"bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "aws", "regional.anthropic.claude-3-haiku-20240307-v1:0"},
		{"bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "regional.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"bedrock", "apac.anthropic.claude-sonnet-4-20250514-v1:0", "aws", "regional.anthropic.claude-sonnet-4-20250514-v1:0"},
		{"bedrock", "us.anthropic.claude-opus-4-6-v1", "aws", "regional.anthropic.claude-opus-4-6-v1:0"},
		{"bedrock", "amazon.nova-pro-v1:0", "aws", "amazon.nova-pro-v1:0"},
		{"bedrock", "us.amazon.nova-pro-v1:0", "aws", "amazon.nova-pro-v1:0"},
		{"bedrock", "meta.llama3-3-70b-instruct-v1:0", "aws", "meta.llama3-3-70b-instruct-v1:0"},
		{"bedrock", "us.meta.llama3-3-70b-instruct-v1:0", "aws", "meta.llama3-3-70b-instruct-v1:0"},
		{"bedrock", "deepseek.r1-v1:0", "aws", "deepseek.r1-v1:0"},
		// -latest aliases.
		{"anthropic", "claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku-latest"},
		{"anthropic", "claude-3-7-sonnet-latest", "anthropic", "claude-3-7-sonnet-latest"},
		{"xai", "grok-4-latest", "x-ai", "grok-4-0709"},
		{"mistral", "mistral-large-latest", "mistral", "mistral-large"},
		{"openai", "gpt-5-chat-latest", "openai", "gpt-5"},
		{"openai", "chatgpt-4o-latest", "openai", "chatgpt-4o-latest"}, // priced apart from gpt-4o
		{"gemini", "gemini-flash-latest", "google", ""},                // moves between models: unknown
		// Platform and vendor prefixes.
		{"openrouter", "anthropic/claude-sonnet-4.5", "openrouter", "anthropic/claude-sonnet-4.5"},
		{"openrouter", "google/gemini-2.5-pro", "openrouter", "google/gemini-2.5-pro"},
		{"openrouter", "openai/gpt-5", "openrouter", "openai/gpt-5"},
		{"openrouter", "meta-llama/llama-3.3-70b-instruct", "openrouter", "meta-llama/llama-3.3-70b-instruct"},
		{"openrouter", "deepseek/deepseek-chat-v3.1", "openrouter", "deepseek/deepseek-chat-v3.1"},
		{"gemini", "models/gemini-2.5-pro", "google", "gemini-2.5-pro"},
		{"openai", "openai/gpt-4.1", "openai", "gpt-4.1"},
		{"groq", "moonshotai/kimi-k2-instruct-0905", "groq", "moonshotai/kimi-k2-instruct"},
		{"together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"},
		{"fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct", "fireworks", "llama-v3p1-8b-instruct"},
		// Fine-tuned models: the base model's fine-tuning rates.
		{"openai", "ft:gpt-4o-mini-2024-07-18:acme::AbC123", "openai", "ft:gpt-4o-mini"},
		{"openai", "ft:gpt-3.5-turbo-0125:acme:custom:9xYz", "openai", "ft:gpt-3.5-turbo-"},
		// Siblings find their own entry.
		{"openai", "gpt-4o-mini-realtime-preview", "openai", "gpt-4o-mini-realtime-preview"},
		{"openai", "gpt-4o-mini-tts", "openai", "gpt-4o-mini-tts"},
		{"openai", "gpt-4o-audio-preview", "openai", "gpt-4o-audio-preview"},
		{"openai", "gpt-5-image", "openai", "gpt-5-image"},
		{"openai", "o4-mini-deep-research", "openai", "o4-mini-deep-research"},
		{"openai", "gpt-image-1-mini", "openai", "gpt-image-1-mini"},
		{"openai", "gpt-realtime-mini", "openai", "gpt-realtime-mini"},
		{"openai", "gpt-audio-mini", "openai", "gpt-audio-mini"},
		{"gemini", "gemini-2.5-flash-image", "google", "gemini-2.5-flash-image"},
		{"gemini", "gemini-2.5-flash-lite", "google", "gemini-2.5-flash-lite"},
		{"gemini", "gemini-2.5-pro-tts", "google", "gemini-2.5-pro-tts"},
		{"gemini", "gemini-2.5-pro-preview-tts", "google", "gemini-2.5-pro-tts"},
		{"gemini", "gemini-2.5-flash-tts", "google", "gemini-2.5-flash-tts"},
		{"xai", "grok-4-fast", "x-ai", "grok-4-fast-reasoning"},
		// Siblings the book does not know stay unpriced, whatever a loose
		// rule of another model would match.
		{"gemini", "gemini-3.5-flash-lite-image", "google", ""},         // not gemini-3.5-flash-lite
		{"gemini", "gemini-3.1-flash-lite-image-preview", "google", ""}, // not gemini-3.1-flash-lite
		{"gemini", "gemini-1.5-flash-8b", "google", ""},                 // not gemini-1.5-flash
		{"anthropic", "claude-opus-4-10", "anthropic", ""},              // not claude-opus-4-1
		{"openai", "gpt-5.6-luna-mini", "openai", ""},
		{"deepseek", "deepseek-v4-flash-lite", "deepseek", ""}, // not deepseek-v4-flash
		{"xai", "grok-4.5-mini", "x-ai", ""},
		{"mistral", "mistral-small-2506", "mistral", ""},
		{"openai", "babbage-002", "openai", "babbage-002"}, // overlay: not GPT-3 babbage
		// New generations stay unpriced.
		{"openai", "gpt-5.7", "openai", ""},
		{"openai", "gpt-6", "openai", ""},
		{"openai", "o5", "openai", ""},
		{"anthropic", "claude-opus-6", "anthropic", ""},
		{"anthropic", "claude-sonnet-4-7", "anthropic", ""},
		{"gemini", "gemini-4-pro", "google", ""},
		{"xai", "grok-5", "x-ai", ""},
	}
	if len(tests) < 90 {
		t.Fatalf("only %d names", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.provider+" "+tt.model, func(t *testing.T) {
			bp := p.book.providerFor(tt.provider, "", "")
			r := p.book.find(bp, tt.model)
			gotProvider, gotID := bp.id, ""
			if r.m != nil {
				gotProvider, gotID = r.m.provider.id, r.m.id
			}
			if gotID != tt.wantID || (gotID != "" && gotProvider != tt.wantProvider) {
				t.Errorf("= %s/%s, want %s/%s", gotProvider, gotID, tt.wantProvider, tt.wantID)
			}
			if gotID == "" && r.note == "" {
				t.Error("unpriced without a reason")
			}
		})
	}
}

// TestPlainRest checks the sibling guard on its own: what may stand
// around the part of a name a loose rule matched.
func TestPlainRest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, matched string
		want          bool
	}{
		{"gemini-2.5-flash", "gemini-2.5-flash", true},
		{"gemini-2.5-flash-001", "gemini-2.5-flash", true},
		{"gemini-2.5-flash@001", "gemini-2.5-flash", true},
		{"gemini-2.5-flash-lite", "gemini-2.5-flash", false},
		{"gemini-2.5-flash-image", "gemini-2.5-flash", false},
		{"gemini-2.5-flash-preview", "gemini-2.5-flash", false},
		{"gemini-2.5-flash-8b", "gemini-2.5-flash", false},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5", true},
		{"claude-sonnet-4-5@20250929", "claude-sonnet-4-5", true},
		{"claude-sonnet-4-5-2025-09-29", "claude-sonnet-4-5", true},
		{"claude-sonnet-4-5-20251399", "claude-sonnet-4-5", false}, // not a date
		{"claude-sonnet-4-5-latest", "claude-sonnet-4-5", true},
		{"claude-sonnet-4-5-v1:0", "claude-sonnet-4-5", true},
		{"claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", true},
		{"claude-sonnet-4-5-v1:0-lite", "claude-sonnet-4-5", false},
		{"claude-opus-4-10", "claude-opus-4-1", false}, // ends inside a number
		{"claude-opus-4-1-5", "claude-opus-4-1", false},
		{"gpt-5.4", "gpt-5", false},
		{"gpt-4o", "gpt-4", false},
		{"gpt-4-0613", "gpt-4", true},            // month and day
		{"llama3-70b-8192", "llama3-70b", false}, // a context size, not a date
		{"mistral-large-2411", "mistral-large", true},
		{"gemini-2.5-pro-preview-05-06", "gemini-2.5-pro-preview", true},
		{"gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash-preview", true},
		{"us.anthropic.claude-haiku-4-5", "claude-haiku-4-5", true},
		{"global.anthropic.claude-haiku-4-5", "claude-haiku-4-5", true},
		{"anthropic/claude-haiku-4-5", "claude-haiku-4-5", true},
		{"models/gemini-2.5-pro", "gemini-2.5-pro", true},
		{"publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro", true},
		{"omni-moderation", "moderation", false},
		{"xgpt-4o", "gpt-4o", false},
		{"ft:gpt-4o-mini-2024-07-18:acme::x1", "ft:gpt-4o-mini-2024-", true},
	}
	for _, tt := range tests {
		i := indexOf(tt.name, tt.matched)
		if i < 0 {
			t.Fatalf("bad case %v", tt)
		}
		if got := plainRest(tt.name, i, i+len(tt.matched)); got != tt.want {
			t.Errorf("plainRest(%q, %q) = %v, want %v", tt.name, tt.matched, got, tt.want)
		}
	}
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestNameVariants checks the spellings a name is also looked up by.
func TestNameVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want []string
	}{
		{"gpt-4.1", []string{"gpt-4.1"}},
		{"gpt-4o-2024-08-06", []string{"gpt-4o-2024-08-06", "gpt-4o"}},
		{"claude-sonnet-4-5-20250929", []string{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5-2025-09-29", "claude-sonnet-4-5"}},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", []string{
			"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-sonnet-4-5-2025-09-29-v1:0",
			"us.anthropic.claude-sonnet-4-5-20250929", "us.anthropic.claude-sonnet-4-5",
			"anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929", "anthropic.claude-sonnet-4-5",
			"claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"}},
		{"davinci-002", []string{"davinci-002"}}, // a model, not a version of davinci
		{"models/gemini-2.5-pro", []string{"models/gemini-2.5-pro", "gemini-2.5-pro"}},
		{"claude-3-5-haiku-latest", []string{"claude-3-5-haiku-latest", "claude-3-5-haiku"}},
		{"deepseek-20250231", []string{"deepseek-20250231"}}, // no such date
	}
	for _, tt := range tests {
		if got := nameVariants(tt.name); !slices.Equal(got, tt.want) {
			t.Errorf("nameVariants(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// FuzzModelName checks that any name is looked up without a panic, that
// its first spelling is itself, and that a name a rule prices through the
// sibling guard is also priced with any snapshot suffix added.
func FuzzModelName(f *testing.F) {
	for _, s := range []string{"gpt-4.1", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "models/gemini-2.5-pro", "ft:gpt-4o-mini-2024-07-18:a::b",
		"claude-3-5-sonnet-v2@20241022", "-", "@", "x-2025-13-45", "gemini-2.0-flash-0", "a/b/c/d", "ÄÖ-ü"} {
		f.Add(s)
	}
	p, err := NewPricer(nil, "")
	if err != nil {
		f.Fatal(err)
	}
	anthropic := p.book.byID["anthropic"]
	f.Fuzz(func(t *testing.T, name string) {
		if v := nameVariants(name); len(v) == 0 || v[0] != name {
			t.Fatalf("nameVariants(%q) = %q", name, v)
		}
		p.book.search(nil, name)
		m := anthropic.find(name, false)
		if m != nil && anthropic.find(name+"-20250929", false) == nil {
			t.Errorf("%q finds %s but not with a date", name, m.id)
		}
	})
}
