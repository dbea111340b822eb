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
// Futex waits are different: the kernel restarts them after an SA_RESTART
// handler, so internal/futex cancels by waking the word instead.
package blocking

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Interruptible runs call, which performs one blocking system call and
// returns its errno (0 for success), so that it is interrupted with EINTR
// when ctx is done. It returns call's errno. The caller decides what EINTR
// means by checking ctx.Err().
//
// When ctx can never be done it simply runs call.
func Interruptible(ctx context.Context, call func() unix.Errno) unix.Errno {
	if ctx.Done() == nil {
		return call()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, tid := unix.Getpid(), unix.Gettid()
	var returned atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		backoff := 20 * time.Microsecond
		for !returned.Load() {
			// ESRCH cannot happen: the thread is locked to a goroutine
			// that is still inside Interruptible.
			_ = unix.Tgkill(pid, tid, unix.SIGURG)
			time.Sleep(backoff)
			if backoff < 10*time.Millisecond {
				backoff *= 2
			}
		}
	})
	errno := call()
	returned.Store(true)
	stop()
	return errno
}
