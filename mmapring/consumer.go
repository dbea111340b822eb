package mmapring

import (
	"context"
	"io"
	"sync/atomic"
	"time"
	"unsafe"
)

// Consumer receives messages from a ring. It is not safe for concurrent
// use; give each goroutine its own.
type Consumer struct {
	r        *Ring
	mem      []byte
	slot     int
	kind     Kind
	capacity uint64
	mask     uint64
	maxMsg   uint64
	spin     time.Duration
	done     bool

	// SPSC: private head, last published head, cached producer position.
	head      uint64
	headPub   uint64
	tailCache uint64

	// Fast-path pointers into the mapping.
	data         []byte
	prodPos      *uint64
	spaceWaiters *uint32

	// Pending Peek: SPSC record size, or MPMC claimed position.
	peeked   bool
	peekSize uint64
	peekPos  uint64

	counters
}

// Consumer attaches a consumer to the ring. On an SPSC ring it fails with
// ErrBusy while another live process (or handle) is the consumer.
func (r *Ring) Consumer() (*Consumer, error) {
	slot, err := r.register(roleConsumer)
	if err != nil {
		return nil, err
	}
	c := &Consumer{r: r, mem: r.mem, slot: slot, kind: r.kind, capacity: r.capacity,
		mask: r.mask, maxMsg: r.maxMsg, spin: DefaultSpin,
		data: r.mem[headerSize:r.total], prodPos: r.u64(offProdPos), spaceWaiters: r.u32(offSpaceWaiters)}
	if r.kind == KindSPSC {
		c.head = atomic.LoadUint64(r.u64(offConsPos))
		c.tailCache = atomic.LoadUint64(r.u64(offProdPos))
		if c.head&7 != 0 || c.head > c.tailCache || c.tailCache-c.head > c.capacity {
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

// Recv copies the next message into buf and returns its length, waiting
// as ctx allows. It returns io.EOF once a producer closed the ring and
// everything sent was received, ErrPeerDead when every producer died and
// nothing is left, and io.ErrShortBuffer (consuming nothing) when buf is
// too small.
func (c *Consumer) Recv(ctx context.Context, buf []byte) (int, error) {
	for {
		if n, ok := c.recvFast(buf); ok {
			return n, nil
		}
		n, err := c.tryRecv(buf)
		if err != ErrEmpty {
			return n, err
		}
		if err := c.waitData(ctx); err != nil {
			return 0, err
		}
	}
}

// recvFast is the SPSC fast path: a message record at head, within what
// the producer published; anything unusual (padding, corruption, EOF, a
// short buffer) takes the general path, which re-checks everything.
func (c *Consumer) recvFast(buf []byte) (int, bool) {
	if c.kind == KindSPSC && !c.done && !c.peeked {
		if c.head == c.tailCache {
			if t := atomic.LoadUint64(c.prodPos); t > c.head && t-c.head <= c.capacity && t&7 == 0 {
				c.tailCache = t
			}
		}
		if avail := c.tailCache - c.head; avail != 0 {
			idx := c.head & c.mask
			hdr := (*[2]uint32)(unsafe.Pointer(&c.data[idx]))
			l := uint64(hdr[0])
			size := recHeader + align8(l)
			if hdr[1] == recMessage && l <= c.maxMsg && l <= uint64(len(buf)) && size <= avail && idx+size <= c.capacity {
				n := copy(buf, c.data[idx+recHeader:idx+recHeader+l])
				c.head += size
				if c.head == c.tailCache || c.head-c.headPub >= c.capacity/4 || atomic.LoadUint32(c.spaceWaiters) != 0 {
					c.spscPublishHead()
				}
				return n, true
			}
		}
	}
	return 0, false
}

// TryRecv is Recv without waiting: ErrEmpty when no message is ready.
func (c *Consumer) TryRecv(buf []byte) (int, error) { return c.tryRecv(buf) }

func (c *Consumer) tryRecv(buf []byte) (int, error) {
	msg, err := c.tryPeek()
	if err != nil {
		return 0, err
	}
	if len(msg) > len(buf) {
		return 0, io.ErrShortBuffer
	}
	n := copy(buf, msg)
	c.Release()
	return n, nil
}

// Peek returns the next message in place, in the ring's memory, waiting as
// ctx allows. The slice is valid until Release, which must be called
// before the next Peek or Recv. On an MPMC ring a consumer that dies
// between Peek and Release has its message redelivered to another
// consumer once its death is proven.
func (c *Consumer) Peek(ctx context.Context) ([]byte, error) {
	for {
		msg, err := c.tryPeek()
		if err != ErrEmpty {
			return msg, err
		}
		// Honour ctx even if the wait below finds the ring "ready" without
		// a message for us (it must never turn into a loop that ignores ctx).
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.waitData(ctx); err != nil {
			return nil, err
		}
	}
}

// TryPeek is Peek without waiting.
func (c *Consumer) TryPeek() ([]byte, error) { return c.tryPeek() }

func (c *Consumer) tryPeek() ([]byte, error) {
	if c.done {
		return nil, ErrClosed
	}
	if c.kind == KindSPSC {
		off, n, size, err := c.spscNext()
		if err == nil {
			c.peeked, c.peekSize = true, size
			return c.mem[off : off+n : off+n], nil
		}
		if err == ErrEmpty && atomic.LoadUint32(c.u32(offClosed)) != 0 {
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
	if c.peeked {
		return c.cellMsg(c.peekPos)
	}
	pos, err := c.mpmcClaim()
	if err == ErrEmpty {
		if atomic.LoadUint32(c.u32(offOrphans)) != 0 {
			pos, err = c.takeOrphan()
		}
		if err == ErrEmpty && atomic.LoadUint32(c.u32(offClosed)) != 0 &&
			atomic.LoadUint64(c.r.u64(offProdPos)) != atomic.LoadUint64(c.r.u64(offConsPos)) &&
			c.r.repairDead() {
			// Closed, but a claimed cell holds the drain up: if its
			// claimant is proven dead it was just repaired; look again.
			pos, err = c.mpmcClaim()
			if err == ErrEmpty && atomic.LoadUint32(c.u32(offOrphans)) != 0 {
				pos, err = c.takeOrphan()
			}
		}
		if err == ErrEmpty && atomic.LoadUint32(c.u32(offClosed)) != 0 &&
			atomic.LoadUint64(c.r.u64(offProdPos)) == atomic.LoadUint64(c.r.u64(offConsPos)) &&
			atomic.LoadUint32(c.u32(offOrphans)) == 0 {
			// Before declaring EOF, make sure no dead consumer still holds
			// a committed message (a READING cell behind the dequeue
			// position): repair turns it into an ORPHAN to redeliver.
			if !c.r.repairDead() && atomic.LoadUint32(c.u32(offOrphans)) == 0 {
				return nil, io.EOF
			}
			pos, err = c.takeOrphan()
		}
	}
	if err != nil {
		return nil, err
	}
	c.peeked, c.peekPos = true, pos
	msg, err := c.cellMsg(pos)
	if err != nil {
		c.Release() // a corrupt cell is consumed so the ring moves on
	}
	return msg, err
}

// Release consumes the message returned by Peek.
func (c *Consumer) Release() error {
	if !c.peeked {
		return ErrNoMessage
	}
	c.peeked = false
	if c.kind == KindSPSC {
		c.head += c.peekSize
		c.spscMaybePublish()
		return nil
	}
	pos := c.peekPos
	atomic.StoreUint64(c.r.cellState(pos&c.mask), ((pos+c.capacity)&posMask)<<8|stEmpty)
	c.notify(c.u32(offSpaceEpoch))
	return nil
}

// RecvBatch waits for at least one message (as ctx allows), then hands up
// to max messages that are ready to fn without waiting further, in place
// (each slice is valid only during its call), and frees their space in one
// step. It returns how many messages fn saw.
func (c *Consumer) RecvBatch(ctx context.Context, max int, fn func(msg []byte)) (int, error) {
	n := 0
	for n < max {
		var msg []byte
		var err error
		if n == 0 {
			msg, err = c.Peek(ctx)
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
		c.peeked = false
		if c.kind == KindSPSC {
			c.head += c.peekSize // published once at the end
		} else {
			c.peeked = true
			c.Release()
		}
		n++
	}
	if c.kind == KindSPSC {
		c.spscPublishHead()
	}
	return n, nil
}

// Close detaches the consumer. An unreleased Peek on an MPMC ring is
// handed back for redelivery.
func (c *Consumer) Close() error {
	if c.done {
		return nil
	}
	if c.peeked && c.kind == KindMPMC {
		pos := c.peekPos
		cell := c.r.cellState(pos & c.mask)
		st := atomic.LoadUint64(cell)
		if atomic.CompareAndSwapUint64(cell, st, (pos&posMask)<<8|stOrphan) {
			atomic.AddUint32(c.u32(offOrphans), 1)
			c.notify(c.u32(offDataEpoch))
		}
	}
	c.peeked = false
	if c.kind == KindSPSC {
		c.spscPublishHead()
	}
	c.done = true
	c.r.unregister(c.slot)
	return nil
}

// waitData blocks until a message may be ready, the ring is closed, every
// producer is proven dead (ErrPeerDead), or ctx is done.
func (c *Consumer) waitData(ctx context.Context) error {
	r := c.r
	closed := c.u32(offClosed)
	var ready func() bool
	if c.kind == KindSPSC {
		c.spscPublishHead() // never sleep on space the producer cannot see
		prod := r.u64(offProdPos)
		ready = func() bool {
			return atomic.LoadUint64(prod) != c.head || atomic.LoadUint32(closed) != 0
		}
	} else {
		enq, deq := r.u64(offProdPos), r.u64(offConsPos)
		ready = func() bool {
			// Closed counts only once every claimed cell is resolved: a
			// producer killed between claim and commit leaves the
			// enqueue position ahead, and the consumer must then sleep
			// until the liveness check repairs the cell, not spin on
			// "closed" (which once hung a consumer for good).
			return atomic.LoadUint32(closed) != 0 && atomic.LoadUint64(enq) == atomic.LoadUint64(deq) ||
				atomic.LoadUint32(c.u32(offOrphans)) != 0 || c.mpmcDataVisible()
		}
	}
	return c.block(ctx, r, c.spin, r.u32(offDataEpoch), roleProducer, ready, false)
}

// ---- SPSC ----

// spscNext finds the next message record at head, skipping padding, and
// returns the payload offset, length and record size. Everything read
// from shared memory is bounds-checked against locally validated geometry.
func (c *Consumer) spscNext() (off, n, size uint64, err error) {
	for {
		if c.head == c.tailCache {
			t := atomic.LoadUint64(c.r.u64(offProdPos))
			if t < c.head || t-c.head > c.capacity || t&7 != 0 {
				return 0, 0, 0, errBadTail
			}
			c.tailCache = t
			if t == c.head {
				return 0, 0, 0, ErrEmpty
			}
		}
		idx := c.head & c.mask
		hoff := headerSize + idx
		l := uint64(*c.u32(hoff))
		typ := *c.u32(hoff + 4)
		avail := c.tailCache - c.head
		if typ == recPadding {
			skip := c.capacity - idx
			if skip > avail || l != skip-recHeader {
				return 0, 0, 0, errBadPadding
			}
			c.head += skip
			continue
		}
		if typ != recMessage || l > c.maxMsg {
			return 0, 0, 0, errBadRecord
		}
		size = recHeader + align8(l)
		if size > avail || idx+size > c.capacity {
			return 0, 0, 0, errBadRecord
		}
		return hoff + recHeader, l, size, nil
	}
}

func (c *Consumer) spscMaybePublish() {
	if c.head == c.tailCache || c.head-c.headPub >= c.capacity/4 ||
		atomic.LoadUint32(c.u32(offSpaceWaiters)) != 0 {
		c.spscPublishHead()
	}
}

func (c *Consumer) spscPublishHead() {
	if c.head == c.headPub {
		return
	}
	atomic.StoreUint64(c.r.u64(offConsPos), c.head)
	c.headPub = c.head
	c.notify(c.u32(offSpaceEpoch))
}

// ---- MPMC ----

func (c *Consumer) cellOff(pos uint64) uint64 { return headerSize + (pos&c.mask)*c.r.cellSize }

func (c *Consumer) cellMsg(pos uint64) ([]byte, error) {
	off := c.cellOff(pos)
	n := uint64(*c.u32(off + 8))
	if n > c.maxMsg {
		return nil, errBadCell
	}
	return c.mem[off+cellHeader : off+cellHeader+n : off+cellHeader+n], nil
}

// mpmcClaim claims the cell at the dequeue position (FULL → READING|slot)
// and helps the dequeue position forward; skipped cells are recycled on
// the way.
func (c *Consumer) mpmcClaim() (uint64, error) {
	r := c.r
	deq := r.u64(offConsPos)
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
		d := int64((st >> 8) - pos)
		if d < 0 {
			return 0, ErrEmpty // the producer of pos has not claimed it yet
		}
		if d > 0 {
			if atomic.LoadUint64(deq) == pos {
				return 0, errBadCell // a cell ahead of the dequeue position
			}
			continue // stale position
		}
		switch code := st & 0xff; {
		case code == stFull:
			if atomic.CompareAndSwapUint64(cell, st, pos<<8|stReading|uint64(c.slot)) {
				atomic.CompareAndSwapUint64(deq, pos, pos+1)
				return pos, nil
			}
		case code == stSkipped:
			if atomic.CompareAndSwapUint64(cell, st, ((pos+c.capacity)&posMask)<<8|stEmpty) {
				atomic.CompareAndSwapUint64(deq, pos, pos+1)
				c.notify(c.u32(offSpaceEpoch))
			}
		case code == stEmpty || code&stWriting != 0 && code&stReading == 0:
			if atomic.LoadUint64(deq) == pos {
				return 0, ErrEmpty // not committed yet
			}
		default: // READING or ORPHAN: already taken; help the position on
			atomic.CompareAndSwapUint64(deq, pos, pos+1)
		}
	}
}

func (c *Consumer) mpmcDataVisible() bool {
	r := c.r
	pos := atomic.LoadUint64(r.u64(offConsPos))
	st := atomic.LoadUint64(r.cellState(pos & c.mask))
	d := int64((st >> 8) - pos)
	if d != 0 {
		return d > 0
	}
	code := st & 0xff
	return code != stEmpty && !(code&stWriting != 0 && code&stReading == 0)
}

// takeOrphan claims a committed message whose consumer died before
// releasing it.
func (c *Consumer) takeOrphan() (uint64, error) {
	r := c.r
	for i := uint64(0); i < c.capacity; i++ {
		cell := r.cellState(i)
		st := atomic.LoadUint64(cell)
		if st&0xff != stOrphan {
			continue
		}
		pos := st >> 8
		if pos&c.mask != i {
			continue // corrupt: not this cell's lap
		}
		if atomic.CompareAndSwapUint64(cell, st, pos<<8|stReading|uint64(c.slot)) {
			atomic.AddUint32(c.u32(offOrphans), ^uint32(0))
			return pos, nil
		}
	}
	return 0, ErrEmpty
}
