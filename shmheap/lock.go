package shmheap

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/futex"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/semaphore"

	"github.com/ipckit/ipckit/internal/procstat"
)

// The pid lock: ipckit's crash-safe lock, used for every object and, where
// glibc's robust mutex cannot be used (32-bit processes, qemu-user, or on
// request), for the heap. It is two 32-bit words at the start of a 64-byte
// lock area:
//
//	+0 word:  0 when free; else the owner's pid (bits 0–29), with bit 31
//	          (waiters) set when a process may be asleep on the word
//	+4 start: the owner's start time (field 22 of /proc/PID/stat, low 32
//	          bits), written right after acquiring and cleared right before
//	          releasing; 0 means not known yet
//
// Lock: CAS word 0 → pid. Contended: set bit 31 and futex-wait on the word
// (shared futex); a waker swaps the word to 0 and futex-wakes one waiter
// if bit 31 was set. A waiter sleeps with a timeout (2 ms, doubling to
// 100 ms); each time it expires it checks that the owner is alive: its
// /proc/PID/stat exists, is not a zombie, and shows the recorded start
// time (within 100 ticks, as mmapring) — a different one means the pid
// was reused. A proven-dead owner's lock is taken over with a CAS from the
// value the waiter saw, and the taker gets ownerDead = true: it must
// repair what the lock guards. Ownership belongs to the process, not a
// thread: any goroutine may unlock, and a thread's exit releases nothing.
const (
	pidWaiters = 0x80000000
	pidMask    = 0x3fffffff
	lkWord     = 0
	lkStart    = 4

	waitFirst  = 2 * time.Millisecond
	waitMax    = 100 * time.Millisecond
	spinTries  = 64
	yieldTries = 16
)

var (
	selfOnce  sync.Once
	selfPID   uint32
	selfStart uint32
)

// testPID, when set (by tests only), replaces this process's identity in
// every lock and slot it takes: a test that stops an operation part-way
// then sees those locks as held by a dead process.
var testPID uint32

func self() (pid, start uint32) {
	if testPID != 0 {
		return testPID, 0
	}
	selfOnce.Do(func() {
		selfPID = uint32(os.Getpid())
		// The main thread's start time, as other processes see it
		// (procstat.SelfStart: qemu-user would answer /proc/self/stat
		// with the calling thread's).
		selfStart = uint32(procstat.SelfStart())
	})
	return selfPID, selfStart
}

// alive reports whether the process pid, recorded with start time start
// (0: unknown), still runs. Only proven death returns false.
func alive(pid, start uint32) bool {
	if pid == 0 || pid > pidMask {
		return false
	}
	if me, _ := self(); pid == me {
		return true
	}
	st, running, ok := procstat.Stat(int(pid))
	if !running {
		return false
	}
	if ok && start != 0 && st != 0 {
		if !procstat.SameStart(uint32(st), start) {
			return false // the pid was reused by another process
		}
	}
	return true
}

// pidLock acquires the pid lock at off, waiting as long as a live process
// holds it. ownerDead reports that the previous owner died holding it.
func pidLock(m *mem, off uint64) (ownerDead bool) {
	me, start := self()
	w := m.u32(off + lkWord)
	if atomic.CompareAndSwapUint32(w, 0, me) {
		atomic.StoreUint32(m.u32(off+lkStart), start)
		return false
	}
	return pidLockSlow(m, off, me, start)
}

// fuzzLocks, when set (by fuzz tests only), makes a contended pid lock be
// taken over at once as if its owner were dead: fuzzed images hold
// arbitrary lock words, which a real process would wait on as long as the
// pid they name lives.
var fuzzLocks bool

func pidLockSlow(m *mem, off uint64, me, start uint32) bool {
	w := m.u32(off + lkWord)
	if fuzzLocks {
		atomic.StoreUint32(w, me)
		atomic.StoreUint32(m.u32(off+lkStart), start)
		return true
	}
	var waited uint32
	timeout := waitFirst
	for spin := 0; ; {
		old := atomic.LoadUint32(w)
		if old == 0 {
			if atomic.CompareAndSwapUint32(w, 0, me|waited) {
				atomic.StoreUint32(m.u32(off+lkStart), start)
				return false
			}
			continue
		}
		if spin < spinTries {
			spin++
			continue
		}
		if spin < spinTries+yieldTries {
			// Before sleeping, let the holder run: with more runnable
			// processes than CPUs it is often waiting for one, and every
			// sleeper makes each unlock a futex wake system call.
			spin++
			unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			continue
		}
		if old&pidWaiters == 0 {
			if !atomic.CompareAndSwapUint32(w, old, old|pidWaiters) {
				continue
			}
			old |= pidWaiters
		}
		waited = pidWaiters
		if futex.Wait(w, old, timeout) != os.ErrDeadlineExceeded {
			continue
		}
		if timeout < waitMax {
			timeout *= 2
		}
		if takeOver(m, off, me, start) {
			return true
		}
	}
}

// takeOver takes the pid lock at off if its owner is proven dead, and
// reports whether it did. The word and the start time are read as one
// 64-bit value and replaced with one 64-bit CAS, so the decision is about
// one holder: with two separate reads, a waiter could pair the word of a
// live process A with the start time of another holder C, judge A's pid
// reused (dead), and — A having released and re-acquired the lock
// meanwhile, so the word is A's again — take the lock from a live A.
// Where 64-bit atomics are not atomic between processes (atomic64Shared
// false), only the pid is judged and the CAS covers the word alone.
func takeOver(m *mem, off uint64, me, start uint32) bool {
	if !atomic64Shared {
		old := atomic.LoadUint32(m.u32(off + lkWord))
		owner := old & pidMask
		if old == 0 || owner == me || alive(owner, 0) {
			return false
		}
		if !atomic.CompareAndSwapUint32(m.u32(off+lkWord), old, me|pidWaiters) {
			return false
		}
		atomic.StoreUint32(m.u32(off+lkStart), start)
		return true
	}
	p := (*uint64)(m.ptr(off))
	v := atomic.LoadUint64(p)
	old, ostart := unpackLock(v)
	owner := old & pidMask
	if old == 0 || owner == me || alive(owner, ostart) {
		return false
	}
	return atomic.CompareAndSwapUint64(p, v, packLock(me|pidWaiters, start))
}

// packLock returns the 64-bit value whose bytes in memory are the lock
// word followed by the start time, in the host's byte order.
func packLock(word, start uint32) uint64 {
	if bigEndian {
		return uint64(word)<<32 | uint64(start)
	}
	return uint64(start)<<32 | uint64(word)
}

func unpackLock(v uint64) (word, start uint32) {
	if bigEndian {
		return uint32(v >> 32), uint32(v)
	}
	return uint32(v), uint32(v >> 32)
}

var bigEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 0 }()

// pidUnlock releases the pid lock at off.
func pidUnlock(m *mem, off uint64) {
	atomic.StoreUint32(m.u32(off+lkStart), 0)
	if atomic.SwapUint32(m.u32(off+lkWord), 0)&pidWaiters != 0 {
		futex.Wake(m.u32(off+lkWord), 1)
	}
}

// robustOK reports whether this process can use glibc's robust mutex
// (semaphore.Mutex): a 64-bit build whose threads can register a robust
// list (qemu-user refuses set_robust_list). It probes once, on a page of
// shared anonymous memory.
var robustOK = sync.OnceValue(func() error {
	pg, err := posix.MapAnonymous(os.Getpagesize(), 0)
	if err != nil {
		return err
	}
	defer pg.Close()
	mu, err := semaphore.InitMutex(pg.Bytes(), 0, semaphore.MutexNormal)
	if err != nil {
		return err
	}
	if err := mu.Lock(context.Background()); err != nil {
		return err
	}
	return mu.Unlock()
})
