package semaphore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/errs"

	"github.com/ipckit/ipckit/internal/futex"
)

// Format selects the in-memory layout and futex protocol of a sem_t. The
// formats are not interoperable with each other (docs/ABI.md §2.3): pick
// the one the C peers were built against. ipckit never guesses.
type Format int

const (
	// Glibc is glibc's LP64 sem_t: one 64-bit word holding the value (low
	// 32 bits) and the waiter count (high 32 bits), then the int field
	// "private" = 128 for a process-shared semaphore. Named semaphores
	// live in /dev/shm/sem.NAME. Python and most Linux C programs use it.
	Glibc Format = iota
	// Musl123 is musl ≤ 1.2.3 (Debian 12's musl-tools): int __val[0] is
	// the value, -1 meaning "zero with waiters"; __val[1] counts waiters;
	// __val[2] is 0 for shared. Named semaphores live in /dev/shm/NAME.
	Musl123
	// Musl124 is musl ≥ 1.2.4: like Musl123, but "zero with waiters" is
	// the sticky sign bit 0x80000000 with the value in the low 31 bits.
	// Posting wakes whenever the waiter count is non-zero, as 1.2.5 does,
	// which 1.2.4 waiters tolerate.
	Musl124
)

func (f Format) String() string {
	switch f {
	case Glibc:
		return "glibc"
	case Musl123:
		return "musl-1.2.3"
	case Musl124:
		return "musl-1.2.4"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// MaxValue is SEM_VALUE_MAX for glibc and musl on Linux.
const MaxValue = math.MaxInt32

// Size returns sizeof(sem_t) for the format on this architecture: 32 bytes
// on 64-bit targets, 16 for musl on 32-bit ones.
func (f Format) Size() int { return 4 * int(unsafe.Sizeof(uintptr(0))) }

// align returns the alignment a sem_t of format f needs.
func (f Format) align() uintptr {
	if f == Glibc && !glibc32 {
		return 8
	}
	return 4
}

// glibc32 is true on 32-bit targets, where glibc's sem_t is the 16-byte
// layout without 64-bit atomics (docs/ABI.md §2.1): value = count<<1 |
// waiters-present bit at offset 0, private at 4, nwaiters at 12.
const glibc32 = unsafe.Sizeof(uintptr(0)) == 4

// glibcPrivateOff is the offset of glibc's "private" field.
const glibcPrivateOff = unsafe.Sizeof(uintptr(0))

func (f Format) valid() bool { return f >= Glibc && f <= Musl124 }

// check reports whether the format can be used on this architecture.
func (f Format) check() error {
	if !f.valid() {
		return notSupported("unknown format %d", int(f))
	}
	return nil
}

var (
	// ErrWouldBlock is returned by TryWait when the value is zero; it
	// matches unix.EAGAIN with errors.Is.
	ErrWouldBlock error = &os.SyscallError{Syscall: "sem_trywait", Err: unix.EAGAIN}
	// ErrOverflow is returned by Post at MaxValue; it matches
	// unix.EOVERFLOW.
	ErrOverflow error = &os.SyscallError{Syscall: "sem_post", Err: unix.EOVERFLOW}
	// ErrNotSupported is ipckit's one not-supported error (the same
	// value as posix.ErrNotSupported; it matches errors.ErrUnsupported).
	// This package returns it wrapped where a format is unknown or an
	// object is not available on this architecture (Mutex on 32-bit
	// targets), and those errors match unix.ENOTSUP too.
	ErrNotSupported = errs.ErrNotSupported
	// ErrClosed is returned (wrapped) by every method of a closed Sem but
	// Close; it is ipckit's one closed-handle error and matches
	// os.ErrClosed.
	ErrClosed = errs.ErrClosed
	errClosed = fmt.Errorf("semaphore: %w", ErrClosed)
)

// notSupported reports what is not supported, matching ErrNotSupported and
// unix.ENOTSUP.
func notSupported(format string, args ...any) error {
	return fmt.Errorf("semaphore: %w: %s (%w)", ErrNotSupported, fmt.Sprintf(format, args...), unix.ENOTSUP)
}

// The musl waiter markers.
const (
	musl123Waiting = 0xffffffff // -1
	musl124Waiting = 0x80000000
)

// valueOff is the offset of the 32-bit value (and futex) word inside
// glibc's 64-bit data word: 0 on little-endian, 4 on big-endian targets.
var valueOff = func() uintptr {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return 0
	}
	return 4
}()

// Sem is a counting semaphore in shared memory, laid out as a C sem_t of
// its Format. Its methods are safe for concurrent use by goroutines and by
// other processes; Close must not run concurrently with them.
type Sem struct {
	format Format
	data   *uint64 // glibc: value | nwaiters<<32
	val    *uint32 // futex word: glibc's value half, musl's __val[0]
	nw     *uint32 // musl: __val[1], the waiter count
	mem    []byte  // named: the shared mapping's bytes; unnamed: the caller's memory
	named  bool
	name   string // named: the name as given
	path   string // named: the file under /dev/shm
	closed atomic.Bool

	shared  *semMapping     // named: the per-process mapping of the file
	cleanup runtime.Cleanup // named: releases shared if s is dropped without Close
}

// bind points s at the sem_t at p.
func (s *Sem) bind(p unsafe.Pointer) {
	if s.format == Glibc && glibc32 {
		s.val = (*uint32)(p)
		s.nw = (*uint32)(unsafe.Add(p, 12))
		return
	}
	if s.format == Glibc {
		s.data = (*uint64)(p)
		s.val = (*uint32)(unsafe.Add(p, valueOff))
		return
	}
	s.val = (*uint32)(p)
	s.nw = (*uint32)(unsafe.Add(p, 4))
}

// initImage writes a fresh process-shared sem_t with the given value.
func initImage(f Format, p unsafe.Pointer, value uint32) {
	b := unsafe.Slice((*byte)(p), f.Size())
	clear(b)
	if f == Glibc {
		*(*uint32)(unsafe.Add(p, glibcPrivateOff)) = 128 // private = FUTEX_PRIVATE_FLAG: shared (glibc's inverted sense)
		if glibc32 {
			atomic.StoreUint32((*uint32)(p), value<<1)
		} else {
			atomic.StoreUint64((*uint64)(p), uint64(value))
		}
		return
	}
	// musl: __val[2] = 0 means shared.
	atomic.StoreUint32((*uint32)(p), value)
}

// checkImage rejects a sem_t that is not a process-shared semaphore of f.
func checkImage(f Format, p unsafe.Pointer) error {
	if f == Glibc {
		priv := atomic.LoadUint32((*uint32)(unsafe.Add(p, glibcPrivateOff)))
		if priv != 128 {
			return fmt.Errorf("semaphore: %w: not a process-shared glibc sem_t (private field %#x, want 0x80)", unix.EINVAL, priv)
		}
		return nil
	}
	if priv := atomic.LoadUint32((*uint32)(unsafe.Add(p, 8))); priv != 0 {
		return fmt.Errorf("semaphore: %w: not a process-shared musl sem_t (__val[2] = %#x, want 0)", unix.EINVAL, priv)
	}
	return nil
}

// Format returns the semaphore's format.
func (s *Sem) Format() Format { return s.format }

// Name returns the name a named semaphore was opened with ("" if unnamed).
func (s *Sem) Name() string { return s.name }

// Path returns the file that backs a named semaphore ("" if unnamed).
func (s *Sem) Path() string { return s.path }

// TryWait decrements the semaphore if its value is positive and returns
// ErrWouldBlock otherwise, without blocking (sem_trywait). It does not
// allocate.
func (s *Sem) TryWait() error {
	if s.closed.Load() {
		return errClosed
	}
	if s.tryWait() {
		return nil
	}
	return ErrWouldBlock
}

func (s *Sem) tryWait() bool {
	switch s.format {
	case Glibc:
		if glibc32 {
			for {
				v := atomic.LoadUint32(s.val)
				if v>>1 == 0 {
					return false
				}
				if atomic.CompareAndSwapUint32(s.val, v, v-2) {
					return true
				}
			}
		}
		for {
			d := atomic.LoadUint64(s.data)
			if uint32(d) == 0 {
				return false
			}
			if atomic.CompareAndSwapUint64(s.data, d, d-1) {
				return true
			}
		}
	case Musl123:
		for {
			v := int32(atomic.LoadUint32(s.val))
			if v <= 0 {
				return false
			}
			n := v - 1
			if v == 1 && atomic.LoadUint32(s.nw) != 0 {
				n = -1 // the last token goes and waiters remain: "zero with waiters"
			}
			if atomic.CompareAndSwapUint32(s.val, uint32(v), uint32(n)) {
				return true
			}
		}
	default: // Musl124
		for {
			v := atomic.LoadUint32(s.val)
			if v&MaxValue == 0 {
				return false
			}
			if atomic.CompareAndSwapUint32(s.val, v, v-1) {
				return true
			}
		}
	}
}

// Post increments the semaphore and wakes one waiter if there are any
// (sem_post). At MaxValue it returns ErrOverflow. If the wake-up fails (the
// futex system call is refused, for instance by a seccomp filter), the
// value has still been raised, and Post returns that error, wrapped, so
// that a waiter left asleep does not go unnoticed. It does not allocate.
func (s *Sem) Post() error {
	if s.closed.Load() {
		return errClosed
	}
	switch s.format {
	case Glibc:
		if glibc32 {
			var v uint32
			for {
				v = atomic.LoadUint32(s.val)
				if v>>1 >= MaxValue {
					return ErrOverflow
				}
				if atomic.CompareAndSwapUint32(s.val, v, v+2) {
					break
				}
			}
			if v&1 != 0 {
				return wakeErr("sem_post", s.wake(1))
			}
			return nil
		}
		var d uint64
		for {
			d = atomic.LoadUint64(s.data)
			if uint32(d) >= MaxValue {
				return ErrOverflow
			}
			if atomic.CompareAndSwapUint64(s.data, d, d+1) {
				break
			}
		}
		if d>>32 != 0 {
			return wakeErr("sem_post", s.wake(1))
		}
	case Musl123:
		var v int32
		var w uint32
		for {
			v = int32(atomic.LoadUint32(s.val))
			w = atomic.LoadUint32(s.nw)
			if v == MaxValue {
				return ErrOverflow
			}
			n := v + 1
			if v < 0 {
				n = 1 // from "zero with waiters" (-1) to one
			}
			if atomic.CompareAndSwapUint32(s.val, uint32(v), uint32(n)) {
				break
			}
		}
		if v < 0 || w != 0 {
			return wakeErr("sem_post", s.wake(1))
		}
	default: // Musl124
		var v, w uint32
		for {
			v = atomic.LoadUint32(s.val)
			w = atomic.LoadUint32(s.nw)
			if v&MaxValue == MaxValue {
				return ErrOverflow
			}
			n := v + 1
			if w <= 1 {
				n &^= musl124Waiting
			}
			if atomic.CompareAndSwapUint32(s.val, v, n) {
				break
			}
		}
		if int32(v) < 0 || w != 0 {
			cnt := 1
			if w <= 1 {
				cnt = futex.WakeAll
			}
			return wakeErr("sem_post", s.wake(cnt))
		}
	}
	return nil
}

// Wait decrements the semaphore, blocking while its value is zero until a
// Post (from any process, C or Go), or until ctx is done, in which case it
// returns ctx.Err() (context.DeadlineExceeded at a deadline) and takes
// nothing. The waiter registers itself in the sem_t exactly as the C
// library does, so C posters know to wake it.
//
// Wait does not allocate when a unit is available or when ctx can never be
// cancelled (context.Background()); blocking with a cancellable ctx
// allocates the cancellation hook.
func (s *Sem) Wait(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if s.tryWait() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch s.format {
	case Glibc:
		if glibc32 {
			return s.waitGlibc32(ctx)
		}
		return s.waitGlibc(ctx)
	case Musl123:
		return s.waitMusl(ctx, musl123Waiting)
	default:
		return s.waitMusl(ctx, musl124Waiting)
	}
}

// waitGlibc is glibc's __new_sem_wait_slow (nptl/sem_waitcommon.c).
func (s *Sem) waitGlibc(ctx context.Context) error {
	const one = 1 << 32
	d := atomic.AddUint64(s.data, one) // register as a waiter
	for {
		if uint32(d) == 0 {
			if err := futex.WaitContext(ctx, s.val, 0); err != nil {
				d = atomic.AddUint64(s.data, ^uint64(one-1)) // unregister
				return joinWake(err, s.passWake(uint32(d), uint32(d>>32)))
			}
			d = atomic.LoadUint64(s.data)
			continue
		}
		// Take a unit and unregister in one step.
		if atomic.CompareAndSwapUint64(s.data, d, d-1-one) {
			return nil
		}
		d = atomic.LoadUint64(s.data)
	}
}

// waitGlibc32 is glibc's __new_sem_wait_slow for the 32-bit layout, with
// __sem_wait_32_finish.
func (s *Sem) waitGlibc32(ctx context.Context) error {
	atomic.AddUint32(s.nw, 1)
	v := atomic.LoadUint32(s.val)
	var err error
	for {
		// About to block: make sure the waiters-present bit is set.
		for v&1 == 0 && !atomic.CompareAndSwapUint32(s.val, v, v|1) {
			v = atomic.LoadUint32(s.val)
		}
		v |= 1
		if v>>1 == 0 {
			if err = futex.WaitContext(ctx, s.val, 1); err != nil {
				break
			}
			v = atomic.LoadUint32(s.val)
			continue
		}
		if atomic.CompareAndSwapUint32(s.val, v, v-2) {
			break
		}
		v = atomic.LoadUint32(s.val)
	}
	// Stop being a registered waiter.
	var werr error
	guess := atomic.LoadUint32(s.nw)
	if guess == 1 {
		// Maybe the last waiter: clear the bit.
		for {
			o := atomic.LoadUint32(s.val)
			if o&1 == 0 || atomic.CompareAndSwapUint32(s.val, o, o&^1) {
				break
			}
		}
	}
	final := atomic.AddUint32(s.nw, ^uint32(0)) + 1
	if final > 1 && guess == 1 {
		// Guessed wrong: set the bit again and wake as many as there are units.
		var o uint32
		for {
			o = atomic.LoadUint32(s.val)
			if atomic.CompareAndSwapUint32(s.val, o, o|1) {
				break
			}
		}
		if n := o >> 1; n > 0 {
			werr = s.wake(int(min(n, futex.WakeAll)))
		}
	}
	if err != nil {
		if perr := s.passWake(atomic.LoadUint32(s.val)>>1, final-1); perr != nil {
			werr = perr
		}
		return joinWake(err, werr)
	}
	// The unit is taken. A failed wake-up above was on behalf of other
	// waiters; the same failure makes every Post report it.
	return nil
}

// waitMusl is musl's sem_timedwait for either waiter marker.
func (s *Sem) waitMusl(ctx context.Context, marker uint32) error {
	for !s.tryWait() {
		atomic.AddUint32(s.nw, 1)
		atomic.CompareAndSwapUint32(s.val, 0, marker)
		err := futex.WaitContext(ctx, s.val, marker)
		w := atomic.AddUint32(s.nw, ^uint32(0))
		if err != nil {
			v := atomic.LoadUint32(s.val)
			if s.format == Musl123 && int32(v) < 0 {
				v = 0
			}
			return joinWake(err, s.passWake(v&MaxValue, w))
		}
	}
	return nil
}

// passWake is called by a waiter that gives up (cancellation, deadline).
// A Post may have chosen it for its single wake-up just before it left; if
// units are available and other waiters remain, it passes the wake-up on
// so none of them sleeps beside an available unit. An extra wake-up is
// harmless: every waiter re-checks. It returns the wake-up's error.
func (s *Sem) passWake(value, waiters uint32) error {
	if value != 0 && waiters != 0 {
		return s.wake(1)
	}
	return nil
}

// wake wakes up to n waiters on the value word.
func (s *Sem) wake(n int) error {
	_, err := futex.Wake(s.val, n)
	return err
}

// wakeErr reports a failed wake-up after op has changed the shared state.
// It allocates only when err is not nil.
func wakeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("semaphore: %s: the change is made, but waking the waiters failed: %w", op, err)
}

// joinWake adds a failed pass-on wake-up to the error a giving-up waiter
// returns (ctx.Err()), so that errors.Is still matches both.
func joinWake(err, werr error) error {
	if werr == nil {
		return err
	}
	return errors.Join(err, wakeErr("sem_wait", werr))
}

// Value returns the current value (sem_getvalue): never negative; zero
// while waiters are blocked.
func (s *Sem) Value() int {
	if s.closed.Load() {
		return 0
	}
	v := atomic.LoadUint32(s.val)
	switch s.format {
	case Glibc:
		if glibc32 {
			v >>= 1
		}
	case Musl123:
		if int32(v) < 0 {
			return 0
		}
	case Musl124:
		v &= MaxValue
	}
	return int(v)
}

// Waiters returns the number of waiters registered in the sem_t (glibc's
// nwaiters, musl's __val[1]). It is a snapshot for diagnostics and tests.
func (s *Sem) Waiters() int {
	if s.closed.Load() {
		return 0
	}
	if s.format == Glibc && !glibc32 {
		return int(atomic.LoadUint64(s.data) >> 32)
	}
	return int(int32(atomic.LoadUint32(s.nw)))
}

// bounds validates off for a sem_t of format f inside mem and returns its
// address.
func bounds(f Format, mem []byte, off int) (unsafe.Pointer, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	size := f.Size()
	if off < 0 || off > len(mem) || len(mem)-off < size {
		return nil, fmt.Errorf("semaphore: %w: offset %d with %d-byte sem_t outside %d-byte memory", unix.EINVAL, off, size, len(mem))
	}
	p := unsafe.Pointer(&mem[off])
	if uintptr(p)%f.align() != 0 {
		return nil, fmt.Errorf("semaphore: %w: sem_t at offset %d is not %d-byte aligned", unix.EINVAL, off, f.align())
	}
	return p, nil
}

// Init initialises a process-shared glibc sem_t with value at offset off
// of mem, as C's sem_init(sem, 1, value) does, and returns it. mem should
// be a MAP_SHARED mapping that the other processes map too; C peers may
// use the same bytes with sem_wait/sem_post. Do not initialise a semaphore
// that others are using.
func Init(mem []byte, off int, value uint32) (*Sem, error) {
	return Glibc.Init(mem, off, value)
}

// Init is the package's Init for format f.
func (f Format) Init(mem []byte, off int, value uint32) (*Sem, error) {
	p, err := bounds(f, mem, off)
	if err != nil {
		return nil, err
	}
	if value > MaxValue {
		return nil, fmt.Errorf("semaphore: %w: value %d above SEM_VALUE_MAX", unix.EINVAL, value)
	}
	initImage(f, p, value)
	s := &Sem{format: f, mem: mem}
	s.bind(p)
	return s, nil
}

// Attach returns the glibc sem_t that another process (or C's
// sem_init(sem, 1, v)) initialised at offset off of mem. It rejects a
// sem_t that is not process-shared.
func Attach(mem []byte, off int) (*Sem, error) { return Glibc.Attach(mem, off) }

// Attach is the package's Attach for format f.
func (f Format) Attach(mem []byte, off int) (*Sem, error) {
	p, err := bounds(f, mem, off)
	if err != nil {
		return nil, err
	}
	if err := checkImage(f, p); err != nil {
		return nil, err
	}
	s := &Sem{format: f, mem: mem}
	s.bind(p)
	return s, nil
}

// Close releases s (sem_close). A named semaphore's mapping is shared by
// every *Sem of this process that opened the same file and is unmapped
// when the last of them is closed; the semaphore itself lives on until
// Unlink. For an unnamed semaphore Close only marks s closed; the caller
// owns the memory. Close is idempotent: a second Close returns nil. Any
// other method of a closed Sem returns an error matching ErrClosed (and
// os.ErrClosed); Unlink, which acts on the name, still works.
//
// A named Sem dropped without Close is released by a cleanup
// (runtime.AddCleanup) after a garbage collection.
func (s *Sem) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.shared != nil {
		s.cleanup.Stop()
		return s.shared.release()
	}
	return nil
}

// Unlink removes the name of a named semaphore (sem_unlink); processes that
// have it open keep using it. It acts on the name, so it works after Close
// too. An unnamed semaphore (Init, Attach) has no name to remove: Unlink
// returns nil.
func (s *Sem) Unlink() error {
	if !s.named {
		return nil
	}
	return unlinkPath(s.path)
}
