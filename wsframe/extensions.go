package wsframe

import (
	"bytes"
	"fmt"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// Deflate is a connection's permessage-deflate agreement (RFC 7692 §7.1).
// The zero value means no compression was agreed.
type Deflate struct {
	Enabled bool
	// ServerNoContextTakeover and ClientNoContextTakeover report that the
	// server's (client's) messages are each compressed on their own; when
	// unset, that direction's window carries over from message to message.
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	// ServerMaxWindowBits and ClientMaxWindowBits are the LZ77 window sizes
	// agreed for each direction, 8 to 15; 0 when not stated (15). The
	// reader inflates any of them with a 2^15 window.
	ServerMaxWindowBits int
	ClientMaxWindowBits int
}

// ParseExtensions reads the Sec-WebSocket-Extensions values of a 101
// response (each value may list several extensions). It returns the
// permessage-deflate agreement, and an error naming the problem when a
// value does not parse, names permessage-deflate twice or with a parameter
// RFC 7692 does not define, or names an extension the reader does not know
// (whose use of the reserved bits would stop the reader). The Deflate
// returned is usable even with an error: it holds what was understood.
func ParseExtensions(values []string) (Deflate, error) {
	var d Deflate
	var firstErr error
	note := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	var opts []httphead.Option
	for _, v := range values {
		var ok bool
		opts, ok = httphead.ParseOptions([]byte(v), opts[:0])
		if !ok {
			note(fmt.Errorf("Sec-WebSocket-Extensions %q: does not parse", v))
			continue
		}
		for _, o := range opts {
			if !bytes.EqualFold(o.Name, wsflate.ExtensionNameBytes) {
				note(fmt.Errorf("Sec-WebSocket-Extensions %q: unsupported extension %q", v, o.Name))
				continue
			}
			if d.Enabled {
				note(fmt.Errorf("Sec-WebSocket-Extensions %q: permessage-deflate agreed twice", v))
				continue
			}
			var p wsflate.Parameters
			if err := p.Parse(o); err != nil {
				note(fmt.Errorf("Sec-WebSocket-Extensions %q: %w", v, err))
				continue
			}
			d = Deflate{
				Enabled:                 true,
				ServerNoContextTakeover: p.ServerNoContextTakeover,
				ClientNoContextTakeover: p.ClientNoContextTakeover,
				ServerMaxWindowBits:     windowBits(p.ServerMaxWindowBits),
				ClientMaxWindowBits:     windowBits(p.ClientMaxWindowBits),
			}
		}
	}
	return d, firstErr
}

// windowBits maps wsflate's value (0 unset, 1 offered without a value) to
// the bits, 0 when unknown.
func windowBits(b wsflate.WindowBits) int {
	if b < 8 {
		return 0
	}
	return int(b)
}
