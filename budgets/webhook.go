package budgets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"
)

// WebhookOptions configure a Webhook. Zero values take the defaults.
type WebhookOptions struct {
	// URL receives a JSON POST per alert (see Webhook). It is a secret (a
	// Slack or Teams hook URL is its own credential): logs and errors show
	// only its scheme and host.
	URL string
	// Client sends the requests; nil: a direct client with a 10 s timeout.
	Client *http.Client
	// QueueSize bounds the alerts waiting to be sent; default 64.
	QueueSize int
	// MaxAttempts bounds the tries per alert; default 6.
	MaxAttempts int
	// BaseDelay is the wait before the first retry, doubled before each
	// next one up to MaxDelay; defaults 1 s and 2 min. Each wait is drawn
	// between half of it and all of it ("equal jitter"), so proxies that
	// crossed a threshold together do not retry in step.
	BaseDelay, MaxDelay time.Duration
	Logger              *slog.Logger

	// after and jitter replace the timer and the random draw in tests.
	after  func(time.Duration) <-chan time.Time
	jitter func(time.Duration) time.Duration
}

// Webhook posts alerts to a URL, never blocking the call that raised one:
// alerts queue (bounded) and one goroutine sends them, retrying a network
// error, a timeout, 408, 425, 429 or a 5xx with exponential backoff, and
// giving up on other statuses. The body is WebhookPayload as JSON; its
// "text" field makes it a valid Slack or Mattermost message too.
type Webhook struct {
	*queue
	o       WebhookOptions
	display string
}

// WebhookPayload is the JSON body of a webhook POST: a public interface,
// documented in the README.
type WebhookPayload struct {
	Text          string  `json:"text"` // the alert in words
	Budget        string  `json:"budget"`
	Period        string  `json:"period"`       // day, week or month
	PeriodLabel   string  `json:"period_label"` // 2026-01-05, 2026-W02, 2026-01
	PeriodStart   string  `json:"period_start"` // RFC 3339, in the configured time zone
	ResetsAt      string  `json:"resets_at"`
	SpentUSD      float64 `json:"spent_usd"`
	LimitUSD      float64 `json:"limit_usd"`
	Fraction      float64 `json:"fraction"`      // spent / limit
	Threshold     float64 `json:"threshold"`     // the warn_at fraction crossed; 1 for the limit
	LimitReached  bool    `json:"limit_reached"` // threshold is the limit
	Enforce       bool    `json:"enforce"`       // calls in scope are refused past the limit
	Calls         int64   `json:"calls"`
	UnpricedCalls int64   `json:"unpriced_calls"` // in scope, not in spent_usd
	At            string  `json:"at"`             // when the threshold was crossed
	Source        string  `json:"source"`         // "conduit"
}

// NewPayload is the webhook body for a.
func NewPayload(a Alert) WebhookPayload {
	return WebhookPayload{
		Text: "Conduit: " + a.Message(), Budget: a.Budget.Name, Period: string(a.Budget.Period),
		PeriodLabel: a.Budget.Period.Label(a.PeriodStart), PeriodStart: a.PeriodStart.Format(time.RFC3339),
		ResetsAt: a.ResetsAt.Format(time.RFC3339), SpentUSD: roundUSD(a.SpentUSD), LimitUSD: a.Budget.LimitUSD,
		Fraction: roundUSD(a.Fraction), Threshold: a.Threshold, LimitReached: a.Limit(), Enforce: a.Budget.Enforce,
		Calls: a.Calls, UnpricedCalls: a.Unpriced, At: a.At.In(a.PeriodStart.Location()).Format(time.RFC3339), Source: "conduit",
	}
}

// NewWebhook checks the URL and starts the sender. Close it to deliver
// what is queued.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("budget alerts: the webhook is not an http(s) URL")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = time.Second
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 2 * time.Minute
	}
	if o.after == nil {
		o.after = time.After
	}
	if o.jitter == nil {
		o.jitter = func(d time.Duration) time.Duration { return rand.N(d + 1) }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &Webhook{o: o, display: RedactURL(u)}
	w.queue = newQueue("webhook "+w.display, o.QueueSize, o.Logger, w.send)
	return w, nil
}

// RedactURL shows a secret URL as scheme://host, with "/…" when it had
// more.
func RedactURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		s += "/…"
	}
	return s
}

// send delivers one alert, retrying as NewWebhook's doc says.
func (w *Webhook) send(ctx context.Context, a Alert) {
	body, err := json.Marshal(NewPayload(a))
	if err != nil {
		w.o.Logger.Error("budget alerts: "+w.name+": cannot encode the alert", "err", err)
		return
	}
	delay := w.o.BaseDelay
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			w.o.Logger.Debug("budget alerts: "+w.name+": sent", "budget", a.Budget.Name, "attempt", attempt)
			return
		}
		if !retry || attempt == w.o.MaxAttempts || ctx.Err() != nil {
			w.o.Logger.Warn(fmt.Sprintf("budget alerts: %s: gave up on an alert after %d attempts", w.name, attempt),
				"budget", a.Budget.Name, "err", err)
			return
		}
		wait := delay/2 + w.o.jitter(delay/2)
		select {
		case <-w.o.after(wait):
		case <-ctx.Done():
			w.o.Logger.Warn("budget alerts: "+w.name+": stopped before an alert was sent", "budget", a.Budget.Name, "err", err)
			return
		}
		delay = min(2*delay, w.o.MaxDelay)
	}
}

// post makes one attempt; retry says whether another may succeed.
func (w *Webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("cannot make the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "conduit (budget alerts)")
	resp, err := w.o.Client.Do(req)
	if err != nil {
		// The error names the URL: keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return false, nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooEarly,
		resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return true, fmt.Errorf("answered %s", resp.Status)
	}
	return false, fmt.Errorf("answered %s", resp.Status)
}
