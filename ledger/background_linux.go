package ledger

import (
	"runtime"
	"syscall"
)

// backgroundNice is the nice value of the thread that writes batches while
// the Writer keeps up: the kernel then gives a core to the threads serving
// calls first, and to the writer when they have had theirs.
const backgroundNice = 10

// startBackground starts the goroutine, on an OS thread of its own with
// its nice value raised, that runs the functions sent to it. It returns
// nil when the nice value cannot be set (the writer then writes on its own
// goroutine).
func startBackground() *background {
	b := &background{work: make(chan func())}
	ok := make(chan bool)
	go func() {
		// Never unlocked: the thread, niced, ends with the goroutine
		// instead of going back to the scheduler.
		runtime.LockOSThread()
		ok <- syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), backgroundNice) == nil
		for f := range b.work {
			f()
		}
	}()
	if !<-ok {
		close(b.work)
		return nil
	}
	return b
}
