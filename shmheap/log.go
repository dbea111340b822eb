package shmheap

// Crash safety. Every change to shared metadata is made under a lock and
// inside a transaction whose undo log lives next to the data it guards:
// before a word (or a byte range) is overwritten, its old contents are
// appended to the log, and only then is it written. The log header is
//
//	+0  u32 state      containers: 0 idle, 1 active, 2 committed
//	+4  u32 used       bytes of log entries
//	+8  u64 pendAlloc  a block allocated by the active transaction
//	+16 u64 pendFree   a block to free once the transaction has committed
//	+24 u64 reserved
//	+32 entries: u64 offset, u32 length, u32 ^length, the old bytes
//	    padded to 8
//
// An entry is complete before used is advanced past it (an atomic store),
// and the write it protects comes after that store; so a process killed at
// any instruction leaves a log that restores every byte it changed.
//
// The heap's own transactions (allocator and directory, under the heap
// lock) commit by storing used = 0; the next locker that finds used != 0
// rolls back. Container transactions (under the container's lock) may
// need memory from the heap: they set state = 1 first, allocate into
// pendAlloc (the heap transaction that allocates also writes pendAlloc, so
// the block is never unreferenced), name a block to free after commit in
// pendFree, commit by storing state = 2, then free pendFree, clear
// pendAlloc and used, and store state = 0. Recovery of state 1 rolls the
// entries back and frees pendAlloc; recovery of state 2 finishes. Both are
// idempotent, so a process killed while recovering leaves work that the
// next locker redoes.

// crashHook, when set (by tests only), is called at every crash point:
// the places between two writes to shared memory where a process killed
// there would leave a state recovery must handle. Tests stop the
// operation there (a panic, or SIGKILL in a child) to prove it.
var crashHook func()

// repairHook, when set (by tests only), is called each time a locker
// repairs what a dead or interrupted owner left.
var repairHook func()

func noteRepair() {
	if repairHook != nil {
		repairHook()
	}
}

func crashPoint() {
	if crashHook != nil {
		crashHook()
	}
}

// tx is an open transaction on the log at off, with cap bytes of entry
// space; u mirrors the shared used word, which only the lock holder writes.
type tx struct {
	m   *mem
	off uint64
	cap uint64
	u   uint64
	lo  uint64 // lowest offset a log entry may restore
}

var errLogFull = corrupt("undo log full (an operation larger than the log)")

// begin opens a transaction on a clean log.
func beginTx(m *mem, off, cap, lo uint64) tx {
	return tx{m: m, off: off, cap: cap, lo: lo}
}

// save appends the current bytes [at, at+n) to the log.
func (t *tx) save(at, n uint64) error {
	need := logEntHdr + align(n, 8)
	if t.u > t.cap || need > t.cap-t.u || !t.m.in(at, n) {
		return errLogFull
	}
	crashPoint()
	e := t.off + logHdrSize + t.u
	t.m.put64(e, at)
	*t.m.u32(e + 8) = uint32(n)
	*t.m.u32(e + 12) = ^uint32(n)
	copy(t.m.bytes(e+logEntHdr, n), t.m.bytes(at, n))
	crashPoint()
	t.u += need
	t.m.store32(t.off+lUsed, uint32(t.u))
	crashPoint()
	return nil
}

// set64 logs the word at and then writes v there.
func (t *tx) set64(at, v uint64) error {
	if t.m.get64(at) == v {
		return nil
	}
	if err := t.save(at, 8); err != nil {
		return err
	}
	t.m.put64(at, v)
	crashPoint()
	return nil
}

// set32 logs the 32-bit word at and then writes v there.
func (t *tx) set32(at uint64, v uint32) error {
	if t.m.get32(at) == v {
		return nil
	}
	if err := t.save(at, 4); err != nil {
		return err
	}
	*t.m.u32(at) = v
	crashPoint()
	return nil
}

// clearEntries forgets the entries: the changes they protect stay.
func (t *tx) clearEntries() {
	crashPoint()
	t.u = 0
	t.m.store32(t.off+lUsed, 0)
}

// rollback restores every byte the log's entries saved, newest first, and
// empties the log. It validates every entry first and changes nothing if
// one is out of bounds (ErrCorrupt).
//
// lo is the lowest offset an entry may restore. The heap's log may also
// restore the header's metadata words [64, hLock) but never the heap lock,
// the log or the process table below the arena (hi), so a corrupt log
// cannot unlock or relock a lock under its holder.
func rollback(m *mem, off, cap, lo uint64) error {
	return rollbackIn(m, off, cap, lo, 0)
}

// rollbackIn is rollback where [hLock, hi) is also out of bounds.
func rollbackIn(m *mem, off, cap, lo, hi uint64) error {
	u := uint64(m.load32(off + lUsed))
	if u == 0 {
		return nil
	}
	if u > cap {
		return corrupt("undo log at %d claims %d bytes of a %d-byte log", off, u, cap)
	}
	logLo, logHi := off, off+logHdrSize+cap
	var ents []uint64
	for p := uint64(0); p < u; {
		if u-p < logEntHdr {
			return corrupt("undo log at %d: truncated entry", off)
		}
		e := off + logHdrSize + p
		at := m.get64(e)
		n := uint64(m.get32(e + 8))
		if m.get32(e+12) != ^uint32(n) {
			return corrupt("undo log at %d: entry %d has a bad length check", off, p)
		}
		sz := logEntHdr + align(n, 8)
		if sz > u-p {
			return corrupt("undo log at %d: entry %d overruns the log", off, p)
		}
		if at < lo || !m.in(at, n) || (at < logHi && at+n > logLo) || (hi > hLock && at < hi && at+n > hLock) {
			return corrupt("undo log at %d: entry %d restores [%d, +%d), outside its range", off, p, at, n)
		}
		ents = append(ents, e)
		p += sz
	}
	for i := len(ents) - 1; i >= 0; i-- {
		e := ents[i]
		at, n := m.get64(e), uint64(m.get32(e+8))
		copy(m.bytes(at, n), m.bytes(e+logEntHdr, n))
	}
	m.store32(off+lUsed, 0)
	return nil
}
