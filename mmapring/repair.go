package mmapring

import "sync/atomic"

// Repair of MPMC cells left in flight by dead processes. A cell in state
// WRITING|slot or READING|slot names the peer-table slot of its claimant.
// Once that claimant is proven dead (see identAlive):
//   - WRITING becomes SKIPPED: the message was never committed, so nothing
//     committed is lost; consumers recycle the cell.
//   - READING becomes ORPHAN: the message was committed but its consumer
//     never returned it to the caller (Receive copies, then releases, then
//     returns), so it is redelivered: the next consumer that claims the
//     ORPHAN cell (CAS) delivers it.
// A dead process's slot is only reused after this repair (register), so a
// slot number in a cell always names the claimant or a dead process.
//
// The orphans counter is a hint, never a promise: it is raised before a
// cell becomes ORPHAN and lowered after one is claimed, so a process
// killed in between leaves it too high (never too low by its own doing).
// Consumers therefore scan for ORPHAN cells when the counter says so, on
// every liveness tick whatever it says, and before reporting EOF; a scan
// that finds none resets a stale counter to 0.

// repairDead scans every cell once and repairs those whose claimant is
// proven dead. It reports whether it changed anything. Slow path only.
func (r *Ring) repairDead() bool {
	if r.kind != KindMPMC {
		return false
	}
	var alive [peerSlots]int8 // 0 unknown, 1 alive, -1 dead
	var idents [peerSlots]uint64
	changed := false
	for i := uint64(0); i < r.capacity; i++ {
		cell := r.cellState(i)
		st := atomic.LoadUint64(cell)
		if !claimed(st) {
			continue
		}
		s := int(st & stSlotMask)
		if alive[s] == 0 {
			alive[s] = 1
			idents[s] = atomic.LoadUint64(r.peerIdent(s))
			if idents[s] == 0 || !identAlive(idents[s]) {
				alive[s] = -1
			}
		}
		if alive[s] > 0 {
			continue
		}
		// The slot may have been reclaimed since it was found dead (after
		// a repair of its cells); a claim by the new holder is not ours
		// to repair.
		if atomic.LoadUint64(r.peerIdent(s)) != idents[s] {
			continue
		}
		if r.repairCell(cell, st) {
			changed = true
		}
	}
	if changed {
		r.wakeEveryone()
	}
	return changed
}

// claimed reports whether a cell state is WRITING|slot or READING|slot.
func claimed(st uint64) bool {
	code := st & 0xff
	return code&(stWriting|stReading) != 0 && code&(stWriting|stReading) != stWriting|stReading
}

// repairSlot repairs every cell claimed by slot s, whose holder (ident) is
// dead, before the slot is reused.
func (r *Ring) repairSlot(s int, ident uint64) {
	if r.kind != KindMPMC {
		return
	}
	changed := false
	for i := uint64(0); i < r.capacity; i++ {
		cell := r.cellState(i)
		st := atomic.LoadUint64(cell)
		code := st & 0xff
		if code != stWriting|uint64(s) && code != stReading|uint64(s) {
			continue
		}
		if r.repairCell(cell, st) {
			changed = true
		}
	}
	if changed {
		r.wakeEveryone()
	}
}

// repairCell turns a dead claimant's WRITING cell into SKIPPED, or its
// READING cell into ORPHAN (raising the orphans hint first).
func (r *Ring) repairCell(cell *uint64, st uint64) bool {
	pos := st >> 8
	if st&stWriting != 0 {
		return cas64(cell, st, pos<<8|stSkipped)
	}
	return r.orphan(cell, st)
}

// orphan hands a READING cell back for redelivery: the hint is raised
// before the cell changes, so the counter is never too low.
func (r *Ring) orphan(cell *uint64, st uint64) bool {
	orphans := r.u32(offOrphans)
	add32(orphans, 1)
	if cas64(cell, st, (st>>8)<<8|stOrphan) {
		return true
	}
	r.lowerOrphans()
	return false
}

// lowerOrphans lowers the orphans hint by one, never below 0.
func (r *Ring) lowerOrphans() {
	orphans := r.u32(offOrphans)
	for i := 0; i < maxRetries; i++ {
		n := atomic.LoadUint32(orphans)
		if n == 0 || cas32(orphans, n, n-1) {
			return
		}
	}
}

// takeOrphan claims (ORPHAN → READING|slot) a committed message whose
// consumer died before releasing it, scanning every cell.
func (r *Ring) takeOrphan(slot int) (uint64, bool) {
	for i := uint64(0); i < r.capacity; i++ {
		cell := r.cellState(i)
		st := atomic.LoadUint64(cell)
		if st&0xff != stOrphan {
			continue
		}
		pos := st >> 8
		if pos&r.mask != i {
			continue // corrupt: not this cell's lap
		}
		if cas64(cell, st, pos<<8|stReading|uint64(slot)) {
			r.lowerOrphans()
			return pos, true
		}
	}
	return 0, false
}

// drainState scans a closed, drained ring (enqueue = dequeue position)
// for what still holds EOF up.
type drainState int

const (
	drainEOF     drainState = iota // nothing left: EOF
	drainOrphan                    // an ORPHAN cell to take
	drainBusy                      // a live process holds a claim: wait for it
	drainChanged                   // positions moved or a dead claim was repaired: look again
)

func (r *Ring) drainScan() drainState {
	orphans := atomic.LoadUint32(r.u32(offOrphans))
	enq := atomic.LoadUint64(r.u64(offProdPos))
	if atomic.LoadUint64(r.u64(offConsPos)) != enq {
		return drainChanged
	}
	busy := false
	for i := uint64(0); i < r.capacity; i++ {
		st := atomic.LoadUint64(r.cellState(i))
		switch {
		case st&0xff == stOrphan && (st>>8)&r.mask == i:
			return drainOrphan
		case claimed(st):
			id := atomic.LoadUint64(r.peerIdent(int(st & stSlotMask)))
			if id != 0 && identAlive(id) {
				busy = true
				continue
			}
			if r.repairCell(r.cellState(i), st) {
				r.wakeEveryone()
			}
			return drainChanged
		}
	}
	if atomic.LoadUint64(r.u64(offProdPos)) != enq {
		return drainChanged // a producer claimed after all: not drained
	}
	if busy {
		return drainBusy
	}
	// No ORPHAN cell anywhere: a non-zero counter is stale (a process
	// killed between claiming an orphan and lowering the counter).
	if orphans != 0 {
		cas32(r.u32(offOrphans), orphans, 0)
	}
	return drainEOF
}

// findOrphans reports whether any cell is an ORPHAN, and resets a stale
// counter when none is (liveness tick).
func (r *Ring) findOrphans() bool {
	n := atomic.LoadUint32(r.u32(offOrphans))
	for i := uint64(0); i < r.capacity; i++ {
		st := atomic.LoadUint64(r.cellState(i))
		if st&0xff == stOrphan && (st>>8)&r.mask == i {
			return true
		}
	}
	if n != 0 {
		cas32(r.u32(offOrphans), n, 0)
	}
	return false
}

// wakeEveryone wakes every sleeper on both directions (after a repair).
func (r *Ring) wakeEveryone() {
	bump(r.u32(offDataEpoch))
	bump(r.u32(offSpaceEpoch))
}
