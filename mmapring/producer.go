package mmapring

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ipckit/ipckit/internal/atomicx"
)

// Producer sends messages into a ring. It is not safe for concurrent use:
// give each goroutine its own (an MPMC ring takes up to 64 handles at once
// across all processes; an SPSC ring one producer and one consumer).
type Producer struct {
	r        *Ring
	m        *ringMem // this handle's own reference to the mapping
	mem      []byte
	slot     int
	kind     Kind
	capacity uint64
	mask     uint64
	maxMsg   uint64
	recHdr   uint64 // SPSC message record header size
	spin     time.Duration
	done     bool
	// shut: the ring was already closed when this producer attached. A
	// closed ring stays closed, and on an SPSC ring nobody else can close
	// it while this producer holds the role, so one look at attach time
	// is enough for the SPSC send path (MPMC claims look every time).
	shut     bool
	guarded  bool // the mapping can be truncated: contain faults
	checksum bool
	// countTasks (Queue) adds each message to the task counter just
	// before committing it, so a producer killed before that point leaves
	// no task behind.
	countTasks bool

	// SPSC: private tail and cached consumer position.
	tail      uint64
	headCache uint64
	// SPSC: the first record header of the publication in progress is
	// held back here and stored last, with a release store, by
	// spscPublish; it publishes every record written after it (whose
	// headers are plain stores) at once.
	pend    bool
	pendOff uint64 // offset in the data area
	pendHdr uint64 // header word

	// fast: an SPSC ring without checksums or the fault guard, where
	// sendFast may run (when nothing is reserved or held back); mfast: the
	// same for an MPMC ring without a limit below its capacity, outside a
	// Queue (mpmcSendFast).
	fast, mfast bool
	cellSize    uint64
	// Fast-path pointers into the mapping (computed once, so the hot path
	// has no bounds checks on the header).
	base        unsafe.Pointer // the data area's first byte
	data        []byte         // the data area
	prodPos     *uint64
	dataEpoch   *uint32
	dataWaiters *uint32
	closedWord  *uint32

	// Pending Reserve.
	resv    bool
	resvPos uint64 // SPSC: record header offset in mem; MPMC: position
	resvMax uint64

	counters
}

// Producer attaches a producer to the ring. On an SPSC ring it fails with
// ErrRoleTaken while another live process (or handle) is the producer: of any
// number of racing callers, in any processes, exactly one wins.
func (r *Ring) Producer() (*Producer, error) {
	if !r.acquire() {
		return nil, ErrClosed
	}
	defer r.release()
	m, err := r.m.share() // the handle's own reference to the mapping
	if err != nil {
		return nil, err
	}
	p, err := r.newProducerGuarded(m)
	if err != nil {
		m.close()
		return nil, err
	}
	return p, nil
}

func (r *Ring) newProducerGuarded(m *ringMem) (p *Producer, err error) {
	if m.guard {
		defer m.contain(guardOn(), &err)
	}
	slot, err := r.register(roleProducer)
	if err != nil {
		return nil, err
	}
	p = &Producer{r: r, m: m, mem: m.mem, slot: slot, kind: r.kind, capacity: r.capacity,
		mask: r.mask, maxMsg: r.maxMsg, recHdr: r.recHdr, spin: DefaultSpin, guarded: m.guard,
		checksum: r.checksum, data: r.mem[headerSize:r.total], prodPos: r.u64(offProdPos),
		dataWaiters: r.u32(offDataWaiters), closedWord: r.u32(offClosed)}
	// Read after the role is settled: a producer that closed the ring
	// released the role only after storing the closed word.
	p.shut = atomic.LoadUint32(p.closedWord) != 0
	p.base = unsafe.Pointer(unsafe.SliceData(p.data))
	p.dataEpoch = r.u32(offDataEpoch)
	// The fast paths are off for a producer that found the ring closed
	// (it may not send at all) and for every mode they do not handle.
	p.fast = r.kind == KindSPSC && !r.checksum && !m.guard && !p.shut
	p.mfast = r.kind == KindMPMC && !r.checksum && !m.guard && r.limit == r.capacity && !p.shut
	p.cellSize = r.cellSize
	if r.kind == KindSPSC {
		if err := p.recoverTail(); err != nil {
			r.unregister(slot)
			return nil, err
		}
	}
	return p, nil
}

// recoverTail finds where the previous producer stopped: the published
// position, then past every record published after it. A producer stores
// its position after the record headers it publishes, so one killed in
// between (or a hostile one) can leave the position behind the last
// published record, which the consumer may already have taken; the
// records after it end at an empty header (the terminator every
// publication leaves). Each step is bounds-checked; the walk is bounded
// by the ring's size.
func (p *Producer) recoverTail() error {
	t := atomic.LoadUint64(p.prodPos)
	h := atomic.LoadUint64(p.r.u64(offConsPos))
	if t&7 != 0 || h&7 != 0 {
		return errBadTail
	}
	for {
		// The walk stays within one ring's length of the consumer,
		// whichever side of the stored position the consumer is.
		if (t >= h && t-h > p.capacity-recHeader) || (t < h && h-t > p.capacity) {
			return errBadTail
		}
		idx := t & p.mask
		n, typ := hdrFields(atomicx.LoadAcq64(p.hdrAt(idx)))
		switch {
		case typ == recNone && n == 0:
			if t < h {
				return errBadTail // the consumer is past the last record
			}
			p.tail, p.headCache = t, h
			return nil
		case typ == recPadding && uint64(n) == p.capacity-idx-recHeader:
			t += p.capacity - idx
		case typ == recMessage && uint64(n) <= p.maxMsg && idx+p.recHdr+align8(uint64(n)) <= p.capacity:
			t += p.recHdr + align8(uint64(n))
		default:
			return errBadTail
		}
	}
}

// hdrAt returns the header word of the record at data offset idx.
func (p *Producer) hdrAt(idx uint64) *uint64 { return (*uint64)(unsafe.Pointer(&p.data[idx])) }

// SetSpin sets how long a blocked call spins before sleeping on the futex
// (DefaultSpin; 0 sleeps at once).
func (p *Producer) SetSpin(d time.Duration) { p.spin = d }

// Syscalls returns how many futex waits and wakes this handle has made.
// A producer whose consumer keeps up (is never asleep) makes none.
func (p *Producer) Syscalls() (waits, wakes uint64) { return p.waits, p.wakes }

func (p *Producer) u32(off uint64) *uint32 { return (*uint32)(unsafe.Pointer(&p.mem[off])) }

// Send copies msg into the ring, waiting for room as long as ctx allows.
// When Send returns nil the message is published: the consumer can see it.
// It fails with ErrClosed once the ring is closed (by any producer, or the
// Ring in this process), ErrPending while a Reserve is pending, ErrPeerDead
// when every consumer that attached is proven dead and the ring stays
// full, and with an error matching ErrWakeFailed when the message was
// published but waking a sleeping consumer failed.
func (p *Producer) Send(ctx context.Context, msg []byte) error {
	// The SPSC fast path for small messages, here rather than in a
	// function of its own: Send then makes one call (pubSmall) before it
	// returns, and spills nothing on the way (see sendFast for the rest).
	if n := uint64(len(msg)); n-8 <= 120 && p.fast && !p.resv && !p.pend && !p.done && !p.r.closed.Load() {
		need := recHeader + align8(n)
		idx := p.tail & p.mask
		if p.capacity-idx >= need && p.tail+need+recHeader-p.headCache <= p.capacity {
			p.tail += need
			pubSmall(unsafe.Add(p.base, idx+recHeader), unsafe.Pointer(unsafe.SliceData(msg)), uintptr(n),
				(*uint64)(unsafe.Add(p.base, (idx+need)&p.mask)), (*uint64)(unsafe.Add(p.base, idx)),
				hdrWord(uint32(n), recMessage), p.prodPos, p.tail)
			return p.notify(p.dataEpoch)
		}
	}
	// Each fast path is called only for the kind of ring it serves: a call
	// that returns at its first test still costs a call.
	if p.fast {
		if sent, err := p.sendFast(msg); sent {
			return err
		}
	} else if p.mfast {
		if sent, err := p.mpmcSendFast(msg); sent {
			return err
		}
		// No room yet: watch the cell at the enqueue position for a
		// short while before the general path's wait.
		if p.spin > 0 && p.mpmcAwait(uint64(len(msg))) {
			if sent, err := p.mpmcSendFast(msg); sent {
				return err
			}
		}
	}
	if p.guarded {
		return p.sendGuarded(ctx, msg)
	}
	return p.send(ctx, msg)
}

func (p *Producer) sendGuarded(ctx context.Context, msg []byte) (err error) {
	defer p.m.contain(guardOn(), &err)
	return p.send(ctx, msg)
}

func (p *Producer) send(ctx context.Context, msg []byte) error {
	for stall := 0; ; stall++ {
		if stall > 0 {
			// Woken with room: the fast path first, as on a call that
			// found room at once.
			if p.fast {
				if sent, err := p.sendFast(msg); sent {
					return err
				}
			} else if p.mfast {
				if sent, err := p.mpmcSendFast(msg); sent {
					return err
				}
			}
		}
		err := p.trySend(msg)
		if err != ErrFull {
			return err
		}
		if err := p.waitRoom(ctx, uint64(len(msg)), stall); err != nil {
			return err
		}
	}
}

// sendFast is the SPSC fast path: room known from the cached consumer
// position, no wrap, no checksum, no fault guard, nothing held back: the
// payload, the terminator after it, then the header with a release store
// (the consumer polls the header itself, so the record arrives in one
// cache line transfer where it fits one), then the position. Addresses
// are computed from base once the record is known to lie inside the data
// area (idx + need ≤ capacity, and the terminator at an 8-aligned index
// below capacity), without further bounds checks.
func (p *Producer) sendFast(msg []byte) (bool, error) {
	n := uint64(len(msg))
	if !p.fast || p.resv || p.pend || p.done || n > p.maxMsg || p.r.closed.Load() {
		return false, nil
	}
	need := recHeader + align8(n)
	idx := p.tail & p.mask
	if p.capacity-idx < need || p.tail+need+recHeader-p.headCache > p.capacity {
		return false, nil
	}
	copyIn(unsafe.Slice((*byte)(unsafe.Add(p.base, idx+recHeader)), n), msg)
	putHdr(unsafe.Slice((*byte)(unsafe.Add(p.base, (idx+need)&p.mask)), recHeader), 0, recNone)
	p.tail += need
	st64x2((*uint64)(unsafe.Add(p.base, idx)), hdrWord(uint32(n), recMessage), p.prodPos, p.tail)
	return true, p.notify(p.dataEpoch)
}

// mpmcSendFast is the MPMC fast path: the cell at the enqueue position is
// EMPTY for it. The same steps, in the same order, as trySend's general
// path (claim, move the position, re-read closed, write, commit, notify),
// without its call chain; anything else (full, a claimed or recycled
// cell, corruption, a limit, a Queue, checksums) takes the general path.
// Once the claim CAS has succeeded it goes through to the commit.
func (p *Producer) mpmcSendFast(msg []byte) (bool, error) {
	n := uint64(len(msg))
	if !p.mfast || p.resv || p.countTasks || p.done || n > p.maxMsg || p.r.closed.Load() || atomic.LoadUint32(p.closedWord) != 0 {
		return false, nil
	}
	// The claim loop of mpmcClaim for the cases contention produces: a
	// lost CAS, or a cell claimed (or recycled) by a producer that has
	// not moved the position yet, which is helped along. Anything else
	// (full, corrupt) and a long run of lost races go to the general path.
	var pos uint64
	var cell unsafe.Pointer
	var state *uint64
	for tries := 0; ; tries++ {
		if tries == 64 {
			return false, nil
		}
		pos = atomic.LoadUint64(p.prodPos)
		if pos > posMask {
			return false, nil
		}
		// pos&mask < capacity: the cell and its payload lie in the data area.
		cell = unsafe.Add(p.base, (pos&p.mask)*p.cellSize)
		state = (*uint64)(cell)
		st := atomic.LoadUint64(state)
		if st == pos<<8|stEmpty {
			if cas64(state, st, pos<<8|stWriting|uint64(p.slot)) {
				break
			}
			continue
		}
		if d := (st >> 8) - pos; d == 0 || d == p.capacity {
			cas64(p.prodPos, pos, pos+1) // claimed, or already recycled: help
			continue
		}
		return false, nil
	}
	cas64(p.prodPos, pos, pos+1)
	if atomic.LoadUint32(p.closedWord) != 0 {
		p.mpmcAbort(pos)
		return true, ErrClosed
	}
	put32((*uint32)(unsafe.Add(cell, 8)), uint32(n))
	copyIn(unsafe.Slice((*byte)(unsafe.Add(cell, cellHeader)), n), msg)
	if !cas64(state, pos<<8|stWriting|uint64(p.slot), pos<<8|stFull) {
		return true, errClaimLost
	}
	return true, p.notify(p.dataEpoch)
}

// mpmcAwait watches the cell at the enqueue position for a few hundred
// loads (well under DefaultSpin, without reading the clock) and reports
// whether it may have room for a message of n bytes (mpmcRoomVisible's
// condition on a ring without a limit, which mpmcSendFast requires), so
// that a cell freed meanwhile is claimed by the fast path without the
// general path's calls and wait set-up. It only loads: pos&mask indexes a
// cell inside the data area whatever pos holds.
func (p *Producer) mpmcAwait(n uint64) bool {
	if p.resv || p.countTasks || p.done || n > p.maxMsg {
		return false
	}
	for i := 0; i < 256; i++ {
		pos := atomic.LoadUint64(p.prodPos)
		st := atomic.LoadUint64((*uint64)(unsafe.Add(p.base, (pos&p.mask)*p.cellSize)))
		if int64((st>>8)-pos) >= 0 {
			return true
		}
		atomicx.Pause()
	}
	return false
}

// TrySend is Send without waiting: ErrFull when there is no room.
func (p *Producer) TrySend(msg []byte) (err error) {
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	return p.trySend(msg)
}

func (p *Producer) check(n uint64) error {
	if p.done || p.shut || p.r.closed.Load() {
		return ErrClosed
	}
	if n > p.maxMsg {
		return ErrTooLarge
	}
	if p.resv {
		return ErrPending
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
		return p.spscPublish()
	}
	pos, err := p.mpmcClaimOpen()
	if err != nil {
		return err
	}
	off := p.cellOff(pos)
	put32(p.u32(off+8), uint32(n))
	copyIn(p.mem[off+cellHeader:off+cellHeader+n], msg)
	if p.checksum {
		// Of the copy, not of msg: hash/crc32 makes its argument escape,
		// and msg must not (a caller's stack buffer would move to the heap).
		put32(p.u32(off+12), sum(p.mem[off+cellHeader:off+cellHeader+n]))
	}
	return p.mpmcCommit(pos)
}

// SendBatch sends msgs in order, publishing once per run that fits instead
// of once per message (SPSC), and waits for room as needed. It returns how
// many messages were sent.
func (p *Producer) SendBatch(ctx context.Context, msgs [][]byte) (n int, err error) {
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	return p.sendBatch(ctx, msgs)
}

func (p *Producer) sendBatch(ctx context.Context, msgs [][]byte) (int, error) {
	if p.kind != KindSPSC {
		for i, m := range msgs {
			if err := p.send(ctx, m); err != nil {
				return i, err
			}
		}
		return len(msgs), nil
	}
	i := 0
	for stall := 0; i < len(msgs); {
		n := uint64(len(msgs[i]))
		if err := p.check(n); err != nil {
			p.spscPublish()
			return i, err
		}
		if need, idx := recHeader+align8(n), p.tail&p.mask; !p.checksum && p.capacity-idx >= need && p.tail+need+recHeader-p.headCache <= p.capacity {
			rec := p.data[idx : idx+need : idx+need]
			copyIn(rec[recHeader:], msgs[i])
			putHdr(p.data[(idx+need)&p.mask:], 0, recNone)
			p.setHdr(idx, uint32(n), recMessage)
			p.tail += need
			i++
			continue
		}
		off, err := p.spscRoom(n)
		if err == nil {
			p.spscWrite(off, msgs[i])
			i++
			stall = 0
			continue
		}
		if werr := p.spscPublish(); werr != nil && err == ErrFull {
			return i, werr
		}
		if err != ErrFull {
			return i, err
		}
		if err := p.waitRoom(ctx, n, stall); err != nil {
			return i, err
		}
		stall++
	}
	return i, p.spscPublish()
}

// Reserve returns a slice of the ring's memory with room for a message of
// up to n bytes, waiting for room as ctx allows. Fill it and call Commit
// (or Abort). Nothing else may be sent in between (ErrPending). On a ring
// that is not sealed (Sealed is false), the slice is written outside the
// package's fault guard: a peer truncating the file then faults the
// writer; use Send for such rings when peers are not trusted.
func (p *Producer) Reserve(ctx context.Context, n int) (b []byte, err error) {
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	for stall := 0; ; stall++ {
		b, err := p.tryReserve(n)
		if err != ErrFull {
			return b, err
		}
		if err := p.waitRoom(ctx, uint64(n), stall); err != nil {
			return nil, err
		}
	}
}

// TryReserve is Reserve without waiting.
func (p *Producer) TryReserve(n int) (b []byte, err error) {
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	return p.tryReserve(n)
}

func (p *Producer) tryReserve(n int) ([]byte, error) {
	if n < 0 {
		return nil, ErrTooLarge
	}
	un := uint64(n)
	if err := p.check(un); err != nil {
		return nil, err
	}
	if p.kind == KindSPSC {
		off, err := p.spscRoom(un)
		if err != nil {
			return nil, err
		}
		p.resv, p.resvPos, p.resvMax = true, off, un
		return p.mem[off+p.recHdr : off+p.recHdr+un : off+p.recHdr+un], nil
	}
	pos, err := p.mpmcClaimOpen()
	if err != nil {
		return nil, err
	}
	off := p.cellOff(pos)
	p.resv, p.resvPos, p.resvMax = true, pos, un
	return p.mem[off+cellHeader : off+cellHeader+un : off+cellHeader+un], nil
}

// Commit publishes the first m bytes of the reserved slice as a message.
func (p *Producer) Commit(m int) (err error) {
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	if !p.resv {
		return ErrNoMessage
	}
	if m < 0 || uint64(m) > p.resvMax {
		return ErrTooLarge
	}
	p.resv = false
	um := uint64(m)
	if p.kind == KindSPSC {
		off := p.resvPos
		if p.checksum {
			put32(p.u32(off+8), sum(p.mem[off+recHeaderSum:off+recHeaderSum+um]))
			put32(p.u32(off+12), 0)
		}
		p.spscSeal(off, um)
		return p.spscPublish()
	}
	off := p.cellOff(p.resvPos)
	put32(p.u32(off+8), uint32(m))
	if p.checksum {
		put32(p.u32(off+12), sum(p.mem[off+cellHeader:off+cellHeader+um]))
	}
	return p.mpmcCommit(p.resvPos)
}

// Abort drops a pending Reserve. On an MPMC ring the claimed cell is
// marked skipped, so consumers pass over it.
func (p *Producer) Abort() (err error) {
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	if !p.resv {
		return ErrNoMessage
	}
	p.resv = false
	if p.kind == KindMPMC {
		return p.mpmcAbort(p.resvPos)
	}
	return nil
}

// Close marks the ring closed: consumers drain what was sent and then get
// io.EOF, and every producer's Send fails with ErrClosed. It releases the
// handle's peer slot and its reference to the mapping. It works (and is
// needed to release the slot) even after the Ring was closed; a second
// Close returns nil.
func (p *Producer) Close() error { return p.finish(true) }

// Detach releases the handle (its peer slot and its reference to the
// mapping) without closing the ring, so another producer may attach later.
// A pending Reserve is aborted.
func (p *Producer) Detach() error { return p.finish(false) }

func (p *Producer) finish(closeRing bool) error {
	if p.done {
		return nil
	}
	err := p.finishGuarded(closeRing)
	p.done = true
	p.m.close()
	return err
}

func (p *Producer) finishGuarded(closeRing bool) (err error) {
	if p.guarded {
		defer p.m.contain(guardOn(), &err)
	}
	if p.resv {
		p.resv = false
		if p.kind == KindMPMC {
			err = p.mpmcAbort(p.resvPos)
		}
	}
	if p.kind == KindSPSC {
		if werr := p.spscPublish(); err == nil {
			err = werr
		}
	}
	if closeRing {
		st32(p.closedWord, 1)
		p.wakes += 2
		if werr := bump(p.u32(offDataEpoch)); err == nil {
			err = werr
		}
		if werr := bump(p.u32(offSpaceEpoch)); err == nil {
			err = werr
		}
	}
	p.r.unregister(p.slot)
	return err
}

// ---- SPSC ----

// spscRoom makes room at the tail for a record with an n-byte payload
// and the terminator after it, adding a padding record first if the
// record would straddle the end, and returns the record's offset in mem.
// ErrFull if the consumer has not freed enough.
func (p *Producer) spscRoom(n uint64) (uint64, error) {
	need := p.recHdr + align8(n)
	idx := p.tail & p.mask
	total := need
	if p.capacity-idx < need {
		total = p.capacity - idx + need
	}
	// The terminator (recHeader bytes after the record) must not
	// overwrite anything unconsumed either.
	if p.tail+total+recHeader-p.headCache > p.capacity {
		h := atomic.LoadUint64(p.r.u64(offConsPos))
		if h > p.tail || p.tail-h > p.capacity {
			return 0, errBadHead
		}
		p.headCache = h
		if p.tail+total+recHeader-h > p.capacity {
			return 0, ErrFull
		}
	}
	if total != need {
		// The start of the next lap holds the previous lap's bytes: make
		// its header empty before the padding that leads there can be
		// published.
		putHdr(p.data, 0, recNone)
		p.setHdr(idx, uint32(p.capacity-idx-recHeader), recPadding)
		p.tail += p.capacity - idx
		idx = 0
	}
	return headerSize + idx, nil
}

// setHdr writes the header of a record at data offset idx: the first one
// of a publication is held back for spscPublish, later ones are plain
// stores (published by that first one).
func (p *Producer) setHdr(idx uint64, n, typ uint32) {
	if !p.pend {
		p.pend, p.pendOff, p.pendHdr = true, idx, hdrWord(n, typ)
		return
	}
	putHdr(p.data[idx:], n, typ)
}

// spscSeal ends the record at mem offset off with an n-byte payload in
// place: the terminator after it, its header, and the tail past it.
func (p *Producer) spscSeal(off, n uint64) {
	idx := off - headerSize
	size := p.recHdr + align8(n)
	putHdr(p.data[(idx+size)&p.mask:], 0, recNone)
	p.setHdr(idx, uint32(n), recMessage)
	p.tail += size
}

func (p *Producer) spscWrite(off uint64, msg []byte) {
	n := uint64(len(msg))
	copyIn(p.mem[off+p.recHdr:off+p.recHdr+n], msg)
	if p.checksum {
		// Of the copy, not of msg (see trySend).
		put32(p.u32(off+8), sum(p.mem[off+p.recHdr:off+p.recHdr+n]))
		put32(p.u32(off+12), 0)
	}
	p.spscSeal(off, n)
}

// spscPublish publishes what was written since the last publication: the
// held-back first header (release store; every record and terminator
// written before it becomes visible with it), then the position, then
// wakes a sleeping consumer.
func (p *Producer) spscPublish() error {
	if p.pend {
		p.pend = false
		st64(p.hdrAt(p.pendOff), p.pendHdr)
	}
	st64(p.prodPos, p.tail)
	return p.notify(p.u32(offDataEpoch))
}

// waitRoom blocks until a message of n bytes may fit, the consumer side is
// proven dead (ErrPeerDead), or ctx is done.
func (p *Producer) waitRoom(ctx context.Context, n uint64, stall int) error {
	r := p.r
	ready := func() bool { return p.roomReady(n) }
	tick := func() (bool, error) {
		if r.kind == KindMPMC && r.repairDead() {
			return true, nil
		}
		if r.peersDead(roleConsumer) && !ready() {
			return false, ErrPeerDead
		}
		return false, nil
	}
	return p.block(ctx, r, p.spin, r.u32(offSpaceEpoch), ready, tick, p.kind == KindSPSC, stall)
}

// ---- MPMC ----

func (p *Producer) cellOff(pos uint64) uint64 {
	return headerSize + (pos&p.mask)*p.r.cellSize
}

// mpmcClaimOpen claims a cell on a ring that is not closed. The closed
// word is read again after the claim: a claim that a concurrent Close
// could have missed is aborted, so every Send that returns nil is
// delivered before consumers report EOF.
func (p *Producer) mpmcClaimOpen() (uint64, error) {
	if atomic.LoadUint32(p.closedWord) != 0 {
		return 0, ErrClosed
	}
	pos, err := p.mpmcClaim()
	if err != nil {
		return 0, err
	}
	if atomic.LoadUint32(p.closedWord) != 0 {
		p.mpmcAbort(pos)
		return 0, ErrClosed
	}
	return pos, nil
}

// mpmcClaim claims the cell for the next enqueue position by moving its
// state from EMPTY to WRITING|slot in one CAS (so a dead claimant can be
// identified), then helps the enqueue position forward. A cell already
// claimed at the enqueue position, or recycled for the next lap (a
// consumer consumed or skipped it before anyone moved the position), is
// helped past.
func (p *Producer) mpmcClaim() (uint64, error) {
	r := p.r
	enq := p.prodPos
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
		switch d := int64((st >> 8) - pos); {
		case d == 0 && st&0xff == stEmpty:
			if cas64(cell, st, pos<<8|stWriting|uint64(p.slot)) {
				cas64(enq, pos, pos+1)
				return pos, nil
			}
		case d == 0 || d == int64(p.capacity):
			cas64(enq, pos, pos+1) // claimed, or already recycled: help
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

// mpmcCommit publishes the message in the claimed cell of pos.
func (p *Producer) mpmcCommit(pos uint64) error {
	if p.countTasks {
		// The window between this count and the commit below is the only
		// place where a killed Queue producer leaves a task counted
		// without a message (see Queue).
		add64(p.r.u64(offUnfinished), 1)
	}
	if !cas64(p.r.cellState(pos&p.mask), (pos&posMask)<<8|stWriting|uint64(p.slot), (pos&posMask)<<8|stFull) {
		return errClaimLost
	}
	return p.notify(p.u32(offDataEpoch))
}

// mpmcAbort marks the claimed cell of pos skipped.
func (p *Producer) mpmcAbort(pos uint64) error {
	if !cas64(p.r.cellState(pos&p.mask), (pos&posMask)<<8|stWriting|uint64(p.slot), (pos&posMask)<<8|stSkipped) {
		return errClaimLost
	}
	return p.notify(p.u32(offDataEpoch))
}

// mpmcRoomVisible is the producer's wait condition; it agrees with
// mpmcClaim (whatever the claim would not call full counts as ready).
func (p *Producer) mpmcRoomVisible() bool {
	r := p.r
	pos := atomic.LoadUint64(p.prodPos)
	if r.limit < r.capacity {
		deq := atomic.LoadUint64(r.u64(offConsPos))
		if deq <= pos && pos-deq >= r.limit {
			return false
		}
	}
	st := atomic.LoadUint64(r.cellState(pos & p.mask))
	return int64((st>>8)-pos) >= 0
}
