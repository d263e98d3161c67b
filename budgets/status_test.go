package budgets

import "testing"

// TestLevel guards the gauge colours: ok under the first warning, warning
// from it, over at the limit.
func TestLevel(t *testing.T) {
	t.Parallel()
	b := Budget{LimitUSD: 10, WarnAt: []float64{0.5, 0.8}}
	for _, tt := range []struct {
		spent float64
		want  Level
	}{{0, LevelOK}, {4.99, LevelOK}, {5, LevelWarning}, {9.99, LevelWarning}, {10, LevelOver}, {50, LevelOver}} {
		s := Status{Budget: b, SpentUSD: tt.spent, Fraction: tt.spent / 10}
		if got := s.Level(); got != tt.want {
			t.Errorf("$%v: %s, want %s", tt.spent, got, tt.want)
		}
	}
	if (Status{Budget: Budget{LimitUSD: 10}, SpentUSD: 9, Fraction: 0.9}).Level() != LevelOK {
		t.Error("a budget without warn_at warns")
	}
}
