package posix

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// FaultError reports a memory fault inside a Mapping during Guard: the
// object behind the mapping is shorter than the mapping (another process
// truncated the shm object or file), so the page at Offset has no memory
// behind it. It matches ErrCorrupt with errors.Is, and unwraps to the
// runtime.Error the fault raised.
type FaultError struct {
	Offset int64   // byte offset of the faulting address in the mapping
	Len    int     // the mapping's length
	Addr   uintptr // the faulting address
	err    error
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("posix: memory fault at offset %d of a %d-byte mapping: the object behind it is shorter than the mapping (truncated by another process?)", e.Offset, e.Len)
}

// Unwrap returns ErrCorrupt and the runtime.Error of the fault.
func (e *FaultError) Unwrap() []error { return []error{ErrCorrupt, e.err} }

// Guard runs fn, which reads or writes m's memory, and contains memory
// faults in it: a SIGBUS or SIGSEGV raised by fn at an address inside m
// ends fn and makes Guard return a *FaultError (matching ErrCorrupt), or
// ErrClosed if m was closed meanwhile, where it would otherwise kill the
// program. Otherwise Guard returns fn's result. It returns ErrClosed
// without calling fn if m is closed.
//
// Use it around every access to memory that another process can
// truncate (Truncatable reports true): a POSIX shm name or a file, which
// cannot be sealed. A peer that shrinks the object turns the next access
// to the lost pages into SIGBUS; under Guard that access becomes an
// error the caller can report, and the process lives on.
//
// The mechanism is debug.SetPanicOnFault, which Guard sets for the
// calling goroutine only while fn runs (restoring the previous setting)
// and recover. So:
//   - only faults on the goroutine that called Guard are contained, not
//     those of goroutines fn starts;
//   - fn stops at the faulting instruction: state it was updating (in Go
//     memory or in the mapping) may be half-written, and locks it took
//     without defer stay held; write fn so that stopping anywhere is
//     safe, as code reading untrusted shared memory must be anyway;
//   - a fault outside m's memory, and any other panic, is re-raised by
//     Guard with the same value (the original stack trace is lost);
//   - the fault is attributed by its address, which Linux always gives
//     for SIGBUS; qemu-user gives 0, so under it the fault is re-raised.
//
// Guard does not allocate unless fn faults. Its cost is fixed per call:
// two runtime calls to switch panic-on-fault, an open-coded defer and a
// recover (BENCHMARKS.md has BenchmarkGuard's numbers). Put a whole
// operation (a message's copy, a batch) in one Guard rather than each
// load, and skip Guard where Truncatable reports false.
func (m *Mapping) Guard(fn func() error) (err error) {
	if m.handle().closed.Load() {
		return ErrClosed
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = m.fault(r)
		}
	}()
	return fn()
}

// fault turns a recovered panic value into Guard's error, or re-panics
// with it if it is not a fault inside m's memory.
func (m *Mapping) fault(r any) error {
	re, ok := r.(runtime.Error)
	if !ok {
		panic(r)
	}
	a, ok := re.(interface{ Addr() uintptr })
	if !ok {
		panic(r)
	}
	addr := a.Addr()
	c := m.handle().core
	c.mu.RLock()
	base, size, unmapped := c.base, c.size, c.b == nil
	c.mu.RUnlock()
	if addr-base >= size { // unsigned: also addr < base
		panic(r)
	}
	if unmapped || m.handle().closed.Load() {
		return ErrClosed
	}
	return &FaultError{Offset: int64(addr - base), Len: int(size), Addr: addr, err: re}
}
