package config

import "time"

const (
	defaultConnectTimeout = 30 * time.Second
	defaultHeaderTimeout  = 30 * time.Second
	defaultTotalTimeout   = 10 * time.Minute
	defaultDrainTimeout   = 60 * time.Second
	defaultWebSocketIdle  = 10 * time.Minute
)

// timeouts checks the [timeouts] table. Only drain and websocket_total
// may be "0s", meaning not at all; the other limits would end every call
// (or connection) at once.
func (v *validator) timeouts(raw fileTimeouts) Timeouts {
	pick := func(name string, d *tDuration, def time.Duration) time.Duration {
		if d == nil {
			return def
		}
		if *d == 0 {
			v.fail([]string{"timeouts", name}, "must be longer than zero")
		}
		return time.Duration(*d)
	}
	out := Timeouts{
		Connect:        pick("connect", raw.Connect, defaultConnectTimeout),
		ResponseHeader: pick("response_header", raw.ResponseHeader, defaultHeaderTimeout),
		Total:          pick("total", raw.Total, defaultTotalTimeout),
		Drain:          defaultDrainTimeout,
		WebSocketIdle:  pick("websocket_idle", raw.WebSocketIdle, defaultWebSocketIdle),
	}
	if raw.WebSocketTotal != nil {
		out.WebSocketTotal = time.Duration(*raw.WebSocketTotal)
	}
	if raw.Drain != nil {
		out.Drain = time.Duration(*raw.Drain)
		out.NoDrain = out.Drain == 0
	}
	return out
}
