// Package jsonvalid answers what encoding/json's Valid answers, at a
// fraction of its cost: the byte-at-a-time scanner behind json.Valid was
// most of the CPU the ledger's writer spent encoding a record, and the
// largest single cost of metering a small response body, where every call
// checks the provider's usage object (a few hundred bytes) before keeping
// it.
//
// It is its own package because the meters (parsers) and the ledger both
// check usage objects, and neither may import the other.
package jsonvalid

import (
	"encoding/json"

	"github.com/valyala/fastjson"
)

// Valid reports whether b is one valid JSON value, as json.Valid does.
//
// On documents without control characters fastjson's validator accepts
// what json.Valid accepts (FuzzValid), except those nested more than
// 10,000 levels deep, which json.Valid refuses (its nesting limit) and
// Valid accepts; no usage object nests so deep. fastjson lets control
// characters through inside strings, so a document with any goes to
// json.Valid.
func Valid(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return json.Valid(b)
		}
	}
	return fastjson.ValidateBytes(b) == nil
}
