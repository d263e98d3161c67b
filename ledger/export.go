package ledger

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ExportFormat is an output format of Export.
type ExportFormat string

// Export formats.
const (
	JSONL ExportFormat = "jsonl"
	CSV   ExportFormat = "csv"
)

// ParseExportFormat parses "jsonl" or "csv".
func ParseExportFormat(s string) (ExportFormat, error) {
	switch f := ExportFormat(strings.ToLower(strings.TrimSpace(s))); f {
	case JSONL, CSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown export format %q: want jsonl or csv", s)
}

// ExportFields are the fields of an exported call, in order: the keys of a
// JSONL line and the header of the CSV. They are a public interface (the
// README documents them); add fields only at the end, never rename.
//
//	id                   the call's UUIDv7 (also the Valohai transit_id)
//	started_at           when the request arrived, RFC 3339 UTC with milliseconds
//	provider             the [providers.<key>] key, or the built-in name in forward mode
//	api                  the API format: openai, anthropic, gemini or ollama
//	mode                 how the call came in: base_url or forward
//	method               the HTTP method
//	path                 the upstream path and query (credentials removed)
//	model                the model the response named, else the request's; null if unknown
//	stream               whether the response was streamed
//	status               the HTTP status returned to the client; null if none
//	outcome              complete, incomplete, client_cancelled, upstream_error, no_usage,
//	                     invalid_usage or budget_refused
//	input_tokens         all prompt tokens, cache reads and writes included; null: no usage
//	cached_input_tokens  prompt tokens read from the provider's cache; null: no usage
//	cache_write_tokens   prompt tokens written to the provider's cache; null: no usage
//	output_tokens        all generated tokens, reasoning included; null: no usage
//	reasoning_tokens     the reasoning share of output_tokens; null: no usage
//	cost_usd             the call's cost in USD; null when no price is known (never 0 for unknown)
//	ttfb_ms              request sent to first response byte, ms; null if no response
//	duration_ms          request received to response finished, ms
//	request_id           the provider's request id header (x-request-id / request-id); null if none
//	response_id          the provider's id in the response body; null if none
//	client               the client's User-Agent; null if none
//	vh_headers           the x-vh-* request headers, an object (names lowercased); {} if none
//	tags                 the x-conduit-tag values, an array; [] if none
//	usage                the provider's own usage object, unchanged; null if none
//	kind                 call (a metered LLM API call) or other (any other request)
//	project              the project the call was made for; null if none
//	session              the agent session (one conduit run) it belongs to; null if none
//	connection_id        the WebSocket connection the response came on; null for plain HTTP
//	price_version        the version of the price data that priced it; null if none
//	cost_note            why the call, or part of it, is unpriced; null when fully priced
//	usage_detail         the usage splits pricing needs beyond the main counts
//	                     (audio/image tokens, billed iterations), an object; null if none
//	truncated            the fields cut at their caps when recorded (path, usage, error,
//	                     model, client, tags, vh_headers, …), an array; [] if none
//
// In CSV, null is an empty cell, vh_headers, tags, usage and usage_detail
// are JSON text, and truncated is the field names separated by commas.
var ExportFields = []string{
	"id", "started_at", "provider", "api", "mode", "method", "path", "model", "stream",
	"status", "outcome", "input_tokens", "cached_input_tokens", "cache_write_tokens",
	"output_tokens", "reasoning_tokens", "cost_usd", "ttfb_ms", "duration_ms",
	"request_id", "response_id", "client", "vh_headers", "tags", "usage",
	"kind", "project", "session", "connection_id", "price_version", "cost_note", "usage_detail",
	"truncated",
}

const exportColumns = `calls.id, calls.started_at, calls.provider, calls.api, calls.mode,
	calls.method, calls.path, calls.model, calls.stream, calls.status, calls.outcome,
	calls.input_tokens, calls.cached_input_tokens, calls.cache_write_tokens,
	calls.output_tokens, calls.reasoning_tokens, calls.cost_usd, calls.ttfb_ms,
	calls.duration_ms, calls.request_id, calls.response_id, calls.client,
	calls.vh_headers, calls.tags, calls.usage, calls.kind, calls.project, calls.session,
	calls.connection_id, calls.price_version, calls.cost_note, calls.usage_detail, calls.truncated`

// exportRow holds one row's columns; the byte slices are valid until the
// next rows.Next.
type exportRow struct {
	id, provider, api, mode, method, path, outcome  sql.RawBytes
	model, reqID, respID, client, vh, tags, usage   sql.RawBytes
	kind, project, session, connID                  sql.RawBytes
	priceVersion, costNote, detail, truncated       sql.RawBytes
	started, stream, duration                       int64
	status, in, cached, write, out, reasoning, ttfb sql.NullInt64
	cost                                            sql.NullFloat64
}

func (r *exportRow) dest() []any {
	return []any{&r.id, &r.started, &r.provider, &r.api, &r.mode, &r.method, &r.path,
		&r.model, &r.stream, &r.status, &r.outcome, &r.in, &r.cached, &r.write, &r.out,
		&r.reasoning, &r.cost, &r.ttfb, &r.duration, &r.reqID, &r.respID, &r.client,
		&r.vh, &r.tags, &r.usage, &r.kind, &r.project, &r.session, &r.connID,
		&r.priceVersion, &r.costNote, &r.detail, &r.truncated}
}

// Export writes every call matching f to w, oldest first, one per line
// (JSONL) or row (CSV, with a header), and returns how many it wrote. It
// streams: rows are encoded as they are read, never all held at once, so it
// runs in constant memory on any ledger and alongside a writing proxy (it
// sees the ledger as of its start).
func (db *DB) Export(ctx context.Context, w io.Writer, format ExportFormat, f Filter) (int64, error) {
	if format != JSONL && format != CSV {
		return 0, fmt.Errorf("ledger export: unknown format %q", format)
	}
	where, args := f.where()
	rows, err := db.read.QueryContext(ctx, "SELECT "+exportColumns+" FROM calls WHERE "+where+
		" ORDER BY calls.started_at, calls.seq", args...)
	if err != nil {
		return 0, fmt.Errorf("ledger export: %w", err)
	}
	defer rows.Close()

	bw := bufio.NewWriterSize(w, 64<<10)
	var cw *csv.Writer
	if format == CSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write(ExportFields); err != nil {
			return 0, fmt.Errorf("ledger export: %w", err)
		}
	}
	var (
		r    exportRow
		dest = r.dest()
		line []byte
		rec  = make([]string, len(ExportFields))
		n    int64
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, fmt.Errorf("ledger export: %w", err)
		}
		if format == JSONL {
			line = r.appendJSON(line[:0])
			if _, err := bw.Write(line); err != nil {
				return n, fmt.Errorf("ledger export: write: %w", err)
			}
		} else {
			r.csvRecord(rec)
			if err := cw.Write(rec); err != nil {
				return n, fmt.Errorf("ledger export: write: %w", err)
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("ledger export: %w", err)
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, fmt.Errorf("ledger export: write: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("ledger export: write: %w", err)
	}
	return n, nil
}

// exportTime formats a stored Unix-ms time as RFC 3339 UTC with
// milliseconds.
func exportTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func (r *exportRow) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, r.id)
	b = append(b, `,"started_at":"`...)
	b = append(b, exportTime(r.started)...)
	b = append(b, `","provider":`...)
	b = appendJSONString(b, r.provider)
	b = append(b, `,"api":`...)
	b = appendJSONString(b, r.api)
	b = append(b, `,"mode":`...)
	b = appendJSONString(b, r.mode)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, r.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, r.path)
	b = append(b, `,"model":`...)
	b = appendJSONNullString(b, r.model)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, r.stream != 0)
	b = append(b, `,"status":`...)
	b = appendJSONNullInt(b, r.status)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, r.outcome)
	b = append(b, `,"input_tokens":`...)
	b = appendJSONNullInt(b, r.in)
	b = append(b, `,"cached_input_tokens":`...)
	b = appendJSONNullInt(b, r.cached)
	b = append(b, `,"cache_write_tokens":`...)
	b = appendJSONNullInt(b, r.write)
	b = append(b, `,"output_tokens":`...)
	b = appendJSONNullInt(b, r.out)
	b = append(b, `,"reasoning_tokens":`...)
	b = appendJSONNullInt(b, r.reasoning)
	b = append(b, `,"cost_usd":`...)
	if r.cost.Valid {
		b = AppendCost(b, r.cost.Float64)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"ttfb_ms":`...)
	b = appendJSONNullInt(b, r.ttfb)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, r.duration, 10)
	b = append(b, `,"request_id":`...)
	b = appendJSONNullString(b, r.reqID)
	b = append(b, `,"response_id":`...)
	b = appendJSONNullString(b, r.respID)
	b = append(b, `,"client":`...)
	b = appendJSONNullString(b, r.client)
	b = append(b, `,"vh_headers":`...)
	b = appendRawJSON(b, r.vh, "{}")
	b = append(b, `,"tags":`...)
	b = appendRawJSON(b, r.tags, "[]")
	b = append(b, `,"usage":`...)
	b = appendRawJSON(b, r.usage, "null")
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, r.kind)
	b = append(b, `,"project":`...)
	b = appendJSONNullString(b, r.project)
	b = append(b, `,"session":`...)
	b = appendJSONNullString(b, r.session)
	b = append(b, `,"connection_id":`...)
	b = appendJSONNullString(b, r.connID)
	b = append(b, `,"price_version":`...)
	b = appendJSONNullString(b, r.priceVersion)
	b = append(b, `,"cost_note":`...)
	b = appendJSONNullString(b, r.costNote)
	b = append(b, `,"usage_detail":`...)
	b = appendRawJSON(b, r.detail, "null")
	b = append(b, `,"truncated":[`...)
	for i, f := range bytes.Split(r.truncated, []byte(",")) {
		if len(f) == 0 {
			continue
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f)
	}
	return append(b, "]}\n"...)
}

func (r *exportRow) csvRecord(rec []string) {
	str := func(b sql.RawBytes) string { return CSVCell(string(b)) }
	num := func(v sql.NullInt64) string {
		if !v.Valid {
			return ""
		}
		return strconv.FormatInt(v.Int64, 10)
	}
	cost := ""
	if r.cost.Valid {
		cost = string(AppendCost(nil, r.cost.Float64))
	}
	rawOr := func(b sql.RawBytes, empty string) string {
		if b == nil {
			return empty
		}
		return string(b)
	}
	copy(rec, []string{
		str(r.id), exportTime(r.started), str(r.provider), str(r.api), str(r.mode),
		str(r.method), str(r.path), str(r.model), strconv.FormatBool(r.stream != 0),
		num(r.status), str(r.outcome), num(r.in), num(r.cached), num(r.write), num(r.out),
		num(r.reasoning), cost, num(r.ttfb), strconv.FormatInt(r.duration, 10),
		str(r.reqID), str(r.respID), str(r.client),
		rawOr(r.vh, "{}"), rawOr(r.tags, "[]"), rawOr(r.usage, ""),
		str(r.kind), str(r.project), str(r.session), str(r.connID), str(r.priceVersion),
		str(r.costNote), rawOr(r.detail, ""), str(r.truncated),
	})
}

// CSVCell makes a text cell safe for a spreadsheet to open: a cell that
// starts with = + - @, a tab or a carriage return would be read as a
// formula (OWASP's CSV injection advice), so it gets a leading ' and is
// shown as text. Other cells are returned as they are; numbers never go
// through it.
func CSVCell(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func appendJSONNullInt(b []byte, v sql.NullInt64) []byte {
	if !v.Valid {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, v.Int64, 10)
}

func appendJSONNullString(b []byte, s sql.RawBytes) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// appendRawJSON appends stored JSON text, or empty when it is NULL or (it
// never should be) not valid JSON.
func appendRawJSON(b []byte, raw sql.RawBytes, empty string) []byte {
	if raw == nil || !json.Valid(raw) {
		return append(b, empty...)
	}
	return append(b, raw...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028
// and U+2029 escaped for JavaScript consumers.
func appendJSONString(b []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// AppendCost appends a cost in USD as every export and report writes it for
// programs: a plain decimal with as many digits as it takes to read back
// the same float, never an exponent ("0.00000555", not "5.55e-06"), so
// that a spreadsheet, jq or a Python script reads the same number from
// JSONL and CSV alike.
func AppendCost(b []byte, usd float64) []byte {
	return strconv.AppendFloat(b, usd, 'f', -1, 64)
}
