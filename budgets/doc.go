// Package budgets answers "is it too much?" for the calls Conduit records:
// spending limits per calendar period, warnings as the spend crosses
// fractions of a limit, and the refusal of new calls once an enforced limit
// is reached.
//
// A [Budget] is a limit in USD per [Period] (a calendar day, ISO week or
// month in a configured time zone, daylight-saving changes included) over
// the calls in its [Scope]: provider, model, tag, project and client
// patterns, all of which must match. Patterns take path.Match's syntax
// ('*', '?', '[a-z]', '\' escapes), except that '*' and '?' also match '/'
// (User-Agents and some model names have slashes). A call matches a tag
// pattern when any of its tags does. Only priced calls move the spend: a
// call with usage but no known price cannot count, so every figure comes
// with the number of such calls in scope.
//
// Why in memory: the proxy decides each call before it goes upstream
// ([Tracker.Admit]), and that decision must cost no I/O. So the [Tracker]
// counts each budget's spend in its current period from the ledger once, at
// start ([Tracker.Load], from the rollups: a few hundred rows however many
// calls), and then adds every call the proxy records ([Tracker.Observe],
// after pricing). The ledger stays the one source of truth: a Tracker never
// writes to it, and [Read] gives `conduit budget` and the dashboard the same
// figures from the ledger alone, with no proxy running.
//
// Alerts: each threshold (the budget's warn_at fractions, then the limit
// itself) alerts once per period. Whether a threshold was already crossed is
// derived from the spend, not stored: at start every threshold the spend is
// past counts as warned, so a proxy that restarts mid-period stays quiet
// about what it already said, with no state file to keep in step with the
// ledger. An [Alert] is a log line (the Tracker's logger) and goes to each
// [Notifier]: [Desktop] notifications and a [Webhook], both queued and sent
// on goroutines of their own, so an alert never delays a call.
package budgets
