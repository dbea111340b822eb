package mmapring

import (
	"context"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ipckit/ipckit/internal/futex"
)

// DefaultSpin is how long a blocked call spins re-reading shared memory
// before it registers as a waiter and sleeps on the futex.
const DefaultSpin = 50 * time.Microsecond

// LivenessInterval bounds each futex sleep: a sleeper wakes at least this
// often to check whether its peers are still alive. This is not a polling
// loop for data (data arrival always wakes it); it is how a dead peer is
// noticed when no one is left to wake it.
const LivenessInterval = 200 * time.Millisecond

// counters counts the futex system calls a handle makes; the fast path
// makes none.
type counters struct {
	waits uint64
	wakes uint64
}

// spinUntil spins while cond is false for at most d. It returns true as
// soon as cond holds.
func spinUntil(d time.Duration, cond func() bool) bool {
	if d <= 0 {
		return cond()
	}
	// A first burst without reading the clock: most waits between awake
	// peers end within it, and time.Now costs more than a cache miss.
	for i := 0; i < 512; i++ {
		if cond() {
			return true
		}
	}
	start := time.Now()
	for i := 1; ; i++ {
		if cond() {
			return true
		}
		if i&63 == 0 && time.Since(start) > d {
			return false
		}
	}
}

// sleep waits on the futex word while it holds val, for at most
// LivenessInterval, honouring ctx. It returns (true, nil) when the
// liveness interval passed, ctx.Err() when ctx is done, and (false, nil)
// after a wake-up (possibly spurious).
func (c *counters) sleep(ctx context.Context, word *uint32, val uint32) (timedOut bool, err error) {
	c.waits++
	max := LivenessInterval
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
		var returned atomic.Bool
		stop := context.AfterFunc(ctx, func() {
			backoff := 20 * time.Microsecond
			for !returned.Load() {
				futex.Wake(word, futex.WakeAll)
				time.Sleep(backoff)
				if backoff < 10*time.Millisecond {
					backoff *= 2
				}
			}
		})
		err = futex.Wait(word, val, max)
		returned.Store(true)
		stop()
		if cerr := ctx.Err(); cerr != nil {
			return false, cerr
		}
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
// made visible with a sequentially consistent store: it issues FUTEX_WAKE
// only when a waiter is registered and still asks for a wake.
func (c *counters) notify(epoch *uint32) {
	need := needOf(epoch)
	if atomic.LoadUint32(waitersOf(epoch)) != 0 && atomic.LoadUint32(need) != 0 && atomic.SwapUint32(need, 0) != 0 {
		atomic.AddUint32(epoch, 1)
		c.wakes++
		futex.Wake(epoch, futex.WakeAll)
	}
}

func wakeAll(word *uint32) { futex.Wake(word, futex.WakeAll) }
