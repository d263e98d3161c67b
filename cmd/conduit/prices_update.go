package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/valohai/conduit/ledger/pricing"
)

var pricesUpdateCmd = &command{
	name:    "prices update",
	summary: "Download, check and store the newest price data",
	help: `Download, check and store the newest price data

Usage: conduit prices update [OPTIONS]

Downloads genai-prices' current data (through HTTPS_PROXY when it is set),
compiles it with the built-in corrections and checks it: a format this
conduit understands, no negative or absurd rate, and every model the
built-in book prices still there. Data that passes and is newer than the
price data in use (its Last-Modified date, else today) is stored under your
config directory; the proxy prices with it from its next start. Data that
fails a check, or is not newer, is not stored: the built-in book, or the
data downloaded before, stays in use. Nothing is downloaded unless you run
this.

Options:
      --url <URL>  Where to download from
                   [default: [ledger] prices_url, else
                   ` + pricing.DefaultUpdateURL + `]
` + globalOptionsHelp + `
Examples:
  conduit prices update
  HTTPS_PROXY=http://proxy.corp:3128 conduit prices update
  conduit prices update --url https://mirror.example/genai-prices/data.json
`,
	run: runPricesUpdate,
}

// maxPriceData bounds a download: the whole feed is well under a megabyte.
const maxPriceData = 32 << 20

// pricesProxy picks the proxy for the download: the user's HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY.
var pricesProxy = http.ProxyFromEnvironment

func runPricesUpdate(ctx context.Context, a *app, cmd *command, args []string) error {
	fs := a.flagSet(cmd)
	url := fs.String("url", "", "")
	rest, err := a.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("prices update: unexpected argument '%s'; run 'conduit prices update --help' for usage", rest[0])
	}
	if *url == "" {
		cfg, err := a.optionalConfig()
		if err != nil {
			return err
		}
		*url = pricing.DefaultUpdateURL
		if cfg != nil && cfg.Ledger.PricesURL != "" {
			*url = cfg.Ledger.PricesURL
		}
	}
	if !strings.HasPrefix(*url, "https://") && !strings.HasPrefix(*url, "http://") {
		return usageErrorf("prices update: --url %q: want an http:// or https:// URL", *url)
	}
	dir, err := pricing.UpdateDir()
	if err != nil {
		return err
	}
	data, date, err := downloadPrices(ctx, *url)
	if err != nil {
		return fmt.Errorf("prices update: %w; the price data in use is unchanged", err)
	}
	u, err := pricing.CheckUpdate(data, *url, date)
	if err != nil {
		return fmt.Errorf("prices update: %w; the price data in use is unchanged", err)
	}

	current, currentDesc := pricing.EmbeddedDate(), "the built-in book"
	stored, err := pricing.LoadUpdate(dir)
	if err != nil {
		fmt.Fprintf(a.stderr, "conduit: prices update: replacing the stored data, which is unusable: %v\n", err)
	}
	if stored != nil && stored.Date.After(current) {
		current, currentDesc = stored.Date, "the data downloaded before"
	}
	if stored != nil && stored.SHA256 == u.SHA256 {
		fmt.Fprintf(a.stdout, "Already up to date: the data at %s is the data downloaded before (%s).\n", *url, u.Version)
		return nil
	}
	if !u.Date.After(current) {
		fmt.Fprintf(a.stdout, "Not updated: the data at %s is dated %s, not newer than %s (%s); it stays in use.\n",
			*url, u.Date.Format(time.DateOnly), currentDesc, current.Format(time.DateOnly))
		return nil
	}
	if err := u.Save(dir); err != nil {
		return fmt.Errorf("prices update: %w", err)
	}
	fmt.Fprintf(a.stdout, "Downloaded %s (%s): %d providers, %d models.\n", *url, u.Version, u.Providers, u.Models)
	fmt.Fprintf(a.stdout, "Checked: every rate is a price, and every model of the built-in book is there.\n")
	if len(u.Stale) > 0 {
		fmt.Fprintf(a.stdout, "Corrections the data no longer needs, left out: %s.\n", strings.Join(u.Stale, ", "))
	}
	fmt.Fprintf(a.stdout, "Stored in %s; the proxy prices with it from its next start. Run 'conduit reprice' to recompute recorded costs.\n", dir)
	return nil
}

// downloadPrices fetches url and returns its body and date (Last-Modified,
// else now).
func downloadPrices(ctx context.Context, url string) ([]byte, time.Time, error) {
	client := &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			Proxy:               pricesProxy,
			TLSHandshakeTimeout: 30 * time.Second,
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	req.Header.Set("User-Agent", "conduit/"+versionString()+" (prices update)")
	resp, err := client.Do(req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("download %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPriceData+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("download %s: %w", url, err)
	}
	if len(data) > maxPriceData {
		return nil, time.Time{}, fmt.Errorf("download %s: more than %d MiB, not price data", url, maxPriceData>>20)
	}
	date := time.Now().UTC()
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		date = t.UTC()
	}
	return data, date, nil
}
