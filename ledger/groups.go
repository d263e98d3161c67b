package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// GroupBy names a grouping of calls.
type GroupBy string

// Groupings. ByTag counts a call once under each of its tags (and under ""
// when it has none); ByDay and ByHour use the start time in the location
// given to Groups.
const (
	ByModel    GroupBy = "model"
	ByProvider GroupBy = "provider"
	ByDay      GroupBy = "day"
	ByHour     GroupBy = "hour"
	ByTag      GroupBy = "tag"
	ByClient   GroupBy = "client"
	ByProject  GroupBy = "project"
	BySession  GroupBy = "session"
)

// GroupBys lists the groupings `conduit report --by` accepts.
var GroupBys = []GroupBy{ByModel, ByProvider, ByDay, ByTag, ByClient, ByProject, BySession}

// ParseGroupBy parses a grouping name, with an error listing the valid ones.
func ParseGroupBy(s string) (GroupBy, error) {
	g := GroupBy(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(GroupBys, g) || g == ByHour {
		return g, nil
	}
	names := make([]string, len(GroupBys))
	for i, g := range GroupBys {
		names[i] = string(g)
	}
	return "", fmt.Errorf("unknown grouping %q: want one of %s", s, strings.Join(names, ", "))
}

// Group is the totals of one group. Key is the model, provider, tag,
// client, project or session ("" when unknown or none; for tags,
// untagged), or the day (YYYY-MM-DD) or hour (YYYY-MM-DD HH:00) in the
// requested location.
type Group struct {
	Key string
	Totals
}

// timeBucketMillis is the width of the time buckets ByDay and ByHour fold
// into local days and hours: every time zone's offset is a whole number of
// quarter hours, so no bucket straddles a local day or hour boundary.
const timeBucketMillis = 15 * 60 * 1000

// Groups sums the calls matching f per group. Time groupings use loc (nil:
// UTC) and come oldest first; the others come by cost, then calls,
// descending. The slice is the caller's.
func (db *DB) Groups(ctx context.Context, by GroupBy, f Filter, loc *time.Location) ([]Group, error) {
	if loc == nil {
		loc = time.UTC
	}
	switch by {
	case ByModel, ByProvider, ByClient, ByTag, ByProject, BySession, ByDay, ByHour:
	default:
		return nil, fmt.Errorf("ledger groups: unknown grouping %q", by)
	}
	res, err := db.aggregate(ctx, by, f)
	if err != nil {
		return nil, fmt.Errorf("ledger groups by %s: %w", by, err)
	}
	return res.groups(by, loc), nil
}

// groups turns an aggregate into sorted groups (see DB.Groups).
func (res *aggResult) groups(by GroupBy, loc *time.Location) []Group {
	if by == ByDay || by == ByHour {
		buckets := make([]timeBucket, 0, len(res.byBucket))
		for b, a := range res.byBucket {
			t := a.t
			t.CostUSD += a.comp
			buckets = append(buckets, timeBucket{b, t})
		}
		return foldBuckets(buckets, by, loc)
	}
	out := make([]Group, 0, len(res.byKey))
	for k, a := range res.byKey {
		t := a.t
		t.CostUSD += a.comp
		out = append(out, Group{Key: k, Totals: t})
	}
	slices.SortFunc(out, func(a, b Group) int {
		switch {
		case a.CostUSD != b.CostUSD:
			return cmpDesc(a.CostUSD, b.CostUSD)
		case a.Calls != b.Calls:
			return cmpDesc(a.Calls, b.Calls)
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

type timeBucket struct {
	n int64 // started_at / timeBucketMillis
	t Totals
}

// foldBuckets merges quarter-hour buckets into local days or hours, oldest
// first.
func foldBuckets(buckets []timeBucket, by GroupBy, loc *time.Location) []Group {
	layout := "2006-01-02"
	if by == ByHour {
		layout = "2006-01-02 15:00"
	}
	slices.SortFunc(buckets, func(a, b timeBucket) int { return cmpAsc(a.n, b.n) })
	var out []Group
	var comp float64
	for _, b := range buckets {
		key := time.UnixMilli(b.n * timeBucketMillis).In(loc).Format(layout)
		if len(out) == 0 || out[len(out)-1].Key != key {
			if len(out) > 0 {
				out[len(out)-1].CostUSD += comp
			}
			comp = 0
			out = append(out, Group{Key: key})
		}
		out[len(out)-1].add(b.t, &comp)
	}
	if len(out) > 0 {
		out[len(out)-1].CostUSD += comp
	}
	return out
}

type ordered interface{ ~int64 | ~float64 }

func cmpAsc[T ordered](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpDesc[T ordered](a, b T) int { return cmpAsc(b, a) }
