package mmapring

import "sync/atomic"

// Repair of MPMC cells left in flight by dead processes. A cell in state
// WRITING|slot or READING|slot names the peer-table slot of its claimant.
// Once that claimant is proven dead (see identAlive):
//   - WRITING becomes SKIPPED: the message was never committed, so nothing
//     committed is lost; consumers recycle the cell.
//   - READING becomes ORPHAN: the message was committed but its consumer
//     never returned it to the caller (Recv copies, then releases, then
//     returns), so it is redelivered exactly once: the next consumer that
//     claims the ORPHAN cell (CAS) delivers it.
// A dead process's slot is only reused after this repair (register), so a
// slot number in a cell always names the claimant or a dead process.

// repairDead scans every cell once and repairs those whose claimant is
// proven dead. It reports whether it changed anything. Slow path only.
func (r *Ring) repairDead() bool {
	if r.kind != KindMPMC || r.closed.Load() {
		return false
	}
	var alive [peerSlots]int8 // 0 unknown, 1 alive, -1 dead
	changed := false
	for i := uint64(0); i < r.capacity; i++ {
		cell := r.cellState(i)
		st := atomic.LoadUint64(cell)
		code := st & 0xff
		if code&(stWriting|stReading) == 0 || code&stWriting != 0 && code&stReading != 0 {
			continue
		}
		s := int(code & stSlotMask)
		if alive[s] == 0 {
			alive[s] = 1
			if id := atomic.LoadUint64(r.peerIdent(s)); id == 0 || !identAlive(id) {
				alive[s] = -1
			}
		}
		if alive[s] > 0 {
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

func (r *Ring) repairCell(cell *uint64, st uint64) bool {
	pos := st >> 8
	if st&stWriting != 0 {
		return atomic.CompareAndSwapUint64(cell, st, pos<<8|stSkipped)
	}
	if atomic.CompareAndSwapUint64(cell, st, pos<<8|stOrphan) {
		atomic.AddUint32(r.u32(offOrphans), 1)
		return true
	}
	return false
}

func (r *Ring) wakeEveryone() {
	atomic.AddUint32(r.u32(offDataEpoch), 1)
	wakeAll(r.u32(offDataEpoch))
	atomic.AddUint32(r.u32(offSpaceEpoch), 1)
	wakeAll(r.u32(offSpaceEpoch))
}
