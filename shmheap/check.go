package shmheap

import (
	"fmt"
	"sort"
)

// objRef is an object found in the directory or on the removed list.
type objRef struct {
	p, body, bodyLen uint64
	kind             uint32
	elem, elem2      uint64
	removed          bool
}

// listObjects returns the directory's objects and the removed ones (heap
// locked).
func (c *core) listObjects() ([]objRef, error) {
	var out []objRef
	tb, err := c.loadTable(hDirTable, dirSlot)
	if err != nil {
		return nil, err
	}
	add := func(p uint64, removed bool) error {
		_, body, bodyLen, err := c.objHeader(p)
		if err != nil {
			return err
		}
		out = append(out, objRef{p: p, body: body, bodyLen: bodyLen, kind: c.get32(p + oKind),
			elem: c.get64(p + oElemSize), elem2: c.get64(p + oElem2), removed: removed})
		return nil
	}
	for i := uint64(0); i < tb.cap; i++ {
		if c.get64(tb.at(i))&tagFull != 0 {
			if err := add(c.get64(tb.at(i)+8), false); err != nil {
				return nil, err
			}
		}
	}
	limit := c.maxBlocks()
	n := uint64(0)
	for p := c.get64(hGraveyard); p != 0; p = c.get64(p + oGraveNext) {
		if n++; n > limit {
			return nil, corrupt("the list of removed objects does not end")
		}
		if err := add(p, true); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].p < out[j].p })
	return out, nil
}

// listObjectsLocked is listObjects under the heap lock.
func (c *core) listObjectsLocked() ([]objRef, error) {
	if err := c.lockHeap(); err != nil {
		return nil, err
	}
	defer c.unlockHeap()
	return c.listObjects()
}

// lockObject takes an object's lock, repairing it.
func (c *core) lockObject(o objRef) error {
	if pidLock(&c.mem, o.body) {
		noteRepair()
	}
	if err := c.repair(o.kind, o.body, o.bodyLen, o.elem, o.elem2); err != nil {
		pidUnlock(&c.mem, o.body)
		return err
	}
	return nil
}

// Check validates the whole heap and repairs what dead processes left: it
// reclaims removed objects no process uses, takes every object's lock
// (replaying or rolling back unfinished operations) and then the heap
// lock, and, holding them all, checks every block, free list and counter
// of the allocator, the directory, every object's header and structure,
// and that every allocated block is referenced exactly once: by the
// directory, an object, or an object's table, chunk or attribute. It
// returns nil or an error matching ErrCorrupt that names the first
// problem. Other processes wait while it runs; it is meant for tests,
// tools and recovery, not hot paths.
func (h *Heap) Check() error {
	c, err := h.core()
	if err != nil {
		return err
	}
	c.reclaim()
	return c.run(c.check)
}

func (c *core) check() error {
	for attempt := 0; ; attempt++ {
		// Pin every object in the directory, as an open handle does, so
		// that none is reclaimed (and its lock freed) while Check locks it.
		var objs, pinned []objRef
		err := c.heapOp(func(t *tx) (err error) {
			if objs, err = c.listObjects(); err != nil {
				return err
			}
			for _, o := range objs {
				if !o.removed {
					if err := c.pin(t, o.p); err != nil {
						return err
					}
					pinned = append(pinned, o)
				}
			}
			return nil
		})
		if err != nil {
			for _, o := range pinned {
				c.unpinCount(o.p) // the transaction rolled the bits back
			}
			return err
		}
		var held []objRef
		unlockAll := func() {
			for _, o := range held {
				pidUnlock(&c.mem, o.body)
			}
			for _, o := range pinned {
				c.unpin(o.p)
			}
		}
		for _, o := range pinned {
			if err := c.lockObject(o); err != nil {
				unlockAll()
				return err
			}
			held = append(held, o)
		}
		if err := c.lockHeap(); err != nil {
			unlockAll()
			return err
		}
		again, err := c.listObjects()
		same := err == nil && len(again) == len(objs)
		for i := 0; same && i < len(objs); i++ {
			same = again[i] == objs[i]
		}
		if same {
			err = c.checkLocked(objs)
		}
		c.unlockHeap()
		unlockAll()
		if err != nil || same || attempt == 100 {
			return err
		}
	}
}

func (c *core) checkLocked(objs []objRef) error {
	allocated, err := c.checkArena()
	if err != nil {
		return err
	}
	seen := map[uint64]string{}
	ref := func(p uint64, what string) error {
		if p == 0 {
			return nil
		}
		if _, ok := allocated[p]; !ok {
			return corrupt("%s refers to %d, which is not an allocated block", what, p)
		}
		if prev, dup := seen[p]; dup {
			return corrupt("block %d is referenced twice: by %s and by %s", p, prev, what)
		}
		seen[p] = what
		return nil
	}
	tb, err := c.loadTable(hDirTable, dirSlot)
	if err != nil {
		return err
	}
	if err := ref(tb.tab, "the directory"); err != nil {
		return err
	}
	names := map[string]bool{}
	live := 0
	for i := uint64(0); i < tb.cap; i++ {
		s := tb.at(i)
		g := c.get64(s)
		if g == tagEmpty || g == tagTomb {
			continue
		}
		if g&tagFull == 0 {
			return corrupt("directory slot %d has tag %#x", i, g)
		}
		nm, _, _, err := c.objHeader(c.get64(s + 8))
		if err != nil {
			return err
		}
		if hash64(nm)|tagFull != g {
			return corrupt("directory slot %d: tag does not hash %q", i, nm)
		}
		if names[string(nm)] {
			return corrupt("object name %q appears twice", nm)
		}
		names[string(nm)] = true
		live++
	}
	if uint64(live) != tb.count {
		return corrupt("directory holds %d names, its header says %d", live, tb.count)
	}
	for _, o := range objs {
		what := fmt.Sprintf("%s object at %d", kindName(o.kind), o.p)
		if err := ref(o.p, what); err != nil {
			return err
		}
		if removed := c.get32(o.p+oFlags)&objRemoved != 0; removed != o.removed {
			return corrupt("%s: removed flag %v, listed as removed %v", what, removed, o.removed)
		}
		if err := c.checkBody(o, what, ref); err != nil {
			return err
		}
	}
	for p := range allocated {
		if _, ok := seen[p]; !ok {
			n := allocated[p]
			if n > 48 {
				n = 48
			}
			return corrupt("block %d (%d bytes) is allocated but nothing refers to it (leaked); it starts % x", p, allocated[p], c.bytes(p, n))
		}
	}
	return nil
}

func (c *core) checkBody(o objRef, what string, ref func(p uint64, what string) error) error {
	switch o.kind {
	case kindValue, kindArray:
		n := uint64(1)
		if o.kind == kindArray {
			n = o.elem2
		}
		if o.elem == 0 || n == 0 || n > maxSize/o.elem || o.bodyLen != valueBody(o.elem, n) {
			return corrupt("%s: %d elements of %d bytes in a %d-byte body", what, n, o.elem, o.bodyLen)
		}
		if !o.removed && c.load32(o.body+vRedo) != redoNone {
			return corrupt("%s: unfinished write", what)
		}
	case kindVector:
		if o.elem == 0 || o.bodyLen != vectorBody(o.elem) {
			return corrupt("%s: body of %d bytes", what, o.bodyLen)
		}
		g, err := c.vecGeom(o.body, o.elem)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for k := uint64(0); k < vecMaxChunks; k++ {
			p := c.get64(o.body + vecChunks + 8*k)
			if k >= g.nch {
				if p != 0 && !o.removed {
					return corrupt("%s: chunk %d beyond the %d in use", what, k, g.nch)
				}
			} else if p != 0 || !o.removed {
				n, err := c.payload(p)
				if err != nil {
					return fmt.Errorf("%s: chunk %d: %w", what, k, err)
				}
				if n < (g.c0<<k)*o.elem {
					return corrupt("%s: chunk %d of %d bytes", what, k, n)
				}
			}
			if err := ref(p, fmt.Sprintf("%s chunk %d", what, k)); err != nil {
				return err
			}
		}
		if !o.removed && c.load32(o.body+vecOp) != vecIdle {
			return corrupt("%s: unfinished operation", what)
		}
	case kindMap, kindNamespace:
		tabOff, logOff, slot := uint64(mTab), uint64(mLog), mapSlot(o.elem, o.elem2)
		wantBody := mLog + logHdrSize + mapLogCap(o.elem2)
		if o.kind == kindNamespace {
			tabOff, logOff, slot, wantBody = nsTab, nsLog, nsSlot, nsLog+logHdrSize+nsLogCap
		}
		if o.bodyLen != wantBody {
			return corrupt("%s: body of %d bytes", what, o.bodyLen)
		}
		lo := o.body + logOff
		if err := ref(c.get64(lo+lPendAlloc), what+" (allocation in progress)"); err != nil {
			return err
		}
		if err := ref(c.get64(lo+lPendFree), what+" (free in progress)"); err != nil {
			return err
		}
		if !o.removed && (c.load32(lo+lState) != 0 || c.load32(lo+lUsed) != 0) {
			return corrupt("%s: unfinished transaction", what)
		}
		if o.removed && c.get64(o.body+tabOff) == 0 {
			return nil // reclaim freed the table already
		}
		tb, err := c.loadTable(o.body+tabOff, slot)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := ref(tb.tab, what+" table"); err != nil {
			return err
		}
		n := uint64(0)
		for i := uint64(0); i < tb.cap; i++ {
			s := tb.at(i)
			g := c.get64(s)
			if g == tagEmpty || g == tagTomb {
				continue
			}
			if g&tagFull == 0 {
				return corrupt("%s: slot %d has tag %#x", what, i, g)
			}
			n++
			if o.kind == kindMap {
				if hash64(c.bytes(s+8, o.elem))|tagFull != g {
					return corrupt("%s: slot %d: tag does not hash its key", what, i)
				}
				continue
			}
			p := c.get64(s + 8)
			if p == 0 && o.removed {
				continue
			}
			nm, _, _, _, err := c.attr(p)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if hash64(nm)|tagFull != g {
				return corrupt("%s: slot %d: tag does not hash %q", what, i, nm)
			}
			if err := ref(p, fmt.Sprintf("%s attribute %q", what, nm)); err != nil {
				return err
			}
		}
		if n != tb.count {
			return corrupt("%s: %d entries, its header says %d", what, n, tb.count)
		}
	default:
		return corrupt("%s: unknown kind", what)
	}
	return nil
}
