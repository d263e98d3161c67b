package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/valohai/conduit/budgets"
	"github.com/valohai/conduit/config"
	"github.com/valohai/conduit/intercept"
	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/ui/numfmt"
)

// budgetsOf maps the config's [budgets.<name>] tables onto the budgets
// package, each naming the place in the file where its limit is set.
func budgetsOf(cfg *config.Config) []budgets.Budget {
	out := make([]budgets.Budget, 0, len(cfg.Budgets))
	for _, b := range cfg.Budgets {
		out = append(out, budgets.Budget{
			Name: b.Name, LimitUSD: b.LimitUSD, Period: budgets.Period(b.Period), WarnAt: b.WarnAt, Enforce: b.Enforce,
			Scope:  budgets.Scope{Provider: b.Provider, Model: b.Model, Tag: b.Tag, Project: b.Project, Client: b.Client},
			Source: cfg.Pos("budgets", b.Name, "limit_usd"),
		})
	}
	return out
}

// budgetAlertsGrace bounds how long a stopping proxy tries to deliver the
// alerts still queued.
const budgetAlertsGrace = 5 * time.Second

// proxyBudgets is the proxy's budgets: the tracker that intercept's
// admission hook asks and every record feeds, and the alert notifiers to
// stop. A nil *proxyBudgets (no budgets configured) does nothing.
type proxyBudgets struct {
	tracker *budgets.Tracker
	closers []interface{ Close(context.Context) error }
	logger  *slog.Logger
}

// startProxyBudgets builds the tracker from the config and counts the
// spend so far from db (nil: the ledger could not be opened; the spend
// then counts from zero, and says so). A notifier that cannot work here
// (no notify-send) is a warning, not a reason to stop.
func startProxyBudgets(ctx context.Context, logger *slog.Logger, cfg *config.Config, db *ledger.DB, up intercept.Upstream) (*proxyBudgets, error) {
	if len(cfg.Budgets) == 0 {
		return nil, nil
	}
	p := &proxyBudgets{logger: logger}
	var notify []budgets.Notifier
	if cfg.Alerts.Desktop {
		d, err := budgets.NewDesktop(budgets.DesktopOptions{Logger: logger})
		if err != nil {
			logger.Warn(fmt.Sprintf("%s: [alerts] desktop: %v", cfg.Pos("alerts", "desktop"), err))
		} else {
			notify = append(notify, d)
			p.closers = append(p.closers, d)
		}
	}
	if cfg.Alerts.Webhook != "" {
		w, err := budgets.NewWebhook(budgets.WebhookOptions{URL: cfg.Alerts.Webhook, Client: webhookClient(up), Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("%s: [alerts] webhook: %w", cfg.Pos("alerts", "webhook"), err)
		}
		notify = append(notify, w)
		p.closers = append(p.closers, w)
		logger.Info("budget alerts go to the webhook " + cfg.Alerts.RedactedWebhook())
	}
	tr, err := budgets.NewTracker(budgets.Options{Budgets: budgetsOf(cfg), Location: cfg.BudgetSettings.Location, Logger: logger, Notify: notify})
	if err != nil {
		p.stop(ctx)
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	p.tracker = tr
	switch {
	case db == nil:
		logger.Warn("budgets: the ledger is not open, so this period's spend so far is unknown: counting from zero")
	default:
		if err := tr.Load(ctx, db); err != nil {
			logger.Warn("budgets: could not count this period's spend so far: counting from zero", "err", err)
		}
	}
	for _, s := range tr.Statuses() {
		logger.Info("budget " + describeStatus(s))
	}
	return p, nil
}

// describeStatus is one budget in words, for the proxy's start.
func describeStatus(s budgets.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s of %s this %s (%s), resets %s", s.Budget.Name, numfmt.USD(s.SpentUSD),
		numfmt.USD(s.Budget.LimitUSD), s.Budget.Period, percent(s.Fraction), s.ResetsAt.Format("2006-01-02 15:04 MST"))
	if s.Unpriced > 0 {
		fmt.Fprintf(&b, "; %d unpriced calls not counted", s.Unpriced)
	}
	switch {
	case s.Over() && s.Budget.Enforce:
		b.WriteString("; over its limit: calls in its scope are refused")
	case s.Budget.Enforce:
		b.WriteString("; enforced")
	}
	return b.String()
}

// webhookClient sends alerts as Conduit's other outbound connections go:
// through [upstream] proxy (NO_PROXY and loopback direct), trusting
// [upstream] ca_file's roots too.
func webhookClient(up intercept.Upstream) *http.Client {
	tr := &http.Transport{Proxy: nil, TLSHandshakeTimeout: 10 * time.Second}
	if up.Proxy != nil {
		pf := (&httpproxy.Config{HTTPProxy: up.Proxy.String(), HTTPSProxy: up.Proxy.String(), NoProxy: up.NoProxy}).ProxyFunc()
		tr.Proxy = func(r *http.Request) (*url.URL, error) { return pf(r.URL) }
	}
	if up.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: up.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// observe counts a priced record.
func (p *proxyBudgets) observe(rec ledger.Record) {
	if p != nil {
		p.tracker.Observe(rec)
	}
}

// admit is intercept's admission hook: nil when no budget is enforced, so
// calls skip it entirely.
func (p *proxyBudgets) admit() func(*http.Request, ledger.Record) *intercept.Refusal {
	if p == nil || !p.tracker.Enforcing() {
		return nil
	}
	return func(_ *http.Request, rec ledger.Record) *intercept.Refusal {
		ex := p.tracker.Admit(rec)
		if ex == nil {
			return nil
		}
		return &intercept.Refusal{Status: http.StatusTooManyRequests, Type: typeBudgetExceeded, Message: ex.Message(), Outcome: ledger.OutcomeBudgetRefused}
	}
}

// typeBudgetExceeded is the error type a refused client sees.
const typeBudgetExceeded = "conduit_budget_exceeded"

// stop delivers the alerts still queued, within budgetAlertsGrace.
func (p *proxyBudgets) stop(ctx context.Context) {
	if p == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budgetAlertsGrace)
	defer cancel()
	for _, c := range p.closers {
		if err := c.Close(sctx); err != nil {
			p.logger.Warn(err.Error())
		}
	}
}

// percent is a fraction as a whole percentage: "32%".
func percent(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }
