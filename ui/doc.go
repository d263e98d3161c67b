// Package ui is `conduit dashboard`: a live terminal view of the ledger,
// drawn with tcell, that runs beside a proxy or alone to browse history.
//
// It reads the ledger only (ledger.OpenReadOnly), so it can never slow or
// break the proxy that writes it, and it stays responsive on a ledger of
// millions of calls because it never reads the whole table:
//
//   - A model goroutine polls PRAGMA data_version every 250 ms. When the
//     ledger changed it reads just the calls written since the newest seq
//     it has seen (a rowid range), merges them into the loaded rows and
//     adds them to the window's totals; the totals themselves come from
//     the ledger's quarter-hour rollups. Older calls are loaded a page at
//     a time, by key, as the user scrolls, and at most a couple of
//     thousand are kept. Each change becomes a new immutable snapshot.
//   - One goroutine owns the screen and the view state. It draws with a
//     pure draw(screen, snapshot, view), applies keys with a pure
//     handleKey(view, key) view, and hands what it wants loaded to the
//     model through a mailbox whose latest value wins, so it never waits
//     on a query. Redraws are throttled to about 60 a second.
//   - The header answers "too much?" at a glance: today's and this month's
//     spend, the configured budgets as gauges (budgets.Read over the same
//     ledger), and a chart of spend whose buckets follow the window (per
//     hour over a day, per day over a month), never the terminal's width.
//   - Whatever happens, the terminal is restored: Run finalises the screen
//     on return and on panic (a panic on a helper goroutine is carried to
//     the screen goroutine and re-raised after the terminal is restored).
//
// Logging never writes to the terminal while the dashboard owns it; a
// LogBuffer collects it for an in-UI pane instead. NO_COLOR selects a
// theme without colours (LookupTheme).
package ui
