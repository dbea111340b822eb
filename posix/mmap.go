package posix

import (
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
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

// ErrClosedMapping is returned by operations on a closed Mapping.
var ErrClosedMapping = errors.New("posix: mapping is closed")

// Mapping is a memory mapping of a shared-memory object, memfd, file or
// anonymous shared memory. Bytes stays valid until Close or Resize.
type Mapping struct {
	mu    sync.RWMutex
	b     []byte
	flags MapFlag
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
// The mapping outlives f: f may be closed afterwards.
func Map(f *os.File, offset int64, length int, flags MapFlag) (*Mapping, error) {
	if length <= 0 {
		return nil, opError("mmap", unix.EINVAL)
	}
	if offset < 0 || offset%int64(os.Getpagesize()) != 0 {
		return nil, opError("mmap", unix.EINVAL)
	}
	b, err := unix.Mmap(int(f.Fd()), offset, length, flags.prot(), flags.mmapFlags())
	if err != nil {
		return nil, opError("mmap", err)
	}
	return newMapping(b, flags)
}

// MapAnonymous maps length bytes of zeroed anonymous memory, shared with
// children that inherit it (MAP_SHARED|MAP_ANONYMOUS) unless MapPrivate.
func MapAnonymous(length int, flags MapFlag) (*Mapping, error) {
	if length <= 0 {
		return nil, opError("mmap", unix.EINVAL)
	}
	b, err := unix.Mmap(-1, 0, length, flags.prot(), flags.mmapFlags()|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, opError("mmap", err)
	}
	return newMapping(b, flags)
}

func newMapping(b []byte, flags MapFlag) (*Mapping, error) {
	m := &Mapping{b: b, flags: flags}
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
	return m, nil
}

// Bytes returns the mapped memory (nil after Close). Memory written by
// another process is untrusted: bounds-check what you read from it.
func (m *Mapping) Bytes() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.b
}

// Len returns the mapping's length (0 after Close).
func (m *Mapping) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.b)
}

// Close unmaps the memory. Slices from Bytes must not be used afterwards.
// Close is idempotent.
func (m *Mapping) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b == nil {
		return nil
	}
	err := unix.Munmap(m.b)
	m.b = nil
	return opError("munmap", err)
}

func (m *Mapping) with(op string, fn func(b []byte) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.b == nil {
		return opError(op, ErrClosedMapping)
	}
	return opError(op, fn(m.b))
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
// address may change, so earlier Bytes slices become invalid. To grow a
// shared object, Truncate it first: pages beyond the end of the file
// raise SIGBUS when touched.
func (m *Mapping) Resize(length int) error {
	if length <= 0 {
		return opError("mremap", unix.EINVAL)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b == nil {
		return opError("mremap", ErrClosedMapping)
	}
	b, err := unix.Mremap(m.b, length, unix.MREMAP_MAYMOVE)
	if err != nil {
		return opError("mremap", err)
	}
	m.b = b
	return nil
}
