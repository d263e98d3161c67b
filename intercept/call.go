package intercept

import (
	"time"

	"github.com/valohai/conduit/ledger"
)

// Call is one finished call as Options.Record receives it: the record the
// ledger stores, and what only a call in flight knows, which telemetry
// reads and the ledger does not keep.
type Call struct {
	ledger.Record
	// UpstreamTime is request sent upstream → upstream response finished
	// (0: never sent), so Duration − UpstreamTime is the time Conduit
	// itself added.
	UpstreamTime time.Duration
	// RequestModel is the model the request asked for ("" if it named
	// none); Record.Model is the one that answered.
	RequestModel string
}
