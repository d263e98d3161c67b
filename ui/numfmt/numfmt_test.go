package numfmt

import (
	"math"
	"testing"
)

func TestUSD(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "$0.00"},
		{0.00001, "<$0.0001"},
		{0.00005, "$0.0001"},
		{0.0042, "$0.0042"},
		{0.12345, "$0.1235"},
		{0.5, "$0.5000"},
		// Rounds to a dollar: shown as one, not as "$1.0000".
		{0.99996, "$1.00"},
		{1, "$1.00"},
		{999.999, "$1,000.00"},
		{1234.567, "$1,234.57"},
		{1234567.891, "$1,234,567.89"},
		{-2.5, "-$2.50"},
		{-0.0042, "-$0.0042"},
		{math.NaN(), "?"},
		{math.Inf(1), "?"},
		{math.Inf(-1), "?"},
		// Far past int64: formatted from the float, never wrapped.
		{1e20, "$100,000,000,000,000,000,000.00"},
	}
	for _, tt := range tests {
		if got := USD(tt.in); got != tt.want {
			t.Errorf("USD(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {12345, "12,345"}, {123456, "123,456"},
		{1234567, "1,234,567"}, {-1234, "-1,234"}, {-999, "-999"},
		{math.MaxInt64, "9,223,372,036,854,775,807"},
		{math.MinInt64, "-9,223,372,036,854,775,808"},
	}
	for _, tt := range tests {
		if got := Count(tt.in); got != tt.want {
			t.Errorf("Count(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
