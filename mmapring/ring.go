package mmapring

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/posix"
)

// Config describes a ring to create.
type Config struct {
	// Kind selects the algorithm (KindSPSC or KindMPMC). Default KindSPSC.
	Kind Kind
	// Capacity is, for SPSC, the data area in bytes (a power of two, at
	// least 256; messages up to Capacity/2-8 bytes fit, Capacity/2-16 with
	// Checksum), and for MPMC the number of cells (a power of two, 2 …
	// 2^32). Default: 1 MiB for SPSC, 1024 cells.
	Capacity int
	// CellSize is the largest MPMC message in bytes (rounded up to 8).
	// Default 240, which makes 256-byte cells.
	CellSize int
	// Limit caps how many MPMC messages may be queued at once (a Queue's
	// maxsize); 0 means Capacity.
	Limit int
	// Checksum makes every message carry the CRC32C (Castagnoli) of its
	// payload, checked on receipt: a mismatch is ErrCorrupt. It is for
	// peers that cannot trust each other's memory (a hostile peer can
	// still forge a matching checksum; it detects accidents, not
	// attacks). It costs one CRC pass over each message on each side.
	Checksum bool
	// Mode is the permission of a named or file-backed ring; default 0600.
	Mode os.FileMode
	// Trailer is a number of bytes the file holds after the ring
	// (total_size), zeroed, for the creator's own data: package csp keeps
	// a channel's control block there. The ring never maps or touches
	// them, a sealed memfd seals them too, and peers that open the file
	// ignore them (LAYOUT.md asks only that the file be at least
	// total_size bytes).
	Trailer int
}

// Ring is a mapping of a ring. It is safe for concurrent use; the Producer
// and Consumer handles made from it are not (make one per goroutine).
//
// Lifetime: the Ring and every handle made from it hold their own handle
// on the mapping (posix.Mapping), which is unmapped when the last of them
// is closed. After Ring.Close, every method of the Ring and of its
// handles (except Close, which still releases the handle's peer slot)
// returns an error matching ErrClosed and os.ErrClosed; nothing ever
// touches unmapped memory.
type Ring struct {
	m        *ringMem
	mem      []byte // m.mem
	kind     Kind
	capacity uint64 // bytes (SPSC) or cells (MPMC)
	mask     uint64
	cellSize uint64
	limit    uint64
	maxMsg   uint64
	total    uint64
	checksum bool   // flagChecksum
	recHdr   uint64 // SPSC message record header: recHeader or recHeaderSum
	name     string // POSIX shm name it was created or opened by, for Unlink
	path     string // file it was created or opened by (CreatePath, OpenPath), for Unlink
	closed   atomic.Bool
	// calls counts the Ring's own reference (1 until Close) and the calls
	// running on its mapping handle that may race with Close (Stats, the
	// Queue's methods, making a handle): the last to finish closes it.
	calls atomic.Int64
}

// ---- The memory: posix's shared mapping layer. ----
//
// Opening, creating, sealing, mapping and unmapping go through package
// posix (SharedMemory, Map, Mapping): one implementation of lifetime
// (reference-counted handles, idempotent Close), sealing and open flags
// for every package. What stays here is the fault guard around each
// operation, kept as an open-coded defer (no closure, no allocation) and
// able to recognise a truncation fault that carries no address, which
// qemu-user raises and posix's Mapping.Guard cannot attribute.

// ringMem is what the Ring and each of its handles hold: its own handle
// on the mapping and, when the ring's file can be truncated under it
// (Truncatable), a descriptor of the file for the fault guard.
type ringMem struct {
	pm  *posix.Mapping
	mem []byte
	// guard is set when another process can shrink the file under the
	// mapping (a POSIX shm object, a plain file, a memfd without
	// F_SEAL_SHRINK): every operation then turns a fault on the mapping
	// (SIGBUS) into ErrCorrupt instead of a crash. Sealed memfd rings
	// (New) cannot shrink and skip the guard entirely.
	guard bool
	// shm is the ring's object: the Ring's (File), or a handle's own
	// duplicate of the descriptor when guard is set; nil otherwise.
	shm *posix.SharedMemory
}

// mapRing maps size bytes of shm, which the ringMem then owns.
func mapRing(shm *posix.SharedMemory, size uint64) (*ringMem, error) {
	pm, err := posix.Map(shm.File(), 0, int(size), 0)
	if err != nil {
		return nil, fmt.Errorf("mmapring: %w", err)
	}
	return &ringMem{pm: pm, mem: pm.Bytes(), guard: pm.Truncatable(), shm: shm}, nil
}

// share returns a handle's own ringMem: another handle on the same
// mapping (and, if guarded, a duplicate of the descriptor).
func (m *ringMem) share() (*ringMem, error) {
	pm, err := m.pm.Acquire()
	if err != nil {
		return nil, ErrClosed
	}
	h := &ringMem{pm: pm, mem: m.mem, guard: m.guard}
	if m.guard {
		if h.shm, err = posix.SharedMemoryFromFile(m.shm.File()); err != nil {
			pm.Close()
			return nil, err
		}
	}
	return h, nil
}

// close releases the mapping handle (the last one unmaps) and the
// descriptor.
func (m *ringMem) close() error {
	err := m.pm.Close()
	if m.shm != nil {
		if cerr := m.shm.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("mmapring: close: %w", err)
	}
	return nil
}

// errTruncated is what an operation returns when the ring's file was
// truncated under the mapping (the access faulted).
var errTruncated = &corruptError{"ring file truncated under the mapping (access faulted)"}

// contain is deferred by every operation on a guarded mapping, with the
// previous debug.SetPanicOnFault setting: a fault inside the mapping
// becomes errTruncated; any other panic goes on.
func (m *ringMem) contain(old bool, err *error) {
	debug.SetPanicOnFault(old)
	if e := recover(); e != nil {
		if m.faulted(e) {
			*err = errTruncated
			return
		}
		panic(e)
	}
}

// faulted reports whether the panic e is a fault on this mapping: at an
// address inside it, or, where no address is reported (qemu-user passes
// none with SIGBUS, so the runtime sees a nil dereference), while the file
// is shorter than the mapping.
func (m *ringMem) faulted(e any) bool {
	if fe, ok := e.(interface{ Addr() uintptr }); ok && m.holds(fe.Addr()) {
		return true
	}
	if _, ok := e.(runtime.Error); ok && m.shm != nil {
		size, err := m.shm.Size()
		return err == nil && size < int64(len(m.mem))
	}
	return false
}

// holds reports whether addr lies inside the mapping.
func (m *ringMem) holds(addr uintptr) bool {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.mem)))
	return addr >= base && addr-base < uintptr(len(m.mem))
}

// guardOn starts the fault guard for one operation; pass its result to
// contain in a defer. Only called when the ringMem's guard is set.
func guardOn() bool { return debug.SetPanicOnFault(true) }

// sealIfAllowed seals a memfd that allows sealing and is not sealed
// against shrinking yet (one a C peer made with MFD_ALLOW_SEALING), so that
// no process holding its descriptor can truncate it under the peers (F8).
// Anything else (POSIX shm, plain files, memfds without MFD_ALLOW_SEALING
// or sealed with F_SEAL_SEAL) is left as it is; posix.Map then reports the
// mapping Truncatable and the ring runs under the fault guard.
func sealIfAllowed(shm *posix.SharedMemory) {
	seals, err := shm.Seals()
	if err != nil || seals&(posix.SealShrink|posix.SealSeal) != 0 {
		return
	}
	posix.AddSeals(shm.File(), posix.SealSize)
}

// ---- end of the memory section ----

func (c *Config) geometry() (g geometry, err error) {
	g.kind = c.Kind
	if g.kind == 0 {
		g.kind = KindSPSC
	}
	g.checksum = c.Checksum
	switch g.kind {
	case KindSPSC:
		g.capacity = 1 << 20
		if c.Capacity != 0 {
			g.capacity = uint64(c.Capacity)
		}
		if c.Capacity < 0 || g.capacity < minSPSCCapacity || g.capacity > maxSPSCCapacity || g.capacity&(g.capacity-1) != 0 {
			return g, fmt.Errorf("mmapring: SPSC capacity %d must be a power of two in [%d, %d]", c.Capacity, minSPSCCapacity, uint64(maxSPSCCapacity))
		}
		g.cellSize = recHeader
		hdr := uint64(recHeader)
		if g.checksum {
			hdr = recHeaderSum
		}
		g.maxMsg = g.capacity/2 - hdr
		if g.maxMsg > 1<<31 {
			g.maxMsg = 1 << 31
		}
		g.limit = 0
		g.total = headerSize + g.capacity
	case KindMPMC:
		g.capacity = 1024
		if c.Capacity != 0 {
			g.capacity = uint64(c.Capacity)
		}
		if c.Capacity < 0 || g.capacity < 2 || g.capacity > maxCells || g.capacity&(g.capacity-1) != 0 {
			return g, fmt.Errorf("mmapring: MPMC capacity %d must be a power of two in [2, %d]", c.Capacity, uint64(maxCells))
		}
		payload := uint64(240)
		if c.CellSize != 0 {
			payload = uint64(c.CellSize)
		}
		if c.CellSize < 0 || payload > maxCellSize-cellHeader {
			return g, fmt.Errorf("mmapring: MPMC cell size %d out of range", c.CellSize)
		}
		payload = align8(payload)
		g.cellSize = cellHeader + payload
		g.maxMsg = payload
		g.limit = g.capacity
		if c.Limit < 0 || uint64(c.Limit) > g.capacity {
			return g, fmt.Errorf("mmapring: limit %d outside [0, capacity %d]", c.Limit, g.capacity)
		}
		if c.Limit > 0 {
			g.limit = uint64(c.Limit)
		}
		hi, lo := bits.Mul64(g.capacity, g.cellSize)
		if hi != 0 || lo > 1<<46 {
			return g, fmt.Errorf("mmapring: %d cells of %d bytes is too large", g.capacity, g.cellSize)
		}
		g.total = headerSize + lo
	default:
		return g, fmt.Errorf("mmapring: unknown kind %d", g.kind)
	}
	return g, nil
}

// geometry is a ring's validated shape.
type geometry struct {
	kind                                     Kind
	capacity, cellSize, limit, maxMsg, total uint64
	checksum                                 bool
}

func (g geometry) flags() uint32 {
	if g.checksum {
		return flagChecksum
	}
	return 0
}

func makeRing(m *ringMem, g geometry) *Ring {
	setupOrder() // before anything is published through the ring
	r := &Ring{m: m, mem: m.mem, kind: g.kind, capacity: g.capacity, mask: g.capacity - 1,
		cellSize: g.cellSize, limit: g.limit, maxMsg: g.maxMsg, total: g.total, checksum: g.checksum,
		recHdr: recHeader}
	if g.checksum && g.kind == KindSPSC {
		r.recHdr = recHeaderSum
	}
	r.calls.Store(1)
	return r
}

// New makes a ring in a new memfd (nothing is left behind when every
// process has closed it), sealed against shrinking and growing so that no
// process holding the descriptor can truncate it under the peers. Hand it
// to a child with File and exec.Cmd's ExtraFiles (or SCM_RIGHTS); the
// child calls FromFile on the descriptor.
func New(cfg Config) (*Ring, error) {
	g, size, err := cfg.fileGeometry()
	if err != nil {
		return nil, err
	}
	shm, err := posix.NewSharedMemory(size, &posix.SharedMemoryOptions{Name: "mmapring"})
	if err != nil {
		return nil, fmt.Errorf("mmapring: %w", err)
	}
	return create(shm, g)
}

// CreateShm makes a ring in POSIX shared memory /dev/shm/NAME, exclusively
// (os.ErrExist if it exists), so unrelated processes can meet by name.
// Remove the name with Ring.Unlink (or UnlinkShm) when done. A POSIX shm object cannot be
// sealed: a process that can open it can truncate it, and operations on
// such a ring then fail with ErrCorrupt instead of crashing the process.
func CreateShm(name string, cfg Config) (*Ring, error) {
	p, err := posix.ShmPath(name)
	if err != nil {
		return nil, err
	}
	r, err := createPath(p, cfg)
	if err != nil {
		return nil, err
	}
	r.name, r.path = name, ""
	return r, nil
}

// CreatePath makes a ring in a new file at path (exclusive creation). Like
// CreateShm's, the file cannot be sealed; truncation makes operations fail
// with ErrCorrupt.
func CreatePath(path string, cfg Config) (*Ring, error) { return createPath(path, cfg) }

func createPath(path string, cfg Config) (*Ring, error) {
	g, size, err := cfg.fileGeometry()
	if err != nil {
		return nil, err
	}
	// Exclusive, O_NOFOLLOW, and the mode exactly (the umask does not
	// narrow what the caller asked for; 0 means 0600).
	shm, err := posix.CreateSharedFile(path, size, cfg.Mode.Perm())
	if err != nil {
		return nil, err
	}
	r, err := create(shm, g)
	if err != nil {
		unix.Unlink(path)
		return nil, err
	}
	r.path = path
	return r, nil
}

// fileGeometry returns the ring's geometry and the size of its new file:
// the ring and the Trailer.
func (c *Config) fileGeometry() (geometry, int64, error) {
	g, err := c.geometry()
	if err != nil {
		return g, 0, err
	}
	if c.Trailer < 0 || uint64(c.Trailer) > 1<<46 {
		return g, 0, fmt.Errorf("mmapring: trailer of %d bytes out of range", c.Trailer)
	}
	return g, int64(g.total) + int64(c.Trailer), nil
}

// create maps the first g.total bytes of a new, zero-filled object (which
// the Ring then owns) and writes the header.
func create(shm *posix.SharedMemory, g geometry) (*Ring, error) {
	m, err := mapRing(shm, g.total)
	if err != nil {
		shm.Close()
		return nil, err
	}
	r := makeRing(m, g)
	// Nobody else can see the ring yet (the version word is 0 until the
	// last store), and a fresh file is all zeros: plain stores suffice.
	*r.u64(offMagic) = magic
	*r.u32(offKind) = uint32(g.kind)
	*r.u32(offHeaderSize) = headerSize
	*r.u32(offCellSize) = uint32(g.cellSize)
	*r.u64(offCapacity) = g.capacity
	*r.u64(offTotalSize) = g.total
	*r.u64(offLimit) = g.limit
	*r.u32(offMaxMsg) = uint32(g.maxMsg)
	*r.u32(offFlags) = g.flags()
	*r.u32(offCreatorPid) = uint32(os.Getpid())
	if g.kind == KindMPMC {
		for i := uint64(0); i < g.capacity; i++ {
			*r.cellState(i) = i << 8 // EMPTY for position i
		}
	}
	st32(r.u32(offVersion), version) // last: the header is complete
	return r, nil
}

// FromFile attaches to a ring in f (a memfd inherited from a parent
// through exec.Cmd.ExtraFiles or received with SCM_RIGHTS, a POSIX shm or
// a plain file), validating the header against the size of f. The Ring
// keeps its own duplicate of the descriptor: the caller still owns f. A
// memfd that allows sealing but is not sealed yet is sealed against
// shrinking and growing here; a file that cannot be sealed is mapped with
// the fault guard (truncation makes operations fail with ErrCorrupt). A
// Ring made from a descriptor has no name: Unlink does nothing.
func FromFile(f *os.File) (*Ring, error) {
	// posix duplicates the descriptor through its RawConn, not f.Fd, which
	// would put a descriptor that os.NewFile registered with the poller
	// into blocking mode.
	shm, err := posix.SharedMemoryFromFile(f)
	if err != nil {
		return nil, fmt.Errorf("mmapring: %w", err)
	}
	return open(shm)
}

// OpenShm attaches to the ring at /dev/shm/NAME; it fails with an error
// matching os.ErrNotExist if there is none, and with ErrNotReady while its
// creator has not finished the header.
func OpenShm(name string) (*Ring, error) {
	p, err := posix.ShmPath(name)
	if err != nil {
		return nil, err
	}
	r, err := OpenPath(p)
	if err != nil {
		return nil, err
	}
	r.name, r.path = name, ""
	return r, nil
}

// OpenPath attaches to the ring in the file at path. It opens without
// following a final symlink and without blocking (a FIFO planted at the
// path is refused, not waited on), and refuses anything but a regular
// file.
func OpenPath(path string) (*Ring, error) {
	shm, err := posix.OpenSharedFile(path)
	if err != nil {
		return nil, err
	}
	r, err := open(shm)
	if err != nil {
		return nil, err
	}
	r.path = path
	return r, nil
}

// Unlink removes the name the ring was created or opened by: the POSIX
// shm name (CreateShm, OpenShm) or the file (CreatePath, OpenPath).
// Mappings and handles stay valid, and the memory goes when the last
// process closes it. A ring without a name (New, FromFile) has nothing to
// remove: Unlink returns nil. Unlink acts on the name, not on the Ring,
// so it works after Close too.
func (r *Ring) Unlink() error {
	switch {
	case r.name != "":
		return UnlinkShm(r.name)
	case r.path != "":
		if err := unix.Unlink(r.path); err != nil {
			return &os.PathError{Op: "unlink", Path: r.path, Err: err}
		}
	}
	return nil
}

// UnlinkShm removes the POSIX shm name (mappings stay valid).
func UnlinkShm(name string) error {
	p, err := posix.ShmPath(name)
	if err != nil {
		return err
	}
	if err := unix.Unlink(p); err != nil {
		return &os.PathError{Op: "unlink", Path: p, Err: err}
	}
	return nil
}

// validateHeader checks a header copy against the size of its file and
// returns the geometry. It never trusts one field to bound another without
// checking.
func validateHeader(h []byte, size int64) (g geometry, err error) {
	bad := func(format string, a ...any) error {
		return &corruptError{fmt.Sprintf(format, a...)}
	}
	if size < headerSize || len(h) < headerSize {
		return g, bad("file of %d bytes is shorter than the %d-byte header", size, headerSize)
	}
	// h may be any byte slice (a stack array has no alignment guarantee):
	// decode, never cast.
	rd64 := func(off int) uint64 { return binary.NativeEndian.Uint64(h[off:]) }
	rd32 := func(off int) uint32 { return binary.NativeEndian.Uint32(h[off:]) }
	if m := rd64(offMagic); m != magic {
		if m == 0 {
			return g, ErrNotReady
		}
		return g, bad("magic %#x", m)
	}
	switch v := rd32(offVersion); v {
	case version:
	case 0:
		return g, ErrNotReady
	default:
		return g, bad("layout version %d, this package speaks %d", v, version)
	}
	if hs := rd32(offHeaderSize); hs != headerSize {
		return g, bad("header size %d", hs)
	}
	fl := rd32(offFlags)
	if fl&^knownFlags != 0 {
		return g, bad("unknown flags %#x", fl)
	}
	kind := Kind(rd32(offKind))
	capacity := rd64(offCapacity)
	cellSize := uint64(rd32(offCellSize))
	limit := rd64(offLimit)
	maxMsg := uint64(rd32(offMaxMsg))
	total := rd64(offTotalSize)
	cfg := Config{Kind: kind, Checksum: fl&flagChecksum != 0}
	switch kind {
	case KindSPSC:
		if capacity < minSPSCCapacity || capacity > maxSPSCCapacity || capacity&(capacity-1) != 0 {
			return g, bad("SPSC capacity %d", capacity)
		}
		cfg.Capacity = int(capacity)
	case KindMPMC:
		if capacity < 2 || capacity > maxCells || capacity&(capacity-1) != 0 {
			return g, bad("MPMC capacity %d", capacity)
		}
		if cellSize < cellHeader+8 || cellSize > maxCellSize || cellSize%8 != 0 {
			return g, bad("cell size %d", cellSize)
		}
		if limit == 0 || limit > capacity {
			return g, bad("limit %d with capacity %d", limit, capacity)
		}
		cfg.Capacity = int(capacity)
		cfg.CellSize = int(cellSize - cellHeader)
		cfg.Limit = int(limit)
	default:
		return g, bad("kind %d", kind)
	}
	// Recompute everything derived from the primary fields and insist the
	// stored copies agree.
	g2, gerr := cfg.geometry()
	if gerr != nil {
		return g, bad("%v", gerr)
	}
	if g2.kind != kind || g2.capacity != capacity || g2.cellSize != cellSize || g2.limit != limit || g2.maxMsg != maxMsg || g2.total != total {
		return g, bad("derived geometry disagrees (cell %d/%d, max message %d/%d, total %d/%d)", cellSize, g2.cellSize, maxMsg, g2.maxMsg, total, g2.total)
	}
	if uint64(size) < total {
		return g, bad("file of %d bytes is shorter than the ring's %d", size, total)
	}
	if total > uint64(^uint(0)>>1) {
		return g, bad("ring of %d bytes does not fit the address space", total)
	}
	return g2, nil
}

// open validates the ring in shm (which the Ring then owns) and maps it.
func open(shm *posix.SharedMemory) (*Ring, error) {
	// Seal first (where possible), then measure: a size read before the
	// seal could be shrunk right after.
	sealIfAllowed(shm)
	size, err := shm.Size()
	if err != nil {
		shm.Close()
		return nil, err
	}
	var h [headerSize]byte
	if size >= headerSize {
		if _, err := shm.File().ReadAt(h[:], 0); err != nil {
			shm.Close()
			return nil, fmt.Errorf("mmapring: read header: %w", err)
		}
	}
	g, err := validateHeader(h[:], size)
	if err != nil {
		shm.Close()
		return nil, err
	}
	m, err := mapRing(shm, g.total)
	if err != nil {
		shm.Close()
		return nil, err
	}
	// From here on only the validated local copies of the geometry are used;
	// a peer rewriting the header later cannot move our bounds.
	return makeRing(m, g), nil
}

// Kind returns the ring's algorithm.
func (r *Ring) Kind() Kind { return r.kind }

// MaxMessage returns the largest message the ring accepts.
func (r *Ring) MaxMessage() int { return int(r.maxMsg) }

// Capacity returns the data bytes (SPSC) or the number of cells (MPMC).
func (r *Ring) Capacity() int { return int(r.capacity) }

// Checksum reports whether messages carry a CRC32C (Config.Checksum).
func (r *Ring) Checksum() bool { return r.checksum }

// Sealed reports whether the ring's file is sealed against shrinking, so
// that operations run without the fault guard.
func (r *Ring) Sealed() bool { return !r.m.guard }

// File returns the backing descriptor (owned by the Ring: valid until
// Ring.Close), for passing to a child process.
func (r *Ring) File() *os.File { return r.m.shm.File() }

// Size returns the length of the mapping in bytes.
func (r *Ring) Size() int { return int(r.total) }

// Close releases the Ring's reference to the mapping; the mapping is
// unmapped once every Producer, Consumer and Queue made from it is closed
// too. Handles still open are not detached: their Close still releases
// their peer slots (and a Producer's Close still closes the ring for
// consumers), but every other method returns ErrClosed, and calls blocked
// in this process are woken and return ErrClosed. Close is idempotent. It
// does not unlink a name (see Unlink).
func (r *Ring) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.wakeLocal()
	return r.release()
}

// wakeLocal wakes every sleeper on the ring's futex words (this process's
// sleepers then see the closed Ring; others see a spurious wake-up).
func (r *Ring) wakeLocal() {
	if r.m.guard {
		defer r.m.contain(guardOn(), new(error))
	}
	for _, off := range []uint64{offDataEpoch, offSpaceEpoch, offJoinEpoch} {
		add32(r.u32(off), 1)
		wakeAll(r.u32(off))
	}
}

// acquire keeps the Ring's mapping handle open for one call of a method
// that may run concurrently with Close (Stats, the Queue's methods,
// making a handle): false (ErrClosed) once the Ring is closed.
func (r *Ring) acquire() bool {
	for {
		n := r.calls.Load()
		if n <= 0 || r.closed.Load() {
			return false
		}
		if r.calls.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release ends such a call (or, from Close, the Ring's own reference); the
// last one closes the Ring's handle on the mapping and its descriptor.
func (r *Ring) release() error {
	if r.calls.Add(-1) != 0 {
		return nil
	}
	return r.m.close()
}

func (r *Ring) u64(off uint64) *uint64 { return (*uint64)(unsafe.Pointer(&r.mem[off])) }
func (r *Ring) u32(off uint64) *uint32 { return (*uint32)(unsafe.Pointer(&r.mem[off])) }

// cellState returns the state word of MPMC cell i (i < capacity).
func (r *Ring) cellState(i uint64) *uint64 {
	return (*uint64)(unsafe.Pointer(&r.mem[headerSize+i*r.cellSize]))
}
