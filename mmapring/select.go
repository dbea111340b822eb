package mmapring

import "sync/atomic"

// Hooks for layers that block on several rings at once (package csp's
// Select sleeps on many rings' futex words in one futex_waitv call) or that
// keep state of their own beside a ring (a poison flag) and must wake its
// sleepers. They expose the eventcount of LAYOUT.md ("Blocking") one step
// at a time; Send and Receive use the same protocol internally.
//
// A sleeper built on them does, for each ring:
//
//	word, val, ready, err := c.PrepareWait()
//	if ready: c.TryReceive (no FinishWait)
//	else: sleep on word while it holds val (FUTEX_WAIT or futex_waitv,
//	      shared: no FUTEX_PRIVATE_FLAG), at most LivenessInterval;
//	      c.FinishWait(); on a timeout, c.CheckPeers(); try again
//
// A message published after PrepareWait registered the caller makes the
// producer bump and FUTEX_WAKE word, so the sleep cannot miss it
// (PrepareWait issues the waiter's barrier of LAYOUT.md, "Memory order",
// between registering and its last look; in a process where membarrier(2)
// is unavailable, a message published in another process at the moment of
// registration may instead be noticed only at the next wake-up or the
// sleep's timeout). ready is
// a hint, as in Receive: the caller may find nothing to take (another
// consumer was faster, or a hint such as the orphans counter was stale).
// A caller that finds ready again and again with nothing to take should
// sleep on word for a short, growing time anyway (Receive does so too), so
// that no state of the shared memory makes it spin.

// PrepareWait registers c as a waiter on the ring's "data arrived"
// eventcount without blocking. It returns ready = true, registering
// nothing, when a message (or EOF, or a message to redeliver) may be ready:
// the caller should call TryReceive or TryPeek instead of sleeping. Otherwise
// the caller may sleep on word, a 32-bit futex word in shared memory (use
// shared futex operations, never FUTEX_PRIVATE_FLAG), while it holds val,
// and must call FinishWait exactly once when it stops waiting, woken or
// not. word and val are returned in both cases, so that a caller that
// keeps finding ready with nothing to take can sleep on them for a while
// (without FinishWait, since nothing was registered). On an SPSC ring it
// first publishes the consumer position, so the producer never waits for
// space the consumer has freed.
func (c *Consumer) PrepareWait() (word *uint32, val uint32, ready bool, err error) {
	if c.done || c.r.closed.Load() {
		return nil, 0, false, ErrClosed
	}
	if c.guarded {
		defer c.m.contain(guardOn(), &err)
	}
	epoch := c.u32(offDataEpoch)
	val = atomic.LoadUint32(epoch)
	if c.peeked {
		return epoch, val, true, nil
	}
	if c.kind == KindSPSC {
		if err := c.spscPublishHead(); err != nil {
			return nil, 0, false, err
		}
	}
	if c.dataReady() {
		return epoch, val, true, nil
	}
	add32(waitersOf(epoch), 1)
	st32(needOf(epoch), 1)
	waiterBarrier()
	if c.dataReady() {
		add32(waitersOf(epoch), ^uint32(0))
		return epoch, val, true, nil
	}
	c.waits++
	return epoch, val, false, nil
}

// FinishWait ends the wait that PrepareWait registered (one that returned
// ready = false and no error).
func (c *Consumer) FinishWait() {
	if c.r.closed.Load() {
		return // the mapping may be gone; nobody can wake us through it
	}
	if c.guarded {
		var err error
		defer c.m.contain(guardOn(), &err)
	}
	add32(waitersOf(c.u32(offDataEpoch)), ^uint32(0))
}

// CheckPeers is what a sleeper does when its sleep timed out (at least
// every LivenessInterval), as Receive does: on an MPMC ring it repairs the
// cells that proven-dead processes left claimed (skipping uncommitted
// messages, redelivering committed ones) and looks for messages to
// redeliver, and it returns ErrPeerDead when every producer that attached
// is proven dead and no message is ready.
func (c *Consumer) CheckPeers() (err error) {
	if c.done || c.r.closed.Load() {
		return ErrClosed
	}
	if c.guarded {
		defer c.m.contain(guardOn(), &err)
	}
	r := c.r
	if r.kind == KindMPMC {
		if r.repairDead() {
			return nil
		}
		if r.findOrphans() {
			c.scanOrphans = true
			return nil
		}
		if c.drainBusy {
			return nil
		}
	}
	if r.peersDead(roleProducer) && !c.dataReady() {
		return ErrPeerDead
	}
	return nil
}

// dataReady is the condition waitData sleeps on: whatever tryRecv would
// not call empty.
func (c *Consumer) dataReady() bool {
	closed := atomic.LoadUint32(c.closedWord) != 0
	if c.kind == KindSPSC {
		return !c.caughtUp() || closed
	}
	if c.mpmcDataVisible() {
		return true
	}
	if o := atomic.LoadUint32(c.u32(offOrphans)); o != 0 && o != c.staleOrphans {
		return true
	}
	return closed && atomic.LoadUint64(c.prodPos) == atomic.LoadUint64(c.r.u64(offConsPos)) &&
		(!c.drainBusy || atomic.LoadUint32(c.u32(offDataEpoch)) != c.drainEpoch)
}

// PrepareWait registers p as a waiter on the ring's "space freed"
// eventcount, for a message of n bytes, without blocking; it is
// Consumer.PrepareWait's counterpart (ready = true when the message may
// fit, or the ring was closed: call TrySend).
func (p *Producer) PrepareWait(n int) (word *uint32, val uint32, ready bool, err error) {
	if p.done || p.r.closed.Load() {
		return nil, 0, false, ErrClosed
	}
	if n < 0 || uint64(n) > p.maxMsg {
		return nil, 0, false, ErrTooLarge
	}
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	epoch := p.u32(offSpaceEpoch)
	val = atomic.LoadUint32(epoch)
	if p.roomReady(uint64(n)) {
		return epoch, val, true, nil
	}
	add32(waitersOf(epoch), 1)
	st32(needOf(epoch), 1)
	waiterBarrier()
	if p.roomReady(uint64(n)) {
		add32(waitersOf(epoch), ^uint32(0))
		return epoch, val, true, nil
	}
	p.waits++
	return epoch, val, false, nil
}

// FinishWait ends the wait that PrepareWait registered.
func (p *Producer) FinishWait() {
	if p.r.closed.Load() {
		return
	}
	if p.guarded {
		var err error
		defer p.m.contain(guardOn(), &err)
	}
	add32(waitersOf(p.u32(offSpaceEpoch)), ^uint32(0))
}

// CheckPeers is Consumer.CheckPeers for the producer side: it repairs dead
// claims on an MPMC ring and returns ErrPeerDead when every consumer that
// attached is proven dead and there is still no room for n bytes.
func (p *Producer) CheckPeers(n int) (err error) {
	if p.done || p.r.closed.Load() {
		return ErrClosed
	}
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	if p.kind == KindMPMC && p.r.repairDead() {
		return nil
	}
	if p.r.peersDead(roleConsumer) && !p.roomReady(uint64(n)) {
		return ErrPeerDead
	}
	return nil
}

// roomReady is the condition waitRoom sleeps on: whatever trySend would
// not call full (room for the record and the terminator after it).
func (p *Producer) roomReady(n uint64) bool {
	closed := atomic.LoadUint32(p.closedWord) != 0
	if p.kind == KindSPSC {
		need := p.recHdr + align8(n)
		idx := p.tail & p.mask
		total := need
		if p.capacity-idx < need {
			total = p.capacity - idx + need
		}
		h := atomic.LoadUint64(p.r.u64(offConsPos))
		return h > p.tail || p.tail+total+recHeader-h <= p.capacity || closed
	}
	return closed || p.mpmcRoomVisible()
}

// Interrupt wakes every process sleeping on the ring, in either direction,
// without changing what the ring holds: each sleeper re-checks its
// condition. A layer that keeps state of its own beside the ring (package
// csp's poison and retire flags) calls it after changing that state, so
// that sleepers whose condition includes it notice at once.
func (r *Ring) Interrupt() {
	if !r.acquire() {
		return
	}
	defer r.release()
	if r.m.guard {
		var err error
		defer r.m.contain(guardOn(), &err)
	}
	r.wakeEveryone()
}

// Waiters returns how many consumers and producers are registered as
// sleeping (or about to sleep) on the ring, from the eventcounts' waiter
// counts: cheap (two loads), and approximate: a process that died while
// registered stays counted.
func (r *Ring) Waiters() (consumers, producers int) {
	if !r.acquire() {
		return 0, 0
	}
	defer r.release()
	if r.m.guard {
		var err error
		defer r.m.contain(guardOn(), &err)
	}
	return int(atomic.LoadUint32(r.u32(offDataWaiters))), int(atomic.LoadUint32(r.u32(offSpaceWaiters)))
}
