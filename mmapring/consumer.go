package mmapring

import (
	"context"
	"io"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ipckit/ipckit/internal/atomicx"
)

// Consumer receives messages from a ring. It is not safe for concurrent
// use; give each goroutine its own.
type Consumer struct {
	r        *Ring
	m        *ringMem // this handle's own reference to the mapping
	mem      []byte
	slot     int
	kind     Kind
	capacity uint64
	mask     uint64
	maxMsg   uint64
	recHdr   uint64
	spin     time.Duration
	done     bool
	guarded  bool
	checksum bool

	// SPSC: private head and last published head. The consumer reads
	// record headers, not the producer's position: a header is published
	// (release) after its payload, and 0 where nothing is yet.
	head    uint64
	headPub uint64

	// fast: an SPSC ring without checksums or the fault guard, where
	// recvFast may run (when nothing is peeked).
	fast, mfast bool // as the Producer's (mfast: mpmcRecvFast)
	cellSize    uint64
	quarter     uint64 // capacity/4: the most the head is left unpublished
	// Fast-path pointers into the mapping.
	base         unsafe.Pointer // the data area's first byte
	spaceEpoch   *uint32
	data         []byte
	prodPos      *uint64
	consPos      *uint64
	spaceWaiters *uint32
	closedWord   *uint32

	// Pending Peek: SPSC record size, or MPMC claimed position.
	peeked   bool
	peekSize uint64
	peekPos  uint64

	// MPMC: the orphans counter value a scan found stale (no ORPHAN cell),
	// so the wait condition does not take it for a message again; set
	// when a liveness tick found an ORPHAN cell the counter misses; and
	// the data epoch when a closed ring's drain was found held up by a
	// live claimant (sleep until it changes).
	staleOrphans uint32
	scanOrphans  bool
	drainBusy    bool
	drainEpoch   uint32

	counters
}

// Consumer attaches a consumer to the ring. On an SPSC ring it fails with
// ErrRoleTaken while another live process (or handle) is the consumer: of any
// number of racing callers, in any processes, exactly one wins.
func (r *Ring) Consumer() (*Consumer, error) {
	if !r.acquire() {
		return nil, ErrClosed
	}
	defer r.release()
	m, err := r.m.share() // the handle's own reference to the mapping
	if err != nil {
		return nil, err
	}
	c, err := r.newConsumerGuarded(m)
	if err != nil {
		m.close()
		return nil, err
	}
	return c, nil
}

func (r *Ring) newConsumerGuarded(m *ringMem) (c *Consumer, err error) {
	if m.guard {
		defer m.contain(guardOn(), &err)
	}
	slot, err := r.register(roleConsumer)
	if err != nil {
		return nil, err
	}
	c = &Consumer{r: r, m: m, mem: m.mem, slot: slot, kind: r.kind, capacity: r.capacity,
		mask: r.mask, maxMsg: r.maxMsg, recHdr: r.recHdr, spin: DefaultSpin, guarded: m.guard,
		checksum: r.checksum, data: r.mem[headerSize:r.total], prodPos: r.u64(offProdPos),
		spaceWaiters: r.u32(offSpaceWaiters), closedWord: r.u32(offClosed)}
	c.base = unsafe.Pointer(unsafe.SliceData(c.data))
	c.spaceEpoch = r.u32(offSpaceEpoch)
	c.consPos = r.u64(offConsPos)
	c.fast = r.kind == KindSPSC && !r.checksum && !r.m.guard
	c.mfast = r.kind == KindMPMC && !r.checksum && !r.m.guard
	c.cellSize = r.cellSize
	c.quarter = r.capacity / 4
	if r.kind == KindSPSC {
		// The stored producer position may trail the last published
		// record (a producer killed between the two stores), so the
		// consumer may be ahead of it, by less than a lap.
		c.head = atomic.LoadUint64(r.u64(offConsPos))
		t := atomic.LoadUint64(r.u64(offProdPos))
		if c.head&7 != 0 || t&7 != 0 || (t >= c.head && t-c.head > c.capacity) || (t < c.head && c.head-t > c.capacity) {
			r.unregister(slot)
			return nil, errBadHead
		}
		c.headPub = c.head
	}
	return c, nil
}

// SetSpin sets how long a blocked call spins before sleeping on the futex.
func (c *Consumer) SetSpin(d time.Duration) { c.spin = d }

// Syscalls returns how many futex waits and wakes this handle has made.
func (c *Consumer) Syscalls() (waits, wakes uint64) { return c.waits, c.wakes }

func (c *Consumer) u32(off uint64) *uint32 { return (*uint32)(unsafe.Pointer(&c.mem[off])) }

// Receive copies the next message into buf and returns its length, waiting
// as ctx allows. It returns io.EOF once a producer closed the ring and
// everything sent was received, ErrPeerDead when every producer died and
// nothing is left, ErrClosed once the Ring was closed in this process, and
// io.ErrShortBuffer (consuming nothing) when buf is too small.
//
// Delivery: on an MPMC ring, a message whose consumer died after claiming
// it and before freeing its cell is redelivered to another consumer once
// the death is proven; Receive copies the message out, frees the cell and
// returns, so a message Receive returned is never delivered again, and a
// consumer killed in the last steps between freeing the cell and
// returning (waking a producer) takes the message with it, as one killed
// right after Receive returned would. On an SPSC ring the consumer
// publishes how far it has read lazily (at the latest every quarter of
// the ring, before it sleeps, and at once when a producer waits), so a
// consumer that dies can leave up to a quarter of the ring's bytes of
// messages it had already returned unpublished, and its replacement
// receives them again: SPSC delivery is at-least-once across a consumer's
// death (exactly-once otherwise). There too a consumer killed after
// publishing its position and before returning takes that message with
// it.
func (c *Consumer) Receive(ctx context.Context, buf []byte) (int, error) {
	if c.mfast {
		// Each fast path is called only for its kind of ring (a call that
		// returns at its first test still costs a call).
		if n, ok, err := c.mpmcRecvFast(buf); ok {
			return n, err
		}
		// Nothing committed yet: watch the cell at the dequeue position
		// for a short while, as the SPSC path below watches its header.
		if c.spin > 0 && c.mpmcAwait() {
			if n, ok, err := c.mpmcRecvFast(buf); ok {
				return n, err
			}
		}
	} else if n, ok := c.recvFast(buf); ok {
		return n, nil
	}
	if c.fast && c.spin > 0 && !c.peeked && !c.done {
		// Nothing yet: before the general path's wait machinery, watch the
		// header at head for a short while (a few hundred loads, well
		// under DefaultSpin), so that a message that is about to arrive
		// is taken without the calls in between.
		hdr := (*uint64)(unsafe.Add(c.base, c.head&c.mask))
		for i := 0; i < 256; i++ {
			if atomicx.LoadAcq64(hdr) != 0 {
				if n, ok := c.recvFast(buf); ok {
					return n, nil
				}
				break
			}
		}
	}
	if c.guarded {
		return c.recvGuarded(ctx, buf)
	}
	return c.recv(ctx, buf)
}

func (c *Consumer) recvGuarded(ctx context.Context, buf []byte) (n int, err error) {
	defer c.m.contain(guardOn(), &err)
	return c.recv(ctx, buf)
}

func (c *Consumer) recv(ctx context.Context, buf []byte) (int, error) {
	for stall := 0; ; stall++ {
		if stall > 0 {
			// Woken with something ready: the fast path first, as on a
			// call that found the message at once.
			if c.mfast {
				if n, ok, err := c.mpmcRecvFast(buf); ok {
					return n, err
				}
			} else if n, ok := c.recvFast(buf); ok {
				return n, nil
			}
		}
		n, err := c.tryRecv(buf)
		if err != ErrEmpty {
			return n, err
		}
		if err := c.waitData(ctx, stall); err != nil {
			return 0, err
		}
	}
}

// recvFast is the SPSC fast path: a published message record at head
// (its header read with an acquire load: the payload is then complete);
// anything unusual (padding, nothing yet, corruption, EOF, a short buffer,
// a checksum) takes the general path, which re-checks everything.
func (c *Consumer) recvFast(buf []byte) (int, bool) {
	if !c.fast || c.peeked || c.done || c.r.closed.Load() {
		return 0, false
	}
	idx := c.head & c.mask
	n, typ := hdrFields(atomicx.LoadAcq64((*uint64)(unsafe.Add(c.base, idx))))
	l := uint64(n)
	size := recHeader + align8(l)
	if typ != recMessage || l > c.maxMsg || l > uint64(len(buf)) || idx+size > c.capacity {
		return 0, false
	}
	// In bounds: idx+size ≤ capacity was just checked.
	k := copyOut(buf, unsafe.Slice((*byte)(unsafe.Add(c.base, idx+recHeader)), l))
	c.head += size
	if c.head-c.headPub >= c.quarter || atomic.LoadUint32(c.spaceWaiters) != 0 ||
		atomicx.LoadAcq64((*uint64)(unsafe.Add(c.base, c.head&c.mask))) == 0 {
		c.spscPublishHead()
	}
	return k, true
}

// mpmcRecvFast is the MPMC fast path: the cell at the dequeue position is
// FULL, with a message that fits buf. The same steps, in the same order,
// as the general path (claim, move the position, copy, release, notify,
// and the wake-up on a closed ring), without its call chain; anything
// else takes the general path. Once the claim CAS has succeeded it goes
// through to the release.
func (c *Consumer) mpmcRecvFast(buf []byte) (int, bool, error) {
	if !c.mfast || c.peeked || c.done || c.r.closed.Load() {
		return 0, false, nil
	}
	// The claim loop of mpmcClaim for the cases contention produces: a
	// lost CAS, or a cell taken (or recycled) by a consumer that has not
	// moved the position yet, which is helped along. Anything else
	// (empty, skipped, corrupt, a message that does not fit buf) and a
	// long run of lost races go to the general path.
	deq := c.consPos
	var pos, l uint64
	var cell unsafe.Pointer
	var state *uint64
	for tries := 0; ; tries++ {
		if tries == 64 {
			return 0, false, nil
		}
		pos = atomic.LoadUint64(deq)
		if pos > posMask {
			return 0, false, nil
		}
		cell = unsafe.Add(c.base, (pos&c.mask)*c.cellSize)
		state = (*uint64)(cell)
		st := atomic.LoadUint64(state)
		if st == pos<<8|stFull {
			// The length was written before the commit; it is
			// bounds-checked before use.
			l = uint64(*(*uint32)(unsafe.Add(cell, 8)))
			if l > c.maxMsg || l > uint64(len(buf)) {
				return 0, false, nil
			}
			if cas64(state, st, pos<<8|stReading|uint64(c.slot)) {
				break
			}
			continue
		}
		d := (st >> 8) - pos
		if code := st & 0xff; d == c.capacity || d == 0 && (code&0xc0 == stReading || code == stOrphan) {
			cas64(deq, pos, pos+1) // already taken, or recycled: help
			continue
		}
		return 0, false, nil
	}
	cas64(deq, pos, pos+1)
	k := copyOut(buf, unsafe.Slice((*byte)(unsafe.Add(cell, cellHeader)), l))
	if !cas64(state, pos<<8|stReading|uint64(c.slot), ((pos+c.capacity)&posMask)<<8|stEmpty) {
		return k, true, errClaimLost
	}
	err := c.notify(c.spaceEpoch)
	if atomic.LoadUint32(c.closedWord) != 0 {
		// Consumers of a closed ring may be waiting for this claim to
		// resolve before they report EOF (as release does).
		if werr := bump(c.u32(offDataEpoch)); err == nil {
			err = werr
		}
	}
	return k, true, err
}

// mpmcAwait watches the cell at the dequeue position for a few hundred
// loads (well under DefaultSpin, without reading the clock) and reports
// whether it may hold something to take (mpmcDataVisible's condition), so
// that a message committed meanwhile is taken by the fast path without the
// general path's calls and wait set-up. It only loads: pos&mask indexes a
// cell inside the data area whatever pos holds.
func (c *Consumer) mpmcAwait() bool {
	if c.peeked || c.done {
		return false
	}
	for i := 0; i < 256; i++ {
		pos := atomic.LoadUint64(c.consPos)
		st := atomic.LoadUint64((*uint64)(unsafe.Add(c.base, (pos&c.mask)*c.cellSize)))
		if d := int64((st >> 8) - pos); d > 0 || d == 0 && st&0xff != stEmpty && st&0xc0 != stWriting {
			return true
		}
		atomicx.Pause()
	}
	return false
}

// hdrAt returns the header word of the record at data offset idx.
func (c *Consumer) hdrAt(idx uint64) *uint64 { return (*uint64)(unsafe.Pointer(&c.data[idx])) }

// caughtUp reports whether nothing is published at head yet.
func (c *Consumer) caughtUp() bool { return atomicx.LoadAcq64(c.hdrAt(c.head&c.mask)) == 0 }

// TryReceive is Receive without waiting: ErrEmpty when no message is ready.
func (c *Consumer) TryReceive(buf []byte) (n int, err error) {
	if c.guarded {
		defer c.m.contain(guardOn(), &err)
	}
	return c.tryRecv(buf)
}

func (c *Consumer) tryRecv(buf []byte) (int, error) {
	msg, err := c.tryPeek()
	if err != nil {
		return 0, err
	}
	if len(msg) > len(buf) {
		return 0, io.ErrShortBuffer
	}
	n := copyOut(buf, msg)
	return n, c.release()
}

// Peek returns the next message in place, in the ring's memory, waiting as
// ctx allows. The slice is valid until Release, which must be called
// before the next Peek or Receive. On an MPMC ring a consumer that dies
// between Peek and Release has its message redelivered to another
// consumer once its death is proven (at-least-once for Peek). On a ring
// that is not sealed (Sealed is false) the slice is read outside the
// package's fault guard; use Receive there when peers are not trusted.
func (c *Consumer) Peek(ctx context.Context) (msg []byte, err error) {
	if c.guarded {
		defer c.m.contain(guardOn(), &err)
	}
	return c.peek(ctx)
}

func (c *Consumer) peek(ctx context.Context) ([]byte, error) {
	for stall := 0; ; stall++ {
		msg, err := c.tryPeek()
		if err != ErrEmpty {
			return msg, err
		}
		if err := c.waitData(ctx, stall); err != nil {
			return nil, err
		}
	}
}

// TryPeek is Peek without waiting.
func (c *Consumer) TryPeek() (msg []byte, err error) {
	if c.guarded {
		defer c.m.contain(guardOn(), &err)
	}
	return c.tryPeek()
}

func (c *Consumer) tryPeek() ([]byte, error) {
	if c.done || c.r.closed.Load() {
		return nil, ErrClosed
	}
	if c.kind == KindSPSC {
		return c.spscPeek()
	}
	if c.peeked {
		return c.cellMsg(c.peekPos)
	}
	pos, err := c.mpmcClaim()
	if err == ErrEmpty {
		pos, err = c.mpmcSlow()
	}
	if err != nil {
		return nil, err
	}
	c.peeked, c.peekPos = true, pos
	msg, err := c.cellMsg(pos)
	if err != nil {
		c.release() // a corrupt cell is consumed so the ring moves on
	}
	return msg, err
}

// mpmcSlow runs when nothing is ready at the dequeue position: it looks
// for orphans (when the counter or the last liveness tick says there may
// be some) and, on a closed ring, decides between EOF and waiting.
func (c *Consumer) mpmcSlow() (uint64, error) {
	r := c.r
	if o := atomic.LoadUint32(c.u32(offOrphans)); c.scanOrphans || o != 0 && o != c.staleOrphans {
		c.scanOrphans = false
		if pos, ok := r.takeOrphan(c.slot); ok {
			c.staleOrphans = 0
			return pos, nil
		}
		c.staleOrphans = o
	}
	if atomic.LoadUint32(c.closedWord) == 0 {
		return 0, ErrEmpty
	}
	c.drainBusy = false
	for i := 0; i < 4; i++ {
		if atomic.LoadUint64(c.prodPos) != atomic.LoadUint64(r.u64(offConsPos)) {
			// Closed with claims outstanding: a cell at the dequeue
			// position is still being written. If its producer is dead,
			// repair it now (not only at the next liveness tick).
			if !r.repairDead() {
				return 0, ErrEmpty
			}
		} else {
			epoch := atomic.LoadUint32(c.u32(offDataEpoch))
			switch r.drainScan() {
			case drainEOF:
				return 0, io.EOF
			case drainBusy:
				c.drainBusy, c.drainEpoch = true, epoch
				return 0, ErrEmpty
			case drainOrphan:
				if pos, ok := r.takeOrphan(c.slot); ok {
					return pos, nil
				}
			}
		}
		pos, err := c.mpmcClaim()
		if err != ErrEmpty {
			return pos, err
		}
	}
	return 0, ErrEmpty
}

// Release consumes the message returned by Peek.
func (c *Consumer) Release() (err error) {
	if c.guarded {
		defer c.m.contain(guardOn(), &err)
	}
	return c.release()
}

func (c *Consumer) release() error {
	if !c.peeked {
		return ErrNoMessage
	}
	c.peeked = false
	if c.kind == KindSPSC {
		c.head += c.peekSize
		return c.spscMaybePublish()
	}
	pos := c.peekPos
	if !cas64(c.r.cellState(pos&c.mask), (pos&posMask)<<8|stReading|uint64(c.slot), ((pos+c.capacity)&posMask)<<8|stEmpty) {
		return errClaimLost
	}
	err := c.notify(c.u32(offSpaceEpoch))
	if atomic.LoadUint32(c.closedWord) != 0 {
		// Consumers of a closed ring may be waiting for this claim to
		// resolve before they report EOF.
		if werr := bump(c.u32(offDataEpoch)); err == nil {
			err = werr
		}
	}
	return err
}

// ReceiveBatch waits for at least one message (as ctx allows), then hands up
// to max messages that are ready to fn without waiting further, in place
// (each slice is valid only during its call), and frees their space in one
// step. It returns how many messages fn saw.
func (c *Consumer) ReceiveBatch(ctx context.Context, max int, fn func(msg []byte)) (n int, err error) {
	if c.guarded {
		defer c.m.contain(guardOn(), &err)
	}
	for n < max {
		var msg []byte
		if n == 0 {
			msg, err = c.peek(ctx)
		} else {
			msg, err = c.tryPeek()
		}
		if err != nil {
			if n > 0 && (err == ErrEmpty || err == io.EOF) {
				err = nil
			}
			if c.kind == KindSPSC {
				c.spscPublishHead()
			}
			return n, err
		}
		fn(msg)
		if c.kind == KindSPSC {
			c.peeked = false
			c.head += c.peekSize // published once at the end
		} else if err := c.release(); err != nil {
			return n + 1, err
		}
		n++
	}
	if c.kind == KindSPSC {
		return n, c.spscPublishHead()
	}
	return n, nil
}

// Close detaches the consumer: it releases its peer slot and its
// reference to the mapping. An unreleased Peek on an MPMC ring is handed
// back for redelivery. It works even after the Ring was closed; a second
// Close returns nil.
func (c *Consumer) Close() error {
	if c.done {
		return nil
	}
	err := c.closeGuarded()
	c.done = true
	c.m.close()
	return err
}

func (c *Consumer) closeGuarded() (err error) {
	if c.guarded {
		defer c.m.contain(guardOn(), &err)
	}
	if c.peeked && c.kind == KindMPMC {
		pos := c.peekPos
		cell := c.r.cellState(pos & c.mask)
		if c.r.orphan(cell, (pos&posMask)<<8|stReading|uint64(c.slot)) {
			err = bump(c.u32(offDataEpoch))
		}
	}
	c.peeked = false
	if c.kind == KindSPSC {
		if werr := c.spscPublishHead(); err == nil {
			err = werr
		}
	}
	c.r.unregister(c.slot)
	return err
}

// waitData blocks until a message may be ready, the ring is closed, every
// producer is proven dead (ErrPeerDead), or ctx is done.
func (c *Consumer) waitData(ctx context.Context, stall int) error {
	r := c.r
	if c.kind == KindSPSC {
		c.spscPublishHead() // never sleep on space the producer cannot see
	}
	ready := c.dataReady
	tick := func() (bool, error) {
		if r.kind == KindMPMC {
			if r.repairDead() {
				return true, nil
			}
			if r.findOrphans() {
				c.scanOrphans = true
				return true, nil
			}
			if c.drainBusy {
				return true, nil // look at the closed ring's drain again
			}
		}
		if r.peersDead(roleProducer) && !ready() {
			return false, ErrPeerDead
		}
		return false, nil
	}
	return c.block(ctx, r, c.spin, r.u32(offDataEpoch), ready, tick, false, stall)
}

// ---- SPSC ----

func (c *Consumer) spscPeek() ([]byte, error) {
	off, n, size, err := c.spscNext()
	if err == nil {
		c.peeked, c.peekSize = true, size
		return c.mem[off : off+n : off+n], nil
	}
	if err == ErrEmpty && atomic.LoadUint32(c.closedWord) != 0 {
		// Closed: re-read the tail (the producer published before
		// closing) and report EOF only if still nothing is left.
		if off, n, size, err = c.spscNext(); err == nil {
			c.peeked, c.peekSize = true, size
			return c.mem[off : off+n : off+n], nil
		}
		if err == ErrEmpty {
			c.spscPublishHead()
			return nil, io.EOF
		}
	}
	return nil, err
}

// spscNext finds the next message record at head, skipping padding, and
// returns the payload offset, length and record size. Everything read
// from shared memory is bounds-checked against locally validated geometry.
func (c *Consumer) spscNext() (off, n, size uint64, err error) {
	for spins := 0; ; spins++ {
		if spins > 2 {
			return 0, 0, 0, errBadPadding // padding after padding
		}
		idx := c.head & c.mask
		hoff := headerSize + idx
		ln, typ := hdrFields(atomicx.LoadAcq64(c.hdrAt(idx)))
		l := uint64(ln)
		switch typ {
		case recNone:
			if l != 0 {
				return 0, 0, 0, errBadRecord
			}
			return 0, 0, 0, ErrEmpty
		case recPadding:
			skip := c.capacity - idx
			if l != skip-recHeader {
				return 0, 0, 0, errBadPadding
			}
			c.head += skip
			continue
		}
		if typ != recMessage || l > c.maxMsg {
			return 0, 0, 0, errBadRecord
		}
		size = c.recHdr + align8(l)
		if idx+size > c.capacity {
			return 0, 0, 0, errBadRecord
		}
		if c.checksum && *c.u32(hoff + 8) != sum(c.mem[hoff+recHeaderSum:hoff+recHeaderSum+l]) {
			// Consume the bad record so the ring moves on.
			c.head += size
			c.spscMaybePublish()
			return 0, 0, 0, errBadChecksum
		}
		return hoff + c.recHdr, l, size, nil
	}
}

// spscMaybePublish publishes the head lazily: once a quarter of the ring
// is unpublished, when a producer waits for room, or when the consumer has
// caught up (nothing published at head: the producer may be about to
// look for room).
func (c *Consumer) spscMaybePublish() error {
	if c.head-c.headPub >= c.capacity/4 || atomic.LoadUint32(c.spaceWaiters) != 0 || c.caughtUp() {
		return c.spscPublishHead()
	}
	return nil
}

func (c *Consumer) spscPublishHead() error {
	if c.head == c.headPub {
		return nil
	}
	st64(c.r.u64(offConsPos), c.head)
	c.headPub = c.head
	return c.notify(c.spaceEpoch)
}

// ---- MPMC ----

func (c *Consumer) cellOff(pos uint64) uint64 { return headerSize + (pos&c.mask)*c.r.cellSize }

func (c *Consumer) cellMsg(pos uint64) ([]byte, error) {
	off := c.cellOff(pos)
	n := uint64(*c.u32(off + 8))
	if n > c.maxMsg {
		return nil, errBadCell
	}
	msg := c.mem[off+cellHeader : off+cellHeader+n : off+cellHeader+n]
	if c.checksum && *c.u32(off + 12) != sum(msg) {
		return nil, errBadChecksum
	}
	return msg, nil
}

// mpmcClaim claims the cell at the dequeue position (FULL → READING|slot)
// and helps the dequeue position forward; skipped cells are recycled on
// the way. A cell found one lap ahead was consumed (or skipped) by a
// consumer that has not moved the position yet: it is helped past, never
// taken for corruption.
func (c *Consumer) mpmcClaim() (uint64, error) {
	r := c.r
	deq := r.u64(offConsPos)
	enq := c.prodPos
	for spins := 0; ; spins++ {
		if spins > maxRetries {
			return 0, errBadPosition // only a corrupt ring keeps us here
		}
		pos := atomic.LoadUint64(deq)
		if pos > posMask {
			return 0, errBadPosition
		}
		cell := r.cellState(pos & c.mask)
		st := atomic.LoadUint64(cell)
		switch d := int64((st >> 8) - pos); {
		case d == int64(c.capacity):
			cas64(deq, pos, pos+1) // consumed and recycled already: help
			continue
		case d < 0:
			if atomic.LoadUint64(deq) == pos {
				return 0, ErrEmpty // the producer of pos has not claimed it yet
			}
			continue
		case d > 0:
			if atomic.LoadUint64(deq) == pos {
				return 0, errBadCell // neither this lap nor the next
			}
			continue // stale position
		}
		switch code := st & 0xff; {
		case code == stFull:
			if cas64(cell, st, pos<<8|stReading|uint64(c.slot)) {
				cas64(deq, pos, pos+1)
				return pos, nil
			}
		case code == stSkipped:
			// A producer that died between its claim and moving the
			// enqueue position leaves that position here: move it first,
			// so the dequeue position never passes the enqueue position.
			cas64(enq, pos, pos+1)
			if cas64(cell, st, ((pos+c.capacity)&posMask)<<8|stEmpty) {
				cas64(deq, pos, pos+1)
				c.notify(c.u32(offSpaceEpoch))
			}
		case code == stEmpty || code&0xc0 == stWriting:
			if atomic.LoadUint64(deq) == pos {
				return 0, ErrEmpty // not committed yet
			}
		case code&0xc0 == stReading || code == stOrphan:
			cas64(deq, pos, pos+1) // already taken: help the position on
		default:
			if atomic.LoadUint64(deq) == pos {
				return 0, errBadCell // no such state
			}
		}
	}
}

// mpmcDataVisible is the consumer's wait condition at the dequeue
// position; it agrees with mpmcClaim (whatever the claim would not call
// empty counts as ready).
func (c *Consumer) mpmcDataVisible() bool {
	r := c.r
	pos := atomic.LoadUint64(r.u64(offConsPos))
	st := atomic.LoadUint64(r.cellState(pos & c.mask))
	if d := int64((st >> 8) - pos); d != 0 {
		return d > 0
	}
	code := st & 0xff
	return code != stEmpty && code&0xc0 != stWriting
}
