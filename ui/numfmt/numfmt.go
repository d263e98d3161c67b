// Package numfmt formats money and counts for people, the same way in the
// dashboard, `conduit report`, `conduit budget` and budget alerts.
//
// It is a package of its own, importing nothing of Conduit's, so that
// budgets can use it without importing the dashboard (which reads budget
// statuses: ui importing budgets and budgets importing ui would be a cycle).
package numfmt

import (
	"math"
	"strconv"
)

// USD formats a dollar amount for people: thousands separators and cents
// from $1 up ("$1,234.57"), four decimals below ("$0.0042"), "<$0.0001" for
// a positive amount that would round to zero, and "?" for NaN or ±Inf.
// Programs get exact decimals from the exports instead.
func USD(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "?"
	case v < 0:
		return "-" + USD(-v)
	case v == 0:
		return "$0.00"
	case v < 0.00005:
		return "<$0.0001"
	case v < 0.99995:
		return "$" + strconv.FormatFloat(v, 'f', 4, 64)
	}
	b := strconv.AppendFloat(nil, v, 'f', 2, 64)
	whole, cents := b[:len(b)-3], b[len(b)-3:]
	return "$" + group(string(whole)) + string(cents)
}

// Count formats n with thousands separators: 1234567 → "1,234,567".
func Count(n int64) string {
	if n < 0 {
		// Not -n: math.MinInt64 has no positive counterpart.
		return "-" + group(strconv.FormatInt(n, 10)[1:])
	}
	return group(strconv.FormatInt(n, 10))
}

// group puts a comma between each three digits of a run of digits, from
// the right.
func group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	b := make([]byte, 0, len(digits)+len(digits)/3)
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, digits[i])
	}
	return string(b)
}
