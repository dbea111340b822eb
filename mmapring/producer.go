package mmapring

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"
)

// Producer sends messages into a ring. It is not safe for concurrent use:
// give each goroutine its own (an MPMC ring takes up to 64 handles at once
// across all processes; an SPSC ring one producer and one consumer).
type Producer struct {
	r        *Ring
	mem      []byte
	slot     int
	kind     Kind
	capacity uint64
	mask     uint64
	maxMsg   uint64
	spin     time.Duration
	done     bool

	// SPSC: private tail and cached consumer position.
	tail      uint64
	headCache uint64

	// Fast-path pointers into the mapping (computed once, so the hot path
	// has no bounds checks on the header).
	data        []byte // the data area
	prodPos     *uint64
	dataWaiters *uint32

	// Pending Reserve.
	resv    bool
	resvPos uint64 // SPSC: record header offset in mem; MPMC: position
	resvMax uint64

	counters
}

// Producer attaches a producer to the ring. On an SPSC ring it fails with
// ErrBusy while another live process (or handle) is the producer.
func (r *Ring) Producer() (*Producer, error) {
	slot, err := r.register(roleProducer)
	if err != nil {
		return nil, err
	}
	p := &Producer{r: r, mem: r.mem, slot: slot, kind: r.kind, capacity: r.capacity,
		mask: r.mask, maxMsg: r.maxMsg, spin: DefaultSpin,
		data: r.mem[headerSize:r.total], prodPos: r.u64(offProdPos), dataWaiters: r.u32(offDataWaiters)}
	if r.kind == KindSPSC {
		p.tail = atomic.LoadUint64(r.u64(offProdPos))
		p.headCache = atomic.LoadUint64(r.u64(offConsPos))
		if p.tail&7 != 0 || p.headCache > p.tail || p.tail-p.headCache > p.capacity {
			r.unregister(slot)
			return nil, errBadTail
		}
	}
	return p, nil
}

// SetSpin sets how long a blocked call spins before sleeping on the futex
// (DefaultSpin; 0 sleeps at once).
func (p *Producer) SetSpin(d time.Duration) { p.spin = d }

// Syscalls returns how many futex waits and wakes this handle has made.
// A producer whose consumer keeps up (is never asleep) makes none.
func (p *Producer) Syscalls() (waits, wakes uint64) { return p.waits, p.wakes }

func (p *Producer) u32(off uint64) *uint32 { return (*uint32)(unsafe.Pointer(&p.mem[off])) }

// Send copies msg into the ring, waiting for room as long as ctx allows.
// When Send returns nil the message is published: the consumer can see it.
func (p *Producer) Send(ctx context.Context, msg []byte) error {
	for {
		if p.sendFast(msg) {
			return nil
		}
		err := p.trySend(msg)
		if err != ErrFull {
			return err
		}
		if err := p.waitRoom(ctx, uint64(len(msg))); err != nil {
			return err
		}
	}
}

// sendFast is the SPSC fast path: room known from the cached consumer
// position, no wrap; one copy and one publishing store.
func (p *Producer) sendFast(msg []byte) bool {
	n := uint64(len(msg))
	if p.kind != KindSPSC || p.done || p.resv || n > p.maxMsg {
		return false
	}
	need := recHeader + align8(n)
	idx := p.tail & p.mask
	if p.capacity-idx < need || p.tail+need-p.headCache > p.capacity {
		return false
	}
	rec := p.data[idx : idx+need : idx+need]
	hdr := (*[2]uint32)(unsafe.Pointer(&rec[0]))
	hdr[0] = uint32(n)
	hdr[1] = recMessage
	copy(rec[recHeader:], msg)
	p.tail += need
	atomic.StoreUint64(p.prodPos, p.tail)
	if atomic.LoadUint32(p.dataWaiters) != 0 {
		p.notify(p.u32(offDataEpoch))
	}
	return true
}

// TrySend is Send without waiting: ErrFull when there is no room.
func (p *Producer) TrySend(msg []byte) error { return p.trySend(msg) }

func (p *Producer) check(n uint64) error {
	if p.done {
		return ErrClosed
	}
	if n > p.maxMsg {
		return ErrTooLarge
	}
	if p.resv {
		return ErrFull // a Reserve is pending; Commit or Abort it first
	}
	return nil
}

func (p *Producer) trySend(msg []byte) error {
	n := uint64(len(msg))
	if err := p.check(n); err != nil {
		return err
	}
	if p.kind == KindSPSC {
		off, err := p.spscRoom(n)
		if err != nil {
			return err
		}
		p.spscWrite(off, msg)
		p.spscPublish()
		return nil
	}
	if atomic.LoadUint32(p.r.u32(offClosed)) != 0 {
		return ErrClosed
	}
	pos, err := p.mpmcClaim()
	if err != nil {
		return err
	}
	off := p.cellOff(pos)
	*p.u32(off + 8) = uint32(n)
	copy(p.mem[off+cellHeader:off+cellHeader+n], msg)
	p.mpmcCommit(pos)
	return nil
}

// SendBatch sends msgs in order, publishing once per run that fits instead
// of once per message (SPSC), and waits for room as needed. It returns how
// many messages were sent.
func (p *Producer) SendBatch(ctx context.Context, msgs [][]byte) (int, error) {
	if p.kind != KindSPSC {
		for i, m := range msgs {
			if err := p.Send(ctx, m); err != nil {
				return i, err
			}
		}
		return len(msgs), nil
	}
	i := 0
	for i < len(msgs) {
		n := uint64(len(msgs[i]))
		if err := p.check(n); err != nil {
			p.spscPublish()
			return i, err
		}
		if need, idx := recHeader+align8(n), p.tail&p.mask; p.capacity-idx >= need && p.tail+need-p.headCache <= p.capacity {
			rec := p.data[idx : idx+need : idx+need]
			hdr := (*[2]uint32)(unsafe.Pointer(&rec[0]))
			hdr[0] = uint32(n)
			hdr[1] = recMessage
			copy(rec[recHeader:], msgs[i])
			p.tail += need
			i++
			continue
		}
		off, err := p.spscRoom(n)
		if err == nil {
			p.spscWrite(off, msgs[i])
			i++
			continue
		}
		p.spscPublish()
		if err != ErrFull {
			return i, err
		}
		if err := p.waitRoom(ctx, n); err != nil {
			return i, err
		}
	}
	p.spscPublish()
	return i, nil
}

// Reserve returns a slice of the ring's memory with room for a message of
// up to n bytes, waiting for room as ctx allows. Fill it and call Commit
// (or Abort). Nothing else may be sent in between.
func (p *Producer) Reserve(ctx context.Context, n int) ([]byte, error) {
	for {
		b, err := p.TryReserve(n)
		if err != ErrFull || p.resv {
			return b, err
		}
		if err := p.waitRoom(ctx, uint64(n)); err != nil {
			return nil, err
		}
	}
}

// TryReserve is Reserve without waiting.
func (p *Producer) TryReserve(n int) ([]byte, error) {
	if n < 0 {
		return nil, ErrTooLarge
	}
	if err := p.check(uint64(n)); err != nil {
		return nil, err
	}
	un := uint64(n)
	if p.kind == KindSPSC {
		off, err := p.spscRoom(un)
		if err != nil {
			return nil, err
		}
		p.resv, p.resvPos, p.resvMax = true, off, un
		return p.mem[off+recHeader : off+recHeader+un : off+recHeader+un], nil
	}
	if atomic.LoadUint32(p.r.u32(offClosed)) != 0 {
		return nil, ErrClosed
	}
	pos, err := p.mpmcClaim()
	if err != nil {
		return nil, err
	}
	off := p.cellOff(pos)
	p.resv, p.resvPos, p.resvMax = true, pos, un
	return p.mem[off+cellHeader : off+cellHeader+un : off+cellHeader+un], nil
}

// Commit publishes the first m bytes of the reserved slice as a message.
func (p *Producer) Commit(m int) error {
	if !p.resv {
		return ErrNoMessage
	}
	if m < 0 || uint64(m) > p.resvMax {
		return ErrTooLarge
	}
	p.resv = false
	if p.kind == KindSPSC {
		off := p.resvPos
		*p.u32(off) = uint32(m)
		*p.u32(off + 4) = recMessage
		p.tail += recHeader + align8(uint64(m))
		p.spscPublish()
		return nil
	}
	*p.u32(p.cellOff(p.resvPos) + 8) = uint32(m)
	p.mpmcCommit(p.resvPos)
	return nil
}

// Abort drops a pending Reserve. On an MPMC ring the claimed cell is
// marked skipped, so consumers pass over it.
func (p *Producer) Abort() error {
	if !p.resv {
		return ErrNoMessage
	}
	p.resv = false
	if p.kind == KindMPMC {
		pos := p.resvPos
		atomic.StoreUint64(p.r.cellState(pos&p.mask), (pos&posMask)<<8|stSkipped)
		p.notify(p.u32(offDataEpoch))
	}
	return nil
}

// Close marks the ring closed: consumers drain what was sent and then get
// io.EOF, and every producer's Send fails with ErrClosed. It releases the
// handle's peer slot.
func (p *Producer) Close() error {
	if p.done {
		return nil
	}
	if p.resv {
		p.Abort()
	}
	if p.kind == KindSPSC {
		p.spscPublish()
	}
	atomic.StoreUint32(p.u32(offClosed), 1)
	atomic.AddUint32(p.u32(offDataEpoch), 1)
	p.wakes++
	wakeAll(p.u32(offDataEpoch))
	atomic.AddUint32(p.u32(offSpaceEpoch), 1)
	wakeAll(p.u32(offSpaceEpoch))
	p.done = true
	p.r.unregister(p.slot)
	return nil
}

// Detach releases the handle without closing the ring, so another producer
// may attach later.
func (p *Producer) Detach() {
	if p.done {
		return
	}
	if p.resv {
		p.Abort()
	}
	p.done = true
	p.r.unregister(p.slot)
}

// ---- SPSC ----

// spscRoom makes room at the tail for a record with an n-byte payload,
// writing a padding record first if the record would straddle the end, and
// returns the record's offset in mem. ErrFull if the consumer has not
// freed enough.
func (p *Producer) spscRoom(n uint64) (uint64, error) {
	need := recHeader + align8(n)
	idx := p.tail & p.mask
	total := need
	if p.capacity-idx < need {
		total = p.capacity - idx + need
	}
	if p.tail+total-p.headCache > p.capacity {
		h := atomic.LoadUint64(p.r.u64(offConsPos))
		if h > p.tail || p.tail-h > p.capacity {
			return 0, errBadHead
		}
		p.headCache = h
		if p.tail+total-h > p.capacity {
			return 0, ErrFull
		}
	}
	if total != need {
		off := headerSize + idx
		*p.u32(off) = uint32(p.capacity - idx - recHeader)
		*p.u32(off + 4) = recPadding
		p.tail += p.capacity - idx
		idx = 0
	}
	return headerSize + idx, nil
}

func (p *Producer) spscWrite(off uint64, msg []byte) {
	n := uint64(len(msg))
	*p.u32(off) = uint32(n)
	*p.u32(off + 4) = recMessage
	copy(p.mem[off+recHeader:off+recHeader+n], msg)
	p.tail += recHeader + align8(n)
}

func (p *Producer) spscPublish() {
	atomic.StoreUint64(p.r.u64(offProdPos), p.tail)
	p.notify(p.u32(offDataEpoch))
}

// waitRoom blocks until a message of n bytes may fit, the consumer side is
// proven dead (ErrPeerDead), or ctx is done.
func (p *Producer) waitRoom(ctx context.Context, n uint64) error {
	r := p.r
	closed := r.u32(offClosed)
	var ready func() bool
	if p.kind == KindSPSC {
		need := recHeader + align8(n)
		ready = func() bool {
			idx := p.tail & p.mask
			total := need
			if p.capacity-idx < need {
				total = p.capacity - idx + need
			}
			h := atomic.LoadUint64(r.u64(offConsPos))
			return h > p.tail || p.tail+total-h <= p.capacity
		}
	} else {
		ready = func() bool {
			return atomic.LoadUint32(closed) != 0 || p.mpmcRoomVisible()
		}
	}
	return p.block(ctx, r, p.spin, r.u32(offSpaceEpoch), roleConsumer, ready, p.kind == KindSPSC)
}

// block is the waiting side of the eventcount: spin, then register as a
// waiter, re-check, and sleep on the epoch word; every LivenessInterval it
// checks that a peer with role is alive (and, on MPMC rings, repairs cells
// that dead processes left in flight).
//
// With early set the caller counts as a waiter while it spins too. A
// producer waiting for space uses it: the consumer publishes its position
// lazily, but at once when it sees a waiter, so a spinning producer is not
// left waiting for a quarter of the ring to drain (which on a busy host
// turns into a convoy of futex sleeps and wake-ups).
func (c *counters) block(ctx context.Context, r *Ring, spin time.Duration, epoch *uint32, role uint32, ready func() bool, early bool) error {
	waiters, need := waitersOf(epoch), needOf(epoch)
	if early {
		atomic.AddUint32(waiters, 1)
		defer atomic.AddUint32(waiters, ^uint32(0))
	}
	if spinUntil(spin, ready) {
		return nil
	}
	for {
		ep := atomic.LoadUint32(epoch)
		atomic.AddUint32(waiters, 1)
		atomic.StoreUint32(need, 1)
		if ready() {
			atomic.AddUint32(waiters, ^uint32(0))
			return nil
		}
		timedOut, err := c.sleep(ctx, epoch, ep)
		atomic.AddUint32(waiters, ^uint32(0))
		if err != nil {
			return err
		}
		if ready() {
			return nil
		}
		if timedOut {
			if r.kind == KindMPMC && r.repairDead() {
				continue
			}
			if r.peersDead(role) {
				if ready() {
					return nil
				}
				return ErrPeerDead
			}
		}
	}
}

// ---- MPMC ----

func (p *Producer) cellOff(pos uint64) uint64 {
	return headerSize + (pos&p.mask)*p.r.cellSize
}

// mpmcClaim claims the cell for the next enqueue position by moving its
// state from EMPTY to WRITING|slot in one CAS (so a dead claimant can be
// identified), then helps the enqueue position forward.
func (p *Producer) mpmcClaim() (uint64, error) {
	r := p.r
	enq := r.u64(offProdPos)
	for spins := 0; ; spins++ {
		if spins > maxRetries {
			return 0, errBadPosition // only a corrupt ring keeps us here
		}
		pos := atomic.LoadUint64(enq)
		if pos > posMask {
			return 0, errBadPosition
		}
		if r.limit < r.capacity {
			deq := atomic.LoadUint64(r.u64(offConsPos))
			if deq > pos {
				if atomic.LoadUint64(enq) == pos {
					return 0, errBadPosition // dequeue ahead of enqueue
				}
				continue // our pos is stale
			}
			if pos-deq >= r.limit {
				if atomic.LoadUint64(enq) == pos {
					return 0, ErrFull
				}
				continue
			}
		}
		cell := r.cellState(pos & p.mask)
		st := atomic.LoadUint64(cell)
		sp := st >> 8
		switch d := int64(sp - pos); {
		case d == 0 && st&0xff == stEmpty:
			if atomic.CompareAndSwapUint64(cell, st, pos<<8|stWriting|uint64(p.slot)) {
				atomic.CompareAndSwapUint64(enq, pos, pos+1)
				return pos, nil
			}
		case d == 0:
			atomic.CompareAndSwapUint64(enq, pos, pos+1) // claimed by someone: help
		case d < 0:
			if atomic.LoadUint64(enq) == pos {
				return 0, ErrFull // the cell's previous lap is not consumed yet
			}
		default:
			if atomic.LoadUint64(enq) == pos {
				return 0, errBadCell // a cell ahead of the enqueue position
			}
		}
	}
}

func (p *Producer) mpmcCommit(pos uint64) {
	atomic.StoreUint64(p.r.cellState(pos&p.mask), (pos&posMask)<<8|stFull)
	p.notify(p.u32(offDataEpoch))
}

func (p *Producer) mpmcRoomVisible() bool {
	r := p.r
	pos := atomic.LoadUint64(r.u64(offProdPos))
	if r.limit < r.capacity {
		deq := atomic.LoadUint64(r.u64(offConsPos))
		if deq <= pos && pos-deq >= r.limit {
			return false
		}
	}
	st := atomic.LoadUint64(r.cellState(pos & p.mask))
	return int64((st>>8)-pos) >= 0
}
