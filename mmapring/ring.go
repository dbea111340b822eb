package mmapring

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
)

// Config describes a ring to create.
type Config struct {
	// Kind selects the algorithm (KindSPSC or KindMPMC). Default KindSPSC.
	Kind Kind
	// Capacity is, for SPSC, the data area in bytes (a power of two, at
	// least 256; messages up to Capacity/2-8 bytes fit), and for MPMC the
	// number of cells (a power of two). Default: 1 MiB for SPSC, 1024 cells.
	Capacity int
	// CellSize is the largest MPMC message in bytes (rounded up to 8).
	// Default 240, which makes 256-byte cells.
	CellSize int
	// Limit caps how many MPMC messages may be queued at once (a Queue's
	// maxsize); 0 means Capacity.
	Limit int
	// Mode is the permission of a named or file-backed ring; default 0600.
	Mode os.FileMode
}

// Ring is a mapping of a ring. It is safe for concurrent use; the Producer
// and Consumer handles made from it are not (make one per goroutine).
type Ring struct {
	mem      []byte
	file     *os.File
	kind     Kind
	capacity uint64 // bytes (SPSC) or cells (MPMC)
	mask     uint64
	cellSize uint64
	limit    uint64
	maxMsg   uint64
	total    uint64
	name     string // POSIX shm name we created, for Unlink
	closed   atomic.Bool
}

func (c *Config) geometry() (kind Kind, capacity, cellSize, limit, maxMsg, total uint64, err error) {
	kind = c.Kind
	if kind == 0 {
		kind = KindSPSC
	}
	switch kind {
	case KindSPSC:
		capacity = 1 << 20
		if c.Capacity != 0 {
			capacity = uint64(c.Capacity)
		}
		if c.Capacity < 0 || capacity < minSPSCCapacity || capacity > maxSPSCCapacity || capacity&(capacity-1) != 0 {
			return 0, 0, 0, 0, 0, 0, fmt.Errorf("mmapring: SPSC capacity %d must be a power of two in [%d, %d]", c.Capacity, minSPSCCapacity, uint64(maxSPSCCapacity))
		}
		cellSize = recHeader
		maxMsg = capacity/2 - recHeader
		if maxMsg > 1<<31 {
			maxMsg = 1 << 31
		}
		limit = 0
		total = headerSize + capacity
	case KindMPMC:
		capacity = 1024
		if c.Capacity != 0 {
			capacity = uint64(c.Capacity)
		}
		if c.Capacity < 0 || capacity < 2 || capacity > maxCells || capacity&(capacity-1) != 0 {
			return 0, 0, 0, 0, 0, 0, fmt.Errorf("mmapring: MPMC capacity %d must be a power of two in [2, %d]", c.Capacity, uint64(maxCells))
		}
		payload := uint64(240)
		if c.CellSize != 0 {
			payload = uint64(c.CellSize)
		}
		if c.CellSize < 0 || payload > maxCellSize-cellHeader {
			return 0, 0, 0, 0, 0, 0, fmt.Errorf("mmapring: MPMC cell size %d out of range", c.CellSize)
		}
		payload = align8(payload)
		cellSize = cellHeader + payload
		maxMsg = payload
		limit = capacity
		if c.Limit < 0 || uint64(c.Limit) > capacity {
			return 0, 0, 0, 0, 0, 0, fmt.Errorf("mmapring: limit %d outside [0, capacity %d]", c.Limit, capacity)
		}
		if c.Limit > 0 {
			limit = uint64(c.Limit)
		}
		hi, lo := bits.Mul64(capacity, cellSize)
		if hi != 0 || lo > 1<<46 {
			return 0, 0, 0, 0, 0, 0, fmt.Errorf("mmapring: %d cells of %d bytes is too large", capacity, cellSize)
		}
		total = headerSize + lo
	default:
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("mmapring: unknown kind %d", kind)
	}
	return kind, capacity, cellSize, limit, maxMsg, total, nil
}

// Create makes a ring in a new memfd (nothing is left behind when every
// process has closed it). Hand it to a child with File and exec.Cmd's
// ExtraFiles (or SCM_RIGHTS); the child calls OpenFile on the descriptor.
func Create(cfg Config) (*Ring, error) {
	fd, err := unix.MemfdCreate("mmapring", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	return create(os.NewFile(uintptr(fd), "memfd:mmapring"), cfg, "")
}

// CreateShm makes a ring in POSIX shared memory /dev/shm/NAME, exclusively
// (os.ErrExist if it exists), so unrelated processes can meet by name.
// Remove the name with Unlink when done.
func CreateShm(name string, cfg Config) (*Ring, error) {
	p, err := shmname.Path(name, "")
	if err != nil {
		return nil, err
	}
	r, err := createPath(p, cfg)
	if err != nil {
		return nil, err
	}
	r.name = name
	return r, nil
}

// CreatePath makes a ring in a new file at path (exclusive creation).
func CreatePath(path string, cfg Config) (*Ring, error) { return createPath(path, cfg) }

func createPath(path string, cfg Config) (*Ring, error) {
	mode := cfg.Mode.Perm()
	if mode == 0 {
		mode = 0o600
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	unix.Fchmod(fd, uint32(mode)) // umask must not narrow what the caller asked for
	r, err := create(os.NewFile(uintptr(fd), path), cfg, path)
	if err != nil {
		unix.Unlink(path)
		return nil, err
	}
	return r, nil
}

func create(f *os.File, cfg Config, path string) (*Ring, error) {
	kind, capacity, cellSize, limit, maxMsg, total, err := cfg.geometry()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Ftruncate(int(f.Fd()), int64(total)); err != nil {
		f.Close()
		return nil, os.NewSyscallError("ftruncate", err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(total), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, os.NewSyscallError("mmap", err)
	}
	r := &Ring{mem: mem, file: f, kind: kind, capacity: capacity, mask: capacity - 1,
		cellSize: cellSize, limit: limit, maxMsg: maxMsg, total: total}
	*r.u64(offMagic) = magic
	*r.u32(offKind) = uint32(kind)
	*r.u32(offHeaderSize) = headerSize
	*r.u32(offCellSize) = uint32(cellSize)
	*r.u64(offCapacity) = capacity
	*r.u64(offTotalSize) = total
	*r.u64(offLimit) = limit
	*r.u32(offMaxMsg) = uint32(maxMsg)
	*r.u32(offCreatorPid) = uint32(os.Getpid())
	if kind == KindMPMC {
		for i := uint64(0); i < capacity; i++ {
			*r.cellState(i) = i << 8 // EMPTY for position i
		}
	}
	atomic.StoreUint32(r.u32(offVersion), version) // last: the header is complete
	return r, nil
}

// OpenFile attaches to a ring in f (a memfd received from a parent, a
// POSIX shm or a plain file), validating the header against the size of
// f. The Ring keeps its own duplicate of the descriptor.
func OpenFile(f *os.File) (*Ring, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	return open(os.NewFile(uintptr(fd), f.Name()))
}

// OpenFd is OpenFile for a raw descriptor (for example 3 in a child that
// got the ring through ExtraFiles). The descriptor is duplicated.
func OpenFd(fd int) (*Ring, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	return open(os.NewFile(uintptr(nfd), fmt.Sprintf("fd:%d", fd)))
}

// OpenShm attaches to the ring at /dev/shm/NAME.
func OpenShm(name string) (*Ring, error) {
	p, err := shmname.Path(name, "")
	if err != nil {
		return nil, err
	}
	return OpenPath(p)
}

// OpenPath attaches to the ring in the file at path.
func OpenPath(path string) (*Ring, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return open(os.NewFile(uintptr(fd), path))
}

// Unlink removes the POSIX shm name (mappings stay valid).
func Unlink(name string) error {
	p, err := shmname.Path(name, "")
	if err != nil {
		return err
	}
	if err := unix.Unlink(p); err != nil {
		return &os.PathError{Op: "unlink", Path: p, Err: err}
	}
	return nil
}

func open(f *os.File) (*Ring, error) {
	r, err := openMapping(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// validateHeader checks a header copy against the size of its file and
// returns the geometry. It never trusts one field to bound another without
// checking.
func validateHeader(h []byte, size int64) (kind Kind, capacity, cellSize, limit, maxMsg, total uint64, err error) {
	bad := func(format string, a ...any) error {
		return &corruptError{fmt.Sprintf(format, a...)}
	}
	if size < headerSize || len(h) < headerSize {
		return 0, 0, 0, 0, 0, 0, bad("file of %d bytes is shorter than the %d-byte header", size, headerSize)
	}
	rd64 := func(off int) uint64 { return *(*uint64)(unsafe.Pointer(&h[off])) }
	rd32 := func(off int) uint32 { return *(*uint32)(unsafe.Pointer(&h[off])) }
	if m := rd64(offMagic); m != magic {
		if m == 0 {
			return 0, 0, 0, 0, 0, 0, ErrNotReady
		}
		return 0, 0, 0, 0, 0, 0, bad("magic %#x", m)
	}
	switch v := rd32(offVersion); v {
	case version:
	case 0:
		return 0, 0, 0, 0, 0, 0, ErrNotReady
	default:
		return 0, 0, 0, 0, 0, 0, bad("layout version %d, this package speaks %d", v, version)
	}
	if hs := rd32(offHeaderSize); hs != headerSize {
		return 0, 0, 0, 0, 0, 0, bad("header size %d", hs)
	}
	if fl := rd32(offFlags); fl != 0 {
		return 0, 0, 0, 0, 0, 0, bad("unknown flags %#x", fl)
	}
	kind = Kind(rd32(offKind))
	capacity = rd64(offCapacity)
	cellSize = uint64(rd32(offCellSize))
	limit = rd64(offLimit)
	maxMsg = uint64(rd32(offMaxMsg))
	total = rd64(offTotalSize)
	cfg := Config{Kind: kind}
	switch kind {
	case KindSPSC:
		if capacity < minSPSCCapacity || capacity > maxSPSCCapacity || capacity&(capacity-1) != 0 {
			return 0, 0, 0, 0, 0, 0, bad("SPSC capacity %d", capacity)
		}
		cfg.Capacity = int(capacity)
	case KindMPMC:
		if capacity < 2 || capacity > maxCells || capacity&(capacity-1) != 0 {
			return 0, 0, 0, 0, 0, 0, bad("MPMC capacity %d", capacity)
		}
		if cellSize < cellHeader+8 || cellSize > maxCellSize || cellSize%8 != 0 {
			return 0, 0, 0, 0, 0, 0, bad("cell size %d", cellSize)
		}
		if limit == 0 || limit > capacity {
			return 0, 0, 0, 0, 0, 0, bad("limit %d with capacity %d", limit, capacity)
		}
		cfg.Capacity = int(capacity)
		cfg.CellSize = int(cellSize - cellHeader)
		cfg.Limit = int(limit)
	default:
		return 0, 0, 0, 0, 0, 0, bad("kind %d", kind)
	}
	// Recompute everything derived from the primary fields and insist the
	// stored copies agree.
	k2, c2, cs2, l2, m2, t2, gerr := cfg.geometry()
	if gerr != nil {
		return 0, 0, 0, 0, 0, 0, bad("%v", gerr)
	}
	if k2 != kind || c2 != capacity || cs2 != cellSize || l2 != limit || m2 != maxMsg || t2 != total {
		return 0, 0, 0, 0, 0, 0, bad("derived geometry disagrees (cell %d/%d, max message %d/%d, total %d/%d)", cellSize, cs2, maxMsg, m2, total, t2)
	}
	if uint64(size) < total {
		return 0, 0, 0, 0, 0, 0, bad("file of %d bytes is shorter than the ring's %d", size, total)
	}
	if total > uint64(^uint(0)>>1) {
		return 0, 0, 0, 0, 0, 0, bad("ring of %d bytes does not fit the address space", total)
	}
	return kind, capacity, cellSize, limit, maxMsg, total, nil
}

func openMapping(f *os.File) (*Ring, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &corruptError{"not a regular file or memfd"}
	}
	var h [headerSize]byte
	if st.Size >= headerSize {
		if _, err := unix.Pread(int(f.Fd()), h[:], 0); err != nil {
			return nil, os.NewSyscallError("pread", err)
		}
	}
	kind, capacity, cellSize, limit, maxMsg, total, err := validateHeader(h[:], st.Size)
	if err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(total), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	// From here on only the validated local copies of the geometry are used;
	// a peer rewriting the header later cannot move our bounds.
	return &Ring{mem: mem, file: f, kind: kind, capacity: capacity, mask: capacity - 1,
		cellSize: cellSize, limit: limit, maxMsg: maxMsg, total: total}, nil
}

// Kind returns the ring's algorithm.
func (r *Ring) Kind() Kind { return r.kind }

// MaxMessage returns the largest message the ring accepts.
func (r *Ring) MaxMessage() int { return int(r.maxMsg) }

// Capacity returns the data bytes (SPSC) or the number of cells (MPMC).
func (r *Ring) Capacity() int { return int(r.capacity) }

// File returns the backing descriptor (owned by the Ring), for passing to
// a child process.
func (r *Ring) File() *os.File { return r.file }

// Size returns the length of the mapping in bytes.
func (r *Ring) Size() int { return int(r.total) }

// Close unmaps the ring and closes its descriptor. Handles made from it
// must not be used afterwards. It does not unlink a name (see Unlink).
func (r *Ring) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	err := unix.Munmap(r.mem)
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mmapring: close: %w", err)
	}
	return nil
}

func (r *Ring) u64(off uint64) *uint64 { return (*uint64)(unsafe.Pointer(&r.mem[off])) }
func (r *Ring) u32(off uint64) *uint32 { return (*uint32)(unsafe.Pointer(&r.mem[off])) }

// cellState returns the state word of MPMC cell i (i < capacity).
func (r *Ring) cellState(i uint64) *uint64 {
	return (*uint64)(unsafe.Pointer(&r.mem[headerSize+i*r.cellSize]))
}

var errClosedRing = errors.New("mmapring: ring is closed")
