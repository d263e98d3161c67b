package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// role is what a piece of text is, for styling: the detail view builds
// lines of roles, and draw maps roles to the theme's styles.
type role int

const (
	roleText role = iota
	roleLabel
	roleMuted
	roleError
	roleWarn
	roleUnpriced
	roleJSONKey
	roleJSONString
	roleJSONNumber
	roleJSONLiteral
	roleJSONPunct
	roleGaugeOK    // a budget under its first warning
	roleGaugeWarn  // past its first warning
	roleGaugeOver  // at or past its limit
	roleGaugeValue // a budget's figures
)

// span is a run of text in one role.
type span struct {
	text string
	role role
}

// line is one screen line of spans.
type line []span

// maxJSONLines bounds the pretty-printed usage (usage objects are small;
// this guards against a pathological one).
const maxJSONLines = 2000

// jsonLines pretty-prints a JSON value with two-space indentation, members
// in their original order, each token in its role. Invalid JSON comes back
// as plain text lines, so the detail view always shows what was stored.
func jsonLines(raw []byte, indent string) []line {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	p := &jsonPrinter{dec: dec, indent: indent}
	tok, err := dec.Token()
	if err == nil {
		err = p.value(tok, 0, nil)
	}
	if err == nil {
		if _, end := dec.Token(); end != io.EOF {
			err = errors.New("trailing data")
		}
	}
	if err != nil && !errors.Is(err, errTooLong) {
		var out []line
		for _, s := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
			out = append(out, line{{indent + s, roleText}})
		}
		return out
	}
	return p.lines
}

var errTooLong = errors.New("too many lines")

type jsonPrinter struct {
	dec    *json.Decoder
	indent string
	lines  []line
}

func (p *jsonPrinter) emit(l line) error {
	if len(p.lines) >= maxJSONLines {
		p.lines = append(p.lines[:maxJSONLines-1], line{{p.indent + "…", roleJSONPunct}})
		return errTooLong
	}
	p.lines = append(p.lines, l)
	return nil
}

// value prints the value starting with tok; lead is what its first line
// starts with (indentation and, in an object, the member's key).
func (p *jsonPrinter) value(tok json.Token, depth int, lead line) error {
	pre := p.indent + strings.Repeat("  ", depth)
	if lead == nil {
		lead = line{{pre, roleText}}
	}
	switch t := tok.(type) {
	case json.Delim:
		open, close := string(t), "}"
		if t == '[' {
			close = "]"
		}
		if !p.dec.More() {
			if _, err := p.dec.Token(); err != nil { // the closing delimiter
				return err
			}
			return p.emit(append(lead, span{open + close, roleJSONPunct}))
		}
		if err := p.emit(append(lead, span{open, roleJSONPunct})); err != nil {
			return err
		}
		inner := pre + "  "
		for p.dec.More() {
			var memberLead line
			if t == '{' {
				k, err := p.dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				memberLead = line{{inner, roleText}, {quoteJSON(key), roleJSONKey}, {": ", roleJSONPunct}}
			}
			v, err := p.dec.Token()
			if err != nil {
				return err
			}
			if err := p.value(v, depth+1, memberLead); err != nil {
				return err
			}
			if p.dec.More() {
				last := &p.lines[len(p.lines)-1]
				*last = append(*last, span{",", roleJSONPunct})
			}
		}
		if _, err := p.dec.Token(); err != nil {
			return err
		}
		return p.emit(line{{pre, roleText}, {close, roleJSONPunct}})
	case string:
		return p.emit(append(lead, span{quoteJSON(t), roleJSONString}))
	case json.Number:
		return p.emit(append(lead, span{t.String(), roleJSONNumber}))
	case bool:
		s := "false"
		if t {
			s = "true"
		}
		return p.emit(append(lead, span{s, roleJSONLiteral}))
	case nil:
		return p.emit(append(lead, span{"null", roleJSONLiteral}))
	}
	return errors.New("unexpected JSON token")
}

// quoteJSON renders s as a JSON string literal, without escaping HTML.
func quoteJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
