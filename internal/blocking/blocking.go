// Package blocking makes blocking system calls that cannot use the Go
// runtime poller (msgrcv, msgsnd, semop) cancellable by a context, without
// polling.
//
// The call runs on a goroutine locked to its OS thread. When the context is
// done, that thread is sent SIGURG — a signal the Go runtime already uses
// for preemption and ignores otherwise — so the system call returns EINTR
// (the kernel never restarts SysV IPC calls after a signal handler). The
// signal is repeated with a short backoff until the call has returned, which
// closes the race in which it lands before the thread enters the kernel.
//
// No signal reaches the thread after Interruptible has returned: the
// signaller checks that the call is still running and sends the signal
// while holding one state word, which the returning call takes to mark
// itself returned,
// and the returning call then makes a system call on the still-locked
// thread, on whose way back to user space the kernel delivers a signal
// that was sent just before (harmlessly, outside any blocking call).
// Without that, the next goroutine to run on the thread could see a stray
// EINTR in whatever it blocks in.
//
// Futex waits are different: the kernel restarts them after an SA_RESTART
// handler, so internal/futex cancels by waking the word instead.
package blocking

import (
	"context"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/ctxwatch"
)

// testHookBeforeSignal, when set, runs in the signaller after it has seen
// the call still running and before it sends the signal; tests use it to
// widen that window.
var testHookBeforeSignal func()

// States of the watch's word: the signaller may signal only while it holds
// the word at stateSending, which it can take only from stateRunning.
const (
	stateRunning  = 0
	stateReturned = 1
	stateSending  = 2
)

// interrupt is the cancellation hook: while the call has not returned, it
// sends SIGURG to the call's thread, and asks to be called again.
func interrupt(w *ctxwatch.Watch) bool {
	if !atomic.CompareAndSwapUint32(&w.Word, stateRunning, stateSending) {
		return false // returned
	}
	if testHookBeforeSignal != nil {
		testHookBeforeSignal()
	}
	// ESRCH cannot happen: the thread is locked to a goroutine that has
	// not yet marked the call returned.
	_ = unix.Tgkill(int(w.Args[0]), int(w.Args[1]), unix.SIGURG)
	atomic.StoreUint32(&w.Word, stateRunning)
	return true
}

// Interruptible runs call, which performs one blocking system call and
// returns its errno (0 for success), so that it is interrupted with EINTR
// when ctx is done. It returns call's errno. The caller decides what EINTR
// means by checking ctx.Err(). Once Interruptible has returned, no signal
// it caused can interrupt anything else on the thread.
//
// When ctx can never be done it simply runs call.
func Interruptible(ctx context.Context, call func() unix.Errno) unix.Errno {
	if ctx.Done() == nil {
		return call()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := ctxwatch.Get()
	w.Args = [2]uintptr{uintptr(unix.Getpid()), uintptr(unix.Gettid())}
	w.Start(ctx, interrupt)
	errno := call()
	// Mark the call returned. The signaller holds the word at stateSending
	// from its check to the end of its tgkill; wait that out.
	for !atomic.CompareAndSwapUint32(&w.Word, stateRunning, stateReturned) {
		runtime.Gosched()
	}
	w.Stop()
	// A signal sent before the call was marked returned is pending on
	// this thread at the latest now (its tgkill completed before the mark). Any system call delivers
	// it on its way back to user space, here, where it interrupts nothing.
	unix.Gettid()
	return errno
}
