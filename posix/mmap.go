package posix

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/maphook"
)

// MapFlag selects how Map and MapAnonymous map memory.
type MapFlag uint32

const (
	// MapReadOnly maps with PROT_READ only (the default is read-write).
	MapReadOnly MapFlag = 1 << iota
	// MapPrivate makes a copy-on-write mapping (MAP_PRIVATE); writes
	// stay in this process. The default is MAP_SHARED.
	MapPrivate
	// MapPopulate pre-faults the pages (MAP_POPULATE), so the first
	// touches do not page-fault.
	MapPopulate
	// MapHugePages asks for transparent huge pages (madvise
	// MADV_HUGEPAGE) for shmem/tmpfs and anonymous mappings. For hugetlbfs
	// pages use MemfdCreate with MemfdHugeTLB.
	MapHugePages
	// MapLocked locks the pages in memory (mlock) after mapping.
	MapLocked
)

// Mapping is this package's one mapping type: memory of a POSIX
// shared-memory object, a memfd, a file, anonymous shared memory or a
// System V segment (sysv.Segment.Attach returns one).
//
// # Handles and lifetime
//
// A *Mapping is a handle holding one reference to the mapped memory.
// Acquire makes another handle to the same memory; the memory is unmapped
// (munmap, or shmdt for a System V segment) when the last handle is
// closed, so a part of a program that holds a handle can never see the
// memory vanish because another part closed its own. Close is idempotent:
// a second Close returns nil. Every other method of a closed handle
// returns an error matching ErrClosed and os.ErrClosed (Bytes returns nil,
// Len 0), and never touches the memory.
//
// A handle that becomes unreachable without Close is closed by a cleanup
// (runtime.AddCleanup) after a garbage collection, so forgotten mappings
// are eventually freed. The cleanup cannot see slices and pointers into
// the memory (Bytes, ValueAt, Int64At...): they are not Go memory. Keep the
// handle reachable while using them — defer m.Close() does, and so does
// storing the handle next to the views — or call runtime.KeepAlive(m)
// after the last use.
//
// # Faults
//
// Memory backed by an object another process can shrink (a shm name or a
// file, which cannot be sealed; a memfd without SealShrink) raises SIGBUS
// on access once the object is shorter than the mapping, and an
// unhandled SIGBUS kills a Go program. Truncatable reports whether that
// can happen; Guard runs a function that touches the memory and turns
// such a fault into a FaultError (matching ErrCorrupt) instead.
//
// Methods are safe for concurrent use, but Close and Resize must not run
// while another goroutine uses the handle's memory.
type Mapping struct {
	h       *mapHandle
	cleanup runtime.Cleanup
}

// mapHandle is what one Mapping holds: a reference to the shared core.
// It is separate from Mapping so that the cleanup can release it without
// keeping the Mapping reachable.
type mapHandle struct {
	core   *mapCore
	closed atomic.Bool
}

// closedHandle stands in for the handle of a zero Mapping, which is
// treated as closed rather than dereferenced.
var closedHandle = func() *mapHandle {
	h := &mapHandle{core: &mapCore{}}
	h.closed.Store(true)
	return h
}()

func (m *Mapping) handle() *mapHandle {
	if m.h == nil {
		return closedHandle
	}
	return m.h
}

// mapCore is the mapped memory and its reference count.
type mapCore struct {
	mu   sync.RWMutex // guards b against Resize and the final unmap
	b    []byte       // nil once unmapped
	base uintptr      // address and length of the memory, kept after the
	size uintptr      // unmap so that Guard can recognise a late fault

	refs    atomic.Int64 // open handles; the memory is unmapped at 0
	trunc   atomic.Bool  // accesses may fault (see Truncatable)
	flags   MapFlag
	fixed   bool   // not an mmap of ours (System V): no mremap
	unmapOp string // "munmap" or "shmdt"
	unmap   func([]byte) error
}

func munmap(b []byte) error { return unix.Munmap(b) }

func init() {
	maphook.Adopt = func(b []byte, readOnly bool, op string, release func([]byte) error) any {
		var flags MapFlag
		if readOnly {
			flags = MapReadOnly
		}
		c := &mapCore{flags: flags, fixed: true, unmapOp: op, unmap: release}
		c.set(b)
		c.refs.Store(1)
		return newHandle(c)
	}
}

func (c *mapCore) set(b []byte) {
	c.b = b
	c.base = uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	c.size = uintptr(len(b))
}

// newHandle returns a handle holding one reference to c, which the caller
// has already counted.
func newHandle(c *mapCore) *Mapping {
	h := &mapHandle{core: c}
	m := &Mapping{h: h}
	m.cleanup = runtime.AddCleanup(m, func(h *mapHandle) { h.release() }, h)
	return m
}

// release drops h's reference once; the last reference unmaps.
func (h *mapHandle) release() error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	c := h.core
	if c.refs.Add(-1) != 0 {
		return nil
	}
	c.mu.Lock()
	b := c.b
	c.b = nil
	c.mu.Unlock()
	if b == nil {
		return nil
	}
	return opError(c.unmapOp, c.unmap(b))
}

func (f MapFlag) prot() int {
	if f&MapReadOnly != 0 {
		return unix.PROT_READ
	}
	return unix.PROT_READ | unix.PROT_WRITE
}

func (f MapFlag) mmapFlags() int {
	fl := unix.MAP_SHARED
	if f&MapPrivate != 0 {
		fl = unix.MAP_PRIVATE
	}
	if f&MapPopulate != 0 {
		fl |= unix.MAP_POPULATE
	}
	return fl
}

// Map maps length bytes of f from offset (a multiple of the page size).
// The mapping outlives f: f may be closed afterwards. The mapping is
// Truncatable unless f is a regular file sealed with SealShrink that
// covers the whole range (a memfd made by NewSharedMemory, or one that
// CheckSealed accepted). f's descriptor is used without f.Fd(), so a
// descriptor registered with the runtime poller stays in its mode.
func Map(f *os.File, offset int64, length int, flags MapFlag) (*Mapping, error) {
	if length <= 0 {
		return nil, opError("mmap", unix.EINVAL)
	}
	if offset < 0 || offset%int64(os.Getpagesize()) != 0 {
		return nil, opError("mmap", unix.EINVAL)
	}
	var m *Mapping
	err := controlFile(f, "mmap", func(fd int) (err error) {
		m, err = mapFd(fd, offset, length, flags)
		return err
	})
	return m, err
}

// mapFd maps length bytes of fd from offset and decides whether accesses
// may fault.
func mapFd(fd int, offset int64, length int, flags MapFlag) (*Mapping, error) {
	b, err := unix.Mmap(fd, offset, length, flags.prot(), flags.mmapFlags())
	if err != nil {
		return nil, opError("mmap", err)
	}
	return newMapping(b, flags, mayFault(fd, offset, length))
}

// mayFault reports whether an access to bytes [offset, offset+length) of
// a mapping of fd may raise SIGBUS: unless fd is a regular file sealed
// against shrinking (F_SEAL_SHRINK) whose size, rounded up to a page,
// covers the range, a peer can make it shorter (or it already is).
func mayFault(fd int, offset int64, length int) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return true
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_SHRINK == 0 {
		return true
	}
	page := int64(os.Getpagesize())
	covered := (st.Size + page - 1) / page * page
	return covered < offset+int64(length)
}

// MapAnonymous maps length bytes of zeroed anonymous memory
// (MAP_SHARED|MAP_ANONYMOUS, or MAP_PRIVATE with MapPrivate). It is
// shared only with processes forked from this one, which a Go program
// never makes: a child started with exec gets a fresh address space. To
// share memory with another process, map a memfd (NewSharedMemory) and
// pass its descriptor, or a POSIX shm name (CreateShm).
func MapAnonymous(length int, flags MapFlag) (*Mapping, error) {
	if length <= 0 {
		return nil, opError("mmap", unix.EINVAL)
	}
	b, err := unix.Mmap(-1, 0, length, flags.prot(), flags.mmapFlags()|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, opError("mmap", err)
	}
	return newMapping(b, flags, false)
}

// newMapping wraps a fresh mmap in a handle (one reference), applying the
// flags that need a call after mmap.
func newMapping(b []byte, flags MapFlag, trunc bool) (*Mapping, error) {
	if flags&MapHugePages != 0 {
		if err := unix.Madvise(b, unix.MADV_HUGEPAGE); err != nil {
			unix.Munmap(b)
			return nil, opError("madvise(MADV_HUGEPAGE)", err)
		}
	}
	if flags&MapLocked != 0 {
		if err := unix.Mlock(b); err != nil {
			unix.Munmap(b)
			return nil, opError("mlock", err)
		}
	}
	c := &mapCore{flags: flags, unmapOp: "munmap", unmap: munmap}
	c.set(b)
	c.trunc.Store(trunc)
	c.refs.Store(1)
	return newHandle(c), nil
}

// Acquire returns a new handle to m's memory, holding its own reference:
// the memory stays mapped until every handle is closed. Closing m does
// not affect the new handle, nor the reverse. It fails with ErrClosed if
// m is closed.
//
// Code that hands parts of one mapping to independent owners (a ring and
// its producer and consumer handles, several semaphores in one file)
// gives each owner its own handle, so the order in which they are closed
// cannot leave one of them using unmapped memory.
func (m *Mapping) Acquire() (*Mapping, error) {
	if m.handle().closed.Load() {
		return nil, ErrClosed
	}
	c := m.handle().core
	for {
		n := c.refs.Load()
		if n <= 0 {
			return nil, ErrClosed
		}
		if c.refs.CompareAndSwap(n, n+1) {
			return newHandle(c), nil
		}
	}
}

// Bytes returns the mapped memory, or nil once m is closed. The slice
// stays valid while m is open and reachable (see Mapping): Close, Resize
// and m's cleanup end it, even though other handles may keep the memory
// mapped. Memory written by another process is untrusted: bounds-check
// what you read from it.
func (m *Mapping) Bytes() []byte {
	if m.handle().closed.Load() {
		return nil
	}
	c := m.handle().core
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.b
}

// Len returns the mapping's length (0 once m is closed).
func (m *Mapping) Len() int { return len(m.Bytes()) }

// Truncatable reports whether an access to the memory may fault because
// the object behind it can be made shorter by another process, or
// already is shorter than the mapping: true for POSIX shm names, files
// and memfds without SealShrink, and after a Resize that grows the
// mapping; false for sealed memfds (NewSharedMemory), anonymous memory
// and System V segments. Where it is false, accesses need no Guard. It
// is one atomic load; the answer does not change once false, and stays
// what it was after Close.
func (m *Mapping) Truncatable() bool { return m.handle().core.trunc.Load() }

// Close releases this handle's reference; the last one unmaps the memory
// (munmap, or shmdt for a System V segment) and returns that call's
// error. Slices from Bytes must not be used afterwards. Close is
// idempotent: a second Close returns nil.
func (m *Mapping) Close() error {
	if m.handle().closed.Load() {
		return nil
	}
	m.cleanup.Stop()
	return m.handle().release()
}

func (m *Mapping) with(op string, fn func(b []byte) error) error {
	if m.handle().closed.Load() {
		return opError(op, ErrClosed)
	}
	c := m.handle().core
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.b == nil {
		return opError(op, ErrClosed)
	}
	return opError(op, fn(c.b))
}

// Sync flushes the mapping to its file (msync MS_SYNC); for shm and memfd
// it is a no-op kept for file-backed mappings.
func (m *Mapping) Sync() error {
	return m.with("msync", func(b []byte) error { return unix.Msync(b, unix.MS_SYNC) })
}

// Advise passes advice (unix.MADV_*) for the whole mapping to madvise.
func (m *Mapping) Advise(advice int) error {
	return m.with("madvise", func(b []byte) error { return unix.Madvise(b, advice) })
}

// Lock locks the pages in RAM (mlock); may need CAP_IPC_LOCK or a large
// enough RLIMIT_MEMLOCK.
func (m *Mapping) Lock() error {
	return m.with("mlock", func(b []byte) error { return unix.Mlock(b) })
}

// Unlock undoes Lock (munlock).
func (m *Mapping) Unlock() error {
	return m.with("munlock", func(b []byte) error { return unix.Munlock(b) })
}

// Resize changes the mapping's length with mremap(MREMAP_MAYMOVE); the
// address may change, so earlier Bytes slices become invalid. It fails
// with EBUSY while other handles (Acquire) share the memory, and with
// ErrNotSupported for a System V segment. To grow a shared object,
// Truncate it first: pages beyond the end of the object raise SIGBUS when
// touched, so a mapping that grows becomes Truncatable.
func (m *Mapping) Resize(length int) error {
	if length <= 0 {
		return opError("mremap", unix.EINVAL)
	}
	if m.handle().closed.Load() {
		return opError("mremap", ErrClosed)
	}
	c := m.handle().core
	if c.fixed {
		return opError("mremap", ErrNotSupported)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.b == nil {
		return opError("mremap", ErrClosed)
	}
	if n := c.refs.Load(); n != 1 {
		return opError("mremap", fmt.Errorf("%w: %d handles share the mapping", unix.EBUSY, n))
	}
	b, err := unix.Mremap(c.b, length, unix.MREMAP_MAYMOVE)
	if err != nil {
		return opError("mremap", err)
	}
	if len(b) > len(c.b) {
		c.trunc.Store(true)
	}
	c.set(b)
	return nil
}

// controlFile runs fn with f's descriptor through SyscallConn, not
// f.Fd(), which would switch a descriptor registered with the runtime
// poller to blocking mode (for every process sharing it).
func controlFile(f *os.File, op string, fn func(fd int) error) error {
	if f == nil {
		return opError(op, os.ErrInvalid)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return opError(op, err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		// Control fails only on a closed file, with the poller's
		// "use of closed file", which does not match os.ErrClosed.
		return opError(op, ErrClosed)
	}
	return ferr
}
