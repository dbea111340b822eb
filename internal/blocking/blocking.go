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
// under one lock, which the returning call takes to mark itself returned,
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
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// testHookBeforeSignal, when set, runs in the signaller after it has seen
// the call still running and before it sends the signal; tests use it to
// widen that window.
var testHookBeforeSignal func()

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
	pid, tid := unix.Getpid(), unix.Gettid()
	var (
		mu       sync.Mutex
		returned bool
	)
	stop := context.AfterFunc(ctx, func() {
		backoff := 20 * time.Microsecond
		for {
			mu.Lock()
			if returned {
				mu.Unlock()
				return
			}
			if testHookBeforeSignal != nil {
				testHookBeforeSignal()
			}
			// ESRCH cannot happen: the thread is locked to a goroutine
			// that has not yet marked the call returned.
			_ = unix.Tgkill(pid, tid, unix.SIGURG)
			mu.Unlock()
			time.Sleep(backoff)
			if backoff < 10*time.Millisecond {
				backoff *= 2
			}
		}
	})
	errno := call()
	mu.Lock()
	returned = true
	mu.Unlock()
	stop()
	// A signal sent before returned was set is pending on this thread at
	// the latest now (tgkill completed under mu). Any system call delivers
	// it on its way back to user space, here, where it interrupts nothing.
	unix.Gettid()
	return errno
}
