// Package futex wraps the Linux futex system calls for words in shared
// memory. Every operation here is a shared (not FUTEX_PRIVATE_FLAG) futex
// operation, so it works across processes on MAP_SHARED mappings: the kernel
// keys such futexes by (inode, offset), not by virtual address.
//
// Waits may return spuriously; every caller must re-check its condition.
//
// The classic futex(2) calls are the baseline and are used for Wait and
// Wake on every kernel (on 32-bit architectures timed waits use
// futex_time64 where the kernel has it and fall back to futex(2) with a
// 32-bit timespec before Linux 5.1; see classic.go): for 32-bit shared words they are equivalent to the
// futex2 calls and share the kernel's hash with them, so C peers that use
// either interoperate. futex_waitv (Linux 5.16+, see HaveWaitv) is used
// where present by WaitContext, to make cancellation wake only the
// cancelled waiter. The Linux 6.7 futex_wake call is probed (HaveFutex2)
// and exported raw (FutexWake) for callers that want it. WaitBitsetAbs waits until an absolute CLOCK_REALTIME or
// CLOCK_MONOTONIC deadline, as glibc's sem_timedwait does.
package futex

import (
	"context"
	"math"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/ctxwatch"
)

// Futex operation codes and flags from <linux/futex.h>.
const (
	OpWait         = 0
	OpWake         = 1
	OpWaitBitset   = 9
	OpWakeBitset   = 10
	PrivateFlag    = 128
	ClockRealtime  = 256
	BitsetMatchAny = 0xffffffff
	Waiters        = 0x80000000 // FUTEX_WAITERS, robust/PI lock words
	OwnerDied      = 0x40000000 // FUTEX_OWNER_DIED
	TIDMask        = 0x3fffffff // FUTEX_TID_MASK
	WakeAll        = math.MaxInt32
	Futex2SizeU32  = 2
	Futex2Private  = 128
	FutexWaitvMax  = 128
	clockMonotonic = 1
)

// Wait sleeps while *addr == val, until another process or thread calls
// Wake on the same word, the timeout passes, or a spurious wake-up. A
// negative timeout waits forever. It returns nil after a wake-up, when *addr
// no longer held val on entry (EAGAIN), or on EINTR, and
// os.ErrDeadlineExceeded when the timeout expired. It never allocates.
func Wait(addr *uint32, val uint32, timeout time.Duration) error {
	var tsp *abi.Timespec
	var ts abi.Timespec
	if timeout >= 0 {
		ts = abi.DurationToTimespec(timeout)
		tsp = &ts
	}
	_, err := timed(addr, OpWait, val, tsp, 0)
	switch err {
	case nil, unix.EAGAIN, unix.EINTR:
		return nil
	case unix.ETIMEDOUT:
		return os.ErrDeadlineExceeded
	}
	return os.NewSyscallError("futex_wait", err)
}

// WaitContext is Wait bounded by ctx: it returns ctx.Err() once ctx is done
// (context.DeadlineExceeded at the deadline). A futex wait cannot be
// cancelled by a signal (the Go runtime's handlers use SA_RESTART and the
// kernel restarts FUTEX_WAIT), so cancellation must wake the waiter instead.
//
// On kernels with futex_waitv (Linux 5.16+, see HaveWaitv) the waiter sleeps
// on two words at once: addr (shared) and a private cancellation word of its
// own, so cancelling wakes exactly this waiter. On older kernels cancellation
// wakes addr itself and repeats the wake until this waiter has returned;
// other waiters on the same word then see a spurious wake-up, which every
// futex protocol tolerates.
//
// It does not allocate: with a cancellable context the cancellation hook
// is a reusable ctxwatch.Watch.
func WaitContext(ctx context.Context, addr *uint32, val uint32) error {
	if ctx.Done() == nil {
		return Wait(addr, val, -1)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	timeout := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return context.DeadlineExceeded
		}
	}
	if HaveWaitv() {
		return waitvContext(ctx, addr, val, timeout)
	}
	w := ArmWakeAll(ctx, addr)
	err := Wait(addr, val, timeout)
	w.Stop()
	if err == os.ErrDeadlineExceeded {
		return context.DeadlineExceeded
	}
	if err == nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
	return err
}

// wakeAllAgain is the cancellation hook of the classic path: it wakes every
// waiter on the word (the cancelled one among them) and asks to be called
// again until the waiter has returned and stopped the watch, since a wake
// that lands before the waiter is asleep is lost.
func wakeAllAgain(w *ctxwatch.Watch) bool {
	Wake((*uint32)(w.Ptr), WakeAll)
	return true
}

// ArmWakeAll arms the cancellation of a classic FUTEX_WAIT on addr: once
// ctx is done, every waiter on addr is woken, again and again until the
// caller, back from its wait, calls Stop on the returned watch. Waiters of
// any futex protocol tolerate the spurious wake-ups this gives the others.
// It does not allocate.
func ArmWakeAll(ctx context.Context, addr *uint32) *ctxwatch.Watch {
	w := ctxwatch.Get()
	w.Ptr = unsafe.Pointer(addr)
	w.Start(ctx, wakeAllAgain)
	return w
}

// Wake wakes at most n waiters blocked on addr and returns how many it
// woke. It uses the classic futex(2) call on every architecture and
// kernel. An error (EFAULT for an address that is not mapped, EINVAL for
// one not 4-byte aligned, or a seccomp filter's errno) means nobody was
// woken: callers must report it, since a waiter may then sleep on.
func Wake(addr *uint32, n int) (int, error) {
	if n < 0 {
		n = WakeAll
	}
	woken, err := untimed(addr, OpWake, uint32(n), 0)
	if err != nil {
		return 0, os.NewSyscallError("futex_wake", err)
	}
	return woken, nil
}
