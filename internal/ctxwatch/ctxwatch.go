// Package ctxwatch runs a function when a context is done, like
// context.AfterFunc, without allocating once it has warmed up.
//
// context.AfterFunc allocates its hook (and, for most contexts, a closure)
// on every call. The blocking paths of ipckit (a futex wait that sleeps, a
// SysV call interrupted by a signal, a descriptor waiting in the poller)
// arm such a hook each time they sleep, and those paths must not allocate.
// A Watch is a reusable hook served by a goroutine of its own: Start takes
// one from a free list (making a new one only when every Watch is in use),
// and Stop returns it. The number of goroutines is the largest number of
// Watches ever armed at once.
//
// The function gets the Watch itself, whose Word, Ptr and Args fields the
// caller fills before Start, so that no closure is needed: pass a
// top-level function.
package ctxwatch

import (
	"context"
	"sync"
	"time"
	"unsafe"
)

// Retry backoff for a function that asks to be called again: it starts at
// MinBackoff and doubles up to MaxBackoff.
const (
	MinBackoff = 20 * time.Microsecond
	MaxBackoff = 10 * time.Millisecond
)

// Watch is one armed hook. Between Get and Stop the caller owns its
// exported fields; the watch goroutine reads them only while the function
// runs.
type Watch struct {
	// Word is a private futex word, zero at Start, at an address that does
	// not move: a waiter can sleep on it beside its real word, and the
	// function can set it and wake it.
	Word uint32
	// Ptr and Args carry the caller's state to the function.
	Ptr  unsafe.Pointer
	Args [2]uintptr

	ctx   context.Context
	fn    func(*Watch) (again bool)
	arm   chan struct{} // capacity 1: Start never blocks
	stop  chan struct{} // unbuffered: Stop returns once the goroutine has seen it
	timer *time.Timer
}

var (
	mu   sync.Mutex
	free []*Watch
)

// Get returns an idle Watch with Word zero and Ptr and Args cleared. The
// caller fills them, then calls Start.
func Get() *Watch {
	mu.Lock()
	var w *Watch
	if n := len(free); n > 0 {
		w = free[n-1]
		free[n-1] = nil
		free = free[:n-1]
	}
	mu.Unlock()
	if w == nil {
		w = &Watch{arm: make(chan struct{}, 1), stop: make(chan struct{})}
		w.timer = time.NewTimer(time.Hour)
		w.timer.Stop()
		go w.loop()
	}
	w.Word = 0
	w.Ptr = nil
	w.Args = [2]uintptr{}
	return w
}

// Start arms w: once ctx is done, fn(w) runs on w's goroutine; while it
// returns true it is called again after a growing pause (MinBackoff to
// MaxBackoff), until Stop. ctx must be able to be done (ctx.Done() != nil).
func (w *Watch) Start(ctx context.Context, fn func(*Watch) (again bool)) {
	w.ctx = ctx
	w.fn = fn
	w.arm <- struct{}{}
}

// Stop disarms w and returns it to the free list. When Stop returns, the
// function is not running and will not run again for this arming. w must
// not be used after Stop.
func (w *Watch) Stop() {
	w.stop <- struct{}{}
	// The goroutine touches nothing of w after receiving from stop.
	w.ctx = nil
	w.fn = nil
	w.Ptr = nil
	mu.Lock()
	free = append(free, w)
	mu.Unlock()
}

func (w *Watch) loop() {
	for range w.arm {
		select {
		case <-w.ctx.Done():
			w.fire()
		case <-w.stop:
		}
	}
}

// fire calls the function until it is done or Stop comes, then waits for
// Stop.
func (w *Watch) fire() {
	backoff := MinBackoff
	for w.fn(w) {
		w.timer.Reset(backoff)
		select {
		case <-w.stop:
			w.timer.Stop()
			return
		case <-w.timer.C:
		}
		if backoff < MaxBackoff {
			backoff *= 2
		}
	}
	<-w.stop
}
