package config

import (
	"net/url"
	"path/filepath"
	"strings"
)

const (
	defaultLedgerFileName = "conduit.db"
	defaultValohaiURL     = "https://llm.valohai.com"
	valohaiAPIKeyEnvVar   = "VALOHAI_LLM_API_KEY"
	valohaiURLEnvVar      = "VALOHAI_LLM_URL"
)

// ledger checks the [ledger] table: where records are kept.
func (v *validator) ledger(raw fileLedger, dir string) Ledger {
	out := Ledger{Path: filepath.Join(dir, defaultLedgerFileName)}
	if raw.Path != nil {
		if *raw.Path == "" {
			v.fail([]string{"ledger", "path"}, "must not be empty (leave it out for %s beside the config file)", defaultLedgerFileName)
		}
		out.Path = resolvePath(string(*raw.Path), dir)
	}
	if raw.PricingFile != nil && *raw.PricingFile != "" {
		out.PricingFile = resolvePath(string(*raw.PricingFile), dir)
	}
	if raw.PricesURL != nil {
		out.PricesURL = string(*raw.PricesURL)
		if u, err := url.Parse(out.PricesURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail([]string{"ledger", "prices_url"}, "%q is not an absolute http(s) URL", out.PricesURL)
		}
	}
	if raw.QueueBytes != nil {
		if n := int64(*raw.QueueBytes); n < minQueueBytes || n > maxQueueBytes {
			v.fail([]string{"ledger", "queue_bytes"}, "must be between %d (1 MiB) and %d (16 GiB), found %d", minQueueBytes, maxQueueBytes, n)
		} else {
			out.QueueBytes = n
		}
	}
	return out
}

// Bounds of [ledger] queue_bytes: below 1 MiB a short outage drops calls;
// above 16 GiB the bound no longer protects a workstation.
const (
	minQueueBytes = 1 << 20
	maxQueueBytes = 16 << 30
)

// valohai checks the [valohai-llm] table: where records are sent. The
// environment overrides the file, so that a shared file need not hold the
// key.
func (v *validator) valohai(raw fileValohai, getenv func(string) string) ValohaiLLM {
	out := ValohaiLLM{URL: defaultValohaiURL}
	if raw.APIKey != nil {
		out.APIKey = string(*raw.APIKey)
	}
	if raw.URL != nil {
		out.URL = string(*raw.URL)
	}
	if env := getenv(valohaiAPIKeyEnvVar); env != "" {
		out.APIKey = env
	}
	if env := getenv(valohaiURLEnvVar); env != "" {
		out.URL = env
	}
	out.URL = strings.TrimRight(out.URL, "/")
	if u, err := url.Parse(out.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail([]string{"valohai-llm", "url"}, "%q is not an absolute http(s) URL", out.URL)
	}
	return out
}
