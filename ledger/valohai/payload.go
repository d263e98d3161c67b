package valohai

import (
	"bytes"
	"encoding/json"
	"math"
	"net"
	"strings"

	"github.com/valohai/conduit/ledger"
)

// Transit is one record as Valohai LLM ingests it. The field names and
// their order are the Rust Conduit's. Empty optional fields are omitted,
// never sent as null.
type Transit struct {
	TransitID string `json:"transit_id"` // the call's id (a UUIDv7)
	Provider  string `json:"provider"`   // lower case: "openai", "anthropic", … or the config key
	HeaderID  string `json:"header_id,omitempty"`
	BodyID    string `json:"body_id,omitempty"`
	// VHHeaders are the call's x-vh-* request headers, names lowercased.
	VHHeaders        map[string]string `json:"vh_headers,omitempty"`
	Model            string            `json:"model,omitempty"`
	Usage            json.RawMessage   `json:"usage,omitempty"` // the provider's own usage object
	EstimatedCostUSD *float64          `json:"estimated_cost_usd,omitempty"`
}

// NewTransit converts a ledger record into what is sent for it.
//
// provider names the record's provider: the built-in name of its upstream
// host when providerNames (host → name, e.g. "api.openai.com" → "openai")
// knows the host, otherwise the record's provider key, both lower case.
// A nil providerNames always uses the key.
//
// Defensively, only x-vh-* headers are kept (whatever else a record might
// carry, no provider credential is sent), a usage object that is not valid
// JSON or is null is left out, and so is a cost that is not a finite
// number. The Transit shares no memory with rec.
func NewTransit(rec *ledger.Record, providerNames map[string]string) Transit {
	t := Transit{
		TransitID: rec.ID,
		Provider:  providerName(rec, providerNames),
		HeaderID:  rec.RequestID,
		BodyID:    rec.ResponseID,
		Model:     rec.Model,
	}
	for k, v := range rec.VHHeaders {
		if !ledger.IsVHHeader(k) {
			continue
		}
		lk := strings.ToLower(k)
		if t.VHHeaders == nil {
			t.VHHeaders = make(map[string]string, len(rec.VHHeaders))
		}
		t.VHHeaders[lk] = v
	}
	if u := bytes.TrimSpace(rec.UsageRaw); len(u) > 0 && !bytes.Equal(u, []byte("null")) && json.Valid(u) {
		t.Usage = bytes.Clone(u)
	}
	if c := rec.CostUSD; c != nil && !math.IsNaN(*c) && !math.IsInf(*c, 0) {
		v := *c
		t.EstimatedCostUSD = &v
	}
	return t
}

func providerName(rec *ledger.Record, names map[string]string) string {
	host := strings.ToLower(rec.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if name, ok := names[host]; ok && name != "" {
		return strings.ToLower(name)
	}
	return strings.ToLower(rec.Provider)
}

// encodePayload encodes transits as the JSON array one POST carries.
// HTML characters are not escaped: the values arrive as they were.
func encodePayload(ts []Transit) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if ts == nil {
		ts = []Transit{}
	}
	if err := enc.Encode(ts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
