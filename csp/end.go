package csp

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
)

// Ends. Every Writer and Reader holds a slot of the channel's end table
// and is counted in the state word from the moment it is made, so that
// "every writer has retired" never holds while an end made for a child has
// not reached it yet. A slot records the process holding the end; passing
// the end to a child (proc.Start) moves it there when the child opens it.
// When an end's holder is proven dead, any process waiting on the channel
// marks the end dead and counts it out, as if it had retired, but sets the
// side's "died" flag: the other side then gets ErrPeerDead instead of
// io.EOF (readers) or ErrRetired (writers).

// join takes a slot for a new end of role, locks it and counts it. It
// returns the slot and the description holding its lock (nil without
// /proc).
func (s *shared) join(role uint32) (int, *os.File, error) {
	slot := -1
	var prev uint32
	var lockf *os.File
	for i := 0; i < maxEnds && slot < 0; i++ {
		st := s.slotU32(i, endState)
		v := atomic.LoadUint32(st)
		if k := v & slotMask; (k == slotFree || k == slotRetired || k == slotDead) && atomic.CompareAndSwapUint32(st, v, v&^slotMask|slotClaiming) {
			f, err := s.lockSlot(i)
			if err != nil {
				// The slot's last holder still has a description open
				// (an end passed and never closed by its sender).
				atomic.StoreUint32(st, v)
				continue
			}
			slot, prev, lockf = i, v, f
		}
	}
	if slot < 0 {
		return -1, nil, fmt.Errorf("%w: all %d end slots are in use", ErrTooManyEnds, maxEnds)
	}
	for {
		old := s.loadState()
		var err error
		n, gone, one := old&stWriters, uint32(stWritersGone), uint32(1)
		if role == roleReader {
			n, gone, one = (old&stReaders)>>8, stReadersGone, stReaderOne
		}
		switch {
		case old&stPoisoned != 0:
			err = ErrPoisoned
		case old&gone != 0:
			err = ErrRetired
		case s.oneToOne && n >= 1:
			err = fmt.Errorf("%w: a one-to-one channel has one %s at a time", ErrTooManyEnds, roleName(role))
		case n >= 0xff:
			err = fmt.Errorf("%w: 255 %ss", ErrTooManyEnds, roleName(role))
		}
		if err != nil {
			if lockf != nil {
				lockf.Close()
			}
			atomic.StoreUint32(s.slotU32(slot, endState), prev)
			return -1, nil, err
		}
		if atomic.CompareAndSwapUint32(s.state, old, old+one) {
			break
		}
	}
	atomic.StoreUint32(s.slotU32(slot, endRole), role)
	atomic.StoreUint64(s.slotIdent(slot), myIdent())
	flags := uint32(0)
	if lockf != nil {
		flags = endLocked
	}
	atomic.StoreUint32(s.slotU32(slot, endFlags), flags)
	// A writer's sequence numbers continue from the slot's last
	// acknowledgement, so that a late acknowledgement meant for the slot's
	// previous holder can never satisfy this end.
	atomic.StoreUint32(s.slotU32(slot, endSeq), atomic.LoadUint32(s.slotU32(slot, endAck)))
	atomic.StoreUint32(s.slotU32(slot, endState), (prev&^slotMask+slotGen)|slotActive)
	return slot, lockf, nil
}

func roleName(role uint32) string {
	if role == roleWriter {
		return "writer"
	}
	return "reader"
}

// leave counts the active end in slot out: to is slotRetired or slotDead.
// Only one caller wins for a slot. When the last end of a side leaves, the
// side's gone flag is set and every sleeper is woken.
func (s *shared) leave(slot int, role uint32, to uint32) bool {
	v := atomic.LoadUint32(s.slotU32(slot, endState))
	if v&slotMask != slotActive {
		return false
	}
	return s.leaveFrom(slot, v, role, to)
}

// leaveFrom is leave for the end that the slot's state word v (active)
// names: nothing happens if the slot has changed since v was read (that
// end left, and another may have taken the slot).
func (s *shared) leaveFrom(slot int, v uint32, role uint32, to uint32) bool {
	if !atomic.CompareAndSwapUint32(s.slotU32(slot, endState), v, v&^slotMask|to) {
		return false
	}
	one, mask, gone, died := uint32(1), uint32(stWriters), uint32(stWritersGone), uint32(stWriterDied)
	if role == roleReader {
		one, mask, gone, died = stReaderOne, stReaders, stReadersGone, stReaderDied
	}
	for {
		old := s.loadState()
		if old&mask == 0 {
			return true // corrupt count: nothing to take away
		}
		n := old - one
		if to == slotDead {
			n |= died
		}
		last := n&mask == 0
		if last {
			n |= gone
		}
		if atomic.CompareAndSwapUint32(s.state, old, n) {
			if last {
				s.wakeAll()
			}
			return true
		}
	}
}

// poison sets the poison flag and wakes every sleeper.
func (s *shared) poison() {
	for {
		old := s.loadState()
		if old&stPoisoned != 0 {
			break
		}
		if atomic.CompareAndSwapUint32(s.state, old, old|stPoisoned) {
			break
		}
	}
	s.wakeAll()
}

// wakeAll wakes every process sleeping on the channel after a change of
// the state word: ring sleepers (both directions), one-to-one writers
// waiting for the count, rendezvous writers waiting for their
// acknowledgement.
func (s *shared) wakeAll() {
	s.ring.Interrupt()
	s.count.bump()
	for i := 0; i < maxEnds; i++ {
		ec := eventcount{epoch: s.slotU32(i, endAckEp), need: s.slotU32(i, endAckNeed)}
		ec.notify()
	}
}

// scanDead marks the ends of role whose holders are gone: no process
// holds the end's lock any more, or the process recorded as its holder is
// proven dead. It reads /proc: only for sleepers whose sleep timed out.
func (s *shared) scanDead(role uint32) {
	me := myIdent()
	for i := 0; i < maxEnds; i++ {
		v := atomic.LoadUint32(s.slotU32(i, endState))
		if v&slotMask != slotActive || atomic.LoadUint32(s.slotU32(i, endRole)) != role {
			continue
		}
		// The end's holder and lock flag are stored before its state
		// (join, adopt), so they are this end's or a later one's; the
		// generation in v makes sure that only this end is counted out.
		id := atomic.LoadUint64(s.slotIdent(i))
		locked := atomic.LoadUint32(s.slotU32(i, endFlags))&endLocked != 0
		if slotLoaded != nil {
			slotLoaded(i)
		}
		if locked && !s.lockHeld(i) || !sameProcess(id, me) && !identAlive(id) {
			s.leaveFrom(i, v, role, slotDead)
		}
	}
}

// slotLoaded, when set (by tests only), runs in scanDead between reading
// an end's slot and testing its holder.
var slotLoaded func(slot int)

// ack records that a reader took the rendezvous value seq of the writer
// in slot, and wakes that writer if it sleeps. Sequence numbers compare
// modulo 2^32 (a writer has one value in flight at a time).
func (s *shared) ack(slot int, seq uint32) {
	a := s.slotU32(slot, endAck)
	for {
		old := atomic.LoadUint32(a)
		if int32(seq-old) <= 0 {
			break
		}
		if atomic.CompareAndSwapUint32(a, old, seq) {
			break
		}
	}
	ec := eventcount{epoch: s.slotU32(slot, endAckEp), need: s.slotU32(slot, endAckNeed)}
	ec.notify()
}

// end is what Writer and Reader share.
type end struct {
	s      *shared
	slot   int
	role   uint32
	lockf  *os.File // the description holding the end's lock (nil: the mapping's own, for an end received from another process)
	done   bool     // closed or retired here
	passed bool     // passed to another process
}

func (e *end) usable() error {
	if e.done {
		return ErrClosed
	}
	if e.passed {
		return ErrPassed
	}
	return nil
}

// retire counts the end out (only if this process still holds it), then
// drops this process's description of its lock.
func (e *end) retire() {
	if !e.passed && e.s.holds(e.slot) {
		e.s.leave(e.slot, e.role, slotRetired)
	}
	if e.lockf != nil {
		e.lockf.Close()
		e.lockf = nil
	}
}

// passFile is the descriptor that carries the end to another process: the
// description holding its lock.
func (e *end) passFile() *os.File {
	if e.lockf != nil {
		return e.lockf
	}
	return e.s.ring.File()
}

// Handing an end to another process: the metadata names the slot and the
// process holding it now; the receiver takes the slot over with a CAS, so
// an end reaches one process only.
const (
	passChan   = 'C'
	passWriter = 'W'
	passReader = 'R'
	metaLen    = 1 + 4 + 8
)

func passMeta(kind byte, slot int, ident uint64) []byte {
	b := make([]byte, metaLen)
	b[0] = kind
	binary.LittleEndian.PutUint32(b[1:], uint32(slot))
	binary.LittleEndian.PutUint64(b[5:], ident)
	return b
}

func parseMeta(meta []byte, kind byte) (slot int, ident uint64, err error) {
	if len(meta) != metaLen || meta[0] != kind {
		return 0, 0, fmt.Errorf("csp: malformed handle metadata")
	}
	s := binary.LittleEndian.Uint32(meta[1:])
	if s >= maxEnds && kind != passChan {
		return 0, 0, fmt.Errorf("csp: handle names end slot %d of %d", s, maxEnds)
	}
	return int(s), binary.LittleEndian.Uint64(meta[5:]), nil
}

// adopt takes over the end in slot, held until now by the process from.
func (s *shared) adopt(slot int, role uint32, from uint64) error {
	if st := atomic.LoadUint32(s.slotU32(slot, endState)) & slotMask; st != slotActive {
		what := "retired"
		if st == slotDead {
			what = "dead (its holder died before this process opened it)"
		} else if st != slotRetired {
			what = "not in use"
		}
		return fmt.Errorf("csp: the %s end passed is %s", roleName(role), what)
	}
	if r := atomic.LoadUint32(s.slotU32(slot, endRole)); r != role {
		return &corruptError{fmt.Sprintf("end slot %d holds a %s, not a %s", slot, roleName(r), roleName(role))}
	}
	me := myIdent()
	id := s.slotIdent(slot)
	if atomic.CompareAndSwapUint64(id, from, me) {
		return nil
	}
	if cur := atomic.LoadUint64(id); sameProcess(cur, me) {
		// Moved here already (Parallel records a child as soon as it
		// starts); record our own view of our start time.
		atomic.CompareAndSwapUint64(id, cur, me)
		return nil
	}
	return fmt.Errorf("%w: the %s end was already taken by process %d", ErrPassed, roleName(role), atomic.LoadUint64(id)>>32)
}

// moveTo hands the end in slot, still held by this process, to the process
// with the given ident (Parallel does so right after Start, so that the
// end is counted dead if the child dies before opening it).
func (s *shared) moveTo(slot int, ident uint64) {
	atomic.CompareAndSwapUint64(s.slotIdent(slot), myIdent(), ident)
}
