package mmapring

import "sync/atomic"

// Hooks for layers that block on several rings at once (package csp's
// Select sleeps on many rings' futex words in one futex_waitv call) or that
// keep state of their own beside a ring (a poison flag) and must wake its
// sleepers. They expose the eventcount of LAYOUT.md ("Blocking") one step
// at a time; Send and Recv use the same protocol internally.
//
// A sleeper built on them does, for each ring:
//
//	word, val, ready, err := c.PrepareWait()
//	if ready: c.TryRecv (no FinishWait)
//	else: sleep on word while it holds val (FUTEX_WAIT or futex_waitv,
//	      shared: no FUTEX_PRIVATE_FLAG), at most LivenessInterval;
//	      c.FinishWait(); on a timeout, c.CheckPeers(); try again
//
// A message published after PrepareWait registered the caller makes the
// producer bump and FUTEX_WAKE word, so the sleep cannot miss it.

// PrepareWait registers c as a waiter on the ring's "data arrived"
// eventcount without blocking. It returns ready = true, registering
// nothing, when a message (or EOF, or a message to redeliver) may be ready:
// the caller should call TryRecv or TryPeek instead of sleeping. Otherwise
// the caller may sleep on word, a 32-bit futex word in shared memory (use
// shared futex operations, never FUTEX_PRIVATE_FLAG), while it holds val,
// and must call FinishWait exactly once when it stops waiting, woken or
// not. On an SPSC ring it first publishes the consumer position, so the
// producer never waits for space the consumer has freed.
func (c *Consumer) PrepareWait() (word *uint32, val uint32, ready bool, err error) {
	if c.done {
		return nil, 0, false, ErrClosed
	}
	if c.peeked {
		return nil, 0, true, nil
	}
	if c.kind == KindSPSC {
		c.spscPublishHead()
	}
	epoch := c.u32(offDataEpoch)
	if c.dataReady() {
		return nil, 0, true, nil
	}
	val = atomic.LoadUint32(epoch)
	atomic.AddUint32(waitersOf(epoch), 1)
	atomic.StoreUint32(needOf(epoch), 1)
	if c.dataReady() {
		atomic.AddUint32(waitersOf(epoch), ^uint32(0))
		return nil, 0, true, nil
	}
	c.waits++
	return epoch, val, false, nil
}

// FinishWait ends the wait that PrepareWait registered (one that returned
// ready = false and no error).
func (c *Consumer) FinishWait() {
	atomic.AddUint32(waitersOf(c.u32(offDataEpoch)), ^uint32(0))
}

// CheckPeers is what a sleeper does when its sleep timed out (at least
// every LivenessInterval): on an MPMC ring it repairs the cells that
// proven-dead processes left claimed (skipping uncommitted messages,
// redelivering committed ones), and it returns ErrPeerDead when every
// producer that attached is proven dead and no message is ready.
func (c *Consumer) CheckPeers() error {
	if c.done {
		return ErrClosed
	}
	if c.kind == KindMPMC && c.r.repairDead() {
		return nil
	}
	if c.r.peersDead(roleProducer) && !c.dataReady() {
		return ErrPeerDead
	}
	return nil
}

// dataReady is the condition waitData sleeps on (keep the two in step).
func (c *Consumer) dataReady() bool {
	r := c.r
	closed := atomic.LoadUint32(c.u32(offClosed)) != 0
	if c.kind == KindSPSC {
		return atomic.LoadUint64(r.u64(offProdPos)) != c.head || closed
	}
	return closed && atomic.LoadUint64(r.u64(offProdPos)) == atomic.LoadUint64(r.u64(offConsPos)) ||
		atomic.LoadUint32(c.u32(offOrphans)) != 0 || c.mpmcDataVisible()
}

// PrepareWait registers p as a waiter on the ring's "space freed"
// eventcount, for a message of n bytes, without blocking; it is
// Consumer.PrepareWait's counterpart (ready = true when the message may
// fit, or the ring was closed: call TrySend).
func (p *Producer) PrepareWait(n int) (word *uint32, val uint32, ready bool, err error) {
	if p.done {
		return nil, 0, false, ErrClosed
	}
	if n < 0 || uint64(n) > p.maxMsg {
		return nil, 0, false, ErrTooLarge
	}
	epoch := p.u32(offSpaceEpoch)
	if p.roomReady(uint64(n)) {
		return nil, 0, true, nil
	}
	val = atomic.LoadUint32(epoch)
	atomic.AddUint32(waitersOf(epoch), 1)
	atomic.StoreUint32(needOf(epoch), 1)
	if p.roomReady(uint64(n)) {
		atomic.AddUint32(waitersOf(epoch), ^uint32(0))
		return nil, 0, true, nil
	}
	p.waits++
	return epoch, val, false, nil
}

// FinishWait ends the wait that PrepareWait registered.
func (p *Producer) FinishWait() {
	atomic.AddUint32(waitersOf(p.u32(offSpaceEpoch)), ^uint32(0))
}

// CheckPeers is Consumer.CheckPeers for the producer side: it repairs dead
// claims on an MPMC ring and returns ErrPeerDead when every consumer that
// attached is proven dead and there is still no room.
func (p *Producer) CheckPeers(n int) error {
	if p.done {
		return ErrClosed
	}
	if p.kind == KindMPMC && p.r.repairDead() {
		return nil
	}
	if p.r.peersDead(roleConsumer) && !p.roomReady(uint64(n)) {
		return ErrPeerDead
	}
	return nil
}

// roomReady is the condition waitRoom sleeps on (keep the two in step).
func (p *Producer) roomReady(n uint64) bool {
	r := p.r
	if p.kind == KindSPSC {
		need := recHeader + align8(n)
		idx := p.tail & p.mask
		total := need
		if p.capacity-idx < need {
			total = p.capacity - idx + need
		}
		h := atomic.LoadUint64(r.u64(offConsPos))
		return h > p.tail || p.tail+total-h <= p.capacity
	}
	return atomic.LoadUint32(r.u32(offClosed)) != 0 || p.mpmcRoomVisible()
}

// Interrupt wakes every process sleeping on the ring, in either direction,
// without changing what the ring holds: each sleeper re-checks its
// condition. A layer that keeps state of its own beside the ring (package
// csp's poison and retire flags) calls it after changing that state, so
// that sleepers whose condition includes it notice at once.
func (r *Ring) Interrupt() {
	if r.closed.Load() {
		return
	}
	r.wakeEveryone()
}

// Waiters returns how many consumers and producers are registered as
// sleeping (or about to sleep) on the ring, from the eventcounts' waiter
// counts: cheap (two loads), and approximate: a process that died while
// registered stays counted.
func (r *Ring) Waiters() (consumers, producers int) {
	return int(atomic.LoadUint32(r.u32(offDataWaiters))), int(atomic.LoadUint32(r.u32(offSpaceWaiters)))
}
