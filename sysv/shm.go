package sysv

import (
	"math"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/maphook"
	"github.com/ipckit/ipckit/posix"
)

// Segment is a System V shared-memory segment. Like Queue, it is an id:
// safe for concurrent use, nothing to close. Attach maps it; Remove marks
// it for deletion, which happens when the last process detaches.
type Segment struct{ id int }

// CreateSegment creates a segment of size bytes for key, with mode 0600
// unless o says otherwise (o.Flags may add SHM_HUGETLB, SHM_NORESERVE).
// An existing segment for key is an error matching os.ErrExist. The
// kernel zero-fills a new segment.
func CreateSegment(key Key, size int, o *Options) (*Segment, error) {
	id, err := Shmget(key, size, o.getFlags(true))
	if err != nil {
		return nil, wrap("shmget", err)
	}
	return &Segment{id}, nil
}

// OpenOrCreateSegment opens the segment for key, or creates a zero-filled
// one of size bytes (as CreateSegment) if there is none; shmget(IPC_CREAT)
// does both atomically. An existing segment smaller than size is an error
// matching unix.EINVAL (the kernel's rule).
func OpenOrCreateSegment(key Key, size int, o *Options) (*Segment, error) {
	id, err := Shmget(key, size, o.getFlags(false))
	if err != nil {
		return nil, wrap("shmget", err)
	}
	return &Segment{id}, nil
}

// OpenSegment opens the existing segment for key.
func OpenSegment(key Key) (*Segment, error) {
	id, err := Shmget(key, 0, accessRW)
	if err != nil {
		return nil, wrap("shmget", err)
	}
	return &Segment{id}, nil
}

// SegmentFromID returns the segment with the given id, checked with
// IPC_STAT: an id that names no segment fails here (EINVAL, or EIDRM),
// and so does one this process may not read (EACCES, matching
// os.ErrPermission).
func SegmentFromID(id int) (*Segment, error) {
	var ds ShmidDS
	if _, err := Shmctl(id, IPC_STAT, &ds); err != nil {
		return nil, wrap("shmctl", err)
	}
	return &Segment{id}, nil
}

// ID returns the segment's id.
func (s *Segment) ID() int { return s.id }

// Attach maps the segment into this process (shmat) and returns it as a
// *posix.Mapping, the mapping type shared with POSIX shm, memfds and files:
// its last Close detaches (shmdt), Close is idempotent, and a closed
// Mapping returns errors matching os.ErrClosed instead of faulting. Each
// Attach is a separate attachment (nattch counts it). flags may hold
// SHM_RDONLY (writing to the memory then faults) and SHM_EXEC. A System V
// segment cannot shrink, so the mapping is not Truncatable; it cannot be
// resized either.
func (s *Segment) Attach(flags int) (*posix.Mapping, error) {
	var ds ShmidDS
	if _, err := Shmctl(s.id, IPC_STAT, &ds); err != nil {
		return nil, wrap("shmctl", err)
	}
	size := uint64(ds.Segsz)
	if size == 0 || size > math.MaxInt {
		// Empty cannot happen (the kernel refuses empty segments), but
		// never build a slice over nothing or past the address space.
		return nil, wrap("shmat", unix.EINVAL)
	}
	addr, err := Shmat(s.id, 0, flags)
	if err != nil {
		return nil, wrap("shmat", err)
	}
	// The kernel returned the address; the memory is not Go's.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	b := unsafe.Slice((*byte)(p), int(size))
	detach := func([]byte) error { return Shmdt(addr) }
	return maphook.Adopt(b, flags&SHM_RDONLY != 0, "shmdt", detach).(*posix.Mapping), nil
}

// SegmentStat is a segment's state.
type SegmentStat struct {
	Perm       Perm
	Size       uint64
	Attaches   uint64
	CreatorPID int
	LastPID    int       // last shmat or shmdt
	LastAttach time.Time // zero if never
	LastDetach time.Time
	Changed    time.Time
	Removed    bool // marked for deletion (SHM_DEST), alive until the last detach
	Locked     bool // locked in memory (SHM_LOCKED)
}

const (
	shmDest   = 0o1000
	shmLocked = 0o2000
)

func segmentStatOf(ds *ShmidDS) SegmentStat {
	return SegmentStat{
		Perm: permOf(&ds.Perm), Size: uint64(ds.Segsz), Attaches: uint64(ds.Nattch),
		CreatorPID: int(ds.Cpid), LastPID: int(ds.Lpid),
		LastAttach: unixTime(ds.AtimeSec()), LastDetach: unixTime(ds.DtimeSec()), Changed: unixTime(ds.CtimeSec()),
		Removed: ds.Perm.Mode&shmDest != 0, Locked: ds.Perm.Mode&shmLocked != 0,
	}
}

// Stat returns the segment's state (IPC_STAT).
func (s *Segment) Stat() (SegmentStat, error) {
	var ds ShmidDS
	if _, err := Shmctl(s.id, IPC_STAT, &ds); err != nil {
		return SegmentStat{}, wrap("shmctl", err)
	}
	return segmentStatOf(&ds), nil
}

func (s *Segment) set(f func(*ShmidDS)) error {
	var ds ShmidDS
	if _, err := Shmctl(s.id, IPC_STAT, &ds); err != nil {
		return wrap("shmctl", err)
	}
	f(&ds)
	_, err := Shmctl(s.id, IPC_SET, &ds)
	return wrap("shmctl", err)
}

// Chmod sets the permission bits.
func (s *Segment) Chmod(mode os.FileMode) error {
	return s.set(func(ds *ShmidDS) { setMode(&ds.Perm.Mode, mode) })
}

// Chown sets the owner.
func (s *Segment) Chown(uid, gid uint32) error {
	return s.set(func(ds *ShmidDS) { ds.Perm.Uid, ds.Perm.Gid = uid, gid })
}

// Lock keeps the segment's pages in memory (SHM_LOCK; needs
// CAP_IPC_LOCK or a sufficient RLIMIT_MEMLOCK).
func (s *Segment) Lock() error {
	_, err := Shmctl(s.id, SHM_LOCK, nil)
	return wrap("shmctl", err)
}

// Unlock undoes Lock (SHM_UNLOCK).
func (s *Segment) Unlock() error {
	_, err := Shmctl(s.id, SHM_UNLOCK, nil)
	return wrap("shmctl", err)
}

// Remove marks the segment for deletion (IPC_RMID): its key is freed at
// once, and the memory when the last process detaches.
func (s *Segment) Remove() error { return RemoveSegment(s.id) }

// RemoveSegment marks the segment with the given id for deletion
// (IPC_RMID), as Segment.Remove does, without a handle.
func RemoveSegment(id int) error {
	_, err := Shmctl(id, IPC_RMID, nil)
	return wrap("shmctl", err)
}
