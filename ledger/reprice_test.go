package ledger

import (
	"context"
	"errors"
	"testing"
)

// repriceFixture stores four calls: priced, unpriced, without usage, and
// priced through another provider.
func repriceFixture(t *testing.T) *DB {
	t.Helper()
	db := mustOpen(t)
	a := sampleRecord(1)
	a.CostUSD = f64(0.5)
	b := sampleRecord(2)
	b.Model, b.CostUSD, b.CostSource, b.CostNote = "gpt-9", nil, "", "model not in openai's price list"
	c := sampleRecord(3)
	c.HasUsage, c.CostUSD, c.CostSource, c.InputTokens, c.OutputTokens = false, nil, "", 0, 0
	d := sampleRecord(4)
	d.Provider, d.Model, d.CostUSD = "anthropic", "claude-haiku-4-5", f64(0.125)
	mustInsert(t, db, a, b, c, d)
	return db
}

// newPrices prices gpt-4.1 at $0.75 and gpt-9 at $0.25 and leaves the
// rest as stored (costs with exact float sums).
func newPrices(r *Record) {
	if !r.HasUsage {
		return
	}
	switch r.Model {
	case "gpt-4.1":
		r.CostUSD, r.CostSource, r.PriceVersion, r.CostNote = f64(0.75), CostFromTable, "v2", ""
	case "gpt-9":
		r.CostUSD, r.CostSource, r.PriceVersion, r.CostNote = f64(0.25), CostFromTable, "v2", ""
	}
}

// TestReprice checks that a dry run counts without writing, and that a
// repricing rewrites the changed calls and rebuilds the rollups, so that
// totals (read from the rollups) agree with the calls.
func TestReprice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := repriceFixture(t)
	before, err := db.Totals(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	dry, err := db.Reprice(ctx, Filter{}, newPrices, true)
	if err != nil {
		t.Fatal(err)
	}
	want := Repriced{Calls: 4, Changed: 2, NewlyPriced: 1, Before: 0.625, After: 1.125}
	if dry != want {
		t.Errorf("dry run = %+v, want %+v", dry, want)
	}
	if after, _ := db.Totals(ctx, Filter{}); after != before {
		t.Errorf("dry run changed the totals: %+v → %+v", before, after)
	}

	got, err := db.Reprice(ctx, Filter{}, newPrices, false)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("reprice = %+v, want %+v", got, want)
	}
	tot, err := db.Totals(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if tot.CostUSD != 1.125 || tot.Unpriced != 0 || tot.Calls != 4 {
		t.Errorf("totals after reprice %+v", tot)
	}
	tagged, err := db.Totals(ctx, Filter{Tag: "eval"})
	if err != nil {
		t.Fatal(err)
	}
	if tagged.CostUSD != 1.125 {
		t.Errorf("tag totals after reprice %+v", tagged)
	}
	r, ok, err := db.Get(ctx, sampleRecord(2).ID)
	if err != nil || !ok || r.CostUSD == nil || *r.CostUSD != 0.25 || r.PriceVersion != "v2" || r.CostNote != "" {
		t.Errorf("repriced call = %+v, %v, %v", r.Record, ok, err)
	}

	// Nothing left to change.
	again, err := db.Reprice(ctx, Filter{}, newPrices, false)
	if err != nil || again.Changed != 0 {
		t.Errorf("second reprice = %+v, %v", again, err)
	}
}

// TestRepriceFilter checks that only the selected calls are read.
func TestRepriceFilter(t *testing.T) {
	t.Parallel()
	db := repriceFixture(t)
	got, err := db.Reprice(context.Background(), Filter{Provider: "anthropic"}, newPrices, false)
	if err != nil || got.Calls != 1 || got.Changed != 0 {
		t.Errorf("reprice anthropic = %+v, %v", got, err)
	}
	got, err = db.Reprice(context.Background(), Filter{Since: baseTime.Add(2_500 * 1e6)}, newPrices, true)
	if err != nil || got.Calls != 2 {
		t.Errorf("reprice since = %+v, %v", got, err)
	}
}

// TestRepriceReadOnly checks that a read-only ledger can be dry-run but
// not rewritten.
func TestRepriceReadOnly(t *testing.T) {
	t.Parallel()
	db := repriceFixture(t)
	ro, err := OpenReadOnly(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, err := ro.Reprice(context.Background(), Filter{}, newPrices, true); err != nil || got.Changed != 2 {
		t.Errorf("dry run on read-only = %+v, %v", got, err)
	}
	if _, err := ro.Reprice(context.Background(), Filter{}, newPrices, false); !errors.Is(err, ErrReadOnly) {
		t.Errorf("reprice on read-only: %v", err)
	}
}

// TestUnpriced checks the unpriced models with their counts, and that a
// repriced model leaves the list.
func TestUnpriced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := repriceFixture(t)
	got, err := db.Unpriced(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	b := sampleRecord(2)
	want := UnpricedModel{Provider: "openai", Host: "api.openai.com", Model: "gpt-9", Calls: 1,
		InputTokens: b.InputTokens, OutputTokens: b.OutputTokens, Last: b.StartedAt, Note: "model not in openai's price list"}
	if len(got) != 1 || got[0] != want {
		t.Errorf("Unpriced = %+v, want %+v", got, want)
	}
	if _, err := db.Reprice(ctx, Filter{}, newPrices, false); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Unpriced(ctx, Filter{}); err != nil || len(got) != 0 {
		t.Errorf("Unpriced after reprice = %+v, %v", got, err)
	}
}
