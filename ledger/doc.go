// Package ledger keeps one row per proxied call in a local SQLite file and
// answers the questions asked of it: the dashboard's newest-first pages and
// totals, `conduit report`'s groupings, `conduit export`'s stream of every
// call, and the Valohai sync's queue of unsent records.
//
// Why SQLite, and how it is used: the proxy is the only writer (one
// connection, WAL journal, synchronous=NORMAL), and any number of other
// processes read the same file at the same time (read-only connections, a
// busy timeout) without ever blocking it. The proxy never writes on the
// request path: it hands each finished call to a Writer, which queues it
// (bounded, never blocking) and commits batches in single transactions. A
// slow, locked or full disk makes records wait in the queue, not calls fail.
//
// Times are stored as integer Unix milliseconds (UTC): they sort and
// compare as plain integers, so time windows and newest-first pages are
// index range scans. Token columns are NULL when a call carried no usage,
// and cost_usd is NULL when no price was known: unknown is never stored as
// zero. Nothing secret is stored; the schema has no column that could hold
// a credential.
//
// Requests to a provider that are not metered API calls (model lists,
// telemetry, token counts) are kept too, as records of kind other, and
// every query leaves them out unless its Filter includes them: counts,
// costs and lists are of calls.
//
// The schema is versioned with PRAGMA user_version and migrated at Open; a
// ledger written by a newer Conduit is refused with an error naming both
// versions rather than misread.
package ledger
