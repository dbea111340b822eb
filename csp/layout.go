package csp

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/mmapring"
)

// A channel is one memfd, sealed against shrinking and growing: an
// mmapring ring (its own header and data, as mmapring/LAYOUT.md specifies)
// followed, at the first page boundary after the ring, by csp's control
// block of ctlSize bytes (in the ring's Config.Trailer). Offsets below are
// from the start of the control block; integers are in host byte order and
// naturally aligned; every field read from it is validated or bounds-checked.
const (
	ctlMagic     = 0    // u64 "IPCKCSP1"
	ctlVersion   = 8    // u32 layout version, stored last by the creator
	ctlFlags     = 12   // u32 flagOneToOne | flagRendezvous
	ctlMode      = 16   // u32 modeRaw, modeGob or modeCodec
	ctlElemSize  = 20   // u32 raw mode: size of a value; else 0
	ctlTypeFP    = 24   // u64 fingerprint of the element type
	ctlCodecFP   = 32   // u64 modeCodec: fingerprint of the codec's type; else 0
	ctlCapacity  = 40   // u32 values buffered (0: rendezvous)
	ctlMaxMsg    = 44   // u32 largest encoding of one value
	ctlRingSize  = 48   // u64 bytes of the ring before the control block
	ctlMaxEnds   = 56   // u32 maxEnds
	ctlCreator   = 60   // u32 creator's pid (informational)
	ctlTypeName  = 64   // [nameLen]byte element type, NUL-padded (for errors)
	ctlState     = 128  // u32 state word, below
	ctlTaken     = 256  // u64 one-to-one: values the reader has taken
	ctlSent      = 384  // u64 one-to-one: values the writer sent (stored when the writer moves)
	ctlCountEp   = 512  // u32 futex word: "the reader took a value" (one-to-one count)
	ctlCountNeed = 516  // u32 1 while a writer sleeps on ctlCountEp
	ctlEnds      = 4096 // maxEnds slots of endSize bytes
	ctlSize      = ctlEnds + maxEnds*endSize

	nameLen = 64
	magic   = 0x315053434b435049 // "IPCKCSP1" little-endian
	version = 1

	flagOneToOne   = 1
	flagRendezvous = 2
	knownFlags     = flagOneToOne | flagRendezvous

	// The state word: active writer and reader ends, and sticky flags.
	stWriters     = 0xff      // bits 0-7: active writer ends
	stReaders     = 0xff << 8 // bits 8-15: active reader ends
	stWritersGone = 1 << 16   // every writer retired or died (after at least one existed)
	stReadersGone = 1 << 17   // likewise readers
	stWriterDied  = 1 << 18   // a writer died without retiring
	stReaderDied  = 1 << 19   // a reader died without retiring
	stPoisoned    = 1 << 20   // Poison was called
	stReaderOne   = 1 << 8    // one reader in the count

	// An end slot: who holds it and its rendezvous acknowledgements.
	endIdent   = 0  // u64 holder: pid<<32 | start time (see liveness.go)
	endState   = 8  // u32 bits 0-7: slotFree, slotClaiming, slotActive, slotRetired, slotDead; bits 8-31: generation
	endRole    = 12 // u32 roleWriter or roleReader
	endAck     = 16 // u32 writer: highest rendezvous sequence number a reader took
	endAckEp   = 20 // u32 futex word: bumped when endAck grows and the writer sleeps
	endAckNeed = 24 // u32 1 while the writer sleeps on endAckEp
	endSeq     = 28 // u32 writer: last sequence number sent (stored when the end moves)
	endFlags   = 32 // u32 endLocked when the holder keeps an OFD lock on the slot's first byte
	endSize    = 64

	endLocked = 1
	maxEnds   = 128

	slotFree     = 0
	slotClaiming = 1
	slotActive   = 2
	slotRetired  = 3
	slotDead     = 4
	slotMask     = 0xff
	// The generation (bits 8-31 of endState) grows by one each time an end
	// takes the slot, so that a process that judged the slot's previous
	// end dead cannot count out the end that took the slot since.
	slotGen = 1 << 8

	roleWriter = 1
	roleReader = 2

	// A rendezvous message starts with the writer's slot and sequence number.
	rvHeader = 8

	// defaultMaxMessage bounds a value's encoding in codec mode.
	defaultMaxMessage = 4096
	// maxCapacity bounds Options.Capacity.
	maxCapacity = 1 << 24
)

// shared is one process's mapping of a channel, referenced by the Chan and
// every end made from it (or opened from a passed handle).
type shared struct {
	ring *mmapring.Ring
	ctl  []byte
	refs atomic.Int32

	// Validated copies of the header: a peer rewriting it later cannot
	// move anyone's bounds.
	oneToOne   bool
	rendezvous bool
	mode       uint32
	elemSize   int
	capacity   int
	maxMsg     int // largest value encoding
	typeFP     uint64
	codecFP    uint64
	typeName   string

	ctlOff int // offset of the control block in the file

	probeMu sync.Mutex
	probe   *os.File // an open file description of our own, to test end locks

	state *uint32
	taken *uint64
	sent  *uint64
	count eventcount // one-to-one: the reader took a value
}

func (s *shared) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.ctl[off])) }
func (s *shared) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&s.ctl[off])) }

func (s *shared) slotU32(i, off int) *uint32 { return s.u32(ctlEnds + i*endSize + off) }
func (s *shared) slotIdent(i int) *uint64    { return s.u64(ctlEnds + i*endSize + endIdent) }

func (s *shared) loadState() uint32 { return atomic.LoadUint32(s.state) }

// spec is what a new channel is made of.
type spec struct {
	t        reflect.Type
	mode     uint32
	codecFP  uint64
	elemSize int
	o        Options
}

func pageAlign(n int) int {
	p := os.Getpagesize()
	return (n + p - 1) &^ (p - 1)
}

// ringConfig chooses the ring for a channel: SPSC for one-to-one, MPMC
// otherwise, big enough that a buffered one-to-one channel never finds its
// ring full before it holds Capacity values (the count in the control
// block enforces Capacity exactly; MPMC rings enforce it with their limit).
func ringConfig(oneToOne, rendezvous bool, capacity, msgMax int) (mmapring.Config, error) {
	tooLarge := fmt.Errorf("csp: a ring for %d values of %d bytes is too large", capacity, msgMax)
	if oneToOne {
		rec := uint64(8 + (msgMax+7)&^7)
		slots := uint64(capacity) + 1
		if rendezvous {
			slots = 2
		}
		need := slots * rec
		if need < 2*rec+16 {
			need = 2*rec + 16
		}
		c := uint64(256)
		for c < need {
			c <<= 1
		}
		if c > 1<<40 || c > uint64(^uint(0)>>2) {
			return mmapring.Config{}, tooLarge
		}
		return mmapring.Config{Kind: mmapring.KindSPSC, Capacity: int(c)}, nil
	}
	cells, limit := 2, capacity
	if rendezvous {
		cells, limit = 8, 8
	}
	for cells < limit {
		cells <<= 1
	}
	cellSize := (msgMax + 7) &^ 7
	if cellSize == 0 {
		cellSize = 8
	}
	if uint64(cells)*uint64(cellSize+16) > uint64(^uint(0)>>2) {
		return mmapring.Config{}, tooLarge
	}
	return mmapring.Config{Kind: mmapring.KindMPMC, Capacity: cells, CellSize: cellSize, Limit: limit}, nil
}

func newShared(sp spec) (*shared, error) {
	o := sp.o
	if o.Capacity < 0 || o.Capacity > maxCapacity {
		return nil, fmt.Errorf("csp: capacity %d outside [0, %d]", o.Capacity, maxCapacity)
	}
	maxMsg := sp.elemSize
	if sp.mode != modeRaw {
		maxMsg = o.MaxMessage
		if maxMsg == 0 {
			maxMsg = defaultMaxMessage
		}
		if maxMsg < 0 || maxMsg > 1<<30 {
			return nil, fmt.Errorf("csp: MaxMessage %d outside [1, %d]", o.MaxMessage, 1<<30)
		}
	} else if maxMsg > 1<<30 {
		return nil, fmt.Errorf("csp: %v is too large (%d bytes) for a channel", sp.t, maxMsg)
	}
	rendezvous := o.Capacity == 0
	msgMax := maxMsg
	if rendezvous {
		msgMax += rvHeader
	}
	cfg, err := ringConfig(o.OneToOne, rendezvous, o.Capacity, msgMax)
	if err != nil {
		return nil, err
	}
	// The control block follows the ring in the same (sealed) memfd, at
	// the first page boundary after it.
	cfg.Trailer = os.Getpagesize() + ctlSize
	r, err := mmapring.New(cfg)
	if err != nil {
		return nil, err
	}
	if r.MaxMessage() < msgMax {
		r.Close()
		return nil, fmt.Errorf("csp: ring holds messages of %d bytes, need %d", r.MaxMessage(), msgMax)
	}
	ctlOff := pageAlign(r.Size())
	f := r.File()
	ctl, err := unix.Mmap(int(f.Fd()), int64(ctlOff), ctlSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		r.Close()
		return nil, os.NewSyscallError("mmap", err)
	}
	s := &shared{ring: r, ctl: ctl, ctlOff: ctlOff}
	flags := uint32(0)
	if o.OneToOne {
		flags |= flagOneToOne
	}
	if rendezvous {
		flags |= flagRendezvous
	}
	*s.u64(ctlMagic) = magic
	*s.u32(ctlFlags) = flags
	*s.u32(ctlMode) = sp.mode
	*s.u32(ctlElemSize) = uint32(sp.elemSize)
	if sp.mode != modeRaw {
		*s.u32(ctlElemSize) = 0
	}
	*s.u64(ctlTypeFP) = fingerprint(sp.t)
	*s.u64(ctlCodecFP) = sp.codecFP
	*s.u32(ctlCapacity) = uint32(o.Capacity)
	*s.u32(ctlMaxMsg) = uint32(maxMsg)
	*s.u64(ctlRingSize) = uint64(r.Size())
	*s.u32(ctlMaxEnds) = maxEnds
	*s.u32(ctlCreator) = uint32(os.Getpid())
	copy(ctl[ctlTypeName:ctlTypeName+nameLen-1], typeName(sp.t))
	atomic.StoreUint32(s.u32(ctlVersion), version)
	if err := s.load(); err != nil {
		s.unmap()
		return nil, err
	}
	s.refs.Store(1)
	return s, nil
}

// openShared maps the channel in f (a descriptor received from another
// process), validating the control block against the ring.
func openShared(f *os.File) (*shared, error) {
	r, err := mmapring.FromFile(f)
	if err != nil {
		return nil, fmt.Errorf("csp: open channel: %w", err)
	}
	if !r.Sealed() {
		// Only a file nobody can shrink keeps the control block's mapping
		// safe from SIGBUS; NewChan's memfds are sealed.
		r.Close()
		return nil, &corruptError{"the channel's file is not sealed against shrinking (not made by NewChan?)"}
	}
	ctlOff := pageAlign(r.Size())
	rf := r.File()
	var st unix.Stat_t
	if err := unix.Fstat(int(rf.Fd()), &st); err != nil {
		r.Close()
		return nil, os.NewSyscallError("fstat", err)
	}
	if st.Size < int64(ctlOff+ctlSize) {
		r.Close()
		return nil, &corruptError{fmt.Sprintf("file of %d bytes has no control block after its %d-byte ring (not a csp channel?)", st.Size, r.Size())}
	}
	ctl, err := unix.Mmap(int(rf.Fd()), int64(ctlOff), ctlSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		r.Close()
		return nil, os.NewSyscallError("mmap", err)
	}
	s := &shared{ring: r, ctl: ctl, ctlOff: ctlOff}
	if err := s.load(); err != nil {
		s.unmap()
		return nil, err
	}
	s.refs.Store(1)
	return s, nil
}

// load validates the control block and takes local copies of it.
func (s *shared) load() error {
	bad := func(format string, a ...any) error { return &corruptError{fmt.Sprintf(format, a...)} }
	if m := atomic.LoadUint64(s.u64(ctlMagic)); m != magic {
		return bad("control block magic %#x (not a csp channel?)", m)
	}
	if v := atomic.LoadUint32(s.u32(ctlVersion)); v != version {
		return bad("control block version %d, this package speaks %d", v, version)
	}
	if n := *s.u32(ctlMaxEnds); n != maxEnds {
		return bad("%d end slots, want %d", n, maxEnds)
	}
	if rs := *s.u64(ctlRingSize); rs != uint64(s.ring.Size()) {
		return bad("ring size %d recorded, the ring has %d", rs, s.ring.Size())
	}
	flags := *s.u32(ctlFlags)
	if flags&^knownFlags != 0 {
		return bad("unknown flags %#x", flags)
	}
	s.oneToOne = flags&flagOneToOne != 0
	s.rendezvous = flags&flagRendezvous != 0
	if want := mmapring.KindMPMC; s.oneToOne {
		if s.ring.Kind() != mmapring.KindSPSC {
			return bad("one-to-one channel on a %v ring", s.ring.Kind())
		}
	} else if s.ring.Kind() != want {
		return bad("any-to-any channel on a %v ring", s.ring.Kind())
	}
	s.mode = *s.u32(ctlMode)
	if s.mode != modeRaw && s.mode != modeGob && s.mode != modeCodec {
		return bad("mode %d", s.mode)
	}
	capacity := *s.u32(ctlCapacity)
	if capacity > maxCapacity || (capacity == 0) != s.rendezvous {
		return bad("capacity %d (rendezvous %v)", capacity, s.rendezvous)
	}
	s.capacity = int(capacity)
	maxMsg := uint64(*s.u32(ctlMaxMsg))
	elem := uint64(*s.u32(ctlElemSize))
	if s.mode == modeRaw && elem != maxMsg || s.mode != modeRaw && (elem != 0 || maxMsg == 0) {
		return bad("element size %d, largest message %d in %s mode", elem, maxMsg, modeName(s.mode))
	}
	msgMax := maxMsg
	if s.rendezvous {
		msgMax += rvHeader
	}
	if msgMax > uint64(s.ring.MaxMessage()) {
		return bad("largest message %d does not fit the ring's %d", msgMax, s.ring.MaxMessage())
	}
	s.elemSize, s.maxMsg = int(elem), int(maxMsg)
	s.typeFP = *s.u64(ctlTypeFP)
	s.codecFP = *s.u64(ctlCodecFP)
	name := s.ctl[ctlTypeName : ctlTypeName+nameLen]
	n := 0
	for n < len(name) && name[n] != 0 {
		n++
	}
	s.typeName = string(name[:n])
	s.state = s.u32(ctlState)
	s.taken = s.u64(ctlTaken)
	s.sent = s.u64(ctlSent)
	s.count = eventcount{epoch: s.u32(ctlCountEp), need: s.u32(ctlCountNeed)}
	return nil
}

// check verifies that the channel carries values of t in the given mode.
func (s *shared) check(t reflect.Type, mode uint32, codecFP uint64) error {
	if fp := fingerprint(t); fp != s.typeFP {
		return fmt.Errorf("%w: it carries %s, not %v", ErrWrongType, s.typeName, t)
	}
	if mode == 0 { // the default codec: raw or gob, as the channel says
		if s.mode == modeCodec {
			return fmt.Errorf("%w: the channel of %s uses a custom codec; open it with the same codec (ChanOfCodec, ReaderOfCodec, WriterOfCodec, ChanFromFileCodec)", ErrWrongType, s.typeName)
		}
		if s.mode == modeRaw && notRaw(t) != "" {
			return fmt.Errorf("%w: raw channel, but %v cannot be copied raw", ErrWrongType, t)
		}
		return nil
	}
	if s.mode != mode || s.codecFP != codecFP {
		return fmt.Errorf("%w: the channel of %s uses %s, not this codec", ErrWrongType, s.typeName, modeName(s.mode))
	}
	return nil
}

func (s *shared) acquire() { s.refs.Add(1) }

func (s *shared) release() {
	if s.refs.Add(-1) == 0 {
		s.unmap()
	}
}

func (s *shared) unmap() {
	unix.Munmap(s.ctl)
	s.ring.Close()
	s.probeMu.Lock()
	if s.probe != nil {
		s.probe.Close()
	}
	s.probeMu.Unlock()
}

// End locks. The process holding an end keeps an open file description
// (OFD) of the channel's file with an OFD write lock (fcntl F_OFD_SETLK)
// on the first byte of the end's slot. Passing the end to a child hands it
// that very description (proc duplicates the descriptor, which shares it),
// so the lock lives exactly as long as some process holds a descriptor of
// it: when the child dies, even before it opened the end, the kernel drops
// the lock, and any process testing it (F_OFD_GETLK, from a description of
// its own) sees the end is gone. Without /proc (reopening the file) the
// end has no lock, and only its holder's pid tells whether it lives.

func (s *shared) lockOff(slot int) int64 { return int64(s.ctlOff + ctlEnds + slot*endSize) }

// reopen opens a new open file description of the channel's file.
func (s *shared) reopen() (*os.File, error) {
	fd := s.ring.File().Fd()
	nfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(fd)), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/proc/self/fd/" + strconv.Itoa(int(fd)), Err: err}
	}
	return os.NewFile(uintptr(nfd), "csp-end"), nil
}

// lockSlot returns a new description holding the lock of slot: nil and no
// error when the lock cannot be had for lack of /proc, os.ErrExist (matched
// by unix.EAGAIN) when another description holds it.
func (s *shared) lockSlot(slot int) (*os.File, error) {
	f, err := s.reopen()
	if err != nil {
		return nil, nil
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: s.lockOff(slot), Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		f.Close()
		if err == unix.EAGAIN || err == unix.EACCES {
			return nil, unix.EAGAIN
		}
		return nil, nil // no OFD locks here: do without
	}
	return f, nil
}

// lockHeld reports whether some description holds the lock of slot
// (true when that cannot be told).
func (s *shared) lockHeld(slot int) bool {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if s.probe == nil {
		f, err := s.reopen()
		if err != nil {
			return true
		}
		s.probe = f
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: s.lockOff(slot), Len: 1}
	if err := unix.FcntlFlock(s.probe.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return true
	}
	return lk.Type != unix.F_UNLCK
}
