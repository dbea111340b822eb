package shmheap

import (
	"iter"
	"math/bits"
	"sync/atomic"
)

// Vector body (LAYOUT.md):
//
//	+0    pid lock (64 bytes)
//	+64   u32 op: 0 idle, 1 set, 2 delete, 3 grow
//	+68   u32 nchunks
//	+72   u64 len
//	+80   u64 index (set, delete)
//	+88   u64 progress (delete: elements moved)
//	+96   u64 old len (delete)
//	+104  u64 c0: elements in chunk 0
//	+128  u64 chunks[48]: payload offsets; chunk k holds c0<<k elements
//	+512  scratch: one element (set)
//
// Elements never move when the vector grows: a new chunk doubles the
// capacity. Element i is in chunk k = floor(log2(i/c0 + 1)), at index
// i - c0*(2^k - 1).
const (
	vecOp        = 64
	vecNChunks   = 68
	vecLen       = 72
	vecIdx       = 80
	vecProg      = 88
	vecOldLen    = 96
	vecC0        = 104
	vecChunks    = 128
	vecScratch   = 512
	vecMaxChunks = 48

	vecIdle   = 0
	vecSet    = 1
	vecDelete = 2
	vecGrow   = 3
)

func vectorBody(elem uint64) uint64 { return vecScratch + align(elem, 64) }

func vecC0For(elem uint64) uint64 {
	c0 := uint64(256) / elem
	if c0 < 4 {
		c0 = 4
	}
	return c0
}

// vgeom is a validated view of a vector's mutable header.
type vgeom struct {
	body, elem, c0, nch, n uint64
}

func (c *core) vecGeom(body, elem uint64) (vgeom, error) {
	g := vgeom{body: body, elem: elem, c0: c.get64(body + vecC0), nch: uint64(c.load32(body + vecNChunks))}
	g.n = c.get64(body + vecLen)
	if g.c0 == 0 || g.c0 > (c.arenaEnd-c.arenaOff)/elem || g.nch > vecMaxChunks {
		return g, errBadLen
	}
	if g.nch > 0 && (g.c0<<(g.nch-1))/g.c0 != 1<<(g.nch-1) {
		return g, errBadLen
	}
	if g.cap() > (c.arenaEnd-c.arenaOff)/elem || g.n > g.cap() {
		return g, errBadLen // the chunks could not all fit in the arena
	}
	return g, nil
}

// cap is the capacity of the first nch chunks.
func (g *vgeom) cap() uint64 {
	if g.nch == 0 {
		return 0
	}
	return g.c0 * (1<<g.nch - 1)
}

// slot returns the offset of element i (< cap), checking its chunk's
// bounds.
func (c *core) vecSlot(g *vgeom, i uint64) (uint64, error) {
	k := uint64(bits.Len64(i/g.c0+1) - 1)
	if k >= g.nch {
		return 0, errBadLen
	}
	j := i - g.c0*(1<<k-1)
	p := c.get64(g.body + vecChunks + 8*k)
	n := (g.c0 << k) * g.elem
	if p < c.arenaOff+blockHead || p > c.arenaEnd || n > c.arenaEnd-p {
		return 0, errBadChunk
	}
	return p + j*g.elem, nil
}

// lockVector takes a vector's lock and repairs what a dead owner left.
func (c *core) lockVector(body, elem uint64) error {
	dead := pidLock(&c.mem, body)
	if dead || c.load32(body+vecOp) != vecIdle {
		noteRepair()
		if err := c.repairVector(body, elem); err != nil {
			pidUnlock(&c.mem, body)
			return err
		}
	}
	return nil
}

// repairVector adopts a chunk allocated by a grow that did not finish,
// replays a set from the scratch copy, and completes a delete.
func (c *core) repairVector(body, elem uint64) error {
	nch := uint64(c.load32(body + vecNChunks))
	if nch > vecMaxChunks {
		return errBadLen
	}
	for nch < vecMaxChunks && c.get64(body+vecChunks+8*nch) != 0 {
		nch++
	}
	c.store32(body+vecNChunks, uint32(nch))
	g, err := c.vecGeom(body, elem)
	if err != nil {
		return err
	}
	switch op := c.load32(body + vecOp); op {
	case vecIdle, vecGrow:
	case vecSet:
		i := c.get64(body + vecIdx)
		if i >= g.n {
			return errBadRedo
		}
		s, err := c.vecSlot(&g, i)
		if err != nil {
			return err
		}
		copy(c.bytes(s, elem), c.bytes(body+vecScratch, elem))
	case vecDelete:
		i, prog, old := c.get64(body+vecIdx), c.get64(body+vecProg), c.get64(body+vecOldLen)
		if old == 0 || old > g.cap() || i >= old || prog > old-1-i || (g.n != old && g.n != old-1) {
			return errBadRedo
		}
		if err := c.vecShift(&g, i+prog, old, body+vecProg, prog); err != nil {
			return err
		}
		atomic.StoreUint64(c.u64(body+vecLen), old-1)
	default:
		return corrupt("vector op %d", op)
	}
	c.store32(body+vecOp, vecIdle)
	return nil
}

// vecShift moves elements [from+1, n) down by one, recording progress.
func (c *core) vecShift(g *vgeom, from, n, progOff, prog uint64) error {
	for j := from; j+1 < n; j++ {
		d, err := c.vecSlot(g, j)
		if err != nil {
			return err
		}
		s, err := c.vecSlot(g, j+1)
		if err != nil {
			return err
		}
		copy(c.bytes(d, g.elem), c.bytes(s, g.elem))
		crashPoint()
		prog++
		atomic.StoreUint64(c.u64(progOff), prog)
		crashPoint()
	}
	return nil
}

// vecAppendSlot returns the slot for a new last element, growing the
// vector by a chunk if it is full (lock held).
func (c *core) vecAppendSlot(body, elem uint64) (vgeom, uint64, error) {
	g, err := c.vecGeom(body, elem)
	if err != nil {
		return g, 0, err
	}
	if g.n == g.cap() {
		if g.nch == vecMaxChunks {
			return g, 0, ErrNoSpace
		}
		cn := g.c0 << g.nch
		if cn>>g.nch != g.c0 || cn > (c.arenaEnd-c.arenaOff)/elem {
			return g, 0, ErrNoSpace
		}
		c.store32(body+vecOp, vecGrow)
		crashPoint()
		if _, err := c.allocInto(cn*elem, body+vecChunks+8*g.nch); err != nil {
			c.store32(body+vecOp, vecIdle)
			return g, 0, err
		}
		crashPoint()
		g.nch++
		c.store32(body+vecNChunks, uint32(g.nch))
		crashPoint()
		c.store32(body+vecOp, vecIdle)
		crashPoint()
	}
	s, err := c.vecSlot(&g, g.n)
	return g, s, err
}

// Vector is a named, growable list of T in a heap: the list of Python's
// multiprocessing Manager, at memory speed. T follows Value's rules.
// Every method takes the vector's lock (a pid lock), so Append, Set and
// Delete from many processes interleave as whole operations. Each is
// crash-atomic: a process killed during Append leaves the element
// appended or not; during Set, the old or the new element; during Delete,
// the next locker completes the delete. Elements never move when the
// vector grows; growth takes memory from the heap (ErrNoSpace, with the
// vector unchanged, when there is none). Deleted elements' memory stays
// with the vector for later appends.
type Vector[T any] struct {
	o    *object
	elem uint64
}

func vectorSpec(ti typeInfo) *spec {
	return &spec{kind: kindVector, fp: ti.fp, elem: ti.size, align: ti.align, bodyLen: vectorBody(ti.size),
		init: func(t *tx, body uint64) error {
			t.m.put64(body+vecC0, vecC0For(ti.size))
			return nil
		}}
}

func openVector[T any](h *Heap, name string, mode int) (*Vector[T], error) {
	ti, err := typeOf[T]()
	if err != nil {
		return nil, err
	}
	o, err := h.openObject(name, vectorSpec(ti), mode)
	if err != nil {
		return nil, err
	}
	return &Vector[T]{o: o, elem: ti.size}, nil
}

// CreateVector creates the empty Vector name.
func CreateVector[T any](h *Heap, name string) (*Vector[T], error) {
	return openVector[T](h, name, modeCreate)
}

// OpenVector opens the Vector name.
func OpenVector[T any](h *Heap, name string) (*Vector[T], error) {
	return openVector[T](h, name, modeOpen)
}

// OpenOrCreateVector opens the Vector name or creates it empty.
func OpenOrCreateVector[T any](h *Heap, name string) (*Vector[T], error) {
	return openVector[T](h, name, modeEither)
}

// Name returns the object's name.
func (v *Vector[T]) Name() string { return v.o.name }

// Close releases the handle; it is idempotent.
func (v *Vector[T]) Close() error { return v.o.close() }

// guarded runs fn under the vector's lock (and Guard where needed).
func (v *Vector[T]) guarded(fn func(c *core, body uint64) error) error {
	if err := v.o.check(); err != nil {
		return err
	}
	c := v.o.c
	if !c.trunc {
		return v.locked(fn)
	}
	return c.mp.Guard(func() error { return v.locked(fn) })
}

func (v *Vector[T]) locked(fn func(c *core, body uint64) error) error {
	c, body := v.o.c, v.o.body
	if err := c.lockVector(body, v.elem); err != nil {
		return err
	}
	defer pidUnlock(&c.mem, body)
	return fn(c, body)
}

// Append adds x at the end.
func (v *Vector[T]) Append(x T) error {
	return v.guarded(func(c *core, body uint64) error {
		g, s, err := c.vecAppendSlot(body, v.elem)
		if err != nil {
			return err
		}
		*(*T)(c.ptr(s)) = x
		crashPoint()
		atomic.StoreUint64(c.u64(body+vecLen), g.n+1) // commit
		crashPoint()
		return nil
	})
}

// Len returns the number of elements.
func (v *Vector[T]) Len() (int, error) {
	var n uint64
	err := v.guarded(func(c *core, body uint64) error {
		g, err := c.vecGeom(body, v.elem)
		n = g.n
		return err
	})
	return int(n), err
}

// Get returns element i.
func (v *Vector[T]) Get(i int) (T, error) {
	var x T
	err := v.guarded(func(c *core, body uint64) error {
		g, err := c.vecGeom(body, v.elem)
		if err != nil {
			return err
		}
		if uint64(uint(i)) >= g.n || i < 0 {
			return ErrIndex
		}
		s, err := c.vecSlot(&g, uint64(i))
		if err != nil {
			return err
		}
		x = *(*T)(c.ptr(s))
		return nil
	})
	return x, err
}

// Set replaces element i.
func (v *Vector[T]) Set(i int, x T) error {
	return v.guarded(func(c *core, body uint64) error {
		g, err := c.vecGeom(body, v.elem)
		if err != nil {
			return err
		}
		if i < 0 || uint64(i) >= g.n {
			return ErrIndex
		}
		s, err := c.vecSlot(&g, uint64(i))
		if err != nil {
			return err
		}
		*(*T)(c.ptr(body + vecScratch)) = x
		c.put64(body+vecIdx, uint64(i))
		crashPoint()
		c.store32(body+vecOp, vecSet)
		crashPoint()
		*(*T)(c.ptr(s)) = x
		crashPoint()
		c.store32(body+vecOp, vecIdle)
		return nil
	})
}

// Delete removes element i, moving the later ones down (Python's del
// list[i]).
func (v *Vector[T]) Delete(i int) error {
	return v.guarded(func(c *core, body uint64) error {
		g, err := c.vecGeom(body, v.elem)
		if err != nil {
			return err
		}
		if i < 0 || uint64(i) >= g.n {
			return ErrIndex
		}
		c.put64(body+vecIdx, uint64(i))
		c.put64(body+vecOldLen, g.n)
		atomic.StoreUint64(c.u64(body+vecProg), 0)
		c.store32(body+vecOp, vecDelete)
		crashPoint()
		if err := c.vecShift(&g, uint64(i), g.n, body+vecProg, 0); err != nil {
			return err
		}
		atomic.StoreUint64(c.u64(body+vecLen), g.n-1)
		crashPoint()
		c.store32(body+vecOp, vecIdle)
		return nil
	})
}

// Snapshot returns a copy of every element, taken under the lock.
func (v *Vector[T]) Snapshot() ([]T, error) {
	var out []T
	err := v.guarded(func(c *core, body uint64) error {
		g, err := c.vecGeom(body, v.elem)
		if err != nil {
			return err
		}
		if g.n > uint64(maxInt()) {
			return errBadLen
		}
		out = make([]T, g.n)
		for i := range out {
			s, err := c.vecSlot(&g, uint64(i))
			if err != nil {
				return err
			}
			out[i] = *(*T)(c.ptr(s))
		}
		return nil
	})
	return out, err
}

// Range calls fn for each element in order, reading one element at a time
// under the lock, until fn returns false or an index passes the end (other
// processes may append or delete meanwhile). It returns the first error.
func (v *Vector[T]) Range(fn func(i int, x T) bool) error {
	for i := 0; ; i++ {
		x, err := v.Get(i)
		if err == ErrIndex {
			return nil
		}
		if err != nil {
			return err
		}
		if !fn(i, x) {
			return nil
		}
	}
}

// All is Range as an iterator; it stops silently at an error, which Range
// and Get report.
func (v *Vector[T]) All() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) { v.Range(yield) }
}

func maxInt() int { return int(^uint(0) >> 1) }
