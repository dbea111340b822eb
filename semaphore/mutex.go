package semaphore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/errs"
	"github.com/ipckit/ipckit/internal/futex"
	"github.com/ipckit/ipckit/internal/procmaps"
)

// glibc's pthread_mutex_t on 64-bit Linux (docs/ABI.md §3.1): the fields
// ipckit touches are the same on every 64-bit port.
const (
	mxLock   = 0  // int __lock: the futex word (owner TID | WAITERS | OWNER_DIED)
	mxCount  = 4  // unsigned __count: recursion depth
	mxOwner  = 8  // int __owner: TID, or INCONSISTENT / NOTRECOVERABLE
	mxNusers = 12 // unsigned __nusers
	mxKind   = 16 // int __kind
	mxPrev   = 24 // __list.__prev
	mxNext   = 32 // __list.__next: the robust-list entry the kernel walks

	// MutexSize is the number of bytes of a pthread_mutex_t that ipckit
	// reads and writes (x86_64's sizeof(pthread_mutex_t)). Reserve C's
	// sizeof(pthread_mutex_t) where C shares the memory: 48 on arm64.
	MutexSize = 40

	kindRobust      = 16  // PTHREAD_MUTEX_ROBUST_NORMAL_NP
	kindPI          = 32  // PTHREAD_MUTEX_PRIO_INHERIT_NP
	kindPP          = 64  // PTHREAD_MUTEX_PRIO_PROTECT_NP
	kindPshared     = 128 // PTHREAD_MUTEX_PSHARED_BIT
	kindTypeMask    = 3
	ownerInconsist  = 0x7fffffff // PTHREAD_MUTEX_INCONSISTENT
	ownerNotRecover = 0x7ffffffe // PTHREAD_MUTEX_NOTRECOVERABLE
	robustFutexOff  = -32        // futex_offset: __lock - __list.__next
)

// MutexType is the pthread mutex type stored in __kind.
type MutexType int

const (
	MutexNormal     MutexType = 0 // PTHREAD_MUTEX_NORMAL / DEFAULT: relocking deadlocks
	MutexRecursive  MutexType = 1 // PTHREAD_MUTEX_RECURSIVE
	MutexErrorCheck MutexType = 2 // PTHREAD_MUTEX_ERRORCHECK: relock → ErrDeadlock
)

var (
	// ErrOwnerDead is returned by Lock and TryLock when the previous owner
	// died holding the mutex. The caller now HOLDS the mutex; it should
	// repair the protected state and call Consistent, or Unlock without
	// Consistent, which makes the mutex unusable (ErrNotRecoverable).
	// It matches unix.EOWNERDEAD.
	ErrOwnerDead error = &os.SyscallError{Syscall: "pthread_mutex_lock", Err: unix.EOWNERDEAD}
	// ErrNotRecoverable: an owner died, and the next owner unlocked
	// without calling Consistent. Matches unix.ENOTRECOVERABLE.
	ErrNotRecoverable error = &os.SyscallError{Syscall: "pthread_mutex_lock", Err: unix.ENOTRECOVERABLE}
	// ErrBusy is returned by TryLock when another thread holds the mutex.
	// It matches unix.EBUSY, pthread_mutex_trylock's answer, and
	// unix.EAGAIN, which every ipckit Try call's "would block" matches.
	ErrBusy error = &os.SyscallError{Syscall: "pthread_mutex_trylock", Err: errs.WouldBlock(unix.EBUSY)}
	// ErrDeadlock: an error-checking mutex relocked by its owner thread.
	ErrDeadlock error = &os.SyscallError{Syscall: "pthread_mutex_lock", Err: unix.EDEADLK}
	// ErrNotOwner: Unlock or Consistent by a thread that does not hold it.
	ErrNotOwner error = &os.SyscallError{Syscall: "pthread_mutex_unlock", Err: unix.EPERM}
)

// Mutex is a process-shared, robust mutex laid out as glibc's
// pthread_mutex_t (kind PTHREAD_MUTEX_ROBUST | PTHREAD_PROCESS_SHARED) in
// shared memory. Go and C processes lock it with the same protocol, and
// when a holder dies, by crash or SIGKILL, the kernel marks it so that the
// next locker gets ErrOwnerDead instead of hanging.
//
// Ownership belongs to an OS thread, as for pthreads: Lock locks the
// calling goroutine to its OS thread (runtime.LockOSThread) until the
// matching Unlock, which must be called from the same goroutine. If that
// goroutine exits while holding the mutex, the Go runtime ends its thread
// and the kernel releases the mutex as owner-dead at once, except on the
// main thread, which the runtime keeps (docs/ABI.md §3.3): lock from
// goroutines other than the main one where that matters.
type Mutex struct {
	base unsafe.Pointer
	mem  []byte
}

func mutexSupported() error {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return notSupported("the robust pthread_mutex_t layout is implemented for 64-bit targets only")
	}
	return nil
}

func mutexAt(mem []byte, off int) (unsafe.Pointer, error) {
	if err := mutexSupported(); err != nil {
		return nil, err
	}
	if off < 0 || off > len(mem) || len(mem)-off < MutexSize {
		return nil, fmt.Errorf("semaphore: %w: mutex at offset %d outside %d-byte memory", unix.EINVAL, off, len(mem))
	}
	p := unsafe.Pointer(&mem[off])
	if uintptr(p)%8 != 0 {
		return nil, fmt.Errorf("semaphore: %w: mutex at offset %d is not 8-byte aligned", unix.EINVAL, off)
	}
	// The mutex's address goes on the thread's robust list, where the
	// kernel writes through it when the thread exits, however long after
	// the memory was freed: Go heap memory (which the collector may free
	// and reuse) and private mappings (which no other process shares) are
	// refused.
	shared, err := procmaps.Shared(uintptr(p), MutexSize)
	if err != nil {
		return nil, fmt.Errorf("semaphore: cannot check that the mutex memory is a MAP_SHARED mapping: %w", err)
	}
	if !shared {
		return nil, fmt.Errorf("semaphore: %w: mutex memory at %#x is not a MAP_SHARED mapping (Go heap memory and private mappings cannot hold a robust mutex)", unix.EINVAL, uintptr(p))
	}
	return p, nil
}

// InitMutex initialises a robust, process-shared mutex of type typ at
// offset off of mem, as C's pthread_mutex_init does with
// pthread_mutexattr_setrobust(PTHREAD_MUTEX_ROBUST) and
// setpshared(PTHREAD_PROCESS_SHARED). The mutex's bytes must lie in a
// MAP_SHARED mapping (POSIX or System V shared memory, a memfd or file
// mapped shared, MAP_SHARED|MAP_ANONYMOUS): Go heap memory and private
// mappings are refused with an error matching unix.EINVAL, because the
// kernel keeps the mutex's address on the owner thread's robust list and
// writes through it when the thread exits, even after the memory has been
// freed. The check reads /proc/self/maps; without /proc it fails.
func InitMutex(mem []byte, off int, typ MutexType) (*Mutex, error) {
	p, err := mutexAt(mem, off)
	if err != nil {
		return nil, err
	}
	if typ < MutexNormal || typ > MutexErrorCheck {
		return nil, fmt.Errorf("semaphore: %w: mutex type %d", unix.EINVAL, typ)
	}
	clear(unsafe.Slice((*byte)(p), MutexSize))
	atomic.StoreUint32((*uint32)(unsafe.Add(p, mxKind)), kindRobust|kindPshared|uint32(typ))
	return &Mutex{base: p, mem: mem}, nil
}

// AttachMutex returns the mutex at offset off of mem that InitMutex or C
// initialised. It accepts only robust, process-shared mutexes without
// priority inheritance or protection (those use other protocols), in a
// MAP_SHARED mapping as InitMutex requires.
func AttachMutex(mem []byte, off int) (*Mutex, error) {
	p, err := mutexAt(mem, off)
	if err != nil {
		return nil, err
	}
	k := atomic.LoadUint32((*uint32)(unsafe.Add(p, mxKind)))
	if k&kindRobust == 0 || k&kindPshared == 0 || k&(kindPI|kindPP) != 0 {
		return nil, fmt.Errorf("semaphore: %w: __kind %#x is not a robust, process-shared, non-PI/PP pthread mutex", unix.EINVAL, k)
	}
	return &Mutex{base: p, mem: mem}, nil
}

func (m *Mutex) u32(off uintptr) *uint32 { return (*uint32)(unsafe.Add(m.base, off)) }
func (m *Mutex) entry() unsafe.Pointer   { return unsafe.Add(m.base, mxNext) }
func (m *Mutex) typ() MutexType {
	return MutexType(atomic.LoadUint32(m.u32(mxKind)) & kindTypeMask)
}

// Lock acquires the mutex, waiting until it is free or ctx is done (then
// it returns ctx.Err() and does not hold the mutex). It returns nil, or
// ErrOwnerDead, in which case the caller holds the mutex as well. Other
// results (ErrNotRecoverable, ErrDeadlock, ctx errors) mean the mutex is
// not held. On success the goroutine stays locked to its OS thread until
// Unlock.
func (m *Mutex) Lock(ctx context.Context) error { return m.lock(ctx, false) }

// TryLock is Lock without waiting: ErrBusy if another thread holds it.
func (m *Mutex) TryLock() error { return m.lock(context.Background(), true) }

func (m *Mutex) lock(ctx context.Context, try bool) (err error) {
	if err := mutexSupported(); err != nil {
		return err
	}
	runtime.LockOSThread()
	held := false
	defer func() {
		if !held {
			runtime.UnlockOSThread()
		}
	}()
	tid := uint32(unix.Gettid())
	h, err := registerThread(tid)
	if err != nil {
		return err
	}
	lock := m.u32(mxLock)
	e := m.entry()
	h.setPending(e)
	var assumeWaiters uint32
	old := atomic.LoadUint32(lock)
	for {
		if old == 0 {
			if atomic.CompareAndSwapUint32(lock, 0, tid|assumeWaiters) {
				break
			}
			old = atomic.LoadUint32(lock)
			continue
		}
		if old&futex.OwnerDied != 0 {
			// The previous owner died: take over, keeping the waiters bit.
			if !atomic.CompareAndSwapUint32(lock, old, tid|old&futex.Waiters|assumeWaiters) {
				old = atomic.LoadUint32(lock)
				continue
			}
			atomic.StoreUint32(m.u32(mxCount), 1)
			atomic.StoreUint32(m.u32(mxOwner), ownerInconsist)
			h.enqueue(e)
			h.setPending(nil)
			held = true
			return ErrOwnerDead
		}
		if old&futex.TIDMask == tid {
			switch m.typ() {
			case MutexErrorCheck:
				h.setPending(nil)
				return ErrDeadlock
			case MutexRecursive:
				h.setPending(nil)
				c := atomic.LoadUint32(m.u32(mxCount))
				if c+1 == 0 {
					return &os.SyscallError{Syscall: "pthread_mutex_lock", Err: unix.EAGAIN}
				}
				atomic.StoreUint32(m.u32(mxCount), c+1)
				held = true
				return nil
			}
			// MutexNormal: relocking deadlocks, as in C, until ctx ends.
		}
		if try {
			h.setPending(nil)
			return ErrBusy
		}
		if old&futex.Waiters == 0 {
			if !atomic.CompareAndSwapUint32(lock, old, old|futex.Waiters) {
				old = atomic.LoadUint32(lock)
				continue
			}
			old |= futex.Waiters
		}
		assumeWaiters = futex.Waiters
		if werr := mutexWait(ctx, lock, old); werr != nil {
			h.setPending(nil)
			passLockWake(lock)
			return werr
		}
		old = atomic.LoadUint32(lock)
	}
	// Acquired. A mutex left unrecoverable stays so.
	if atomic.LoadUint32(m.u32(mxOwner)) == ownerNotRecover {
		atomic.StoreUint32(m.u32(mxCount), 0)
		atomic.StoreUint32(lock, 0)
		_, werr := futex.Wake(lock, 1) // as glibc's lll_unlock: the word held a TID, so wake
		h.setPending(nil)
		if werr != nil {
			return errors.Join(ErrNotRecoverable, wakeErr("pthread_mutex_lock", werr))
		}
		return ErrNotRecoverable
	}
	atomic.StoreUint32(m.u32(mxCount), 1)
	h.enqueue(e)
	h.setPending(nil)
	atomic.StoreUint32(m.u32(mxOwner), tid)
	atomic.AddUint32(m.u32(mxNusers), 1)
	held = true
	return nil
}

// mutexWait is the futex wait of a blocked locker: futex.WaitContext,
// replaceable by tests that need a waiter to consume a wake-up and report
// a cancellation in one step (which futex_waitv can do).
var mutexWait = futex.WaitContext

// passLockWake is called by a locker that gives up waiting (cancellation,
// deadline, an error from the wait). The single wake-up of an Unlock (or of
// the kernel, for an owner that died with FUTEX_WAITERS set) may have gone
// to this waiter just as it gave up: futex.WaitContext returns ctx.Err()
// even when the wait also consumed a real wake-up, and cannot say which.
// Another waiter would then sleep beside a free lock, or beside one that a
// newcomer took without FUTEX_WAITERS and will unlock without a wake-up.
// So unless the lock word shows a live owner with FUTEX_WAITERS set (whose
// unlock wakes the next waiter), the wake-up is passed on, as Sem.passWake
// does for semaphores. An extra wake-up is harmless: every waiter re-checks
// the word, and one woken in vain sets FUTEX_WAITERS again and sleeps.
func passLockWake(lock *uint32) {
	if v := atomic.LoadUint32(lock); v&futex.TIDMask != 0 && v&futex.Waiters != 0 && v&futex.OwnerDied == 0 {
		return
	}
	futex.Wake(lock, 1)
}

// Consistent marks a mutex whose previous owner died as consistent again
// (pthread_mutex_consistent), after the caller, which holds it since Lock
// returned ErrOwnerDead, has repaired the state the mutex protects.
func (m *Mutex) Consistent() error {
	if err := mutexSupported(); err != nil {
		return err
	}
	tid := uint32(unix.Gettid())
	if atomic.LoadUint32(m.u32(mxLock))&futex.TIDMask != tid {
		return &os.SyscallError{Syscall: "pthread_mutex_consistent", Err: unix.EPERM}
	}
	if atomic.LoadUint32(m.u32(mxOwner)) != ownerInconsist {
		return &os.SyscallError{Syscall: "pthread_mutex_consistent", Err: unix.EINVAL}
	}
	atomic.StoreUint32(m.u32(mxOwner), tid)
	return nil
}

// Unlock releases the mutex; it must be called from the goroutine that
// locked it (ErrNotOwner otherwise). Unlocking after ErrOwnerDead without
// Consistent makes the mutex permanently unrecoverable, as in C. If waking
// a waiter fails (the futex system call is refused), the mutex is still
// released and Unlock returns that error, wrapped.
func (m *Mutex) Unlock() error {
	if err := mutexSupported(); err != nil {
		return err
	}
	tid := uint32(unix.Gettid())
	lock := m.u32(mxLock)
	if v := atomic.LoadUint32(lock); v == 0 || v&futex.TIDMask != tid {
		return ErrNotOwner
	}
	h := lookupThread(tid)
	if h == nil {
		return ErrNotOwner
	}
	if m.typ() == MutexRecursive {
		if c := atomic.LoadUint32(m.u32(mxCount)); c > 1 {
			atomic.StoreUint32(m.u32(mxCount), c-1)
			runtime.UnlockOSThread()
			return nil
		}
	}
	newOwner := uint32(0)
	if atomic.LoadUint32(m.u32(mxOwner)) == ownerInconsist {
		newOwner = ownerNotRecover
	}
	e := m.entry()
	h.setPending(e)
	h.dequeue(e)
	atomic.StoreUint32(m.u32(mxCount), 0)
	atomic.StoreUint32(m.u32(mxOwner), newOwner)
	atomic.AddUint32(m.u32(mxNusers), ^uint32(0))
	var werr error
	if atomic.SwapUint32(lock, 0)&futex.Waiters != 0 {
		_, werr = futex.Wake(lock, 1)
	}
	h.setPending(nil)
	runtime.UnlockOSThread()
	// Released either way; a failed wake-up may leave a waiter asleep.
	return wakeErr("pthread_mutex_unlock", werr)
}

// State returns the raw lock word and owner field, for diagnostics.
func (m *Mutex) State() (lock, owner uint32) {
	return atomic.LoadUint32(m.u32(mxLock)), atomic.LoadUint32(m.u32(mxOwner))
}

// ---- per-thread robust lists ----

// robustSlot is one OS thread's struct robust_list_head, preceded (as in
// glibc's struct pthread) by a word that stands in for the head's own
// __prev when the head is treated as a list node, and followed by a
// sentinel entry that stays on the thread's robust list for good. It lives
// in an mmap'd page that is never freed, so the kernel may read it at any
// time.
//
// The sentinel's futex word holds the thread's TID. When the thread exits,
// the kernel walks its list and rewrites that word to FUTEX_OWNER_DIED, so
// "sentinel word == my TID" proves, without a system call, that the
// registration belongs to the calling thread and not to an exited thread
// whose TID the caller has inherited.
type robustSlot struct {
	prev    uintptr    // +0: written by enqueue when the list is empty (glibc's robust_prev)
	list    uintptr    // +8: head.list: first entry
	offset  int64      // +16: head.futex_offset
	pending uintptr    // +24: head.list_op_pending
	sWord   uint32     // +32: the sentinel's futex word (sNext + futex_offset)
	_       uint32     // +36
	_       [2]uintptr // +40
	sPrev   uintptr    // +56: the sentinel's __prev
	sNext   uintptr    // +64: the sentinel entry (its __next)
}

// threadList is ipckit's view of one thread's robust list.
//
// In a cgo-free binary no thread has a robust list, and ipckit registers a
// head of its own (own = true). Its links in shared memory are then only
// written, never read back: neighbours come from the private entries, so a
// hostile peer that scribbles on a mutex's __list cannot steer our writes.
//
// In a binary with cgo (including -race builds) every thread was made by
// glibc's pthread_create and glibc has registered its own head, with the
// same conventions (futex_offset -32, entries at &__list.__next). ipckit
// then links its mutexes (and its sentinel) into glibc's list exactly as
// glibc does, so C robust mutexes locked on the same thread stay protected;
// dequeueing then follows the links stored in the nodes, as glibc does.
type threadList struct {
	head    unsafe.Pointer // &head.list
	own     bool
	slot    *robustSlot
	entries []unsafe.Pointer // own heads: the sentinel, then held mutexes, oldest first
	scratch [2]uintptr       // get_robust_list results; here so they do not escape
}

var (
	robustMu    sync.Mutex
	robustByTID = map[uint32]*threadList{}
	robustFree  []*robustSlot
)

func (h *threadList) setPending(e unsafe.Pointer) {
	atomic.StoreUintptr((*uintptr)(unsafe.Add(h.head, 2*unsafe.Sizeof(uintptr(0)))), uintptr(e))
}

func (h *threadList) pending() uintptr {
	return atomic.LoadUintptr((*uintptr)(unsafe.Add(h.head, 2*unsafe.Sizeof(uintptr(0)))))
}

func (h *threadList) first() uintptr { return atomic.LoadUintptr((*uintptr)(h.head)) }

func (h *threadList) sentinel() unsafe.Pointer { return unsafe.Pointer(&h.slot.sNext) }

// ptrAt turns an address read from memory into a pointer (the memory is
// outside the Go heap: an mmap'd page or glibc's thread descriptor).
func ptrAt(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }

// registerThread returns the calling thread's list. The fast path is a map
// lookup and the sentinel check. Otherwise it registers an own head with
// set_robust_list when the thread has none (a new thread, or a new thread
// that reuses the TID of one that has exited), or adopts glibc's head when
// glibc has registered one, and links a fresh sentinel.
func registerThread(tid uint32) (*threadList, error) {
	robustMu.Lock()
	h := robustByTID[tid]
	if h == nil {
		h = &threadList{entries: make([]unsafe.Pointer, 0, 8)}
		robustByTID[tid] = h
	}
	if h.slot == nil {
		if len(robustFree) == 0 {
			page, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				robustMu.Unlock()
				return nil, os.NewSyscallError("mmap", err)
			}
			sz := int(unsafe.Sizeof(robustSlot{}))
			for i := 0; i+sz <= len(page); i += sz {
				robustFree = append(robustFree, (*robustSlot)(unsafe.Pointer(&page[i])))
			}
		}
		h.slot = robustFree[len(robustFree)-1]
		robustFree = robustFree[:len(robustFree)-1]
	}
	robustMu.Unlock()
	if atomic.LoadUint32(&h.slot.sWord) == tid && h.head != nil {
		return h, nil // registered by this very thread, which is alive
	}
	_, _, e := unix.RawSyscall(unix.SYS_GET_ROBUST_LIST, 0, uintptr(unsafe.Pointer(&h.scratch[0])), uintptr(unsafe.Pointer(&h.scratch[1])))
	if e != 0 {
		return nil, os.NewSyscallError("get_robust_list", e)
	}
	cur := h.scratch[0]
	h.entries = h.entries[:0]
	sent := h.sentinel()
	atomic.StoreUint32(&h.slot.sWord, tid)
	if cur != 0 && cur != uintptr(unsafe.Pointer(&h.slot.list)) {
		// glibc's head (cgo): check that it follows glibc's convention,
		// then link the sentinel in as glibc would a mutex.
		if h.scratch[1] != 3*unsafe.Sizeof(uintptr(0)) ||
			*(*int64)(unsafe.Add(ptrAt(cur), unsafe.Sizeof(uintptr(0)))) != robustFutexOff {
			return nil, notSupported("this thread's robust list head does not follow glibc's layout")
		}
		h.head, h.own = ptrAt(cur), false
		h.enqueue(sent)
		return h, nil
	}
	// An own head holding just the sentinel.
	h.own = true
	h.head = unsafe.Pointer(&h.slot.list)
	h.slot.offset = robustFutexOff
	h.slot.pending = 0
	h.slot.prev = uintptr(sent)
	h.slot.sPrev = uintptr(h.head)
	h.slot.sNext = uintptr(h.head)
	atomic.StoreUintptr(&h.slot.list, uintptr(sent))
	h.entries = append(h.entries, sent)
	_, _, e = unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(h.head), 3*unsafe.Sizeof(uintptr(0)), 0)
	if e != 0 {
		atomic.StoreUint32(&h.slot.sWord, 0)
		return nil, os.NewSyscallError("set_robust_list", e)
	}
	return h, nil
}

func lookupThread(tid uint32) *threadList {
	robustMu.Lock()
	defer robustMu.Unlock()
	return robustByTID[tid]
}

func storePtr(addr, v unsafe.Pointer) {
	atomic.StoreUintptr((*uintptr)(addr), uintptr(v))
}

// prevField returns the address of a node's __prev: the word before its
// __next (for the head, the slot's prev word, or glibc's robust_prev).
func prevField(node unsafe.Pointer) unsafe.Pointer {
	return unsafe.Add(node, -int(unsafe.Sizeof(uintptr(0))))
}

// enqueue puts entry e at the front of the kernel-visible list, as glibc's
// ENQUEUE_MUTEX does: first.prev = e, e.next = first, e.prev = head, then
// head.list = e.
func (h *threadList) enqueue(e unsafe.Pointer) {
	head := h.head
	var first unsafe.Pointer
	if h.own {
		first = head
		if n := len(h.entries); n > 0 {
			first = h.entries[n-1]
		}
	} else {
		first = ptrAt(h.first() &^ 1)
	}
	storePtr(prevField(first), e)
	storePtr(e, first)
	storePtr(prevField(e), head)
	atomic.StoreUintptr((*uintptr)(head), uintptr(e))
	if h.own {
		h.entries = append(h.entries, e)
	}
}

// dequeue unlinks entry e, as glibc's DEQUEUE_MUTEX does.
func (h *threadList) dequeue(e unsafe.Pointer) {
	var next, prev unsafe.Pointer // next: towards the tail (older); prev: towards the head
	if h.own {
		i := len(h.entries) - 1
		for i >= 0 && h.entries[i] != e {
			i--
		}
		if i < 0 {
			return
		}
		next, prev = h.head, h.head
		if i > 0 {
			next = h.entries[i-1]
		}
		if i < len(h.entries)-1 {
			prev = h.entries[i+1]
		}
		h.entries = append(h.entries[:i], h.entries[i+1:]...)
	} else {
		next = ptrAt(atomic.LoadUintptr((*uintptr)(e)) &^ 1)
		prev = ptrAt(atomic.LoadUintptr((*uintptr)(prevField(e))) &^ 1)
		if next == nil || prev == nil {
			return // not linked (corrupted by a peer): leave the list alone
		}
	}
	storePtr(prevField(next), prev)
	storePtr(prev, next) // prev's __next; for the head this is head.list
	storePtr(prevField(e), nil)
	storePtr(e, nil)
}
