package ledger

// background runs functions one at a time on a low-priority thread.
type background struct{ work chan func() }

// run runs f there and waits for it; a nil background runs f on the
// caller's goroutine.
func (b *background) run(f func()) {
	if b == nil {
		f()
		return
	}
	done := make(chan struct{})
	b.work <- func() {
		defer close(done)
		f()
	}
	<-done
}

// stop ends the thread; run must not be called after it.
func (b *background) stop() {
	if b != nil {
		close(b.work)
	}
}
