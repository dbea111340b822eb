package mmapring

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/atomicx"
	"github.com/ipckit/ipckit/internal/futex"
)

// DefaultSpin is how long a blocked call spins re-reading shared memory
// before it registers as a waiter and sleeps on the futex.
const DefaultSpin = 50 * time.Microsecond

// LivenessInterval bounds each futex sleep: a sleeper wakes at least this
// often to check whether its peers are still alive (and to repair what
// dead ones left). This is not a polling loop for data (data arrival
// always wakes it); it is how a dead peer is noticed when no one is left
// to wake it.
const LivenessInterval = 200 * time.Millisecond

// shortSleep bounds a sleeper's first sleep after it registers where the
// process cannot issue the asymmetric barrier (order.go).
const shortSleep = time.Millisecond

// counters counts the futex system calls a handle makes; the fast path
// makes none.
type counters struct {
	waits uint64
	wakes uint64
	// yielded is when block last passed through the Go scheduler
	// (monotonic nanoseconds since monoBase; see block).
	yielded int64
}

// monoBase anchors the monotonic clock readings of counters.yielded.
var monoBase = time.Now()

// yieldEvery is how often, at most, block passes through the Go scheduler
// before a sleep: well inside the runtime's 10 ms scheduling tick.
const yieldEvery = int64(2 * time.Millisecond)

// spinUntil spins while cond is false for at most d. It returns true as
// soon as cond holds.
func spinUntil(d time.Duration, cond func() bool) bool {
	if d <= 0 {
		return cond()
	}
	// A first burst without reading the clock: most waits between awake
	// peers end within it, and time.Now costs more than a cache miss.
	// Each round pauses (atomicx.Pause): a loop of bare loads takes the
	// line the other side is about to write away from it on every round,
	// and starves a sibling hardware thread that may be that other side.
	for i := 0; i < 512; i++ {
		if cond() {
			return true
		}
		atomicx.Pause()
	}
	start := time.Now()
	for i := 1; ; i++ {
		if cond() {
			return true
		}
		atomicx.Pause()
		if i&63 == 0 && time.Since(start) > d {
			return false
		}
	}
}

// sleep waits on the futex word while it holds val, for at most max,
// honouring ctx. It returns (true, nil) when max passed, ctx.Err() when
// ctx is done, and (false, nil) after a wake-up (possibly spurious).
func (c *counters) sleep(ctx context.Context, word *uint32, val uint32, max time.Duration) (timedOut bool, err error) {
	c.waits++
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return false, context.DeadlineExceeded
		}
		if left < max {
			max = left
		}
	}
	if ctx.Done() == nil {
		err = futex.Wait(word, val, max)
	} else {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		// Once ctx is done, wake the word (again, with a growing pause,
		// until the wait has returned): a reusable hook, so that a
		// sleeping call allocates nothing.
		w := futex.ArmWakeAll(ctx, word)
		err = futex.Wait(word, val, max)
		w.Stop()
		if cerr := ctx.Err(); cerr != nil {
			return false, cerr
		}
	}
	if errors.Is(err, unix.EFAULT) {
		return false, errTruncated // the futex word's page is gone: the file shrank
	}
	if err == os.ErrDeadlineExceeded {
		if cerr := ctx.Err(); cerr != nil {
			return false, cerr
		}
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return false, context.DeadlineExceeded
		}
		return true, nil
	}
	return false, err
}

// The three words of an eventcount, at epoch+0, +4 and +8 (LAYOUT.md):
// the futex word, the number of registered waiters, and a flag a waiter
// raises before sleeping and the first waker swaps back to 0, so that a
// burst of notifications while a sleeper is being scheduled costs one
// FUTEX_WAKE, not one per message.
func waitersOf(epoch *uint32) *uint32 { return (*uint32)(unsafe.Add(unsafe.Pointer(epoch), 4)) }
func needOf(epoch *uint32) *uint32    { return (*uint32)(unsafe.Add(unsafe.Pointer(epoch), 8)) }

// notify is the eventcount's signal side, called after a state change was
// published (a release store, or a CAS): it issues FUTEX_WAKE only when a
// waiter is registered and still asks for a wake. The waiter's barrier
// (block, order.go) is what makes a plain load of the waiter count here
// enough. A failed wake is returned (as a *wakeError); the change itself
// stands.
func (c *counters) notify(epoch *uint32) error {
	if atomic.LoadUint32(waitersOf(epoch)) == 0 {
		return nil // the common case, inlined into the publishing paths
	}
	return c.wakeWaiter(epoch)
}

// wakeWaiter is notify's rest, once a waiter is registered.
func (c *counters) wakeWaiter(epoch *uint32) error {
	need := needOf(epoch)
	if atomic.LoadUint32(need) != 0 && swap32(need, 0) != 0 {
		add32(epoch, 1)
		c.wakes++
		return wakeAll(epoch)
	}
	return nil
}

// bump advances an epoch and wakes its sleepers, registered or not (for
// rare events every sleeper must see: close, repair, a release on a
// closed ring).
func bump(epoch *uint32) error {
	add32(epoch, 1)
	return wakeAll(epoch)
}

func wakeAll(word *uint32) error {
	if _, err := futex.Wake(word, futex.WakeAll); err != nil {
		return &wakeError{err}
	}
	return nil
}

// block is the waiting side of the eventcount: spin, then register as a
// waiter, re-check, and sleep on the epoch word. Every LivenessInterval it
// calls tick, which checks the peers and repairs what dead ones left:
// tick reports progress (block returns nil so the caller retries) or an
// error (ErrPeerDead) to return.
//
// block returns nil when ready() holds (the caller must retry, and may
// find nothing: ready is a hint), ErrClosed once the Ring is closed in
// this process, or ctx's error. stall counts the caller's consecutive
// rounds that found the ring ready without making progress: from
// stallLimit on, block sleeps (up to a growing, bounded timeout) before
// looking at ready() again, so no state of the shared memory can make a
// blocked call spin or ignore its context.
//
// With early set the caller counts as a waiter while it spins too. A
// producer waiting for space uses it: the consumer publishes its position
// lazily, but at once when it sees a waiter, so a spinning producer is not
// left waiting for a quarter of the ring to drain (which on a busy host
// turns into a convoy of futex sleeps and wake-ups).
func (c *counters) block(ctx context.Context, r *Ring, spin time.Duration, epoch *uint32, ready func() bool, tick func() (bool, error), early bool, stall int) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	waiters, need := waitersOf(epoch), needOf(epoch)
	if stall >= stallLimit {
		// Found "ready" again and again with nothing to take: sleep a
		// little whatever ready() says, then let the caller look again.
		d := time.Millisecond << min(stall-stallLimit, 8)
		if d > LivenessInterval {
			d = LivenessInterval
		}
		timedOut, err := c.sleep(ctx, epoch, atomic.LoadUint32(epoch), d)
		if err != nil {
			return err
		}
		if timedOut && d == LivenessInterval {
			if _, err := tick(); err != nil {
				return err
			}
		}
		return nil
	}
	if early {
		add32(waiters, 1)
		defer add32(waiters, ^uint32(0))
	}
	if spinUntil(spin, ready) {
		return nil
	}
	// About to sleep in a system call: pass through the Go scheduler
	// first, at most once per yieldEvery (with nothing else runnable it
	// returns at once). A goroutine that kept its P on one scheduling tick
	// for 10 ms (forcePreemptNS) is found in the system call by sysmon,
	// which then takes the P away (handoffp, waking another thread) and,
	// having done so, polls every 20 µs for the next milliseconds; a
	// sender or receiver that never blocks for long is always on one
	// tick, and on a host with more runnable threads than CPUs those
	// wake-ups preempt the ring's peers (2×2 processes on 2 CPUs: ~1000
	// sysmon wake-ups per second per process). Not on every sleep: the
	// scheduler pass itself may wake another thread (wakep), which
	// doubled a sleeping round trip (16 µs against 8 µs) when it ran
	// before each one.
	if now := int64(time.Since(monoBase)); now-c.yielded >= yieldEvery {
		c.yielded = now
		runtime.Gosched()
	}
	for {
		if r.closed.Load() {
			return ErrClosed
		}
		ep := atomic.LoadUint32(epoch)
		add32(waiters, 1)
		st32(need, 1)
		barrier := waiterBarrier()
		if ready() {
			add32(waiters, ^uint32(0))
			return nil
		}
		var timedOut bool
		var err error
		if barrier {
			timedOut, err = c.sleep(ctx, epoch, ep, LivenessInterval)
		} else {
			// No barrier: a publisher using release stores may have
			// missed our registration while its publication was still
			// on its way; look again after shortSleep, then sleep on
			// (still registered).
			timedOut, err = c.sleep(ctx, epoch, ep, shortSleep)
			if err == nil && timedOut && !ready() {
				timedOut, err = c.sleep(ctx, epoch, ep, LivenessInterval-shortSleep)
			}
		}
		add32(waiters, ^uint32(0))
		if err != nil {
			return err
		}
		if ready() {
			return nil
		}
		if timedOut {
			progress, err := tick()
			if err != nil {
				return err
			}
			if progress {
				return nil
			}
		}
	}
}
