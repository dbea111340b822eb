package shmheap

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/semaphore"
)

// LockKind selects the lock that guards a heap's metadata (allocator and
// object directory). Objects always use the pid lock (see Value).
type LockKind int

const (
	// LockAuto picks LockRobust where this process can use it (a 64-bit
	// build, not under qemu-user), and LockPID elsewhere.
	LockAuto LockKind = iota
	// LockRobust is glibc's robust, process-shared pthread_mutex_t
	// (semaphore.Mutex): the kernel marks it when its owner dies and the
	// next locker repairs the heap. Only 64-bit processes that can
	// register a robust list (not qemu-user) can open such a heap; others
	// get ErrNotSupported.
	LockRobust
	// LockPID is ipckit's pid lock (LAYOUT.md): the owner's pid and start
	// time in the lock, checked by a waiter whose wait has lasted over a
	// few milliseconds. Every GOARCH and qemu-user can use it.
	LockPID
)

func (k LockKind) String() string {
	switch k {
	case LockAuto:
		return "auto"
	case LockRobust:
		return "robust"
	case LockPID:
		return "pid"
	}
	return "LockKind(" + strconv.Itoa(int(k)) + ")"
}

// Options are the settings of a new heap; nil means the defaults.
type Options struct {
	// Lock selects the heap lock (default LockAuto).
	Lock LockKind
	// MaxProcs is the number of processes that may have the heap open at
	// once: a multiple of 64 from 64 to 4096 (default 128). Each costs 8
	// bytes of header and one bit in every object.
	MaxProcs int
	// Perm is the mode of a named heap (shm object or file); 0 means
	// 0600. The umask does not narrow it.
	Perm os.FileMode
	// Label names a memfd in /proc/PID/fd (New only); default "shmheap".
	Label string
}

// arenaStart is where the arena starts for maxProcs process slots.
func arenaStart(maxProcs uint64) uint64 { return align(hProcs+8*maxProcs, 64) }

// MinSize is the smallest heap New and the Create functions accept with
// the default MaxProcs.
const MinSize = 16 << 10

// maxSize bounds a heap's size so that every offset computation stays far
// from overflow.
const maxSize = 1 << 46

// core is one process's view of one heap, shared by the Heap handle and
// every object opened through it; the last of them to close releases it.
type core struct {
	mem
	mp       *posix.Mapping
	sm       *posix.SharedMemory
	trunc    bool
	arenaOff uint64
	arenaEnd uint64
	maxProcs uint64
	lockKind uint32
	mu       *semaphore.Mutex
	slot     int

	refs atomic.Int64

	omu  sync.Mutex
	open map[uint64]int // object header offset → handles open in this process

	reclaimMu sync.Mutex // one reclaim at a time in this process
}

// Heap is a handle to a heap in shared memory: a fixed-size segment with
// an allocator and a directory of named objects. Its size is fixed when
// it is created (growth may come in a later version). Close releases the
// handle; objects opened through it stay usable until they are closed
// too, and the memory is unmapped after the last one.
type Heap struct {
	c      *core
	closed atomic.Bool
}

func (o *Options) fill() (Options, error) {
	var opt Options
	if o != nil {
		opt = *o
	}
	if opt.MaxProcs == 0 {
		opt.MaxProcs = defMaxProcs
	}
	if opt.MaxProcs < 64 || opt.MaxProcs > maxMaxProcs || opt.MaxProcs%64 != 0 {
		return opt, fmt.Errorf("shmheap: %w: MaxProcs %d is not a multiple of 64 in [64, %d]", unix.EINVAL, opt.MaxProcs, maxMaxProcs)
	}
	switch opt.Lock {
	case LockAuto:
		if robustOK() == nil {
			opt.Lock = LockRobust
		} else {
			opt.Lock = LockPID
		}
	case LockRobust:
		if err := robustOK(); err != nil {
			return opt, fmt.Errorf("shmheap: %w: glibc's robust mutex is not usable here: %v", ErrNotSupported, err)
		}
	case LockPID:
	default:
		return opt, fmt.Errorf("shmheap: %w: lock kind %d", unix.EINVAL, int(opt.Lock))
	}
	if opt.Perm == 0 {
		opt.Perm = 0o600
	}
	if opt.Label == "" {
		opt.Label = "shmheap"
	}
	return opt, nil
}

func checkSize(size int64, opt Options) error {
	min := int64(arenaStart(uint64(opt.MaxProcs))) + 4096
	if size < min || size > maxSize || uint64(size) > uint64(math.MaxInt) {
		return fmt.Errorf("shmheap: %w: size %d outside [%d, %d]", unix.EINVAL, size, min, int64(maxSize))
	}
	return nil
}

// New creates a heap of size bytes in a memfd sealed against resizing, to
// hand to other processes by descriptor: pass File() in exec.Cmd's
// ExtraFiles (or with posix.SendFiles), and the child calls FromFile.
// Nothing is left behind when every process has closed it.
func New(size int64, o *Options) (*Heap, error) {
	opt, err := o.fill()
	if err != nil {
		return nil, err
	}
	if err := checkSize(size, opt); err != nil {
		return nil, err
	}
	sm, err := posix.NewSharedMemory(size, &posix.SharedMemoryOptions{Name: opt.Label, Seals: posix.SealSeal})
	if err != nil {
		return nil, err
	}
	return initAndAttach(sm, size, opt)
}

// FromFile opens the heap behind a descriptor received from another
// process (ExtraFiles, posix.ReceiveFiles): a memfd from New, or a shm object
// or file. It duplicates the descriptor; the caller still owns f. Unless
// the descriptor is sealed against shrinking, every access runs under
// posix.Mapping.Guard, so a peer that truncates the file causes
// ErrCorrupt, not a crash.
func FromFile(f *os.File) (*Heap, error) {
	sm, err := posix.SharedMemoryFromFile(f)
	if err != nil {
		return nil, err
	}
	return mapAndAttach(sm)
}

// CreateShm creates a heap of size bytes in the POSIX shared-memory
// object name (the file /dev/shm/NAME, named as shm_open names it). It
// fails with an error matching os.ErrExist if the name is taken. The heap
// is initialised under a temporary name and then linked to name, so no
// process can open it half-made.
func CreateShm(name string, size int64, o *Options) (*Heap, error) {
	path, err := posix.ShmPath(name)
	if err != nil {
		return nil, &os.PathError{Op: "shm_open", Path: name, Err: err}
	}
	opt, err := o.fill()
	if err != nil {
		return nil, err
	}
	if err := checkSize(size, opt); err != nil {
		return nil, err
	}
	tmp := tmpName()
	sm, err := posix.CreateShm(tmp, size)
	if err != nil {
		return nil, err
	}
	return publish(sm, path, size, opt)
}

// OpenShm opens the heap in the POSIX shared-memory object name; it fails
// with an error matching os.ErrNotExist if there is none.
func OpenShm(name string) (*Heap, error) {
	sm, err := posix.OpenShm(name)
	if err != nil {
		return nil, err
	}
	return mapAndAttach(sm)
}

// OpenOrCreateShm opens the heap in name, or creates it with size bytes
// and o if there is none. Whoever wins a race creates it; the others open
// it, fully initialised.
func OpenOrCreateShm(name string, size int64, o *Options) (*Heap, error) {
	return openOrCreate(func() (*Heap, error) { return OpenShm(name) }, func() (*Heap, error) { return CreateShm(name, size, o) })
}

// UnlinkShm removes the shm name of a heap; processes that have it open
// keep using it.
func UnlinkShm(name string) error { return posix.UnlinkShm(name) }

// CreateFile creates a heap of size bytes in the file path (exclusively:
// an error matching os.ErrExist if it exists), initialised under a
// temporary name in the same directory and then linked to path.
func CreateFile(path string, size int64, o *Options) (*Heap, error) {
	opt, err := o.fill()
	if err != nil {
		return nil, err
	}
	if err := checkSize(size, opt); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+tmpName())
	sm, err := posix.CreateSharedFile(tmp, size, opt.Perm)
	if err != nil {
		return nil, err
	}
	return publish(sm, path, size, opt)
}

// OpenFile opens the heap in the file path; it fails with an error
// matching os.ErrNotExist if there is none.
func OpenFile(path string) (*Heap, error) {
	sm, err := posix.OpenSharedFile(path)
	if err != nil {
		return nil, err
	}
	return mapAndAttach(sm)
}

// OpenOrCreateFile opens the heap in path, or creates it with size bytes
// and o if there is none.
func OpenOrCreateFile(path string, size int64, o *Options) (*Heap, error) {
	return openOrCreate(func() (*Heap, error) { return OpenFile(path) }, func() (*Heap, error) { return CreateFile(path, size, o) })
}

func openOrCreate(open, create func() (*Heap, error)) (*Heap, error) {
	for i := 0; ; i++ {
		h, err := open()
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return h, err
		}
		h, err = create()
		if err == nil || !errors.Is(err, os.ErrExist) || i == 8 {
			return h, err
		}
		// Lost the race to another creator: open what it made.
	}
}

var tmpSeq atomic.Uint64

func tmpName() string {
	return "ipckit-shmheap-tmp-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(tmpSeq.Add(1), 10)
}

// publish initialises the heap in sm (a file under a temporary name),
// links it to path and removes the temporary name.
func publish(sm *posix.SharedMemory, path string, size int64, opt Options) (*Heap, error) {
	tmp := sm.Path()
	defer unix.Unlink(tmp)
	if err := sm.File().Chmod(opt.Perm.Perm()); err != nil {
		sm.Close()
		return nil, err
	}
	h, err := initAndAttach(sm, size, opt)
	if err != nil {
		return nil, err
	}
	if err := unix.Link(tmp, path); err != nil {
		h.Close()
		return nil, &os.PathError{Op: "link", Path: path, Err: err}
	}
	return h, nil
}

func initAndAttach(sm *posix.SharedMemory, size int64, opt Options) (*Heap, error) {
	mp, err := sm.Map(0)
	if err != nil {
		sm.Close()
		return nil, err
	}
	c := &core{mp: mp, sm: sm, trunc: mp.Truncatable()}
	b := mp.Bytes()
	c.mem = mem{base: unsafe.Pointer(unsafe.SliceData(b)), size: uint64(len(b))}
	if err := c.run(func() error { return c.format(uint64(size), opt) }); err != nil {
		mp.Close()
		sm.Close()
		return nil, err
	}
	return c.attach()
}

func mapAndAttach(sm *posix.SharedMemory) (*Heap, error) {
	size, err := sm.Size()
	if err != nil {
		sm.Close()
		return nil, err
	}
	if size < hLogEnd+64 {
		sm.Close()
		return nil, corrupt("%s: %d bytes is too small for a heap", sm.Name(), size)
	}
	if size > maxSize || uint64(size) > uint64(math.MaxInt) {
		sm.Close()
		return nil, corrupt("%s: %d bytes is larger than any heap", sm.Name(), size)
	}
	mp, err := sm.Map(0)
	if err != nil {
		sm.Close()
		return nil, err
	}
	c := &core{mp: mp, sm: sm, trunc: mp.Truncatable()}
	b := mp.Bytes()
	c.mem = mem{base: unsafe.Pointer(unsafe.SliceData(b)), size: uint64(len(b))}
	if err := c.run(c.validateHeader); err != nil {
		mp.Close()
		sm.Close()
		return nil, err
	}
	return c.attach()
}

// run runs fn, under posix.Mapping.Guard when the memory can be
// truncated by another process.
func (c *core) run(fn func() error) error {
	if !c.trunc {
		return fn()
	}
	return c.mp.Guard(fn)
}

// format writes a new heap into zeroed memory of size bytes.
func (c *core) format(size uint64, opt Options) error {
	if c.size != size {
		return fmt.Errorf("shmheap: mapping of %d bytes for a %d-byte heap", c.size, size)
	}
	procs := uint64(opt.MaxProcs)
	c.maxProcs = procs
	c.arenaOff = arenaStart(procs)
	c.arenaEnd = c.arenaOff + (size-c.arenaOff)&^(blockAlign-1)
	c.put64(hMagic, heapMagic)
	*c.u32(hHeaderSize) = uint32(c.arenaOff)
	c.put64(hSize, size)
	*c.u32(hMaxProcs) = uint32(procs)
	*c.u32(hLogCap) = heapLogCap
	c.put64(hArenaOff, c.arenaOff)
	c.put64(hArenaEnd, c.arenaEnd)
	*c.u32(hCreatorPID) = uint32(os.Getpid())
	c.put64(hNextID, 1)
	switch opt.Lock {
	case LockRobust:
		c.lockKind = lockRobust
		mu, err := semaphore.InitMutex(c.mp.Bytes(), hLock, semaphore.MutexNormal)
		if err != nil {
			return err
		}
		c.mu = mu
	default:
		c.lockKind = lockPID
	}
	*c.u32(hLockKind) = c.lockKind
	// One free block spans the arena; then the directory's first table.
	t := c.heapTx()
	w := c.arenaEnd - c.arenaOff
	c.put64(c.arenaOff, w)
	c.put64(c.arenaOff+8, ^w)
	c.put64(c.arenaEnd-blockFoot, w)
	if err := c.insert(&t, c.arenaOff, w); err != nil {
		return err
	}
	if err := c.newTable(&t, hDirTable, dirSlot, 16); err != nil {
		return err
	}
	t.clearEntries()
	c.store32(hVersion, heapVersion)
	return nil
}

// validateHeader checks a heap's header before anything else is read and
// keeps local copies of its geometry; only those are used afterwards, so
// a peer that rewrites the header cannot move this process's bounds.
func (c *core) validateHeader() error {
	if m := c.get64(hMagic); m != heapMagic {
		if m == swap64(heapMagic) {
			return corrupt("the heap was made by a process of the other byte order")
		}
		return corrupt("bad magic %#x: not a shmheap heap", m)
	}
	if v := c.load32(hVersion); v != heapVersion {
		return corrupt("layout version %d (this package reads %d)", v, heapVersion)
	}
	if s := c.get64(hSize); s != c.size {
		return corrupt("header says %d bytes, the file has %d", s, c.size)
	}
	if f := c.get32(hFlags); f != 0 {
		return corrupt("unknown flags %#x", f)
	}
	procs := uint64(c.get32(hMaxProcs))
	if procs < 64 || procs > maxMaxProcs || procs%64 != 0 {
		return corrupt("process table of %d slots", procs)
	}
	if c.get32(hLogCap) != heapLogCap {
		return corrupt("heap log of %d bytes", c.get32(hLogCap))
	}
	c.maxProcs = procs
	c.arenaOff = arenaStart(procs)
	c.arenaEnd = c.arenaOff + (c.size-c.arenaOff)&^(blockAlign-1)
	if uint64(c.get32(hHeaderSize)) != c.arenaOff || c.get64(hArenaOff) != c.arenaOff || c.get64(hArenaEnd) != c.arenaEnd {
		return corrupt("arena [%d, %d) does not match its %d-slot process table and size", c.get64(hArenaOff), c.get64(hArenaEnd), procs)
	}
	if c.arenaEnd-c.arenaOff < 4096 {
		return corrupt("arena of %d bytes", c.arenaEnd-c.arenaOff)
	}
	switch k := c.get32(hLockKind); k {
	case lockRobust:
		if err := robustOK(); err != nil {
			return fmt.Errorf("shmheap: %w: the heap is locked by glibc's robust mutex, which this process cannot use (%v); create heaps shared with 32-bit or emulated processes with LockPID", ErrNotSupported, err)
		}
		mu, err := semaphore.AttachMutex(c.mp.Bytes(), hLock)
		if err != nil {
			return corrupt("heap lock: %v", err)
		}
		c.mu, c.lockKind = mu, k
	case lockPID:
		c.lockKind = k
	default:
		return corrupt("unknown lock kind %d", k)
	}
	return nil
}

func swap64(x uint64) uint64 {
	var y uint64
	for i := 0; i < 8; i++ {
		y = y<<8 | x&0xff
		x >>= 8
	}
	return y
}

// attach takes a slot of the process table and returns the first handle.
func (c *core) attach() (*Heap, error) {
	c.open = map[uint64]int{}
	err := c.run(func() error {
		slot, err := c.takeSlot()
		c.slot = slot
		return err
	})
	if err != nil {
		c.mp.Close()
		c.sm.Close()
		return nil, err
	}
	c.refs.Store(1)
	h := &Heap{c: c}
	c.reclaim() // objects removed while their last user was dying
	return h, nil
}

// ---- process table ----

// takeSlot claims a free slot of the process table, or the slot of a
// process proven dead.
func (c *core) takeSlot() (int, error) {
	me, start := self()
	for pass := 0; pass < 2; pass++ {
		for i := 0; i < int(c.maxProcs); i++ {
			w := c.u32(hProcs + 8*uint64(i))
			old := atomic.LoadUint32(w)
			if pass == 0 && old != 0 || pass == 1 && (old == 0 || alive(old, c.load32(hProcs+8*uint64(i)+4))) {
				continue
			}
			if atomic.CompareAndSwapUint32(w, old, me) {
				c.store32(hProcs+8*uint64(i)+4, start)
				return i, nil
			}
		}
	}
	return -1, fmt.Errorf("shmheap: %w: all %d process slots are held by live processes", unix.EUSERS, c.maxProcs)
}

func (c *core) releaseSlot() {
	if c.slot < 0 {
		return
	}
	me, _ := self()
	off := hProcs + 8*uint64(c.slot)
	c.store32(off+4, 0)
	atomic.CompareAndSwapUint32(c.u32(off), me, 0)
	c.slot = -1
}

// slotLive reports whether slot i belongs to a live process other than
// this core.
func (c *core) slotLive(i int) bool {
	if i == c.slot {
		return false
	}
	off := hProcs + 8*uint64(i)
	pid := c.load32(off)
	return pid != 0 && alive(pid, c.load32(off+4))
}

// acquire takes a reference for a new handle; release drops one, and the
// last releases the slot and unmaps.
func (c *core) acquire() { c.refs.Add(1) }

func (c *core) release() error {
	if c.refs.Add(-1) != 0 {
		return nil
	}
	c.run(func() error { c.releaseSlot(); return nil })
	err := c.mp.Close()
	if e := c.sm.Close(); err == nil {
		err = e
	}
	return err
}

// ---- the heap lock ----

func (c *core) heapTx() tx { return beginTx(&c.mem, hLog, heapLogCap, hDirTable) }

// lockHeap takes the heap lock and, if its last owner died or left its
// transaction unfinished, rolls that transaction back.
func (c *core) lockHeap() error {
	dead := false
	if c.lockKind == lockRobust {
		switch err := c.mu.Lock(context.Background()); {
		case err == nil:
		case errors.Is(err, semaphore.ErrOwnerDead):
			dead = true
		case errors.Is(err, semaphore.ErrNotRecoverable):
			return corrupt("the heap lock was left unrecoverable by a process that did not repair it")
		default:
			return err
		}
	} else {
		dead = pidLock(&c.mem, hLock)
	}
	if dead || c.load32(hLog+lUsed) != 0 {
		noteRepair()
		err := rollbackIn(&c.mem, hLog, heapLogCap, hDirTable, c.arenaOff)
		if dead && c.mu != nil {
			c.mu.Consistent()
		}
		if err != nil {
			c.unlockHeap()
			return err
		}
	}
	return nil
}

func (c *core) unlockHeap() {
	if c.lockKind == lockRobust {
		c.mu.Unlock()
		return
	}
	pidUnlock(&c.mem, hLock)
}

// heapOp runs fn in a heap transaction under the heap lock: committed if
// fn returns nil, rolled back otherwise.
func (c *core) heapOp(fn func(t *tx) error) error {
	return c.run(func() error {
		if err := c.lockHeap(); err != nil {
			return err
		}
		defer c.unlockHeap()
		t := c.heapTx()
		if err := fn(&t); err != nil {
			if rerr := rollbackIn(&c.mem, hLog, heapLogCap, hDirTable, c.arenaOff); rerr != nil {
				return rerr
			}
			return err
		}
		t.clearEntries()
		return nil
	})
}

// allocInto allocates n bytes in a heap transaction that also stores the
// payload's offset at dst (a word in a container the caller has locked),
// so that the block is referenced from the instant it exists.
func (c *core) allocInto(n, dst uint64) (uint64, error) {
	var p uint64
	err := c.heapOp(func(t *tx) (err error) {
		if p, err = c.alloc(t, n); err != nil {
			return err
		}
		return t.set64(dst, p)
	})
	return p, err
}

// freeInto frees the block whose payload offset is stored at src and
// zeroes src in the same heap transaction; nothing happens if src holds 0.
func (c *core) freeInto(src uint64) error {
	return c.heapOp(func(t *tx) error {
		p := c.get64(src)
		if p == 0 {
			return nil
		}
		if err := c.free(t, p); err != nil {
			return err
		}
		return t.set64(src, 0)
	})
}

// ---- the Heap handle ----

func (h *Heap) core() (*core, error) {
	if h == nil || h.closed.Load() {
		return nil, ErrClosed
	}
	return h.c, nil
}

// Close releases the handle. Objects opened through it stay usable until
// they are closed. Close is idempotent.
func (h *Heap) Close() error {
	if h == nil || h.closed.Swap(true) {
		return nil
	}
	h.c.reclaim()
	return h.c.release()
}

// File returns the descriptor of the heap's memory, to pass to another
// process (exec.Cmd's ExtraFiles), which opens it with FromFile. It is
// owned by the heap: do not close it. It returns nil once h is closed.
func (h *Heap) File() *os.File {
	c, err := h.core()
	if err != nil {
		return nil
	}
	return c.sm.File()
}

// Name returns the shm name or the path of a named heap, or the label of
// a memfd ("memfd:shmheap").
func (h *Heap) Name() string { return h.c.sm.Name() }

// Unlink removes the heap's shm name or file; processes that have it open
// keep using it. It fails for a memfd heap, which has no name.
func (h *Heap) Unlink() error {
	c, err := h.core()
	if err != nil {
		return err
	}
	p := c.sm.Path()
	if p == "" {
		return fmt.Errorf("shmheap: %w: the heap has no name to unlink", unix.EINVAL)
	}
	if err := unix.Unlink(p); err != nil {
		return &os.PathError{Op: "unlink", Path: p, Err: err}
	}
	return nil
}

// LockKind reports the kind of the heap's lock (LockRobust or LockPID).
func (h *Heap) LockKind() LockKind {
	if h.c.lockKind == lockRobust {
		return LockRobust
	}
	return LockPID
}

// Stats describes a heap's memory at one instant.
type Stats struct {
	Size        int64 // bytes of the heap (its file)
	Arena       int64 // bytes the allocator manages
	Used        int64 // bytes in allocated blocks, with their 24-byte headers
	Free        int64 // Arena - Used
	LargestFree int64 // the largest allocation that can succeed now
	Blocks      int64 // allocated blocks
	Objects     int   // named objects
	Removed     int   // removed objects whose memory is not reclaimed yet
	Procs       int   // process-table slots held
}

// Stats returns the heap's size, used and free bytes and largest free
// block, taken under the heap lock.
func (h *Heap) Stats() (Stats, error) {
	c, err := h.core()
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	err = c.run(func() error {
		if err := c.lockHeap(); err != nil {
			return err
		}
		defer c.unlockHeap()
		s.Size = int64(c.size)
		s.Arena = int64(c.arenaEnd - c.arenaOff)
		used := c.get64(hUsed)
		if used > c.arenaEnd-c.arenaOff {
			return corrupt("%d bytes used of a %d-byte arena", used, c.arenaEnd-c.arenaOff)
		}
		s.Used = int64(used)
		s.Free = s.Arena - s.Used
		s.Blocks = int64(c.get64(hNAlloc))
		lf, err := c.largestFree()
		if err != nil {
			return err
		}
		s.LargestFree = int64(lf)
		s.Objects = int(c.get64(hDirCount))
		n, err := c.graveCount()
		if err != nil {
			return err
		}
		s.Removed = n
		for i := 0; i < int(c.maxProcs); i++ {
			if c.load32(hProcs+8*uint64(i)) != 0 {
				s.Procs++
			}
		}
		return nil
	})
	return s, err
}
