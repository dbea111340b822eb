package shmheap

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"sync/atomic"
)

// The directory maps names to objects: a heap-owned hash table (header at
// hDirTable) of 16-byte slots {tag, object}, where object is the payload
// offset of the object's block, which starts with the object header
// (LAYOUT.md) and holds the name and the body.
const dirSlot = 16

// nameOff is the offset of the name in an object header.
func (c *core) nameOff() uint64 { return oOpeners + c.maxProcs/8 }

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("shmheap: %w: empty object name", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("shmheap: %w: object name of %d bytes (at most %d)", ErrInvalidName, len(name), MaxNameLen)
	}
	if bytes.IndexByte(strBytes(name), 0) >= 0 {
		return fmt.Errorf("shmheap: %w: object name %q holds a NUL byte", ErrInvalidName, name)
	}
	return nil
}

// objHeader validates the header of the object at p (magic, sizes, name
// and body inside its block) and returns its name bytes and body.
func (c *core) objHeader(p uint64) (name []byte, body, bodyLen uint64, err error) {
	n, err := c.payload(p)
	if err != nil {
		return nil, 0, 0, err
	}
	no := c.nameOff()
	if n < no {
		return nil, 0, 0, corrupt("object at %d: block of %d bytes", p, n)
	}
	if c.get32(p+oMagic) != objMagic {
		return nil, 0, 0, corrupt("object at %d: bad magic", p)
	}
	nl := uint64(c.get32(p + oNameLen))
	if nl == 0 || nl > MaxNameLen || nl > n-no {
		return nil, 0, 0, corrupt("object at %d: name of %d bytes", p, nl)
	}
	body, bodyLen = c.get64(p+oBodyOff), c.get64(p+oBodyLen)
	if body%64 != 0 || body < p+no+nl || body > p+n || bodyLen > p+n-body || bodyLen < lockSize {
		return nil, 0, 0, corrupt("object at %d: body [%d, +%d) outside its block", p, body, bodyLen)
	}
	return c.bytes(p+no, nl), body, bodyLen, nil
}

// dirFind looks name up; it returns the slot and the object.
func (c *core) dirFind(name string) (tb table, slot, ins, p uint64, err error) {
	tb, err = c.loadTable(hDirTable, dirSlot)
	if err != nil {
		return tb, 0, 0, 0, err
	}
	key := strBytes(name)
	slot, ins, ok, err := c.probe(&tb, hash64(key), func(s uint64) (bool, error) {
		nm, _, _, err := c.objHeader(c.get64(s + 8))
		if err != nil {
			return false, err
		}
		return string(nm) == name, nil
	})
	if err != nil || !ok {
		return tb, 0, ins, 0, err
	}
	return tb, slot, ins, c.get64(slot + 8), nil
}

// spec describes an object kind and type for Create and Open.
type spec struct {
	kind    uint32
	fp      uint64
	elem    uint64 // element size (Map: key size)
	elem2   uint64 // Array: length; Map: value size
	align   uint64
	bodyLen uint64
	// init fills a new, zeroed body inside the heap transaction.
	init func(t *tx, body uint64) error
	// check validates an existing body.
	check func(body uint64) error
}

// object is what every typed handle holds.
type object struct {
	c       *core
	p       uint64 // object header
	body    uint64
	bodyLen uint64
	name    string
	closed  atomic.Bool
}

const (
	modeCreate = 1
	modeOpen   = 2
	modeEither = 3
)

// openObject creates and/or opens the object name as sp describes.
func (h *Heap) openObject(name string, sp *spec, mode int) (*object, error) {
	c, err := h.core()
	if err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	var p, body, bodyLen uint64
	err = c.heapOp(func(t *tx) error {
		tb, _, _, found, err := c.dirFind(name)
		if err != nil {
			return err
		}
		if found != 0 {
			if mode == modeCreate {
				return &os.PathError{Op: "create", Path: name, Err: os.ErrExist}
			}
			p = found
			body, bodyLen, err = c.matchObject(p, sp)
			if err != nil {
				return err
			}
			return c.pin(t, p)
		}
		if mode == modeOpen {
			return &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		p, body, err = c.createObject(t, &tb, name, sp)
		bodyLen = sp.bodyLen
		if err == nil {
			c.omu.Lock()
			c.open[p]++
			c.omu.Unlock()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c.acquire()
	return &object{c: c, p: p, body: body, bodyLen: bodyLen, name: name}, nil
}

// matchObject validates the object at p against sp.
func (c *core) matchObject(p uint64, sp *spec) (body, bodyLen uint64, err error) {
	nm, body, bodyLen, err := c.objHeader(p)
	if err != nil {
		return 0, 0, err
	}
	if k := c.get32(p + oKind); k != sp.kind {
		return 0, 0, fmt.Errorf("%w: %q is a %s, not a %s", ErrTypeMismatch, nm, kindName(k), kindName(sp.kind))
	}
	if fp, e, e2 := c.get64(p+oFingerprint), c.get64(p+oElemSize), c.get64(p+oElem2); fp != sp.fp || e != sp.elem || (sp.elem2 != 0 && e2 != sp.elem2) {
		return 0, 0, fmt.Errorf("%w: %s %q holds %d-byte elements (layout %#x), not %d-byte ones (layout %#x)", ErrTypeMismatch, kindName(sp.kind), nm, e, fp, sp.elem, sp.fp)
	}
	if sp.bodyLen != 0 && bodyLen != sp.bodyLen {
		return 0, 0, corrupt("%s %q: body of %d bytes, expected %d", kindName(sp.kind), nm, bodyLen, sp.bodyLen)
	}
	if sp.check != nil {
		if err := sp.check(body); err != nil {
			return 0, 0, err
		}
	}
	return body, bodyLen, nil
}

// createObject allocates and initialises a new object inside t and enters
// it in the directory.
func (c *core) createObject(t *tx, tb *table, name string, sp *spec) (p, body uint64, err error) {
	no := c.nameOff()
	hdrLen := no + uint64(len(name))
	p, err = c.alloc(t, hdrLen+64+sp.bodyLen)
	if err != nil {
		return 0, 0, err
	}
	clear(c.bytes(p, hdrLen))
	body = align(p+hdrLen, 64)
	clear(c.bytes(body, sp.bodyLen))
	*c.u32(p + oMagic) = objMagic
	*c.u32(p + oKind) = sp.kind
	id := c.get64(hNextID)
	if err := t.set64(hNextID, id+1); err != nil {
		return 0, 0, err
	}
	c.put64(p+oID, id)
	c.put64(p+oFingerprint, sp.fp)
	c.put64(p+oElemSize, sp.elem)
	c.put64(p+oElem2, sp.elem2)
	c.put64(p+oBodyOff, body)
	c.put64(p+oBodyLen, sp.bodyLen)
	*c.u32(p + oNameLen) = uint32(len(name))
	*c.u32(p + oElemAlign) = uint32(sp.align)
	copy(c.bytes(p+no, uint64(len(name))), name)
	w := p + oOpeners + 8*uint64(c.slot/64)
	c.put64(w, c.get64(w)|1<<(c.slot%64))
	if sp.init != nil {
		if err := sp.init(t, body); err != nil {
			return 0, 0, err
		}
	}
	if grow, ncap := tb.needGrow(); grow {
		if err := c.growHeapTable(t, tb, ncap); err != nil {
			return 0, 0, err
		}
	}
	key := strBytes(name)
	h := hash64(key)
	_, ins, found, err := c.probe(tb, h, func(s uint64) (bool, error) {
		nm, _, _, err := c.objHeader(c.get64(s + 8))
		return err == nil && string(nm) == name, err
	})
	if err != nil {
		return 0, 0, err
	}
	if found {
		return 0, 0, &os.PathError{Op: "create", Path: name, Err: os.ErrExist}
	}
	if c.get64(ins) != tagEmpty && c.get64(ins) != tagTomb {
		return 0, 0, errBadTable
	}
	c.put64(ins+8, p)
	return p, body, c.tabInsert(t, tb, ins, h)
}

// setOpener sets or clears this process's bit in the object's openers.
func (c *core) setOpener(t *tx, p uint64, on bool) error {
	w := p + oOpeners + 8*uint64(c.slot/64)
	v := c.get64(w)
	if on {
		v |= 1 << (c.slot % 64)
	} else {
		v &^= 1 << (c.slot % 64)
	}
	return t.set64(w, v)
}

// pin registers one more in-process user of the object at p, setting this
// process's opener bit on the first (heap locked, inside t): while pinned,
// no process reclaims the object.
func (c *core) pin(t *tx, p uint64) error {
	c.omu.Lock()
	first := c.open[p] == 0
	c.open[p]++
	c.omu.Unlock()
	if first {
		if err := c.setOpener(t, p, true); err != nil {
			c.unpinCount(p)
			return err
		}
	}
	return nil
}

// unpinCount drops an in-process user and reports whether it was the last.
func (c *core) unpinCount(p uint64) bool {
	c.omu.Lock()
	defer c.omu.Unlock()
	c.open[p]--
	if c.open[p] > 0 {
		return false
	}
	delete(c.open, p)
	return true
}

// unpin drops an in-process user of the object at p; the last clears this
// process's opener bit and, if the object was removed, reclaims it.
func (c *core) unpin(p uint64) {
	if !c.unpinCount(p) {
		return
	}
	removed := false
	c.heapOp(func(t *tx) error {
		if _, _, _, err := c.objHeader(p); err != nil {
			return err
		}
		c.omu.Lock()
		reopened := c.open[p] > 0
		c.omu.Unlock()
		removed = c.get32(p+oFlags)&objRemoved != 0
		if reopened {
			return nil
		}
		return c.setOpener(t, p, false)
	})
	if removed {
		c.reclaim()
	}
}

// check reports whether the handle is usable.
func (o *object) check() error {
	if o.closed.Load() {
		return ErrClosed
	}
	return nil
}

// close releases an object handle.
func (o *object) close() error {
	if o.closed.Swap(true) {
		return nil
	}
	c := o.c
	c.unpin(o.p)
	return c.release()
}

// Remove removes the named object from the directory: it can no longer be
// opened, and a new object may take the name. Its memory is reclaimed once
// no handle to it is open in any process (like IPC_RMID on a System V
// segment): at once if there is none, otherwise by the process that closes
// the last one, or, if that process dies, by the next process that opens
// the heap, removes an object or runs Check. Remove fails with an error
// matching os.ErrNotExist if there is no such object.
func (h *Heap) Remove(name string) error {
	c, err := h.core()
	if err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	err = c.heapOp(func(t *tx) error {
		tb, slot, _, p, err := c.dirFind(name)
		if err != nil {
			return err
		}
		if p == 0 {
			return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
		}
		if err := c.tabDelete(t, &tb, slot); err != nil {
			return err
		}
		if err := t.set32(p+oFlags, c.get32(p+oFlags)|objRemoved); err != nil {
			return err
		}
		if err := t.set64(p+oGraveNext, c.get64(hGraveyard)); err != nil {
			return err
		}
		return t.set64(hGraveyard, p)
	})
	if err != nil {
		return err
	}
	c.reclaim()
	return nil
}

// ObjectInfo describes a named object.
type ObjectInfo struct {
	Name     string
	Kind     string // "Value", "Array", "Vector", "Map" or "Namespace"
	ElemSize int    // bytes of an element (a Map's key)
	Len      int    // an Array's length; a Map's value size; else 0
	Bytes    int    // bytes of the object's block
}

// Names returns the names of the heap's objects, sorted.
func (h *Heap) Names() ([]string, error) {
	objs, err := h.Objects()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Name
	}
	return names, nil
}

// Objects describes the heap's objects, sorted by name.
func (h *Heap) Objects() ([]ObjectInfo, error) {
	c, err := h.core()
	if err != nil {
		return nil, err
	}
	var out []ObjectInfo
	err = c.run(func() error {
		if err := c.lockHeap(); err != nil {
			return err
		}
		defer c.unlockHeap()
		tb, err := c.loadTable(hDirTable, dirSlot)
		if err != nil {
			return err
		}
		for i := uint64(0); i < tb.cap; i++ {
			s := tb.at(i)
			if c.get64(s)&tagFull == 0 {
				continue
			}
			p := c.get64(s + 8)
			nm, _, _, err := c.objHeader(p)
			if err != nil {
				return err
			}
			n, _ := c.payload(p)
			out = append(out, ObjectInfo{Name: string(nm), Kind: kindName(c.get32(p + oKind)),
				ElemSize: int(c.get64(p + oElemSize)), Len: int(c.get64(p + oElem2)), Bytes: int(n)})
		}
		if uint64(len(out)) != tb.count {
			return corrupt("directory holds %d objects, its header says %d", len(out), tb.count)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// graveCount counts the removed objects awaiting reclaim (heap locked).
func (c *core) graveCount() (int, error) {
	n := 0
	limit := c.maxBlocks()
	for p := c.get64(hGraveyard); p != 0; p = c.get64(p + oGraveNext) {
		if uint64(n) > limit {
			return 0, corrupt("the list of removed objects does not end")
		}
		if _, _, _, err := c.objHeader(p); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// reclaim destroys every removed object that no process has open. Errors
// leave the object for a later attempt; they are reported by Check.
func (c *core) reclaim() {
	c.reclaimMu.Lock()
	defer c.reclaimMu.Unlock()
	for tries := 0; tries < 1024; tries++ {
		c.omu.Lock()
		mine := make(map[uint64]bool, len(c.open))
		for p := range c.open {
			mine[p] = true
		}
		c.omu.Unlock()
		var cand uint64
		err := c.heapOp(func(t *tx) error {
			limit := c.maxBlocks()
			n := uint64(0)
			for p := c.get64(hGraveyard); p != 0; p = c.get64(p + oGraveNext) {
				if n++; n > limit {
					return corrupt("the list of removed objects does not end")
				}
				if _, _, _, err := c.objHeader(p); err != nil {
					return err
				}
				if mine[p] || c.othersOpen(p) {
					continue
				}
				me, start := self()
				if d := c.get32(p + oDestroyer); d != 0 && d != me && alive(d, c.get32(p+oDestroyer+4)) {
					continue // another live process is reclaiming it
				}
				if err := t.save(p+oDestroyer, 8); err != nil {
					return err
				}
				*c.u32(p + oDestroyer) = me
				*c.u32(p + oDestroyer + 4) = start
				cand = p
				return nil
			}
			return nil
		})
		if err != nil || cand == 0 {
			return
		}
		crashPoint()
		if c.run(func() error { return c.destroy(cand) }) != nil {
			return
		}
	}
}

// othersOpen reports whether a live process other than this core has the
// object at p open.
func (c *core) othersOpen(p uint64) bool {
	for w := uint64(0); w < c.maxProcs/64; w++ {
		bits := c.get64(p + oOpeners + 8*w)
		for bits != 0 {
			b := uint64(0)
			for bits&(1<<b) == 0 {
				b++
			}
			bits &^= 1 << b
			if c.slotLive(int(w*64 + b)) {
				return true
			}
		}
	}
	return false
}

// destroy frees a removed object that no process uses: it takes the
// object's lock (repairing what a dead owner left), frees every block the
// object references, one heap transaction each, zeroing each reference
// as it goes so that a reclaim killed half-way resumes where it stopped,
// and finally unlinks it from the removed list and frees its block. The
// lock is never released: its memory is gone.
func (c *core) destroy(p uint64) error {
	_, body, bodyLen, err := c.objHeader(p)
	if err != nil {
		return err
	}
	kind := c.get32(p + oKind)
	elem, elem2 := c.get64(p+oElemSize), c.get64(p+oElem2)
	pidLock(&c.mem, body)
	if err := c.repair(kind, body, bodyLen, elem, elem2); err != nil {
		return err
	}
	for _, ref := range c.references(kind, body, bodyLen, elem, elem2) {
		if c.get64(ref) == 0 {
			continue
		}
		if err := c.freeInto(ref); err != nil {
			return err
		}
		crashPoint()
	}
	return c.heapOp(func(t *tx) error {
		prev := uint64(hGraveyard - oGraveNext)
		limit := c.maxBlocks()
		for n := uint64(0); ; n++ {
			cur := c.get64(prev + oGraveNext)
			if cur == 0 || n > limit {
				return corrupt("removed object %d is not on the removed list", p)
			}
			if cur == p {
				break
			}
			prev = cur
		}
		if err := t.set64(prev+oGraveNext, c.get64(p+oGraveNext)); err != nil {
			return err
		}
		return c.free(t, p)
	})
}
