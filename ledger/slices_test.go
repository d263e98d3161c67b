package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSlicesMatchCalls guards the query budgets count spend with: for
// random windows (aligned to the rollups' quarter hours and not) and
// filters, the slices — from the rollups and raw edges, or from the calls
// with tag sets — sum per dimension to what the calls themselves hold, and
// a slice with tag sets carries exactly its calls' tags.
func TestSlicesMatchCalls(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	db := mustOpen(t)
	recs := randomRecords(rng, 600)
	for i := 0; i < len(recs); i += 150 {
		mustInsert(t, db, recs[i:min(i+150, len(recs))]...)
	}
	ctx := context.Background()
	at := func(minutes int) time.Time { return baseTime.Add(time.Duration(minutes) * time.Minute) }
	windows := [][2]time.Time{{}, {at(15), at(90)}, {at(7), at(200).Add(1234 * time.Millisecond)}, {at(7), {}}, {at(16), at(29)}}
	filters := []Filter{{}, {Provider: "openai"}, {Tag: "a"}, {Project: "web"}, {IncludeOther: true}}
	for _, w := range windows {
		for _, f := range filters {
			f.Since, f.Until = w[0], w[1]
			for _, tagSets := range []bool{false, true} {
				got, err := db.Slices(ctx, f, tagSets)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]Totals{}
				var wantComp = map[string]*float64{}
				for _, r := range recs {
					if !matchesFilter(r, f) {
						continue
					}
					k := sliceKey(r.Provider, r.Model, r.Client, r.Project, r.Outcome, tagsIf(tagSets, normTags(r.Tags)))
					tot := want[k]
					if wantComp[k] == nil {
						wantComp[k] = new(float64)
					}
					tot.add(TotalsOf(r), wantComp[k])
					want[k] = tot
				}
				gotMap := map[string]Totals{}
				for _, s := range got {
					if !tagSets && s.Tags != nil {
						t.Fatalf("a slice without tag sets has tags %v", s.Tags)
					}
					k := sliceKey(s.Provider, s.Model, s.Client, s.Project, s.Outcome, s.Tags)
					if _, dup := gotMap[k]; dup {
						t.Fatalf("slice %s twice", k)
					}
					gotMap[k] = s.Totals
				}
				if len(gotMap) != len(want) {
					t.Fatalf("filter %+v tagSets %v: %d slices, want %d", f, tagSets, len(gotMap), len(want))
				}
				for k, w := range want {
					w.CostUSD += *wantComp[k]
					g := gotMap[k]
					if g.Calls != w.Calls || g.Unpriced != w.Unpriced || g.NoUsage != w.NoUsage || g.InputTokens != w.InputTokens ||
						fmt.Sprintf("%.9f", g.CostUSD) != fmt.Sprintf("%.9f", w.CostUSD) {
						t.Fatalf("filter %+v tagSets %v slice %s:\n got %+v\nwant %+v", f, tagSets, k, g, w)
					}
				}
			}
		}
	}
}

func tagsIf(ok bool, tags []string) []string {
	if !ok || len(tags) == 0 {
		return nil
	}
	return tags
}

func sliceKey(provider, model, client, project, outcome string, tags []string) string {
	return strings.Join([]string{provider, model, client, project, outcome, strings.Join(tags, ",")}, "|")
}

// matchesFilter is Filter's meaning for the fields the test uses, in Go.
func matchesFilter(r Record, f Filter) bool {
	switch {
	case !f.Since.IsZero() && r.StartedAt.Before(f.Since), !f.Until.IsZero() && !r.StartedAt.Before(f.Until):
		return false
	case f.Provider != "" && r.Provider != f.Provider, f.Project != "" && r.Project != f.Project:
		return false
	case f.Tag != "" && !slices.Contains(r.Tags, f.Tag):
		return false
	case !f.IncludeOther && storedKind(r.Kind) != KindCall:
		return false
	}
	return true
}
