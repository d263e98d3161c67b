package wsframe

import (
	"strings"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		values  []string
		want    Deflate
		wantErr string // a substring of the error; "" for none
	}{
		{name: "none"},
		{name: "plain", values: []string{"permessage-deflate"}, want: Deflate{Enabled: true}},
		{
			name:   "both no-context-takeover",
			values: []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
			want:   Deflate{Enabled: true, ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		},
		{
			name:   "window bits, quoted and spaced",
			values: []string{`permessage-deflate ; server_max_window_bits="10" ;client_max_window_bits=12`},
			want:   Deflate{Enabled: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 12},
		},
		{
			name:   "codex's offer answered with its parameter",
			values: []string{"permessage-deflate; client_max_window_bits=15; server_no_context_takeover"},
			want:   Deflate{Enabled: true, ServerNoContextTakeover: true, ClientMaxWindowBits: 15},
		},
		{name: "name case-insensitive", values: []string{"Permessage-Deflate"}, want: Deflate{Enabled: true}},
		{
			name:    "unknown parameter",
			values:  []string{"permessage-deflate; x_window=3"},
			wantErr: `unexpected extension parameter "x_window"`,
		},
		{
			name:    "window bits out of range",
			values:  []string{"permessage-deflate; server_max_window_bits=16"},
			wantErr: "invalid extension parameter",
		},
		{
			name:    "agreed twice",
			values:  []string{"permessage-deflate", "permessage-deflate; server_no_context_takeover"},
			want:    Deflate{Enabled: true},
			wantErr: "agreed twice",
		},
		{
			name:    "another extension beside it",
			values:  []string{"x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover"},
			want:    Deflate{Enabled: true, ClientNoContextTakeover: true},
			wantErr: `unsupported extension "x-webkit-deflate-frame"`,
		},
		{
			name:    "does not parse",
			values:  []string{"permessage-deflate; =3"},
			wantErr: "does not parse",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExtensions(tt.values)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
