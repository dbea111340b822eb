package semaphore

import (
	"context"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/futex"
)

// EventSize is the size of an Event in shared memory: one 32-bit word.
const EventSize = 4

// Event bits. The layout is public so that C peers can share an Event
// (tests/c/sem_mutex.c does, in TestEventWithC): the word is 1 when set,
// and value 2 is a waiters flag. Set: old = __atomic_exchange_n(&w, 1,
// SEQ_CST), then a shared FUTEX_WAKE(INT_MAX) if old & 2. Wait: while
// !(w & 1), CAS in the flag 2 and FUTEX_WAIT(&w, value with the flag).
// Clear: CAS the 1 away, keeping the flag.
const (
	eventSet     = 1 // the event is set
	eventWaiters = 2 // someone may be asleep on the word: Set must wake
)

// Event is a manual-reset event in shared memory (like a Win32 event or
// Python's multiprocessing.Event): Set wakes every waiter in every process
// and keeps the event set until Clear. Setting an event nobody waits for
// makes no system call.
type Event struct {
	w   *uint32
	mem []byte
}

func eventAt(mem []byte, off int) (*uint32, error) {
	if off < 0 || off > len(mem) || len(mem)-off < EventSize {
		return nil, fmt.Errorf("semaphore: %w: event at offset %d outside %d-byte memory", unix.EINVAL, off, len(mem))
	}
	p := unsafe.Pointer(&mem[off])
	if uintptr(p)%4 != 0 {
		return nil, fmt.Errorf("semaphore: %w: event at offset %d is not 4-byte aligned", unix.EINVAL, off)
	}
	return (*uint32)(p), nil
}

// InitEvent initialises a cleared Event at offset off of mem.
func InitEvent(mem []byte, off int) (*Event, error) {
	w, err := eventAt(mem, off)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint32(w, 0)
	return &Event{w: w, mem: mem}, nil
}

// AttachEvent returns the Event that another process initialised at off.
func AttachEvent(mem []byte, off int) (*Event, error) {
	w, err := eventAt(mem, off)
	if err != nil {
		return nil, err
	}
	return &Event{w: w, mem: mem}, nil
}

// Set sets the event and wakes all its waiters. If the wake-up fails (the
// futex system call is refused), the event is still set and Set returns
// that error, wrapped: waiters may sleep on until their contexts end.
func (e *Event) Set() error {
	if atomic.SwapUint32(e.w, eventSet)&eventWaiters != 0 {
		if _, err := futex.Wake(e.w, futex.WakeAll); err != nil {
			return wakeErr("event set", err)
		}
	}
	return nil
}

// Clear resets the event; later Waits block until the next Set.
func (e *Event) Clear() {
	for {
		v := atomic.LoadUint32(e.w)
		if v&eventSet == 0 || atomic.CompareAndSwapUint32(e.w, v, v&^eventSet) {
			return
		}
	}
}

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool { return atomic.LoadUint32(e.w)&eventSet != 0 }

// Wait blocks until the event is set or ctx is done (returning ctx.Err()).
// It does not allocate if the event is already set or ctx can never be
// cancelled.
func (e *Event) Wait(ctx context.Context) error {
	for {
		v := atomic.LoadUint32(e.w)
		if v&eventSet != 0 {
			return nil
		}
		if v&eventWaiters == 0 && !atomic.CompareAndSwapUint32(e.w, v, v|eventWaiters) {
			continue
		}
		if err := futex.WaitContext(ctx, e.w, v|eventWaiters); err != nil {
			if e.IsSet() {
				return nil
			}
			return err
		}
	}
}
