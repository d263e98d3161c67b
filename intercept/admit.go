package intercept

// Refusal is the answer to a call that Options.Admit does not let go
// upstream. The client gets Status with a JSON error in its provider's
// shape (Type and Message in it, as for Conduit's own errors), and the call
// is recorded with Outcome, Status and Message as its error.
type Refusal struct {
	Status  int    // e.g. 429
	Type    string // the error type in the body and X-Conduit-Error, e.g. "conduit_budget_exceeded"
	Message string // for the client and the record; it names what refused the call and how to change that
	Outcome string // the record's outcome; empty: upstream_error, as for any error status
}

// refused finishes a call that Admit refused, before anything was sent
// upstream.
func (cl *call) refused(no *Refusal) *reply {
	cl.rec.Outcome = no.Outcome
	cl.rec.Error = no.Message
	return cl.errorResponse(no.Status, no.Type, no.Message)
}
