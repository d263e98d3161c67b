package intercept

import (
	"testing"
	"time"
)

// TestTimeoutsResolve guards the defaults of Timeouts, and that a drain of
// zero means none rather than the default.
func TestTimeoutsResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      Timeouts
		want    Timeouts
		wantErr bool
	}{
		{"zero value: every default", Timeouts{},
			Timeouts{Connect: defaultConnect, ResponseHeader: defaultResponseHeader, Total: defaultTotal, Drain: new(defaultDrain)}, false},
		{"zero drain: none", Timeouts{Drain: new(time.Duration(0))},
			Timeouts{Connect: defaultConnect, ResponseHeader: defaultResponseHeader, Total: defaultTotal, Drain: new(time.Duration(0))}, false},
		{"each given", Timeouts{Connect: 1, ResponseHeader: 2, Total: 3, Drain: new(time.Duration(4))},
			Timeouts{Connect: 1, ResponseHeader: 2, Total: 3, Drain: new(time.Duration(4))}, false},
		{"negative drain", Timeouts{Drain: new(-time.Second)}, Timeouts{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.resolve()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("resolve(%+v) = %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Connect != tt.want.Connect || got.ResponseHeader != tt.want.ResponseHeader || got.Total != tt.want.Total || *got.Drain != *tt.want.Drain {
				t.Errorf("resolve(%+v) = %+v (drain %s), want %+v (drain %s)", tt.in, got, *got.Drain, tt.want, *tt.want.Drain)
			}
		})
	}
}
