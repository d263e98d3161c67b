package book

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// SourceMeta names the source data being compiled.
type SourceMeta struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Date is when the data was published (YYYY-MM-DD): which of two
	// books is newer.
	Date    string `json:"date"`
	License string `json:"license"`
	URL     string `json:"url"`
}

// Options change how Compile treats the overlay.
type Options struct {
	// SkipStale skips the overlay corrections that no longer apply (the
	// source fixed them) and lists them in Book.Stale, instead of
	// failing: for data downloaded after the overlay was written.
	SkipStale bool
}

// maxUSDPerBlock bounds a rate: no real price is anywhere near 100,000 USD
// per million tokens or per thousand requests, and the bound keeps every
// product of a rate and a token count far inside int64.
const maxUSDPerBlock = 100_000

// microPerUSD converts USD to the book's integer unit.
const microPerUSD = 1e6

// Compile turns source data (the genai-prices feed) and an overlay into a
// book. It fails on anything it does not understand, naming where.
func Compile(meta SourceMeta, source, overlay []byte, opts Options) (*Book, error) {
	if meta.Name == "" || meta.Version == "" {
		return nil, fmt.Errorf("source: name and version are required")
	}
	if d, err := time.Parse(time.DateOnly, meta.Date); err != nil || d.Format(time.DateOnly) != meta.Date {
		return nil, fmt.Errorf("source: date %q is not a date (YYYY-MM-DD)", meta.Date)
	}
	providers, err := parseSource(source)
	if err != nil {
		return nil, err
	}
	ov, err := ParseOverlay(overlay)
	if err != nil {
		return nil, err
	}
	stale, err := ov.apply(providers, opts.SkipStale)
	if err != nil {
		return nil, err
	}
	srcSum := sha256.Sum256(source)
	ovSum := sha256.Sum256(overlay)
	ovHex := hex.EncodeToString(ovSum[:])
	b := &Book{
		Format:  Format,
		Version: fmt.Sprintf("genai-prices %s + overlay %s", meta.Version, ovHex[:12]),
		Source: Source{Name: meta.Name, Version: meta.Version, Date: meta.Date, License: meta.License, URL: meta.URL,
			SHA256: hex.EncodeToString(srcSum[:])},
		Overlay: OverlayInfo{SHA256: ovHex, Corrections: len(ov.Corrections) - countCorrections(ov, stale)},
		Stale:   stale,
	}
	for _, mo := range ov.Multipliers {
		if !mo.skipped(stale) {
			b.Multipliers = append(b.Multipliers, mo.compiled())
		}
	}
	for pi, sp := range providers {
		path := fmt.Sprintf("providers[%d] (%s)", pi, sp.ID)
		p := Provider{ID: sp.ID, APIPattern: sp.APIPattern, Fallback: sp.FallbackModelProviders}
		if p.ProviderMatch, err = translateOptional(sp.ProviderMatch); err != nil {
			return nil, fmt.Errorf("%s.provider_match: %w", path, err)
		}
		if p.ModelMatch, err = translateOptional(sp.ModelMatch); err != nil {
			return nil, fmt.Errorf("%s.model_match: %w", path, err)
		}
		for mi, sm := range sp.models {
			mpath := fmt.Sprintf("%s.models[%d] (%s)", path, mi, sm.ID)
			m := Model{ID: sm.ID}
			if m.Match, err = translate(*sm.Match); err != nil {
				return nil, fmt.Errorf("%s.match: %w", mpath, err)
			}
			for i, sper := range sm.periods {
				per, err := compilePeriod(sper, func(key string, from float64, to int64) {
					b.Rounded = append(b.Rounded, Rounded{Provider: sp.ID, Model: sm.ID, Key: key, From: from, To: to})
				})
				if err != nil {
					return nil, fmt.Errorf("%s.prices[%d]%w", mpath, i, err)
				}
				m.Periods = append(m.Periods, per)
			}
			p.Models = append(p.Models, m)
		}
		b.Providers = append(b.Providers, p)
	}
	sort.Slice(b.Rounded, func(i, j int) bool {
		x, y := b.Rounded[i], b.Rounded[j]
		return x.Provider+"\x00"+x.Model+"\x00"+x.Key < y.Provider+"\x00"+y.Model+"\x00"+y.Key
	})
	return b, nil
}

func translateOptional(m *Match) (*Match, error) {
	if m == nil {
		return nil, nil
	}
	t, err := translate(*m)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// compilePeriod converts one price set to integer micro-dollars, sorts
// tiers as genai-prices does, and checks the set against the unit
// registry's rules (engine.ts validatePricedUnits): each priced unit's
// ancestors are priced, and any two units that can overlap have their
// join priced, so that every count falls in exactly one priced unit.
func compilePeriod(sp srcPeriod, rounded func(key string, from float64, to int64)) (Period, error) {
	per := Period{StartDate: sp.StartDate, StartTime: sp.StartTime, EndTime: sp.EndTime, Prices: map[string]Price{}}
	conv := func(key string, usd float64) (int64, error) {
		if math.IsNaN(usd) || math.IsInf(usd, 0) || usd < 0 || usd > maxUSDPerBlock {
			return 0, fmt.Errorf(".%s: %v is not a price (0 to %d USD per block)", key, usd, maxUSDPerBlock)
		}
		f := usd * microPerUSD
		v := math.Round(f)
		if math.Abs(f-v) > 1e-6 {
			rounded(key, usd, int64(v))
		}
		return int64(v), nil
	}
	var priced []*Unit
	for key, sprice := range sp.Prices {
		u := UnitForPriceKey(key)
		priced = append(priced, u)
		var p Price
		var err error
		if p.Base, err = conv(key, sprice.Base); err != nil {
			return Period{}, err
		}
		tiers := append([]srcTier(nil), sprice.Tiers...)
		sort.SliceStable(tiers, func(i, j int) bool { return tiers[i].Start < tiers[j].Start })
		for i, t := range tiers {
			if t.Start < 0 || (i > 0 && t.Start == tiers[i-1].Start) {
				return Period{}, fmt.Errorf(".%s.tiers: start %d is negative or repeated", key, t.Start)
			}
			v, err := conv(key, t.Price)
			if err != nil {
				return Period{}, err
			}
			p.Tiers = append(p.Tiers, Tier{Start: t.Start, Price: v})
		}
		per.Prices[key] = p
	}
	sort.Slice(priced, func(i, j int) bool { return priced[i].UsageKey < priced[j].UsageKey })
	has := map[*Unit]bool{}
	for _, u := range priced {
		has[u] = true
	}
	for _, u := range priced {
		for i := range units {
			a := &units[i]
			if a != u && a.IsAncestorOf(u) && !has[a] {
				return Period{}, fmt.Errorf(": %s is priced but its parent %s is not", u.PriceKey, a.PriceKey)
			}
		}
	}
	for i, u := range priced {
		for _, v := range priced[i+1:] {
			if !compatible(u, v) || u.IsAncestorOf(v) || v.IsAncestorOf(u) {
				continue
			}
			if j := join(u, v); j == nil || !has[j] {
				name := "(none in the registry)"
				if j != nil {
					name = j.PriceKey
				}
				return Period{}, fmt.Errorf(": %s and %s overlap but their join %s is not priced", u.PriceKey, v.PriceKey, name)
			}
		}
	}
	return per, nil
}

// Summary counts what a book prices, for the generator's report.
func (b *Book) Summary() string {
	models := 0
	for _, p := range b.Providers {
		models += len(p.Models)
	}
	return fmt.Sprintf("%s: %d providers, %d models, %d corrections, %d multipliers, %d rounded rates",
		strings.TrimSpace(b.Version), len(b.Providers), models, b.Overlay.Corrections, len(b.Multipliers), len(b.Rounded))
}

// Build reads the source's metadata, the source data and the overlay from
// the given files and compiles them.
func Build(metaPath, sourcePath, overlayPath string) (*Book, error) {
	metaData, err := os.ReadFile(metaPath)
	if err != nil {
		return nil, err
	}
	var meta SourceMeta
	if err := strict(metaData, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", metaPath, err)
	}
	source, err := os.ReadFile(sourcePath)
	if err != nil {
		return nil, err
	}
	overlay, err := os.ReadFile(overlayPath)
	if err != nil {
		return nil, err
	}
	b, err := Compile(meta, source, overlay, Options{})
	if err != nil {
		return nil, fmt.Errorf("%s + %s: %w", sourcePath, overlayPath, err)
	}
	return b, nil
}

// countCorrections counts the corrections (not multipliers) among stale.
func countCorrections(ov *Overlay, stale []string) int {
	n := 0
	for _, c := range ov.Corrections {
		if slices.Contains(stale, c.ID) {
			n++
		}
	}
	return n
}
