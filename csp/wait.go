package csp

import (
	"context"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/futex"
	"github.com/ipckit/ipckit/mmapring"
)

// Blocking. Every blocked call spins for a while (spinFor) re-trying, then
// sleeps in the kernel on the futex words that a change it waits for
// would bump: a ring's "data arrived" or "space freed" epoch (which
// Poison and Retire bump too, through mmapring.Ring.Interrupt), a
// writer's rendezvous acknowledgement epoch, or the one-to-one count
// epoch. Sleeps last at most livenessInterval, after which the sleeper
// checks that the other side's processes are alive and repairs what dead
// ones left; that is not a polling loop for data, which always wakes it.

// livenessInterval bounds every sleep (mmapring's, so dead peers are
// noticed on the same schedule).
const livenessInterval = mmapring.LivenessInterval

// spinFor is how long a blocked call re-tries before sleeping.
const spinFor = mmapring.DefaultSpin

// stallLimit is how many rounds a blocked call may find a ring "ready"
// (a hint) with nothing to take before it sleeps anyway, for a growing
// time (stallSleep), as mmapring's own calls do: no state of the shared
// memory can make it spin.
const stallLimit = 64

// stallSleep is how long round stall (>= stallLimit) sleeps.
func stallSleep(stall int) time.Duration {
	d := time.Millisecond << min(stall-stallLimit, 8)
	return min(d, livenessInterval)
}

// haveWaitv reports whether the kernel has futex_waitv; a variable so that
// tests can take the fallback paths on kernels that have it.
var haveWaitv = futex.HaveWaitv

// word is one futex word to sleep on, with the value it must still hold.
type word struct {
	addr *uint32
	val  uint32
}

// sleep waits until one of ws no longer holds its value (or is woken),
// until the time until, or until ctx is done. It returns timedOut = true
// when until passed, ctx.Err() when ctx is done (context.DeadlineExceeded
// at ctx's deadline), and (false, nil) after a wake-up, which may be
// spurious. ws are shared futex words (FUTEX_32, no FUTEX_PRIVATE_FLAG).
// More than one word takes futex_waitv, or without it (kernels before
// 5.16, qemu-user) sleepThreads. scratch, with room for len(ws)+1 entries, is reused
// between calls so that a sleep with a context that cannot be cancelled
// does not allocate.
func sleep(ctx context.Context, ws []word, until time.Time, scratch []abi.FutexWaitv) (timedOut bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
		until = dl
	}
	left := time.Until(until)
	if left <= 0 {
		return afterTimeout(ctx)
	}
	if len(ws) == 1 && (ctx.Done() == nil || !haveWaitv()) {
		return sleep1(ctx, ws[0], left)
	}
	if !haveWaitv() {
		return sleepThreads(ctx, ws, left)
	}
	n := 0
	for _, w := range ws {
		scratch[n] = abi.FutexWaitv{Val: uint64(w.val), Uaddr: uint64(uintptr(unsafe.Pointer(w.addr))), Flags: futex.Futex2SizeU32}
		n++
	}
	if ctx.Done() != nil {
		c := futex.ArmCancelWord(ctx)
		defer c.Stop()
		scratch[n] = abi.FutexWaitv{Val: 0, Uaddr: uint64(uintptr(unsafe.Pointer(&c.Word))), Flags: futex.Futex2SizeU32 | futex.Futex2Private}
		n++
	}
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return false, os.NewSyscallError("clock_gettime", err)
	}
	ts := abi.NsecToTimespec(int64(now.Sec)*1e9 + int64(now.Nsec) + int64(left))
	_, err = futex.FutexWaitv(&scratch[0], uint32(n), 0, &ts, unix.CLOCK_MONOTONIC)
	switch err {
	case nil, unix.EAGAIN, unix.EINTR:
		if cerr := ctx.Err(); cerr != nil {
			return false, cerr
		}
		return false, nil
	case unix.ETIMEDOUT:
		return afterTimeout(ctx)
	}
	return false, os.NewSyscallError("futex_waitv", err)
}

// afterTimeout tells a sleep's own time limit from ctx's deadline.
func afterTimeout(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return false, context.DeadlineExceeded
	}
	return true, nil
}

// sleep1 sleeps on one word with FUTEX_WAIT. With a context that can be
// cancelled (and no futex_waitv) cancellation wakes the word itself,
// repeatedly until this sleeper has returned; other sleepers on the word
// see a spurious wake-up, which every user of these words tolerates.
func sleep1(ctx context.Context, w word, left time.Duration) (bool, error) {
	var err error
	if ctx.Done() == nil {
		err = futex.Wait(w.addr, w.val, left)
	} else {
		c := futex.ArmWakeAll(ctx, w.addr)
		err = futex.Wait(w.addr, w.val, left)
		c.Stop()
	}
	if err == os.ErrDeadlineExceeded {
		return afterTimeout(ctx)
	}
	if cerr := ctx.Err(); cerr != nil {
		return false, cerr
	}
	return false, err
}

// sleepThreads is sleep on several words without futex_waitv: one
// goroutine per word sleeps in FUTEX_WAIT (an OS thread each, for the
// length of the sleep), and the first to return ends the sleep. The others
// are then released by waking their words, repeatedly until each has
// returned; other sleepers on those words (in any process) see a spurious
// wake-up, which every user of these words tolerates. It allocates, and it
// is not polling: every goroutine sleeps in the kernel until its word
// changes or the time is up.
func sleepThreads(ctx context.Context, ws []word, left time.Duration) (bool, error) {
	type result struct{ timedOut bool }
	results := make(chan result, len(ws))
	for _, w := range ws {
		go func() {
			err := futex.Wait(w.addr, w.val, left)
			results <- result{timedOut: err == os.ErrDeadlineExceeded}
		}()
	}
	var first result
	cancelled := false
	select {
	case first = <-results:
	case <-ctx.Done():
		cancelled = true
	}
	pending := len(ws)
	if !cancelled {
		pending--
	}
	backoff := 20 * time.Microsecond
	for pending > 0 {
		for _, w := range ws {
			futex.Wake(w.addr, futex.WakeAll)
		}
		t := time.NewTimer(backoff)
	drain:
		for pending > 0 {
			select {
			case <-results:
				pending--
			case <-t.C:
				break drain
			}
		}
		t.Stop()
		if backoff < 10*time.Millisecond {
			backoff *= 2
		}
	}
	if cancelled || ctx.Err() != nil {
		return false, ctx.Err()
	}
	if first.timedOut {
		return afterTimeout(ctx)
	}
	return false, nil
}

// spinUntil calls try until it reports done or spinFor has passed; it
// returns whether try succeeded.
func spinUntil(try func() bool) bool {
	for i := 0; i < 256; i++ {
		if try() {
			return true
		}
	}
	start := time.Now()
	for i := 1; ; i++ {
		if try() {
			return true
		}
		if i&31 == 0 && time.Since(start) > spinFor {
			return false
		}
	}
}

// eventcount words: epoch, waiters flag (need) at +4, as in mmapring
// (LAYOUT.md "Blocking: eventcount"), used for csp's own words.
type eventcount struct {
	epoch *uint32
	need  *uint32
}

// prepare registers a sleeper: it returns the epoch value to sleep on.
// The caller re-checks its condition after prepare and before sleeping.
func (e eventcount) prepare() uint32 {
	v := atomic.LoadUint32(e.epoch)
	atomic.StoreUint32(e.need, 1)
	return v
}

// notify wakes the sleepers if one asked for a wake, after the caller's
// sequentially consistent store of the state they wait for.
func (e eventcount) notify() {
	if atomic.LoadUint32(e.need) != 0 && atomic.SwapUint32(e.need, 0) != 0 {
		atomic.AddUint32(e.epoch, 1)
		futex.Wake(e.epoch, futex.WakeAll)
	}
}

// bump wakes every sleeper unconditionally.
func (e eventcount) bump() {
	atomic.StoreUint32(e.need, 0)
	atomic.AddUint32(e.epoch, 1)
	futex.Wake(e.epoch, futex.WakeAll)
}
