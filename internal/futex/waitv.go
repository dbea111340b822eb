package futex

import (
	"context"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/ctxwatch"
)

// Feature probes, each run once and cached: 0 unknown, 1 present, 2 absent.
var (
	waitvState  atomic.Int32
	futex2State atomic.Int32
)

// disableFutex2 makes HaveWaitv and HaveFutex2 report false; tests set it
// to exercise the classic fallback paths on kernels that have futex2.
var disableFutex2 atomic.Bool

// HaveWaitv reports whether the kernel has futex_waitv (Linux 5.16+). The
// probe (a call with zero entries, which a kernel that has the call rejects
// with EINVAL) runs once; seccomp filters that answer ENOSYS or EPERM count
// as absent.
func HaveWaitv() bool {
	if disableFutex2.Load() {
		return false
	}
	switch waitvState.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	_, err := FutexWaitv(nil, 0, 0, nil, 0)
	ok := err == unix.EINVAL
	if ok {
		waitvState.Store(1)
	} else {
		waitvState.Store(2)
	}
	return ok
}

// HaveFutex2 reports whether the kernel has the futex2 futex_wake and
// futex_wait calls (Linux 6.7+). The probe wakes nobody on a private word
// of its own; it runs once.
func HaveFutex2() bool {
	if disableFutex2.Load() {
		return false
	}
	switch futex2State.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	var w uint32
	_, err := FutexWake(&w, BitsetMatchAny, 1, Futex2SizeU32|Futex2Private)
	ok := err == nil
	if ok {
		futex2State.Store(1)
	} else {
		futex2State.Store(2)
	}
	return ok
}

// waitvContext waits on addr (shared) and a private cancellation word in a
// single futex_waitv call, so cancelling wakes only this waiter.
func waitvContext(ctx context.Context, addr *uint32, val uint32, timeout time.Duration) error {
	c := ArmCancelWord(ctx)
	defer c.Stop()
	w := [2]abi.FutexWaitv{
		{Val: uint64(val), Uaddr: uint64(uintptr(unsafe.Pointer(addr))), Flags: Futex2SizeU32},
		{Val: 0, Uaddr: uint64(uintptr(unsafe.Pointer(&c.Word))), Flags: Futex2SizeU32 | Futex2Private},
	}
	var tsp *abi.Timespec
	var ts abi.Timespec
	if timeout >= 0 {
		var now unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
			return os.NewSyscallError("clock_gettime", err)
		}
		ts = abi.NsecToTimespec(int64(now.Sec)*1e9 + int64(now.Nsec) + int64(timeout))
		tsp = &ts
	}
	_, err := FutexWaitv(&w[0], 2, 0, tsp, unix.CLOCK_MONOTONIC)
	switch err {
	case nil, unix.EAGAIN, unix.EINTR:
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return nil
	case unix.ETIMEDOUT:
		return context.DeadlineExceeded
	}
	return os.NewSyscallError("futex_waitv", err)
}

// ArmCancelWord arms a private cancellation word for a futex_waitv sleep:
// the caller adds &w.Word (value 0, FUTEX_32|FUTEX_PRIVATE_FLAG) to its
// waiters; once ctx is done the word is set and woken, so the sleep ends,
// or does not begin. Call Stop on the watch after the sleep. It does not
// allocate.
func ArmCancelWord(ctx context.Context) *ctxwatch.Watch {
	w := ctxwatch.Get()
	w.Start(ctx, cancelWaitv)
	return w
}

// cancelWaitv is the cancellation hook of the futex_waitv path: it sets the
// waiter's private word and wakes it. The waiter sleeps on that word beside
// its real one, so one wake is enough: if it lands before the waiter is
// asleep, the word no longer holds 0 and futex_waitv returns at once.
func cancelWaitv(w *ctxwatch.Watch) bool {
	atomic.StoreUint32(&w.Word, 1)
	untimed(&w.Word, OpWake|PrivateFlag, 1, 0)
	return false
}

// WaitBitsetAbs sleeps while *addr == val until a wake-up or the absolute
// deadline, measured on CLOCK_REALTIME when realtime is true (as glibc's
// sem_timedwait does, so a change of the wall clock moves the deadline) or
// on CLOCK_MONOTONIC otherwise. A nil deadline waits forever. Results are
// those of Wait. It is FUTEX_WAIT_BITSET with FUTEX_BITSET_MATCH_ANY: a
// plain FUTEX_WAKE wakes it.
func WaitBitsetAbs(addr *uint32, val uint32, deadline *abi.Timespec, realtime bool) error {
	op := OpWaitBitset
	if realtime {
		op |= ClockRealtime
	}
	_, err := timed(addr, op, val, deadline, BitsetMatchAny)
	switch err {
	case nil, unix.EAGAIN, unix.EINTR:
		return nil
	case unix.ETIMEDOUT:
		return os.ErrDeadlineExceeded
	}
	return os.NewSyscallError("futex_wait_bitset", err)
}
